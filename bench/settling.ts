import type { ImagegateProcess } from "./imagegate-process.ts";
import type { ServerMetrics } from "./prometheus.ts";
import { sleep } from "./processes.ts";

export interface Settling {
  /** False when the bound passed first. */
  complete: boolean;
  metrics: ServerMetrics;
  waitedSeconds: number;
}

/**
 * Waits until the server has settled (success or fail) at least `expected` tasks, watching the
 * counters of GET /metrics, for at most `boundMs`.
 */
export async function waitUntilSettled(
  server: ImagegateProcess,
  expected: number,
  boundMs: number,
  onSample: (metrics: ServerMetrics) => void = () => undefined,
): Promise<Settling> {
  const started = performance.now();
  for (;;) {
    const metrics = await server.metrics();
    onSample(metrics);
    const waitedSeconds = (performance.now() - started) / 1000;
    if (metrics.tasksSucceeded + metrics.tasksFailed >= expected) return { complete: true, metrics, waitedSeconds };
    if (performance.now() - started > boundMs) return { complete: false, metrics, waitedSeconds };
    await sleep(250);
  }
}
