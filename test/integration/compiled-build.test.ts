import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { REPOSITORY_ROOT } from "../helpers/server-process.ts";
import { freePort, temporaryDirectory } from "../helpers/test-server.ts";

/** Loaded with --import: every module the process resolves, main thread or not, is appended to a file. */
const RECORDING_PRELOAD = `
import { register } from "node:module";
register("./recording-hooks.mjs", import.meta.url, { data: { file: process.env.RESOLVED_MODULES_FILE } });
`;
const RECORDING_HOOKS = `
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) {
  file = data.file;
}
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(file, resolved.url + "\\n");
  return resolved;
}
`;

describe("the imagegate command", () => {
  it("serves from the compiled dist/, loading neither tsx nor a TypeScript source", async () => {
    const directory = await temporaryDirectory();
    const modulesFile = path.join(directory, "resolved-modules.txt");
    await writeFile(path.join(directory, "recording-preload.mjs"), RECORDING_PRELOAD);
    await writeFile(path.join(directory, "recording-hooks.mjs"), RECORDING_HOOKS);
    await writeFile(modulesFile, "");
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ["--import", pathToFileURL(path.join(directory, "recording-preload.mjs")).href, "bin/imagegate.js", "serve"],
      {
        cwd: REPOSITORY_ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: String(port),
          HOST: "127.0.0.1",
          DATA_DIR: path.join(directory, "data"),
          LOG_LEVEL: "warn",
          RESOLVED_MODULES_FILE: modulesFile,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      let status: number | null = null;
      const deadline = Date.now() + 20_000;
      while (status !== 200 && Date.now() < deadline && child.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (response) => response.status,
          () => null,
        );
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(status, stderr).toBe(200);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    const resolved = (await readFile(modulesFile, "utf8")).split("\n").filter((line) => line !== "");
    await rm(directory, { recursive: true, force: true });
    const distribution = pathToFileURL(path.join(REPOSITORY_ROOT, "dist")).href;
    expect(resolved).toContain(`${distribution}/cli/main.js`);
    expect(resolved).toContain(`${distribution}/server.js`);
    expect(resolved.filter((url) => url.includes("/node_modules/tsx/"))).toEqual([]);
    expect(resolved.filter((url) => url.startsWith("file:") && /\.[cm]?tsx?$/.test(url))).toEqual([]);
    expect(stderr).toBe("");
  });
});
