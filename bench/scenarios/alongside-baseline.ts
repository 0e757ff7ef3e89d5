import { BASELINE_PATH, BaselineProcess } from "../baseline-process.ts";
import { mergeClosedLoopResults, runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from "../closed-loop.ts";
import type { Figure, ScenarioSettings } from "../scenario.ts";
import { describeFailures } from "./closed-loop-figures.ts";

type Load = Omit<ClosedLoopOptions, "durationSeconds">;

/** One of the two servers measured in turns, with its runs so far. */
interface Side {
  load: Load;
  runs: ClosedLoopResult[];
}

/** A server measured in rounds that alternate with the baseline server's. */
export interface AlongsideBaseline {
  /** The server's warm-up run, set aside. */
  warmup: ClosedLoopResult;
  /** The server's measured rounds, in order. */
  rounds: ClosedLoopResult[];
  roundSeconds: number;
  /** The server's rounds as one run. */
  subject: ClosedLoopResult;
  /** The baseline's rounds as one run. */
  baseline: ClosedLoopResult;
  /** The two throughputs divided, each the 2xx answers of all its rounds over their seconds. */
  ratio: number;
  /** The same ratio round by round, to show how far it moves. */
  roundRatios: number[];
}

/**
 * Measures `load` and the baseline server in turns, so that a machine whose speed drifts (other
 * work on a shared host) slows both alike and their ratio keeps only what the server costs. Each
 * server gets the usual measurement time, in short rounds whose order flips every round (baseline
 * first, then the server first), and a warm-up before its first round.
 */
export async function measureAlongsideBaseline(name: string, load: Load, settings: ScenarioSettings): Promise<AlongsideBaseline> {
  const roundCount = settings.quick ? 3 : 5;
  const roundSeconds = Math.max(1, Math.round(settings.measureSeconds / roundCount));
  const baselineServer = await BaselineProcess.start();
  try {
    const baseline: Side = { load: baselineServer.load(settings.connections), runs: [] };
    const subject: Side = { load, runs: [] };
    settings.progress(`warming up the baseline for ${settings.warmupSeconds} s`);
    await runClosedLoop({ ...baseline.load, durationSeconds: settings.warmupSeconds });
    settings.progress(`warming up ${name} for ${settings.warmupSeconds} s`);
    const warmup = await runClosedLoop({ ...load, durationSeconds: settings.warmupSeconds });
    settings.progress(`measuring: ${roundCount} rounds of ${roundSeconds} s on each of the baseline and ${name}, alternating`);
    for (let round = 0; round < roundCount; round += 1) {
      const order = round % 2 === 0 ? [baseline, subject] : [subject, baseline];
      for (const side of order) side.runs.push(await runClosedLoop({ ...side.load, durationSeconds: roundSeconds }));
    }
    const subjectMerged = mergeClosedLoopResults(subject.runs);
    const baselineMerged = mergeClosedLoopResults(baseline.runs);
    return {
      warmup,
      rounds: subject.runs,
      roundSeconds,
      subject: subjectMerged,
      baseline: baselineMerged,
      ratio: subjectMerged.requestsPerSecond / baselineMerged.requestsPerSecond,
      roundRatios: subject.runs.map((run, round) => run.requestsPerSecond / (baseline.runs[round]?.requestsPerSecond ?? Number.NaN)),
    };
  } finally {
    await baselineServer.stop();
  }
}

/** The baseline's throughput beside the server's, and the ratio the targets are set on, keyed `prefix.name`. */
export function alongsideBaselineFigures(prefix: string, measured: AlongsideBaseline): Figure[] {
  return [
    {
      key: `${prefix}.baseline.requestsPerSecond`,
      label: "baseline throughput, measured alongside",
      value: measured.baseline.requestsPerSecond,
      unit: "req/s",
    },
    { key: `${prefix}.baselineRatio`, label: "throughput / baseline's", value: measured.ratio, unit: "ratio" },
  ];
}

/** How the rounds ran and how the ratio is made, with each round's ratio for its spread. */
export function alongsideBaselineNotes(name: string, measured: AlongsideBaseline): string[] {
  const failures = describeFailures(measured.baseline);
  return [
    `${name} and the baseline server (GET ${BASELINE_PATH}) both stay up and are measured in ${measured.rounds.length} alternating rounds of ${measured.roundSeconds} s each; ` +
      `the ratio divides ${name}'s 2xx answers over its seconds in all rounds by the baseline's (round by round: ${measured.roundRatios.map((ratio) => ratio.toFixed(2)).join(", ")})`,
    ...(failures === null ? [] : [`baseline measured alongside: ${failures}`]),
  ];
}
