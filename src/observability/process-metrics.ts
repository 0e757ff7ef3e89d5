import { collectDefaultMetrics, Registry, type Metric } from "prom-client";

let processMetrics: readonly Metric[] | null = null;

/**
 * prom-client's default process and Node.js metrics (CPU, memory, event-loop lag, GC, handles).
 * They describe the process, not a server, and each collection starts an event-loop monitor and a
 * GC observer that are never stopped; so they are made once per process and every server's
 * registry shows the same ones.
 */
export function defaultProcessMetrics(): readonly Metric[] {
  if (processMetrics === null) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    processMetrics = registry
      .getMetricsAsArray()
      .flatMap((described) => registry.getSingleMetric(described.name) ?? []);
  }
  return processMetrics;
}
