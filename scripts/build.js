#!/usr/bin/env node
// `npm run build` (and `prepare`, so that `npm install` and `npm ci` build): compiles src/ to
// dist/ with tsc, bundles the web console in console/ to dist/console/ with Vite (each file beside
// its Brotli and gzip forms, which the server sends as they are), then writes dist/.build-stamp,
// which bin/imagegate.js compares src/ and console/ with.
// With --if-changed, nothing is compiled while dist/ is current (a few stat calls), which the
// tests and benchmarks use before starting bin/imagegate.js.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";
import { BUILD_STAMP, changedSinceBuild } from "./build-freshness.js";

/** Files the server sends compressed when the browser accepts it; images are compressed already. */
const COMPRESSIBLE = /\.(html|js|css|svg|json|txt|map)$/;

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
await buildConsole();
writeFileSync(stamp, `${startedAt.toISOString()}\n`);
utimesSync(stamp, startedAt, startedAt);

/** dist/console/ from console/: Vite's bundle, and a .br and a .gz beside each text file. */
async function buildConsole() {
  const { build } = await import("vite");
  const outDir = path.join(root, "dist", "console");
  await build({ configFile: path.join(root, "console", "vite.config.ts"), logLevel: "warn" });
  for (const entry of readdirSync(outDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !COMPRESSIBLE.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const content = readFileSync(file);
    writeFileSync(`${file}.br`, brotliCompressSync(content, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: content.length } }));
    writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
  }
}
