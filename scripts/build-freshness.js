// Whether dist/ was built from the src/ and console/ that are here now. Shared by bin/imagegate.js (which warns)
// and scripts/build.js (which rebuilds only when needed); plain JavaScript, so that both run
// without a TypeScript loader.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

/** Written by scripts/build.js after a successful build, with the time the build started. */
export const BUILD_STAMP = path.join("dist", ".build-stamp");

/** Files outside the source trees that change what the compiler or the bundler writes. */
const BUILD_SETTINGS = ["tsconfig.json", "tsconfig.build.json", "package-lock.json"];

/** The server's sources (compiled to dist/) and the web console's (bundled to dist/console/). */
const SOURCE_TREES = ["src", "console"];

/**
 * The first source entry changed after dist/ was built, `dist/` itself when there was no
 * successful build, or null when dist/ is current; null too when `root` has no src/ (an installed
 * package ships only what was built).
 *
 * Every file and directory under src/ and console/ is looked at: an edit in place moves only the
 * file's mtime, while adding, removing or renaming a file moves its directory's. That is about 200
 * stat calls, around a millisecond. The stamp carries the time the build started, so a file saved while the
 * compiler was running counts as changed.
 *
 * @param {string} root the repository's root directory
 * @returns {string | null} a path relative to `root`
 */
export function changedSinceBuild(root) {
  const source = path.join(root, "src");
  const sourceStat = statSync(source, { throwIfNoEntry: false });
  if (sourceStat === undefined) return null;
  const stamp = statSync(path.join(root, BUILD_STAMP), { throwIfNoEntry: false });
  if (stamp === undefined) return "dist/";
  const builtAt = stamp.mtimeMs;
  for (const setting of BUILD_SETTINGS) {
    const settingStat = statSync(path.join(root, setting), { throwIfNoEntry: false });
    if (settingStat !== undefined && settingStat.mtimeMs > builtAt) return setting;
  }
  const directories = [];
  for (const tree of SOURCE_TREES) {
    const treeStat = statSync(path.join(root, tree), { throwIfNoEntry: false });
    if (treeStat === undefined) continue;
    if (treeStat.mtimeMs > builtAt) return `${tree}/`;
    directories.push(path.join(root, tree));
  }
  for (let directory = directories.pop(); directory !== undefined; directory = directories.pop()) {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const file = path.join(directory, entry.name);
      const entryStat = statSync(file, { throwIfNoEntry: false });
      // An entry removed since the listing moved its directory's mtime, which is checked too.
      if (entryStat === undefined) continue;
      if (entryStat.mtimeMs > builtAt) return path.relative(root, file);
      if (entryStat.isDirectory()) directories.push(file);
    }
  }
  return null;
}
