import { alternatingRoundPlan, measureInAlternatingRounds, mergeClosedLoopResults, runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from "../closed-loop.ts";
import { ImagegateProcess } from "../imagegate-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import { authorizationHeaders } from "../requests.ts";
import { MEBIBYTE, type Figure, type Scenario, type ScenarioOutcome, type ScenarioSettings } from "../scenario.ts";
import { seedSucceededTasks, type SeededTasks } from "../seed-tasks.ts";
import { describeFailures } from "./closed-loop-figures.ts";

const SMALL = 1_000;
const LARGE = 1_000_000;
const QUICK_LARGE = 100_000;

/** A server restarted over a database holding `count` finished tasks. */
interface Store {
  count: number;
  dataDir: string;
  seeded: SeededTasks | null;
  server: ImagegateProcess | null;
  apiKey: string;
}

async function prepareStore(store: Store, settings: ScenarioSettings): Promise<void> {
  // The first start creates the schema, the demo account and its key; the rows go in while it is stopped.
  const first = await ImagegateProcess.start({ dataDir: store.dataDir, logLevel: "warn", workerConcurrency: 32 });
  store.server = first;
  if (first.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
  store.apiKey = first.demoKey;
  await first.stop();
  store.server = null;

  settings.progress(`inserting ${store.count.toLocaleString("en-US")} finished tasks`);
  store.seeded = seedSucceededTasks(store.dataDir, store.count, first.url);
  settings.progress(
    `inserted in ${store.seeded.seconds.toFixed(1)} s (database ${(store.seeded.databaseBytes / MEBIBYTE).toFixed(0)} MiB); restarting the server`,
  );
  store.server = await ImagegateProcess.start({
    dataDir: store.dataDir,
    logLevel: "warn",
    workerConcurrency: 32,
    nodeArguments: settings.serverNodeArguments,
  });
}

function recordInfoLoad(store: Store, settings: ScenarioSettings): Omit<ClosedLoopOptions, "durationSeconds"> {
  const taskIds = store.seeded?.taskIds ?? [];
  if (store.server === null || taskIds.length === 0) throw new Error(`the store of ${store.count} tasks is not ready`);
  return {
    origin: store.server.url,
    headers: authorizationHeaders(store.apiKey),
    nextRequest: () => ({
      method: "GET" as const,
      path: `/api/v1/jobs/recordInfo?taskId=${taskIds[Math.floor(Math.random() * taskIds.length)] ?? ""}`,
    }),
    connections: settings.connections,
  };
}

function sizeFigures(prefix: string, store: Store, measured: ClosedLoopResult): Figure[] {
  const label = `${store.count.toLocaleString("en-US")} tasks`;
  return [
    { key: `${prefix}.latencyP50`, label: `${label}: recordInfo latency p50`, value: measured.latency.p50, unit: "ms" },
    { key: `${prefix}.latencyP99`, label: `${label}: recordInfo latency p99`, value: measured.latency.p99, unit: "ms" },
    { key: `${prefix}.requestsPerSecond`, label: `${label}: recordInfo throughput`, value: measured.requestsPerSecond, unit: "req/s" },
    { key: `${prefix}.seedSeconds`, label: `${label}: time to insert the rows`, value: store.seeded?.seconds ?? null, unit: "s" },
    {
      key: `${prefix}.databaseMiB`,
      label: `${label}: database file`,
      value: store.seeded === null ? null : store.seeded.databaseBytes / MEBIBYTE,
      unit: "MiB",
    },
  ];
}

export const scaleScenario: Scenario = {
  name: "scale",
  title: "scale: recordInfo with few and with many stored tasks",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const { rounds, roundSeconds } = alternatingRoundPlan(settings);
    const stores: Store[] = [];
    try {
      for (const count of [SMALL, settings.quick ? QUICK_LARGE : LARGE]) {
        const store: Store = { count, dataDir: await temporaryDirectory(`scale-${count}`), seeded: null, server: null, apiKey: "" };
        stores.push(store);
        await prepareStore(store, settings);
      }
      const [small, large] = stores;
      if (small === undefined || large === undefined) throw new Error("two stores were not prepared");
      for (const store of stores) {
        settings.progress(`warming up ${store.count.toLocaleString("en-US")} tasks for ${settings.warmupSeconds} s`);
        await runClosedLoop({ ...recordInfoLoad(store, settings), durationSeconds: settings.warmupSeconds });
      }
      settings.progress(`measuring recordInfo: ${rounds} rounds of ${roundSeconds} s on each, alternating`);
      const [smallRuns = [], largeRuns = []] = await measureInAlternatingRounds(
        [small, large].map((store) => recordInfoLoad(store, settings)),
        { rounds, roundSeconds },
      );
      const few = mergeClosedLoopResults(smallRuns);
      const many = mergeClosedLoopResults(largeRuns);
      const failures = [describeFailures(few), describeFailures(many)].filter((line) => line !== null);
      return {
        figures: [
          ...sizeFigures("scale.small", small, few),
          ...sizeFigures("scale.large", large, many),
          {
            key: "scale.p50Ratio",
            label: `p50 ratio (${large.count.toLocaleString("en-US")} / ${small.count.toLocaleString("en-US")})`,
            value: many.latency.p50 / few.latency.p50,
            unit: "ratio",
          },
          {
            key: "scale.throughputRatio",
            label: "throughput ratio (few / many)",
            value: few.requestsPerSecond / many.requestsPerSecond,
            unit: "ratio",
          },
        ],
        notes: [
          "rows inserted with better-sqlite3 in one transaction while the server is stopped: state success, a result URL, the demo account and key; no ledger rows or result files",
          `recordInfo over random ids of all stored tasks, ${settings.connections} connections; both servers stay up and are measured in alternating ${roundSeconds} s rounds`,
          ...(settings.quick ? [`quick run: ${QUICK_LARGE.toLocaleString("en-US")} rows instead of ${LARGE.toLocaleString("en-US")}`] : []),
          ...failures,
        ],
      };
    } finally {
      for (const store of stores) {
        await store.server?.stop();
        await removeDirectory(store.dataDir);
      }
    }
  },
};
