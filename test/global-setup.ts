import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Several tests start bin/imagegate.js, which runs the compiled dist/: it is rebuilt first when a
 * source changed since the last build (a few milliseconds of stat calls when none did).
 */
export function setup(): void {
  const build = spawnSync(process.execPath, ["scripts/build.js", "--if-changed"], { cwd: REPOSITORY_ROOT, stdio: "inherit" });
  if (build.status !== 0) {
    throw new Error("npm run build failed, so the tests that start bin/imagegate.js would run an old build");
  }
}
