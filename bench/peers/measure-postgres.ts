import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { createTestDatabase, type TestDatabase } from "../../test/helpers/postgres.ts";
import { alternatingRoundPlan, measureInAlternatingRounds, mergeClosedLoopResults, runClosedLoop, type ClosedLoopResult } from "../closed-loop.ts";
import { ImagegateProcess, REPOSITORY_ROOT } from "../imagegate-process.ts";
import { waitForQuietMachine } from "../machine-load.ts";
import { killAllProcessesNow, removeDirectory, stopAllProcesses, temporaryDirectory } from "../processes.ts";
import { textTable } from "../report.ts";
import { ApiClient, createTaskBody } from "../requests.ts";
import { formatNumber } from "../scenario.ts";
import { describeFailures } from "../scenarios/closed-loop-figures.ts";
import { createTaskLoad, PeerProcess, recordInfoLoad } from "./peer-process.ts";

const USAGE = `usage: tsx bench/peers/measure-postgres.ts [--seconds N] [--connections N] [--quick]

Measures imagegate on PostgreSQL against the do-it-yourself Fastify + pg peer, on one fresh
database of the PostgreSQL server at TEST_DATABASE_URL (default
postgres://postgres:postgres@127.0.0.1:5432/postgres), created and dropped by the run:

  - imagegate \`serve\` (bin/imagegate.js, rebuilt first if src/ changed) with DATABASE_URL set:
    one process, the sandbox provider (tasks stay active, workers idle), rate limits off;
  - bench/peers/fastify-pg.ts: one durable INSERT per createTask, on the same database.

Each serves the same closed-loop createTask load (autocannon, --connections connections,
pipelining 1, a random valid body per request) and recordInfo of random tasks it created, in
alternating rounds (bench/closed-loop.ts), after a warm-up. Prints req/s and p50/p99 of each,
and the ratios the scale-out targets are set on: imagegate's createTask and recordInfo over the
peer's createTask (targets 1.5 and 2).

  --seconds      measured seconds per load, split into rounds (default 10; 3 with --quick)
  --connections  concurrent connections of the load generator (default 50)
  --quick        3 rounds instead of 5, a 1 s warm-up
`;

/** Tasks created on each server before recordInfo is measured, read back at random. */
const READ_TASKS = 1_000;

function parseOptions(): { quick: boolean; measureSeconds: number; connections: number } {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string" },
      connections: { type: "string", default: "50" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  return {
    quick: values.quick,
    measureSeconds: Number(values.seconds ?? (values.quick ? 3 : 10)),
    connections: Number(values.connections),
  };
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const warmupSeconds = options.quick ? 1 : 2;
  // bin/imagegate.js runs dist/, as \`npm run bench\` does after the same step.
  execFileSync(process.execPath, ["scripts/build.js", "--if-changed"], { cwd: REPOSITORY_ROOT, stdio: "inherit" });
  let database: TestDatabase | null = null;
  const dataDir = await temporaryDirectory("measure-postgres");
  try {
    database = await createTestDatabase();
    print(`database ${database.name}; ${options.connections} connections`);
    const imagegate = await ImagegateProcess.start({
      dataDir,
      logLevel: "warn",
      workerConcurrency: 32,
      sandboxLatencyMs: 600_000,
      environment: { DATABASE_URL: database.url, RATE_LIMIT_CREATE_TASK: "1000000/1s", RATE_LIMIT_OTHER: "1000000/1s" },
    });
    if (imagegate.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
    const peer = await PeerProcess.start("fastify-pg", { databaseUrl: database.url, prefix: "peer" });

    const readable = async (origin: string, apiKey: string): Promise<string[]> => {
      const client = new ApiClient(origin, apiKey);
      try {
        return await client.createMany(READ_TASKS, 16, () => createTaskBody());
      } finally {
        await client.close();
      }
    };
    const loads = [
      { name: "imagegate createTask", load: createTaskLoad(imagegate.url, imagegate.demoKey, options.connections) },
      { name: "fastify-pg createTask", load: peer.createTaskLoad(options.connections) },
      { name: "imagegate recordInfo", load: recordInfoLoad(imagegate.url, imagegate.demoKey, await readable(imagegate.url, imagegate.demoKey), options.connections) },
      { name: "fastify-pg recordInfo", load: recordInfoLoad(peer.url, peer.apiKey, await readable(peer.url, peer.apiKey), options.connections) },
    ];
    for (const { name, load } of loads) {
      print(`warming up ${name} for ${warmupSeconds} s`);
      await runClosedLoop({ ...load, durationSeconds: warmupSeconds });
    }
    const busy = await waitForQuietMachine(10, 30_000);
    if (busy !== null && busy >= 10) print(`other processes keep ${busy.toFixed(0)}% of the machine's CPU busy; measuring anyway`);
    const plan = alternatingRoundPlan({ quick: options.quick, measureSeconds: options.measureSeconds });
    print(`measuring: ${plan.rounds} rounds of ${plan.roundSeconds} s on each load, alternating`);
    const runs = await measureInAlternatingRounds(
      loads.map(({ load }) => load),
      plan,
    );
    const results = runs.map((run) => mergeClosedLoopResults(run));
    report(
      loads.map(({ name }) => name),
      results,
    );
  } finally {
    await stopAllProcesses();
    await database?.drop();
    await removeDirectory(dataDir);
  }
}

function report(names: readonly string[], results: readonly ClosedLoopResult[]): void {
  print("");
  print(
    textTable(
      ["load", "throughput", "p50", "p99", "failures"],
      results.map((result, index) => [
        names[index] ?? "",
        formatNumber(result.requestsPerSecond, "req/s"),
        formatNumber(result.latency.p50, "ms"),
        formatNumber(result.latency.p99, "ms"),
        String(result.non2xxCount + result.errorCount + result.timeoutCount),
      ]),
    ),
  );
  const [imagegateCreate, peerCreate, imagegateRead] = results;
  if (imagegateCreate === undefined || peerCreate === undefined || imagegateRead === undefined) return;
  print("");
  print(
    textTable(
      ["ratio", "value", "target"],
      [
        ["imagegate createTask / fastify-pg createTask", formatNumber(imagegateCreate.requestsPerSecond / peerCreate.requestsPerSecond, "ratio"), ">= 1.5"],
        ["imagegate recordInfo / fastify-pg createTask", formatNumber(imagegateRead.requestsPerSecond / peerCreate.requestsPerSecond, "ratio"), ">= 2"],
      ],
    ),
  );
  results.forEach((result, index) => {
    const failures = describeFailures(result);
    if (failures !== null) print(`${names[index] ?? ""}: ${failures}`);
  });
}

process.on("exit", killAllProcessesNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    stopAllProcesses().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  });
}

await main();
