import type { RecordedAnswer } from "./baseline-server.ts";
import type { ClosedLoopOptions } from "./closed-loop.ts";
import { REPOSITORY_ROOT } from "./imagegate-process.ts";
import { baseEnvironment, ManagedProcess } from "./processes.ts";

export const BASELINE_PATH = "/api/v1/baseline";
export const REPLAY_PATH = "/api/v1/replay";

/** bench/baseline-server.ts in its own process, the yardstick the throughput targets divide by. */
export class BaselineProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly url: string,
  ) {}

  /** With `replay`, the server also answers that recorded answer at REPLAY_PATH. */
  static async start(replay?: RecordedAnswer): Promise<BaselineProcess> {
    const environment = baseEnvironment();
    if (replay !== undefined) environment.BASELINE_REPLAY = JSON.stringify(replay);
    const child = new ManagedProcess({
      name: "baseline",
      command: process.execPath,
      arguments: ["--import", "tsx", "bench/baseline-server.ts"],
      cwd: REPOSITORY_ROOT,
      environment,
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
