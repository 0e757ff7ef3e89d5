import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LocalBlobStore } from "../../src/storage/local-blob-store.ts";
import { blobStoreContract } from "./blob-store.contract.ts";

blobStoreContract("LocalBlobStore", async () => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "imagegate-blob-contract-"));
  let now = Date.UTC(2026, 10, 24, 1);
  const store = new LocalBlobStore({ root: path.join(directory, "files"), clock: { now: () => now } });
  return {
    store,
    passTime: () => {
      now += 3_600_000;
      return Promise.resolve();
    },
    async cleanup() {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});
