import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Everything printed on stdout so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/**
 * The demo account's key, which the first start of an empty data directory prints. No `\b` after
 * it: a key may end in `-`, and then there is no word boundary before the line break.
 */
export function demoKeyOf(output: string): string {
  const match = /(?<![A-Za-z0-9_-])(ig_live_[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])/.exec(output);
  if (match?.[1] === undefined) throw new Error(`no demo key printed:\n${output}`);
  return match[1];
}

/** Runs `imagegate serve` as a real process and resolves once it listens. */
export async function startServerProcess(env: Record<string, string>, port: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, "bin/imagegate.js"), "serve"], {
    cwd: REPOSITORY_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      RATE_LIMIT_CREATE_TASK: "1000000/1s",
      RATE_LIMIT_OTHER: "1000000/1s",
      ...env,
      PORT: String(port),
      PUBLIC_BASE_URL: env.PUBLIC_BASE_URL ?? `http://127.0.0.1:${port}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  const deadline = Date.now() + 20_000;
  while (!stdout.includes("imagegate listening on")) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited before listening: ${stderr}${stdout}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not start: ${stderr}${stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { child, baseUrl: `http://127.0.0.1:${port}`, output: () => stdout, exited };
}
