import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPOSITORY_ROOT } from "./imagegate-process.ts";
import { ForeignCpuMeter, waitForQuietMachine } from "./machine-load.ts";
import { killAllProcessesNow, stopAllProcesses } from "./processes.ts";
import { describeMachine, scenarioTable, targetMarkdown, targetTable } from "./report.ts";
import type { Figure, Scenario, ScenarioOutcome, ScenarioSettings } from "./scenario.ts";
import { baselineScenario } from "./scenarios/baseline.ts";
import { consoleScenario } from "./scenarios/console.ts";
import { createTaskScenario } from "./scenarios/create-task.ts";
import { overheadScenario } from "./scenarios/overhead.ts";
import { recordInfoScenario } from "./scenarios/record-info.ts";
import { scaleScenario } from "./scenarios/scale.ts";
import { scaleOutScenario } from "./scenarios/scale-out.ts";
import { slowUpstreamScenario } from "./scenarios/slow-upstream.ts";
import { checkTargets } from "./targets.ts";

const USAGE = `usage: npm run bench -- [--quick] [--only NAME[,NAME...]] [--output FILE] [--cpu-prof]

  --quick     every scenario briefly: 3 s measurements, slow upstream for 20 s, 100,000 rows for scale,
              batches of 500 tasks for scale-out
  --only      run these scenarios: baseline, createTask, recordInfo, overhead, slowUpstream, scale, scale-out,
              console
              (createTask and recordInfo measure the baseline server alongside themselves; scale-out
              needs PostgreSQL at TEST_DATABASE_URL and Redis at TEST_REDIS_URL, by default this machine's)
  --output    where the results go (default bench/results/latest.json)
  --cpu-prof  the imagegate servers run with --cpu-prof; profiles go to bench/results/profiles/
`;

const SCENARIOS: readonly Scenario[] = [
  baselineScenario,
  createTaskScenario,
  recordInfoScenario,
  overheadScenario,
  slowUpstreamScenario,
  scaleScenario,
  scaleOutScenario,
  consoleScenario,
];

/** Below this share of the CPU taken by other processes, the machine counts as quiet. */
const QUIET_PERCENT = 10;

interface ScenarioRecord {
  title: string;
  seconds: number;
  /** Share of the machine's CPU that processes other than the benchmark's took meanwhile. */
  otherProcessesCpuPercent: number | null;
  figures: Record<string, Omit<Figure, "key">>;
  table?: ScenarioOutcome["table"];
  notes: string[];
  error?: string;
}

function parseOptions(): { quick: boolean; selected: Scenario[]; output: string; cpuProfile: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      output: { type: "string", default: path.join(REPOSITORY_ROOT, "bench", "results", "latest.json") },
      "cpu-prof": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let selected = [...SCENARIOS];
  if (values.only !== undefined) {
    const names = new Set(values.only.split(",").map((name) => name.trim()));
    const unknown = [...names].filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
    if (unknown.length > 0) {
      process.stderr.write(`bench: unknown scenario ${unknown.join(", ")}\n${USAGE}`);
      process.exit(2);
    }
    selected = SCENARIOS.filter((scenario) => names.has(scenario.name));
  }
  return { quick: values.quick, selected, output: path.resolve(values.output), cpuProfile: values["cpu-prof"] };
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function writeResults(file: string, results: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  await writeFile(temporary, `${JSON.stringify(results, null, 2)}\n`);
  await rename(temporary, file);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const machine = describeMachine();
  const cpuProfileDirectory = options.cpuProfile ? path.join(REPOSITORY_ROOT, "bench", "results", "profiles") : null;
  if (cpuProfileDirectory !== null) await mkdir(cpuProfileDirectory, { recursive: true });
  const started = performance.now();
  print(
    `imagegate benchmarks (${options.quick ? "quick" : "full"}) on ${machine.cpus} x ${machine.cpuModel}, ${machine.totalMemory}, ` +
      `Node ${machine.nodeVersion}, ${machine.platform} ${machine.release}`,
  );
  print("Every scenario runs its own server, fake upstream and load generator on this machine (127.0.0.1).");

  const outcomes: Record<string, ScenarioOutcome | undefined> = {};
  const records: Record<string, ScenarioRecord> = {};
  for (const scenario of options.selected) {
    print(`\n== ${scenario.title}`);
    const quiet = await waitForQuietMachine(QUIET_PERCENT, options.quick ? 5_000 : 30_000);
    if (quiet !== null && quiet >= QUIET_PERCENT) {
      print(`   other processes keep ${quiet.toFixed(0)}% of the machine's CPU busy; measuring anyway`);
    }
    const meter = await ForeignCpuMeter.start();
    const scenarioStarted = performance.now();
    const settings: ScenarioSettings = {
      quick: options.quick,
      measureSeconds: options.quick ? 3 : 10,
      warmupSeconds: options.quick ? 1 : 2,
      connections: 50,
      serverNodeArguments:
        cpuProfileDirectory === null ? [] : ["--cpu-prof", `--cpu-prof-dir=${cpuProfileDirectory}`],
      progress: (message) => print(`   ${((performance.now() - scenarioStarted) / 1000).toFixed(1).padStart(5)} s  ${message}`),
    };
    let outcome: ScenarioOutcome | null = null;
    let failure: string | null = null;
    try {
      outcome = await scenario.run(settings);
      outcomes[scenario.name] = outcome;
    } catch (error) {
      failure = error instanceof Error ? (error.stack ?? error.message) : String(error);
    } finally {
      // A scenario stops its own processes; this catches any it could not.
      await stopAllProcesses();
    }
    const seconds = (performance.now() - scenarioStarted) / 1000;
    const otherProcessesCpuPercent = await meter.percent();
    records[scenario.name] = {
      title: scenario.title,
      seconds,
      otherProcessesCpuPercent,
      figures: Object.fromEntries((outcome?.figures ?? []).map(({ key, ...figure }) => [key, figure])),
      ...(outcome?.table === undefined ? {} : { table: outcome.table }),
      notes: outcome?.notes ?? [],
      ...(failure === null ? {} : { error: failure }),
    };
    if (outcome !== null) {
      print(scenarioTable(outcome));
      for (const note of outcome.notes) print(`  * ${note}`);
    } else {
      print(`  scenario failed: ${failure ?? ""}`);
    }
    const foreign = otherProcessesCpuPercent === null ? "" : `; other processes took ${otherProcessesCpuPercent.toFixed(0)}% of the machine's CPU meanwhile`;
    print(`  (${seconds.toFixed(0)} s${foreign})`);
  }

  const targets = checkTargets(outcomes);
  print("\n== targets");
  print(targetTable(targets));
  print(`\nmarkdown:\n\n${targetMarkdown(targets)}\n`);
  const totalSeconds = (performance.now() - started) / 1000;
  await writeResults(options.output, {
    timestamp: new Date().toISOString(),
    mode: options.quick ? "quick" : "full",
    machine,
    settings: { connections: 50, pipelining: 1, measureSeconds: options.quick ? 3 : 10, warmupSeconds: options.quick ? 1 : 2 },
    totalSeconds,
    scenarios: records,
    targets,
  });
  print(`results written to ${path.relative(process.cwd(), options.output)} (${totalSeconds.toFixed(0)} s in all)`);
}

process.on("exit", killAllProcessesNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping every process it started\n`);
    stopAllProcesses().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  });
}

try {
  await main();
} finally {
  await stopAllProcesses();
}
