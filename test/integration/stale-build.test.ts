import { copyFile, mkdir, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runNode, type CliRun } from "../helpers/cli.ts";
import { REPOSITORY_ROOT } from "../helpers/server-process.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

/**
 * A checkout of its own: the real bin/imagegate.js and its freshness check, a src/ tree, and a
 * dist/ whose command line only says what it was asked, so that each run takes milliseconds.
 */
let checkout: string;

const BUILT_AT = new Date("2030-01-01T00:00:00Z");
const BEFORE = new Date(BUILT_AT.getTime() - 60_000);
const AFTER = new Date(BUILT_AT.getTime() + 1_000);

async function setMtime(relative: string, time: Date): Promise<void> {
  await utimes(path.join(checkout, relative), time, time);
}

function runBin(): Promise<CliRun> {
  return runNode([path.join(checkout, "bin", "imagegate.js"), "--help"], { cwd: checkout, env: { PATH: process.env.PATH ?? "" } });
}

beforeEach(async () => {
  checkout = await temporaryDirectory();
  for (const directory of ["bin", "scripts", "dist/cli", "src/api/routes"]) {
    await mkdir(path.join(checkout, directory), { recursive: true });
  }
  await writeFile(path.join(checkout, "package.json"), '{ "type": "module" }\n');
  await copyFile(path.join(REPOSITORY_ROOT, "bin/imagegate.js"), path.join(checkout, "bin/imagegate.js"));
  await copyFile(path.join(REPOSITORY_ROOT, "scripts/build-freshness.js"), path.join(checkout, "scripts/build-freshness.js"));
  await writeFile(
    path.join(checkout, "dist/cli/main.js"),
    'export async function runCli(argv) { process.stdout.write(`built code ran: ${argv.slice(2).join(" ")}\\n`); }\n',
  );
  await writeFile(path.join(checkout, "src/config.ts"), "export {};\n");
  await writeFile(path.join(checkout, "src/api/routes/health.ts"), "export {};\n");
  await writeFile(path.join(checkout, "tsconfig.json"), "{}\n");
  await writeFile(path.join(checkout, "dist/.build-stamp"), `${BUILT_AT.toISOString()}\n`);
  for (const entry of ["src/config.ts", "src/api/routes/health.ts", "src/api/routes", "src/api", "src", "tsconfig.json"]) {
    await setMtime(entry, BEFORE);
  }
  await setMtime("dist/.build-stamp", BUILT_AT);
});

afterEach(async () => {
  await rm(checkout, { recursive: true, force: true });
});

const STALE_NOTICE = (changed: string): string =>
  `imagegate: ${changed} changed after dist/ was built, so this runs the previous build; run npm run build, or npm run dev while editing\n`;

describe("bin/imagegate.js in a checkout", () => {
  it("runs dist/ and says nothing when no source changed after the build", async () => {
    const run = await runBin();
    expect(run).toEqual({ exitCode: 0, stdout: "built code ran: --help\n", stderr: "" });
  });

  it("names a source file edited in place after the build, and still runs the build there is", async () => {
    await setMtime("src/api/routes/health.ts", AFTER);
    const run = await runBin();
    expect(run).toEqual({ exitCode: 0, stdout: "built code ran: --help\n", stderr: STALE_NOTICE(path.join("src", "api", "routes", "health.ts")) });
  });

  it("notices a source file added in a nested directory, through that directory's time", async () => {
    await writeFile(path.join(checkout, "src/api/routes/new-route.ts"), "export {};\n");
    await setMtime("src/api/routes/new-route.ts", BEFORE);
    await setMtime("src/api/routes", AFTER);
    const run = await runBin();
    expect(run.stderr).toBe(STALE_NOTICE(path.join("src", "api", "routes")));
  });

  it("notices a changed compiler setting", async () => {
    await setMtime("tsconfig.json", AFTER);
    const run = await runBin();
    expect(run.stderr).toBe(STALE_NOTICE("tsconfig.json"));
  });

  it("refuses to start, saying what to run, when dist/ was never built", async () => {
    await rm(path.join(checkout, "dist/.build-stamp"));
    const run = await runBin();
    expect(run).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: "imagegate: dist/ has not been built in this checkout; run npm run build (npm install runs it)\n",
    });
  });

  it("checks nothing where there is no src/, as in an installed package", async () => {
    await rm(path.join(checkout, "src"), { recursive: true });
    await rm(path.join(checkout, "dist/.build-stamp"));
    const run = await runBin();
    expect(run).toEqual({ exitCode: 0, stdout: "built code ran: --help\n", stderr: "" });
  });
});
