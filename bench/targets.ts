import { figureValue, formatNumber, type ScenarioOutcome, type Unit } from "./scenario.ts";

export type Verdict = "met" | "missed" | "not measured";

export interface TargetCheck {
  name: string;
  value: number | null;
  unit: Unit;
  /** The figure as printed, with what it was computed from. */
  figure: string;
  comparison: "at least" | "at most";
  bound: number;
  target: string;
  verdict: Verdict;
  /** How far from the bound, on the right side (met) or the wrong side (missed). */
  margin: string;
}

interface TargetDefinition {
  name: string;
  value: number | null;
  unit: Unit;
  comparison: "at least" | "at most";
  bound: number;
  target: string;
  detail?: string;
}

function marginOf(value: number, definition: TargetDefinition, met: boolean): string {
  const { bound, comparison, unit } = definition;
  const difference = Math.abs(value - bound);
  const absolute = unit === "ratio" ? difference.toFixed(2) : formatNumber(difference, unit);
  if (bound === 0) return met ? "none" : `${absolute} too many`;
  // The share of the bound by which the figure is on the right or the wrong side of it.
  const share = comparison === "at least" ? value / bound - 1 : 1 - value / bound;
  const percent = `${Math.abs(share * 100).toFixed(0)}%`;
  if (met) return `${percent} headroom (${absolute})`;
  const factor = comparison === "at least" ? bound / value : value / bound;
  return `missed by ${percent} (${absolute}${factor >= 2 ? `, ${factor.toFixed(1)}x off` : ""})`;
}

function check(definition: TargetDefinition): TargetCheck {
  const { value } = definition;
  const base = {
    name: definition.name,
    value,
    unit: definition.unit,
    comparison: definition.comparison,
    bound: definition.bound,
    target: definition.target,
  };
  if (value === null || Number.isNaN(value)) {
    return { ...base, figure: "n/a", verdict: "not measured", margin: "" };
  }
  const met = definition.comparison === "at least" ? value >= definition.bound : value <= definition.bound;
  const printed = formatNumber(value, definition.unit);
  return {
    ...base,
    figure: definition.detail === undefined ? printed : `${printed} (${definition.detail})`,
    verdict: met ? "met" : "missed",
    margin: marginOf(value, definition, met),
  };
}

function ratio(numerator: number | null, denominator: number | null): number | null {
  return numerator === null || denominator === null || denominator === 0 ? null : numerator / denominator;
}

function requestsPerSecond(value: number | null): string {
  return formatNumber(value, "req/s");
}

/**
 * The issue's targets, each a ratio or a bound measured in this one run. The throughput ratios
 * divide by the baseline measured alongside each server, in alternating rounds, rather than by the
 * baseline scenario's figure: on a machine whose speed drifts, two figures taken a minute apart
 * differ by more than the servers do.
 */
export function checkTargets(outcomes: Record<string, ScenarioOutcome | undefined>): TargetCheck[] {
  const createTask = figureValue(outcomes.createTask, "createTask.requestsPerSecond");
  const createTaskBaseline = figureValue(outcomes.createTask, "createTask.baseline.requestsPerSecond");
  const recordInfo = figureValue(outcomes.recordInfo, "recordInfo.requestsPerSecond");
  const recordInfoBaseline = figureValue(outcomes.recordInfo, "recordInfo.baseline.requestsPerSecond");
  const slowFailures = figureValue(outcomes.slowUpstream, "slowUpstream.failures");
  const slowSucceeded = figureValue(outcomes.slowUpstream, "slowUpstream.succeeded");
  const smallP50 = figureValue(outcomes.scale, "scale.small.latencyP50");
  const largeP50 = figureValue(outcomes.scale, "scale.large.latencyP50");
  const scaleOut = outcomes["scale-out"];
  const scaleOutRequests = (key: string): string => requestsPerSecond(figureValue(scaleOut, `scaleOut.${key}.requestsPerSecond`));
  const peerCreateTask = scaleOutRequests("fastifyPg.createTask");
  return [
    check({
      name: "createTask throughput",
      value: figureValue(outcomes.createTask, "createTask.baselineRatio"),
      unit: "ratio",
      comparison: "at least",
      bound: 0.5,
      target: ">= 0.5 x baseline",
      detail: `${requestsPerSecond(createTask)} / ${requestsPerSecond(createTaskBaseline)} alongside`,
    }),
    check({
      name: "recordInfo throughput",
      value: figureValue(outcomes.recordInfo, "recordInfo.baselineRatio"),
      unit: "ratio",
      comparison: "at least",
      bound: 0.7,
      target: ">= 0.7 x baseline",
      detail: `${requestsPerSecond(recordInfo)} / ${requestsPerSecond(recordInfoBaseline)} alongside`,
    }),
    check({
      name: "overhead p50",
      value: figureValue(outcomes.overhead, "overhead.p50"),
      unit: "ms",
      comparison: "at most",
      bound: 10,
      target: "<= 10 ms",
    }),
    check({
      name: "overhead p99",
      value: figureValue(outcomes.overhead, "overhead.p99"),
      unit: "ms",
      comparison: "at most",
      bound: 50,
      target: "<= 50 ms",
    }),
    check({
      name: "slow upstream failures",
      value: slowFailures,
      unit: "count",
      comparison: "at most",
      bound: 0,
      target: "0",
      ...(slowSucceeded === null ? {} : { detail: `${formatNumber(slowSucceeded, "tasks")} succeeded` }),
    }),
    check({
      name: "slow upstream peak RSS",
      value: figureValue(outcomes.slowUpstream, "slowUpstream.peakResidentMiB"),
      unit: "MiB",
      comparison: "at most",
      bound: 1024,
      target: "<= 1 GiB",
    }),
    check({
      name: "slow upstream event-loop delay p99",
      value: figureValue(outcomes.slowUpstream, "slowUpstream.eventLoopDelayP99"),
      unit: "ms",
      comparison: "at most",
      bound: 50,
      target: "<= 50 ms",
    }),
    check({
      name: "scale: recordInfo p50, many / few tasks",
      value: ratio(largeP50, smallP50),
      unit: "ratio",
      comparison: "at most",
      bound: 1.3,
      target: "<= 1.3",
      detail: `${formatNumber(largeP50, "ms")} / ${formatNumber(smallP50, "ms")}`,
    }),
    // PostgreSQL mode (one server, no Redis, as the peer has none) against the do-it-yourself
    // route an operator would otherwise write, one process each, in the same rounds; the embedded
    // default's own figure beside it. PostgreSQL + Redis is printed beside, against both peers.
    check({
      name: "scale-out: PostgreSQL createTask / Fastify + pg createTask",
      value: figureValue(scaleOut, "scaleOut.createTaskPeerRatio"),
      unit: "ratio",
      comparison: "at least",
      bound: 1.5,
      target: ">= 1.5",
      detail: `${scaleOutRequests("postgres.createTask")} / ${peerCreateTask}; embedded default ${scaleOutRequests("embedded.createTask")}`,
    }),
    check({
      name: "scale-out: PostgreSQL recordInfo / Fastify + pg createTask",
      value: figureValue(scaleOut, "scaleOut.recordInfoPeerRatio"),
      unit: "ratio",
      comparison: "at least",
      bound: 2,
      target: ">= 2",
      detail: `${scaleOutRequests("postgres.recordInfo")} / ${peerCreateTask}; embedded default ${scaleOutRequests("embedded.recordInfo")}`,
    }),
    check({
      name: "scale-out failures",
      value: figureValue(scaleOut, "scaleOut.failures"),
      unit: "count",
      comparison: "at most",
      bound: 0,
      target: "0",
    }),
  ];
}
