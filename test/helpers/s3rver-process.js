// Runs s3rver 3.7.1 in a process of its own, with two of its faults on Node 20 worked around:
// - its ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 offers only
//   through its legacy provider: the parent starts this process with --openssl-legacy-provider;
// - its listing walks the bucket's directory tree skipping every directory below a common
//   prefix, so a folder holding only subfolders (uploads/<account>/...) never appears as one:
//   the walk below visits every directory, in sorted order, and s3rver's own key filtering,
//   which is right, does the rest.
// The directory to keep buckets in is the first argument; the port is sent to the parent.
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const utils = require("s3rver/lib/utils");
// Before s3rver's store module loads, which takes the function from the utilities at once.
utils.walk = function* walk(directory) {
  for (const name of readdirSync(directory).sort()) {
    const entry = path.posix.join(directory, name);
    if (statSync(entry).isDirectory()) yield* walk(entry);
    else yield entry;
  }
};
const S3rver = require("s3rver");

const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2] });
const address = await server.run();
process.send({ port: address.port });
process.on("disconnect", () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
