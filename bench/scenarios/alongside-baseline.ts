import { BASELINE_PATH, BaselineProcess, REPLAY_PATH } from "../baseline-process.ts";
import type { RecordedAnswer } from "../baseline-server.ts";
import {
  alternatingRoundPlan,
  measureInAlternatingRounds,
  mergeClosedLoopResults,
  runClosedLoop,
  type ClosedLoopOptions,
  type ClosedLoopResult,
} from "../closed-loop.ts";
import type { Figure, ScenarioSettings } from "../scenario.ts";
import { describeFailures } from "./closed-loop-figures.ts";

type Load = Omit<ClosedLoopOptions, "durationSeconds">;

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
  /** The recorded answer replayed by a route doing no work, measured in the same rounds, if asked. */
  replay: { run: ClosedLoopResult; ratio: number } | null;
}

/**
 * Measures `load` and the baseline server in turns, so that a machine whose speed drifts (other
 * work on a shared host) slows both alike and their ratio keeps only what the server costs. Each
 * server gets the usual measurement time, in short rounds whose order flips every round (baseline
 * first, then the server first), and a warm-up before its first round.
 */
export async function measureAlongsideBaseline(
  name: string,
  load: Load,
  settings: ScenarioSettings,
  replay?: RecordedAnswer,
): Promise<AlongsideBaseline> {
  const { rounds, roundSeconds } = alternatingRoundPlan(settings);
  const baselineServer = await BaselineProcess.start(replay);
  try {
    const baselineLoad = baselineServer.load(settings.connections);
    settings.progress(`warming up the baseline for ${settings.warmupSeconds} s`);
    await runClosedLoop({ ...baselineLoad, durationSeconds: settings.warmupSeconds });
    settings.progress(`warming up ${name} for ${settings.warmupSeconds} s`);
    const warmup = await runClosedLoop({ ...load, durationSeconds: settings.warmupSeconds });
    const loads = [baselineLoad, load];
    if (replay !== undefined) loads.push(aimedAtReplay(load, baselineServer.url));
    settings.progress(`measuring: ${rounds} rounds of ${roundSeconds} s on each of ${replay === undefined ? "the baseline and" : "the baseline, the replayed answer and"} ${name}, alternating`);
    const [baselineRuns = [], subjectRuns = [], replayRuns] = await measureInAlternatingRounds(loads, { rounds, roundSeconds });
    const subjectMerged = mergeClosedLoopResults(subjectRuns);
    const baselineMerged = mergeClosedLoopResults(baselineRuns);
    const replayMerged = replayRuns === undefined ? null : mergeClosedLoopResults(replayRuns);
    return {
      warmup,
      rounds: subjectRuns,
      roundSeconds,
      subject: subjectMerged,
      baseline: baselineMerged,
      ratio: subjectMerged.requestsPerSecond / baselineMerged.requestsPerSecond,
      roundRatios: subjectRuns.map((run, round) => run.requestsPerSecond / (baselineRuns[round]?.requestsPerSecond ?? Number.NaN)),
      replay: replayMerged === null ? null : { run: replayMerged, ratio: replayMerged.requestsPerSecond / baselineMerged.requestsPerSecond },
    };
  } finally {
    await baselineServer.stop();
  }
}

/** One real answer of the server to the load's next request, headers and body, for the baseline server to replay. */
export async function recordAnswer(load: Load): Promise<RecordedAnswer> {
  const request = load.nextRequest();
  const response = await fetch(`${load.origin}${request.path}`, {
    method: request.method,
    headers: load.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  if (response.status !== 200) throw new Error(`${request.method} ${request.path} answered ${response.status} to the answer to replay`);
  return { headers: Object.fromEntries(response.headers.entries()), body: await response.text() };
}

/** The load's own requests (method, headers, query and body) sent to the baseline server's replay route. */
function aimedAtReplay(load: Load, baselineOrigin: string): Load {
  return {
    ...load,
    origin: baselineOrigin,
    nextRequest: () => {
      const request = load.nextRequest();
      const query = request.path.indexOf("?");
      return { ...request, path: query === -1 ? REPLAY_PATH : `${REPLAY_PATH}${request.path.slice(query)}` };
    },
  };
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
    ...(measured.replay === null
      ? []
      : ([
          {
            key: `${prefix}.replay.requestsPerSecond`,
            label: "its answer replayed with no work, alongside",
            value: measured.replay.run.requestsPerSecond,
            unit: "req/s",
          },
          { key: `${prefix}.replayRatio`, label: "replayed answer / baseline's", value: measured.replay.ratio, unit: "ratio" },
        ] satisfies Figure[])),
  ];
}

/** How the rounds ran and how the ratio is made, with each round's ratio for its spread. */
export function alongsideBaselineNotes(name: string, measured: AlongsideBaseline): string[] {
  const failures = describeFailures(measured.baseline);
  return [
    `${name} and the baseline server (GET ${BASELINE_PATH}) both stay up and are measured in ${measured.rounds.length} alternating rounds of ${measured.roundSeconds} s each; ` +
      `the ratio divides ${name}'s 2xx answers over its seconds in all rounds by the baseline's (round by round: ${measured.roundRatios.map((ratio) => ratio.toFixed(2)).join(", ")})`,
    ...(failures === null ? [] : [`baseline measured alongside: ${failures}`]),
    ...(measured.replay === null
      ? []
      : [
          `the baseline server also answers ${name}'s own requests (the same method, headers, query and body, at ${REPLAY_PATH}) with one of its real answers verbatim, ` +
            `doing no other work, in the same rounds: ${measured.replay.ratio.toFixed(2)} x the baseline, the most any server giving that answer to those requests reaches here`,
        ]),
  ];
}
