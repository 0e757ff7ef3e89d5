import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from "../closed-loop.ts";
import type { Figure, ScenarioSettings } from "../scenario.ts";

/** Throughput, latency and errors of one autocannon run, keyed `prefix.name`. */
export function closedLoopFigures(prefix: string, label: string, result: ClosedLoopResult): Figure[] {
  return [
    { key: `${prefix}.requestsPerSecond`, label: `${label}throughput`, value: result.requestsPerSecond, unit: "req/s" },
    { key: `${prefix}.latencyP50`, label: `${label}latency p50`, value: result.latency.p50, unit: "ms" },
    { key: `${prefix}.latencyP99`, label: `${label}latency p99`, value: result.latency.p99, unit: "ms" },
    { key: `${prefix}.requests`, label: `${label}2xx answers`, value: result.okCount, unit: "count" },
    {
      key: `${prefix}.failures`,
      label: `${label}non-2xx, errors, timeouts`,
      value: result.non2xxCount + result.errorCount + result.timeoutCount,
      unit: "count",
    },
  ];
}

export function describeFailures(result: ClosedLoopResult): string | null {
  const failures = result.non2xxCount + result.errorCount + result.timeoutCount;
  if (failures === 0) return null;
  return `${failures} requests failed: status counts ${JSON.stringify(result.statusCounts)}, ${result.errorCount} errors, ${result.timeoutCount} timeouts`;
}

/** The closed-loop scenarios' routine: a warm-up run whose figures are set aside, then the measured run. */
export async function warmUpThenMeasure(
  load: Omit<ClosedLoopOptions, "durationSeconds">,
  settings: Pick<ScenarioSettings, "warmupSeconds" | "measureSeconds" | "progress">,
): Promise<{ warmup: ClosedLoopResult; result: ClosedLoopResult }> {
  settings.progress(`warming up for ${settings.warmupSeconds} s`);
  const warmup = await runClosedLoop({ ...load, durationSeconds: settings.warmupSeconds });
  settings.progress(`measuring for ${settings.measureSeconds} s`);
  const result = await runClosedLoop({ ...load, durationSeconds: settings.measureSeconds });
  return { warmup, result };
}
