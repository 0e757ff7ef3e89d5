import type { ClosedLoopOptions } from "./closed-loop.ts";
import { REPOSITORY_ROOT } from "./imagegate-process.ts";
import { baseEnvironment, ManagedProcess } from "./processes.ts";

export const BASELINE_PATH = "/api/v1/baseline";

/** bench/baseline-server.ts in its own process, the yardstick the throughput targets divide by. */
export class BaselineProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<BaselineProcess> {
    const child = new ManagedProcess({
      name: "baseline",
      command: process.execPath,
      arguments: ["--import", "tsx", "bench/baseline-server.ts"],
      cwd: REPOSITORY_ROOT,
      environment: baseEnvironment(),
    });
    try {
      const listening = await child.waitForLine(/baseline listening on (http:\/\/\S+)/, 30_000);
      return new BaselineProcess(child, listening[1] ?? "");
    } catch (error) {
      await child.stop();
      throw error;
    }
  }

  /** The same request over and over: the route answers a constant envelope. */
  load(connections: number): Omit<ClosedLoopOptions, "durationSeconds"> {
    return {
      origin: this.url,
      headers: {},
      nextRequest: () => ({ method: "GET", path: BASELINE_PATH }),
      connections,
    };
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
