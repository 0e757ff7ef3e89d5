import type { ManagedProcess } from "./processes.ts";
import type { Figure } from "./scenario.ts";
import { distribution } from "./statistics.ts";

export interface SucceededTask {
  /** Time inside the provider's upstream call, as the server measured it. */
  upstreamMs: number;
  /** completeTime - createTime. */
  costTime: number;
  /** Parts of the overhead the server logs: waiting to be picked up, checking the image, storing it. */
  pickupMs: number | null;
  processMs: number | null;
  storeMs: number | null;
}

/** Where the overhead went, task by task: the parts the server logs and what is left. */
export interface OverheadParts {
  pickup: number[];
  process: number[];
  store: number[];
  /** overhead - the three parts: the provider's own handling, the state writes, the event loop. */
  rest: number[];
}

const numberOrNull = (value: unknown): number | null => (typeof value === "number" ? value : null);

/**
 * Reads imagegate's JSON log (LOG_LEVEL=info) for its one line per successful task:
 * {"msg":"task succeeded","taskId":...,"costTime":...,"pickupMs":...,"upstreamMs":...,"processMs":...,"storeMs":...}.
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
      const { msg, taskId, upstreamMs, costTime, pickupMs, processMs, storeMs } = entry as Record<string, unknown>;
      if (msg === "task succeeded" && typeof taskId === "string" && typeof upstreamMs === "number" && typeof costTime === "number") {
        this.succeeded.set(taskId, {
          upstreamMs,
          costTime,
          pickupMs: numberOrNull(pickupMs),
          processMs: numberOrNull(processMs),
          storeMs: numberOrNull(storeMs),
        });
      }
    });
  }

  /** Overheads (costTime - upstreamMs) of the given tasks that succeeded, in ms. */
  overheads(taskIds: Iterable<string>): { overheads: number[]; upstream: number[]; costTimes: number[]; parts: OverheadParts } {
    const overheads: number[] = [];
    const upstream: number[] = [];
    const costTimes: number[] = [];
    const parts: OverheadParts = { pickup: [], process: [], store: [], rest: [] };
    for (const taskId of taskIds) {
      const task = this.succeeded.get(taskId);
      if (task === undefined) continue;
      const overhead = task.costTime - task.upstreamMs;
      overheads.push(overhead);
      upstream.push(task.upstreamMs);
      costTimes.push(task.costTime);
      if (task.pickupMs !== null && task.processMs !== null && task.storeMs !== null) {
        parts.pickup.push(task.pickupMs);
        parts.process.push(task.processMs);
        parts.store.push(task.storeMs);
        parts.rest.push(overhead - task.pickupMs - task.processMs - task.storeMs);
      }
    }
    return { overheads, upstream, costTimes, parts };
  }

  close(): void {
    this.#stop();
  }
}

/** p50 and p99 of each part of the overhead, keyed `prefix.part.p50`. */
export function overheadPartFigures(prefix: string, parts: OverheadParts): Figure[] {
  const labels: Record<keyof OverheadParts, string> = {
    pickup: "waiting to be picked up (pickupMs)",
    process: "checking the image (processMs)",
    store: "storing the file (storeMs)",
    rest: "the rest (provider handling, state writes)",
  };
  return (Object.keys(labels) as (keyof OverheadParts)[]).flatMap((part) => {
    const spread = distribution(parts[part]);
    return [
      { key: `${prefix}.${part}.p50`, label: `  ${labels[part]} p50`, value: spread.count === 0 ? null : spread.p50, unit: "ms" },
      { key: `${prefix}.${part}.p99`, label: `  ${labels[part]} p99`, value: spread.count === 0 ? null : spread.p99, unit: "ms" },
    ] satisfies Figure[];
  });
}
