#!/usr/bin/env node
// `npm run build` (and `prepare`, so that `npm install` and `npm ci` build): compiles src/ to
// dist/ with tsc, then writes dist/.build-stamp, which bin/imagegate.js compares src/ with.
// With --if-changed, nothing is compiled while dist/ is current (a few stat calls), which the
// tests and benchmarks use before starting bin/imagegate.js.
import { spawnSync } from "node:child_process";
import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUILD_STAMP, changedSinceBuild } from "./build-freshness.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stamp = path.join(root, BUILD_STAMP);

if (process.argv.includes("--if-changed") && changedSinceBuild(root) === null) process.exit(0);

let compiler;
try {
  compiler = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  // `npm ci --omit=dev` runs this too, without the compiler: a dist/ built before is kept.
  if (existsSync(stamp)) {
    process.stderr.write("imagegate: typescript (a development dependency) is not installed; keeping the dist/ built before\n");
    process.exit(0);
  }
  process.stderr.write(
    "imagegate: cannot build dist/: typescript, a development dependency, is not installed; run npm install (or npm ci) without --omit=dev\n",
  );
  process.exit(1);
}

// The start, not the end: a source file saved while tsc runs must count as newer than the build.
const startedAt = new Date();
const compiled = spawnSync(process.execPath, [compiler, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
writeFileSync(stamp, `${startedAt.toISOString()}\n`);
utimesSync(stamp, startedAt, startedAt);
