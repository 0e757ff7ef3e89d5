import { randomBytes } from "node:crypto";
import os from "node:os";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../../test/helpers/postgres.ts";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../../test/helpers/redis.ts";
import { alternatingRoundPlan, measureInAlternatingRounds, mergeClosedLoopResults, runClosedLoop, type ClosedLoopLoad, type ClosedLoopResult } from "../closed-loop.ts";
import { FakeUpstreamProcess } from "../fake-upstream-process.ts";
import { ImagegateProcess, type ImagegateSettings } from "../imagegate-process.ts";
import { createTaskLoad, PeerProcess, recordInfoLoad } from "../peers/peer-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import { ApiClient, createTaskBody } from "../requests.ts";
import { formatNumber, type Figure, type Scenario, type ScenarioOutcome, type ScenarioSettings } from "../scenario.ts";
import { BATCH_CONCURRENCY, batchTotals, runBatch, settledFromNowOn, settledInDatabase, type Batch, type BatchTarget } from "../task-batch.ts";
import { closedLoopFigures, describeFailures } from "./closed-loop-figures.ts";

/** Tasks per measured batch through the workers; each side runs a small one first to warm up. */
const BATCH_TASKS = 2_000;
const QUICK_BATCH_TASKS = 500;
const WARMUP_BATCH_TASKS = 100;
/** Tasks each server creates before the rounds, for recordInfo to read back at random. */
const READ_TASKS = 1_000;
const WORKER_CONCURRENCY = 32;

type Kind = "createTask" | "recordInfo";

/** A server, or API processes serving one API together: a row of the table. */
interface Subject {
  key: string;
  label: string;
  loads: Partial<Record<Kind, ClosedLoopLoad>>;
}

interface Measured {
  subject: Subject;
  kind: Kind;
  rounds: ClosedLoopResult[];
  result: ClosedLoopResult;
}

interface BatchSide extends BatchTarget {
  key: "workers" | "embedded";
  label: string;
  batches: Batch[];
}

/** The shared installation: processes of one configuration on one database and Redis prefix. */
interface Shared {
  apis: [ImagegateProcess, ImagegateProcess];
  workers: ImagegateProcess[];
  apiKey: string;
}

/** What the run holds, released whatever happens. */
class Holdings {
  readonly processes: { stop(): Promise<void> }[] = [];
  readonly clients: ApiClient[] = [];
  readonly directories: string[] = [];
  database: TestDatabase | null = null;
  /** The one PostgreSQL server's own: it would resume the shared processes' tasks on theirs. */
  soleDatabase: TestDatabase | null = null;
  sql: pg.Pool | null = null;
  readonly redisPrefix = uniquePrefix();
  readonly peerPrefix = `peer_${randomBytes(6).toString("hex")}`;

  started<T extends { stop(): Promise<void> }>(process: T): T {
    this.processes.push(process);
    return process;
  }

  client(origin: string, apiKey: string): ApiClient {
    const client = new ApiClient(origin, apiKey);
    this.clients.push(client);
    return client;
  }

  async directory(label: string): Promise<string> {
    const directory = await temporaryDirectory(label);
    this.directories.push(directory);
    return directory;
  }

  async release(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
    await Promise.all(this.processes.map((process) => process.stop()));
    await this.sql?.end();
    await this.database?.drop();
    await this.soleDatabase?.drop();
    await deleteKeys(this.redisPrefix);
    await deleteKeys(this.peerPrefix);
    await Promise.all(this.directories.map((directory) => removeDirectory(directory)));
  }
}

function demoKeyOf(server: ImagegateProcess): string {
  if (server.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
  return server.demoKey;
}

/**
 * Two `--role api` and two `--role worker` processes, as the scale-out guide runs them: one
 * configuration, result files in one local DATA_DIR they all reach (standing in for the bucket).
 */
async function startShared(holdings: Holdings, database: TestDatabase, common: Partial<ImagegateSettings>): Promise<Shared> {
  const dataDir = await holdings.directory("scale-out-shared");
  const environment = { DATABASE_URL: database.url, REDIS_URL, REDIS_PREFIX: holdings.redisPrefix, URL_SIGNING_SECRET: randomBytes(32).toString("base64") };
  const start = async (role: "api" | "worker"): Promise<ImagegateProcess> =>
    holdings.started(await ImagegateProcess.start({ logLevel: "warn", workerConcurrency: WORKER_CONCURRENCY, ...common, dataDir, environment: { ...environment, ROLE: role } }));
  // The first process applies the schema and creates the demo account; the others find both.
  const first = await start("api");
  const [second, ...workers] = await Promise.all([start("api"), start("worker"), start("worker")]);
  if (second === undefined) throw new Error("the second API process did not start");
  return { apis: [first, second], workers, apiKey: demoKeyOf(first) };
}

/** Each side's batches in the order A B B A (A B with --quick) after a warm-up batch each, so a drift slows both alike. */
async function measureBatches(sides: readonly BatchSide[], settings: ScenarioSettings): Promise<void> {
  const tasks = settings.quick ? QUICK_BATCH_TASKS : BATCH_TASKS;
  for (const side of sides) {
    settings.progress(`warming up ${side.label} with a batch of ${WARMUP_BATCH_TASKS} tasks`);
    await runBatch(side, WARMUP_BATCH_TASKS);
  }
  for (let round = 0; round < (settings.quick ? 1 : 2); round += 1) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const batch = await runBatch(side, tasks);
      const why = batch.reasons === undefined ? "" : `; failed: ${batch.reasons.join("; ")}`;
    settings.progress(`${side.label}: ${batch.succeeded.toLocaleString("en-US")} of ${batch.tasks.toLocaleString("en-US")} tasks succeeded in ${batch.seconds.toFixed(1)} s${why}`);
      side.batches.push(batch);
    }
  }
}

/** Every subject's loads, warmed up, then measured in alternating rounds all together. */
async function measureSubjects(subjects: readonly Subject[], settings: ScenarioSettings): Promise<{ measured: Measured[]; roundSeconds: number; rounds: number }> {
  const loads = subjects.flatMap((subject) =>
    (["createTask", "recordInfo"] as const).flatMap((kind) => {
      const load = subject.loads[kind];
      return load === undefined ? [] : [{ subject, kind, load }];
    }),
  );
  for (const { subject, kind, load } of loads) {
    settings.progress(`warming up ${subject.label}: ${kind} for ${settings.warmupSeconds} s`);
    await runClosedLoop({ ...load, durationSeconds: settings.warmupSeconds });
  }
  const plan = alternatingRoundPlan(settings);
  settings.progress(`measuring: ${plan.rounds} rounds of ${plan.roundSeconds} s on each of the ${loads.length} loads, alternating`);
  const runs = await measureInAlternatingRounds(
    loads.map(({ load }) => load),
    plan,
  );
  return {
    measured: loads.map(({ subject, kind }, index) => ({ subject, kind, rounds: runs[index] ?? [], result: mergeClosedLoopResults(runs[index] ?? []) })),
    ...plan,
  };
}

const failuresOf = (result: ClosedLoopResult): number => result.non2xxCount + result.errorCount + result.timeoutCount;

/** The figures, one table of them, and the notes. */
function outcome(measured: readonly Measured[], sides: readonly BatchSide[], plan: { rounds: number; roundSeconds: number }, settings: ScenarioSettings): ScenarioOutcome {
  const find = (key: string, kind: Kind): Measured | undefined => measured.find((entry) => entry.subject.key === key && entry.kind === kind);
  const throughput = (key: string, kind: Kind): number => find(key, kind)?.result.requestsPerSecond ?? Number.NaN;
  // The peer's createTask is what the targets divide by.
  const peerCreate = find("fastifyPg", "createTask");
  const perPeer = (entry: Measured | undefined): number | null =>
    entry === undefined || peerCreate === undefined ? null : entry.result.requestsPerSecond / peerCreate.result.requestsPerSecond;
  const roundRatios = (entry: Measured | undefined): string =>
    (entry?.rounds ?? []).map((run, round) => (run.requestsPerSecond / (peerCreate?.rounds[round]?.requestsPerSecond ?? Number.NaN)).toFixed(2)).join(", ");
  const totals = new Map(sides.map((side) => [side.key, batchTotals(side.batches)]));
  const workers = totals.get("workers");
  const embedded = totals.get("embedded");
  const batchRatio = (workers?.tasksPerSecond ?? Number.NaN) / (embedded?.tasksPerSecond ?? Number.NaN);
  const twoApis = { createTask: throughput("postgres2", "createTask") / throughput("postgres1", "createTask"), recordInfo: throughput("postgres2", "recordInfo") / throughput("postgres1", "recordInfo") };
  const failures = measured.reduce((sum, entry) => sum + failuresOf(entry.result), 0) + [...totals.values()].reduce((sum, batch) => sum + batch.failures, 0);
  const ratio = (key: string, label: string, value: number | null): Figure => ({ key: `scaleOut.${key}`, label, value, unit: "ratio" });

  const figures: Figure[] = [
    ...measured.flatMap(({ subject, kind, result }) => closedLoopFigures(`scaleOut.${subject.key}.${kind}`, `${subject.label}: ${kind} `, result)),
    ...sides.flatMap(({ key, label }): Figure[] => {
      const batch = totals.get(key);
      return [
        { key: `scaleOut.batch.${key}.tasksPerSecond`, label: `${label}: batch tasks/s`, value: batch?.tasksPerSecond ?? null, unit: "tasks/s" },
        { key: `scaleOut.batch.${key}.tasks`, label: `${label}: batch tasks submitted`, value: batch?.tasks ?? null, unit: "tasks" },
        { key: `scaleOut.batch.${key}.failures`, label: `${label}: batch tasks refused, failed or unfinished`, value: batch?.failures ?? null, unit: "count" },
      ];
    }),
    ratio("createTaskPeerRatio", "PostgreSQL createTask (one server) / Fastify + pg createTask", perPeer(find("postgres", "createTask"))),
    ratio("recordInfoPeerRatio", "PostgreSQL recordInfo (one server) / Fastify + pg createTask", perPeer(find("postgres", "recordInfo"))),
    ratio("sharedCreateTaskPeerRatio", "PostgreSQL + Redis createTask (one API process) / Fastify + pg createTask", perPeer(find("postgres1", "createTask"))),
    ratio("sharedRecordInfoPeerRatio", "PostgreSQL + Redis recordInfo (one API process) / Fastify + pg createTask", perPeer(find("postgres1", "recordInfo"))),
    ratio(
      "sharedCreateTaskBullmqRatio",
      "PostgreSQL + Redis createTask (one API process) / Fastify + BullMQ createTask",
      throughput("postgres1", "createTask") / throughput("fastifyBullmq", "createTask"),
    ),
    ratio("embeddedCreateTaskPeerRatio", "embedded createTask / Fastify + pg createTask", perPeer(find("embedded", "createTask"))),
    ratio("embeddedRecordInfoPeerRatio", "embedded recordInfo / Fastify + pg createTask", perPeer(find("embedded", "recordInfo"))),
    ratio("twoApiCreateTaskRatio", "createTask, two API processes / one", twoApis.createTask),
    ratio("twoApiRecordInfoRatio", "recordInfo, two API processes / one", twoApis.recordInfo),
    ratio("batchRatio", "batch tasks/s, two workers / embedded default", batchRatio),
    { key: "scaleOut.failures", label: "failures: non-2xx, errors, timeouts, batch tasks not succeeded", value: failures, unit: "count" },
  ];

  const cells = (entry: Measured | undefined): string[] =>
    entry === undefined
      ? ["", "", "", ""]
      : [formatNumber(entry.result.requestsPerSecond, "req/s"), formatNumber(entry.result.latency.p50, "ms"), formatNumber(entry.result.latency.p99, "ms"), formatNumber(perPeer(entry), "ratio")];
  const row = (label: string, create: Measured | undefined, read: Measured | undefined, batch: ReturnType<typeof batchTotals> | undefined): string[] => {
    const rowFailures = [create, read].reduce((sum, entry) => sum + (entry === undefined ? 0 : failuresOf(entry.result)), batch?.failures ?? 0);
    return [label, ...cells(create), ...cells(read), batch === undefined ? "" : formatNumber(batch.tasksPerSecond, "tasks/s"), String(rowFailures)];
  };
  const subjectRow = (key: string): string[] => {
    const subject = find(key, "createTask")?.subject;
    return row(subject?.label ?? key, find(key, "createTask"), find(key, "recordInfo"), key === "embedded" ? embedded : undefined);
  };
  const rows = [
    subjectRow("embedded"),
    subjectRow("postgres"),
    subjectRow("postgres1"),
    subjectRow("postgres2"),
    row(sides.find((side) => side.key === "workers")?.label ?? "two workers", undefined, undefined, workers),
    subjectRow("fastifyPg"),
    subjectRow("fastifyBullmq"),
  ];

  const batchTasks = settings.quick ? QUICK_BATCH_TASKS : BATCH_TASKS;
  return {
    figures,
    table: { header: ["", "createTask", "p50", "p99", "/ peer", "recordInfo", "p50", "p99", "/ peer's createTask", "batch", "failures"], rows },
    notes: [
      "one run: a PostgreSQL database and a Redis prefix of its own (dropped and deleted after), the fake Gemini and every server above, on this machine over 127.0.0.1",
      `closed loops of ${settings.connections} connections, pipelining 1, a warm-up each, then ${plan.rounds} alternating rounds of ${plan.roundSeconds} s on each of the ${measured.length} loads; ` +
        "\"/ peer\" divides by the Fastify + pg peer's createTask in the same rounds; the targets hold the one PostgreSQL server (no Redis, as the peer) against the peer's one process",
      `round by round, PostgreSQL createTask / peer createTask ${roundRatios(find("postgres", "createTask"))}; recordInfo / peer createTask ${roundRatios(find("postgres", "recordInfo"))}`,
      `PostgreSQL + Redis, one API process: createTask / peer createTask ${roundRatios(find("postgres1", "createTask"))} round by round; / the BullMQ peer's createTask ${formatNumber(throughput("postgres1", "createTask") / throughput("fastifyBullmq", "createTask"), "ratio")}: ` +
        "each task is also handed to BullMQ (its add script, run by Redis on the same 2 cores, costs about what the whole BullMQ peer request does), marked queuing, and its change published",
      `two API processes share the same connections, split evenly, one autocannon each in the load generator's process; the machine's ${os.cpus().length} cores are shared by the load generator, ` +
        `both API processes, PostgreSQL and Redis, so a second process adds no core here: two / one ${formatNumber(twoApis.createTask, "ratio")} for createTask, ${formatNumber(twoApis.recordInfo, "ratio")} for recordInfo`,
      `recordInfo reads ${READ_TASKS.toLocaleString("en-US")} tasks each server created before the rounds, still waiting (no worker runs them then), at random; ` +
        "the createTask rounds between write more tasks than the embedded default keeps in memory (20,000), so it reads some from SQLite",
      `batch: ${batchTasks.toLocaleString("en-US")} tasks (1:1 PNG), ${BATCH_CONCURRENCY} createTask in flight (split over both API processes), timed from the first request until all settled (read from the database's states, or the embedded default's /metrics); ` +
        `${settings.quick ? "one batch on each side" : "two batches on each side, in the order A B B A"} after a warm-up batch of ${WARMUP_BATCH_TASKS}; the fake Gemini answers at once with a 1024x1024 PNG; ` +
        `WORKER_CONCURRENCY ${WORKER_CONCURRENCY} in each worker and in the embedded default; two workers / embedded default ${formatNumber(batchRatio, "ratio")}`,
      "the shared processes keep result files in one local DATA_DIR (standing in for the bucket) and sign URLs with one URL_SIGNING_SECRET; the workers stop before the closed-loop rounds",
      ...measured.flatMap(({ subject, kind, result }) => {
        const described = describeFailures(result);
        return described === null ? [] : [`${subject.label}, ${kind}: ${described}`];
      }),
    ],
  };
}

export const scaleOutScenario: Scenario = {
  name: "scale-out",
  title: "scale-out: PostgreSQL + Redis with one and two API processes and two workers, beside the embedded default and two do-it-yourself peers",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const holdings = new Holdings();
    try {
      const database = await createTestDatabase();
      holdings.database = database;
      const sql = new pg.Pool({ connectionString: database.url, max: 1 });
      holdings.sql = sql;
      const upstream = holdings.started(await FakeUpstreamProcess.start(0));
      const withUpstream = { upstreamUrl: upstream.url, upstreamConcurrency: WORKER_CONCURRENCY, nodeArguments: settings.serverNodeArguments };

      settings.progress(`database ${database.name}, Redis prefix ${holdings.redisPrefix}: starting two API and two worker processes`);
      const shared = await startShared(holdings, database, withUpstream);
      const [firstApi, secondApi] = shared.apis;
      const embeddedBatch = holdings.started(
        await ImagegateProcess.start({ ...withUpstream, logLevel: "warn", workerConcurrency: WORKER_CONCURRENCY, dataDir: await holdings.directory("scale-out-batch") }),
      );
      const sides: BatchSide[] = [
        {
          key: "workers",
          label: "PostgreSQL + Redis: two worker processes",
          clients: shared.apis.map((api) => holdings.client(api.url, shared.apiKey)),
          countSettled: () => Promise.resolve(settledInDatabase(sql)),
          batches: [],
        },
        {
          key: "embedded",
          label: "embedded default",
          clients: [holdings.client(embeddedBatch.url, demoKeyOf(embeddedBatch))],
          countSettled: () => settledFromNowOn(embeddedBatch),
          batches: [],
        },
      ];
      await measureBatches(sides, settings);
      // From here on the API processes and the embedded default take the load alone: the tasks
      // they accept stay waiting, with no worker to run them or take the CPU.
      await Promise.all([...shared.workers, embeddedBatch].map((process) => process.stop()));

      settings.progress("starting the embedded default and one PostgreSQL server (sandbox images of 10 min, so their workers stay idle) and the two peers");
      const idleServer = async (label: string, environment: Record<string, string> = {}): Promise<ImagegateProcess> =>
        holdings.started(
          await ImagegateProcess.start({
            logLevel: "warn",
            workerConcurrency: WORKER_CONCURRENCY,
            sandboxLatencyMs: 600_000,
            nodeArguments: settings.serverNodeArguments,
            dataDir: await holdings.directory(label),
            environment,
          }),
        );
      const embedded = await idleServer("scale-out-embedded");
      const embeddedKey = demoKeyOf(embedded);
      holdings.soleDatabase = await createTestDatabase();
      const postgres = await idleServer("scale-out-postgres", { DATABASE_URL: holdings.soleDatabase.url });
      const postgresKey = demoKeyOf(postgres);
      const fastifyPg = holdings.started(await PeerProcess.start("fastify-pg", { databaseUrl: database.url, prefix: "peer" }));
      const fastifyBullmq = holdings.started(await PeerProcess.start("fastify-bullmq", { redisUrl: REDIS_URL, prefix: holdings.peerPrefix }));
      settings.progress(`creating ${READ_TASKS.toLocaleString("en-US")} tasks on each server for recordInfo to read`);
      const createdTaskIds = (origin: string, apiKey: string): Promise<string[]> =>
        holdings.client(origin, apiKey).createMany(READ_TASKS, 16, () => createTaskBody());
      const embeddedReads = await createdTaskIds(embedded.url, embeddedKey);
      const postgresReads = await createdTaskIds(postgres.url, postgresKey);
      const sharedReads = await createdTaskIds(firstApi.url, shared.apiKey);
      const peerReads = await createdTaskIds(fastifyPg.url, fastifyPg.apiKey);
      const { connections } = settings;
      const spread = (load: ClosedLoopLoad): ClosedLoopLoad => ({ ...load, moreOrigins: [secondApi.url] });
      const subjects: Subject[] = [
        {
          key: "embedded",
          label: "embedded default (SQLite, one process)",
          loads: { createTask: createTaskLoad(embedded.url, embeddedKey, connections), recordInfo: recordInfoLoad(embedded.url, embeddedKey, embeddedReads, connections) },
        },
        {
          key: "postgres",
          label: "PostgreSQL, one server (no Redis)",
          loads: { createTask: createTaskLoad(postgres.url, postgresKey, connections), recordInfo: recordInfoLoad(postgres.url, postgresKey, postgresReads, connections) },
        },
        {
          key: "postgres1",
          label: "PostgreSQL + Redis: one API process",
          loads: { createTask: createTaskLoad(firstApi.url, shared.apiKey, connections), recordInfo: recordInfoLoad(firstApi.url, shared.apiKey, sharedReads, connections) },
        },
        {
          key: "postgres2",
          label: "PostgreSQL + Redis: two API processes",
          loads: {
            createTask: spread(createTaskLoad(firstApi.url, shared.apiKey, connections)),
            recordInfo: spread(recordInfoLoad(firstApi.url, shared.apiKey, sharedReads, connections)),
          },
        },
        {
          key: "fastifyPg",
          label: "Fastify + pg peer",
          loads: { createTask: fastifyPg.createTaskLoad(connections), recordInfo: recordInfoLoad(fastifyPg.url, fastifyPg.apiKey, peerReads, connections) },
        },
        { key: "fastifyBullmq", label: "Fastify + BullMQ peer", loads: { createTask: fastifyBullmq.createTaskLoad(connections) } },
      ];
      const { measured, ...plan } = await measureSubjects(subjects, settings);
      return outcome(measured, sides, plan, settings);
    } finally {
      await holdings.release();
    }
  },
};
