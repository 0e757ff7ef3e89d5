import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

export type LineListener = (line: string, stream: "stdout" | "stderr") => void;

export interface ProcessOptions {
  /** A short name for messages, e.g. "imagegate". */
  name: string;
  command: string;
  arguments: readonly string[];
  cwd: string;
  environment: Record<string, string>;
}

const TAIL_LINES = 60;

/**
 * A child process the benchmark started. Every one is registered until it exits, so that
 * `stopAllProcesses` (and, as a last resort, the exit handler) can end it whatever happened.
 */
export class ManagedProcess {
  readonly name: string;
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  readonly #listeners = new Set<LineListener>();
  readonly #tail: string[] = [];
  #exitCode: number | null | undefined = undefined;

  constructor(options: ProcessOptions) {
    this.name = options.name;
    this.#child = spawn(options.command, [...options.arguments], {
      cwd: options.cwd,
      env: options.environment,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#exitCode = code ?? (signal === null ? null : -1);
        running.delete(this);
        resolve(this.#exitCode);
      });
      this.#child.once("error", (error) => {
        this.#remember(`spawn error: ${error.message}`);
        this.#exitCode = -1;
        running.delete(this);
        resolve(-1);
      });
    });
    for (const stream of ["stdout", "stderr"] as const) {
      const source = this.#child[stream];
      if (source === null) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on("line", (line) => {
        this.#remember(line);
        for (const listener of this.#listeners) listener(line, stream);
      });
    }
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no process id: it did not start`);
    return pid;
  }

  get isRunning(): boolean {
    return this.#exitCode === undefined;
  }

  onLine(listener: LineListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** The last lines the process printed, for error messages. */
  tail(): string {
    return this.#tail.join("\n");
  }

  /** Resolves with the first line (from now on) matching `pattern`; rejects on exit or timeout. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    let removeListener = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<RegExpExecArray>((resolve, reject) => {
        removeListener = this.onLine((line) => {
          const match = pattern.exec(line);
          if (match !== null) resolve(match);
        });
        timer = setTimeout(() => {
          reject(new Error(`${this.name} printed no line matching ${String(pattern)} within ${timeoutMs} ms:\n${this.tail()}`));
        }, timeoutMs);
        this.exited.then(
          (code) => reject(new Error(`${this.name} exited (code ${String(code)}) before printing ${String(pattern)}:\n${this.tail()}`)),
          reject,
        );
      });
    } finally {
      clearTimeout(timer);
      removeListener();
    }
  }

  /** SIGTERM, then SIGKILL when the process has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<number | null> {
    if (!this.isRunning) return this.#exitCode ?? null;
    this.#child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"grace over">((resolve) => {
      timer = setTimeout(() => resolve("grace over"), graceMs);
    });
    const outcome = await Promise.race([this.exited, graceOver]);
    clearTimeout(timer);
    if (outcome === "grace over") {
      this.killNow();
    }
    return this.exited;
  }

  killNow(): void {
    if (this.isRunning) this.#child.kill("SIGKILL");
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }
}

const running = new Set<ManagedProcess>();

export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(3_000)));
}

/** For the exit handler, which cannot wait: kills every process still running. */
export function killAllProcessesNow(): void {
  for (const child of running) child.killNow();
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("could not find a free port");
  return address.port;
}

/** A fresh directory under the system's temporary directory; remove it with `removeDirectory`. */
export async function temporaryDirectory(label: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `imagegate-bench-${label}-`));
}

export async function removeDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true });
}

/** The environment a child needs from ours (finding node and a home), and nothing configured. */
export function baseEnvironment(): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "TZ"]) {
    const value = process.env[name];
    if (value !== undefined) environment[name] = value;
  }
  return environment;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
