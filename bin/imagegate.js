#!/usr/bin/env node
// Entry point of the `imagegate` command: runs the JavaScript that `npm run build` (run by
// `npm install`) compiled from src/ into dist/.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { changedSinceBuild } from "../scripts/build-freshness.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const changed = changedSinceBuild(root);
if (changed === "dist/") {
  process.stderr.write("imagegate: dist/ has not been built in this checkout; run npm run build (npm install runs it)\n");
  process.exit(1);
}
if (changed !== null) {
  // Said, not fixed: compiling needs the development dependencies and seconds of CPU at every start.
  process.stderr.write(
    `imagegate: ${changed} changed after dist/ was built, so this runs the previous build; run npm run build, or npm run dev while editing\n`,
  );
}
const { runCli } = await import("../dist/cli/main.js");
await runCli(process.argv);
