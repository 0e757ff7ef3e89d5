import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the CLI runs from here, as `node bin/imagegate.js ...` would. */
export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const ENTRY_POINT = path.join("bin", "imagegate.js");

/** Settings a developer's shell may carry that would change what the CLI does under test. */
const INHERITED_SETTINGS_TO_DROP = ["IMAGEGATE_API_KEY", "IMAGEGATE_BASE_URL", "DATA_DIR", "LOG_LEVEL", "PORT", "HOST"];

export interface CliRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `imagegate` command in a child process. `env` is added to the parent's environment
 * without the imagegate settings above, so only what a test passes reaches the command.
 */
export async function runImagegate(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliRun> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !INHERITED_SETTINGS_TO_DROP.includes(name)) environment[name] = value;
  }
  Object.assign(environment, env);
  return runNode([ENTRY_POINT, ...args], { cwd: REPOSITORY_ROOT, env: environment, timeoutMs });
}

/** Runs Node with `args` in a child process, gathering its whole output. */
export async function runNode(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/** The non-empty lines of a command's output. */
export function linesOf(output: string): string[] {
  return output.split("\n").filter((line) => line.trim() !== "");
}
