import type { ManagedProcess } from "./processes.ts";

export interface SucceededTask {
  /** Time inside the provider's upstream call, as the server measured it. */
  upstreamMs: number;
  /** completeTime - createTime. */
  costTime: number;
}

/**
 * Reads imagegate's JSON log (LOG_LEVEL=info) for its one line per successful task:
 * {"msg":"task succeeded","taskId":...,"upstreamMs":...,"costTime":...}.
 */
export class TaskLog {
  readonly succeeded = new Map<string, SucceededTask>();
  readonly #stop: () => void;

  constructor(server: ManagedProcess) {
    this.#stop = server.onLine((line, stream) => {
      if (stream !== "stdout" || !line.includes("task succeeded")) return;
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof entry !== "object" || entry === null) return;
      const { msg, taskId, upstreamMs, costTime } = entry as Record<string, unknown>;
      if (msg === "task succeeded" && typeof taskId === "string" && typeof upstreamMs === "number" && typeof costTime === "number") {
        this.succeeded.set(taskId, { upstreamMs, costTime });
      }
    });
  }

  /** Overheads (costTime - upstreamMs) of the given tasks that succeeded, in ms. */
  overheads(taskIds: Iterable<string>): { overheads: number[]; upstream: number[]; costTimes: number[] } {
    const overheads: number[] = [];
    const upstream: number[] = [];
    const costTimes: number[] = [];
    for (const taskId of taskIds) {
      const task = this.succeeded.get(taskId);
      if (task === undefined) continue;
      overheads.push(task.costTime - task.upstreamMs);
      upstream.push(task.upstreamMs);
      costTimes.push(task.costTime);
    }
    return { overheads, upstream, costTimes };
  }

  close(): void {
    this.#stop();
  }
}
