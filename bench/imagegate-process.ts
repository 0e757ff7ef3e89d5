import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readServerMetrics, type ServerMetrics } from "./prometheus.ts";
import { baseEnvironment, freePort, ManagedProcess } from "./processes.ts";

export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const DEMO_KEY = /ig_live_[A-Za-z0-9_-]{32}/;
const LISTENING = /imagegate listening on (http:\/\/\S+)/;
const START_TIMEOUT_MS = 60_000;

export interface ImagegateSettings {
  /** A fresh directory for a first start; the same one again for a restart. */
  dataDir: string;
  /** "info" logs one line per request and per settled task (the overhead scenarios read those). */
  logLevel: "warn" | "info";
  workerConcurrency: number;
  /** The sandbox provider's time per image, when no upstream is given. */
  sandboxLatencyMs?: number;
  /** Base URL of a fake Gemini server; selects the Gemini provider. */
  upstreamUrl?: string;
  upstreamConcurrency?: number;
  /** Extra options for the server's node, e.g. --cpu-prof (whose profile is written at exit). */
  nodeArguments?: readonly string[];
  /** Variables set on top of the ones above, e.g. DATABASE_URL. */
  environment?: Record<string, string>;
}

/**
 * imagegate's real `serve` command in its own process: the embedded defaults (SQLite with WAL
 * and synchronous=FULL, local files, in-process queue), with limits raised so that the
 * benchmark measures the server rather than its rate limiter.
 */
export class ImagegateProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly url: string,
    /** The demo account's key, printed on the first start of an empty data directory only. */
    readonly demoKey: string | null,
  ) {}

  static async start(settings: ImagegateSettings): Promise<ImagegateProcess> {
    const port = await freePort();
    const environment: Record<string, string> = {
      ...baseEnvironment(),
      PORT: String(port),
      HOST: "127.0.0.1",
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: settings.dataDir,
      LOG_LEVEL: settings.logLevel,
      // The rate policy accepts at most nine digits.
      RATE_LIMIT_CREATE_TASK: "999999999/1s",
      RATE_LIMIT_OTHER: "999999999/1s",
      ACTIVE_TASK_LIMIT: "1000000",
      DEMO_CREDITS: "1000000000",
      TASK_TIMEOUT_MS: "86400000",
      SHUTDOWN_GRACE_MS: "1000",
      WORKER_CONCURRENCY: String(settings.workerConcurrency),
      SANDBOX_LATENCY_MS: String(settings.sandboxLatencyMs ?? 600_000),
    };
    if (settings.upstreamUrl !== undefined) {
      environment.GEMINI_API_KEY = "bench";
      environment.GEMINI_BASE_URL = settings.upstreamUrl;
      environment.GEMINI_MAX_CONCURRENCY = String(settings.upstreamConcurrency ?? 16);
    }
    Object.assign(environment, settings.environment);
    const child = new ManagedProcess({
      name: "imagegate",
      command: process.execPath,
      arguments: [...(settings.nodeArguments ?? []), "bin/imagegate.js", "serve"],
      cwd: REPOSITORY_ROOT,
      environment,
    });
    let demoKey: string | null = null;
    const stopWatching = child.onLine((line) => {
      const match = DEMO_KEY.exec(line);
      if (match !== null && demoKey === null) demoKey = match[0];
    });
    try {
      const listening = await child.waitForLine(LISTENING, START_TIMEOUT_MS);
      // The key is printed a few lines after the address, in the same write.
      if (demoKey === null) {
        await child.waitForLine(DEMO_KEY, 500).catch(() => null);
      }
      return new ImagegateProcess(child, listening[1] ?? `http://127.0.0.1:${port}`, demoKey);
    } catch (error) {
      await child.stop();
      throw error;
    } finally {
      stopWatching();
    }
  }

  get pid(): number {
    return this.process.pid;
  }

  async metrics(): Promise<ServerMetrics> {
    let response: Response;
    try {
      response = await fetch(`${this.url}/metrics`);
    } catch (error) {
      // A server that died mid-scenario explains itself in its last lines.
      const state = this.process.isRunning ? "is running" : "has exited";
      throw new Error(`GET /metrics failed and imagegate ${state}; its last lines:\n${this.process.tail()}`, { cause: error });
    }
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    return readServerMetrics(await response.text());
  }

  /** VmHWM: the most memory the process has held resident since it started, in bytes. */
  async peakResidentBytes(): Promise<number | null> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, "utf8");
      const match = /VmHWM:\s+(\d+)\s+kB/.exec(status);
      return match === null ? null : Number(match[1]) * 1024;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    // A CPU profile is written at exit, which can take a few seconds for a long run.
    await this.process.stop(20_000);
  }
}
