import { FakeUpstreamProcess } from "../fake-upstream-process.ts";
import { ImagegateProcess } from "../imagegate-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import { ApiClient } from "../requests.ts";
import { cpuPerTaskFigures, serverCpu } from "../server-cpu.ts";
import type { Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { waitUntilSettled } from "../settling.ts";
import { distribution } from "../statistics.ts";
import { overheadPartFigures, TaskLog } from "../task-log.ts";
import { offerTasks } from "./steady-load.ts";

const RATE_PER_SECOND = 100;
const CONCURRENCY = 256;

export const overheadScenario: Scenario = {
  name: "overhead",
  title: `overhead: ${RATE_PER_SECOND} tasks/s against a zero-latency upstream, time outside the upstream call`,
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const dataDir = await temporaryDirectory("overhead");
    let upstream: FakeUpstreamProcess | null = null;
    let server: ImagegateProcess | null = null;
    let client: ApiClient | null = null;
    let taskLog: TaskLog | null = null;
    try {
      upstream = await FakeUpstreamProcess.start(0);
      server = await ImagegateProcess.start({
        dataDir,
        logLevel: "info",
        workerConcurrency: CONCURRENCY,
        upstreamUrl: upstream.url,
        upstreamConcurrency: CONCURRENCY,
        nodeArguments: settings.serverNodeArguments,
      });
      if (server.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
      taskLog = new TaskLog(server.process);
      client = new ApiClient(server.url, server.demoKey);

      settings.progress(`warming up: ${RATE_PER_SECOND} tasks/s for ${settings.warmupSeconds} s`);
      const warmup = await offerTasks(client, RATE_PER_SECOND, settings.warmupSeconds);
      await waitUntilSettled(server, warmup.result.accepted, 60_000);
      settings.progress(`measuring: ${RATE_PER_SECOND} tasks/s for ${settings.measureSeconds} s`);
      const before = await server.metrics();
      const cpuBefore = await serverCpu(server.pid);
      const offered = await offerTasks(client, RATE_PER_SECOND, settings.measureSeconds);
      const settled = await waitUntilSettled(server, before.tasksSucceeded + before.tasksFailed + offered.result.accepted, 60_000);
      const cpuAfter = await serverCpu(server.pid);
      const failedTasks = settled.metrics.tasksFailed - before.tasksFailed;
      // The disk's flush time under this load, from the database's own log flushes.
      const syncs = settled.metrics.databaseSyncs - before.databaseSyncs;
      const syncMeanMs = syncs > 0 ? ((settled.metrics.databaseSyncSeconds - before.databaseSyncSeconds) * 1000) / syncs : null;

      const { overheads, upstream: upstreamTimes, costTimes, parts } = taskLog.overheads(offered.taskIds);
      const overhead = distribution(overheads);
      const upstreamDistribution = distribution(upstreamTimes);
      const cost = distribution(costTimes);
      const create = offered.result.latency;
      return {
        figures: [
          { key: "overhead.offered", label: "tasks offered", value: offered.result.sent, unit: "tasks" },
          { key: "overhead.achievedRate", label: "rate achieved", value: offered.result.sent / offered.result.durationSeconds, unit: "tasks/s" },
          { key: "overhead.createFailures", label: "createTask refused or failed", value: offered.result.failed, unit: "count" },
          { key: "overhead.taskFailures", label: "tasks failed", value: failedTasks, unit: "count" },
          { key: "overhead.measuredTasks", label: "tasks with a 'task succeeded' log line", value: overhead.count, unit: "tasks" },
          { key: "overhead.p50", label: "overhead p50 (costTime - upstreamMs)", value: overhead.p50, unit: "ms" },
          { key: "overhead.p90", label: "overhead p90", value: overhead.p90, unit: "ms" },
          { key: "overhead.p99", label: "overhead p99", value: overhead.p99, unit: "ms" },
          { key: "overhead.max", label: "overhead max", value: overhead.max, unit: "ms" },
          ...overheadPartFigures("overhead", parts),
          { key: "overhead.upstreamP50", label: "upstream call p50 (upstreamMs)", value: upstreamDistribution.p50, unit: "ms" },
          { key: "overhead.databaseSyncMean", label: "database log flush, mean (the disk under this load)", value: syncMeanMs, unit: "ms" },
          { key: "overhead.databaseSyncs", label: "database log flushes", value: syncs, unit: "count" },
          { key: "overhead.costTimeP99", label: "costTime p99", value: cost.p99, unit: "ms" },
          { key: "overhead.createLatencyP50", label: "createTask latency p50 (client)", value: create.p50, unit: "ms" },
          { key: "overhead.createLatencyP99", label: "createTask latency p99 (client)", value: create.p99, unit: "ms" },
          ...cpuPerTaskFigures("overhead", cpuBefore, cpuAfter, offered.result.accepted),
        ],
        notes: [
          `open loop: createTask sent at fixed times, ${RATE_PER_SECOND}/s, 1:1 PNG with a random prompt; the fake Gemini answers at once with a fixed 1024x1024 PNG`,
          `WORKER_CONCURRENCY and GEMINI_MAX_CONCURRENCY ${CONCURRENCY}; a ${settings.warmupSeconds} s warm-up at the same rate is left out`,
          "overhead = costTime - upstreamMs from the server's 'task succeeded' log line (ms resolution); client createTask latency counts from each request's due time",
          "server CPU per task: the server's CPU time (/proc, 10 ms ticks) from the start of the measured tasks until all of them settled, over their number; it includes the server's own idle work meanwhile",
          `scheduler lag p99 ${offered.result.schedulerLagMs.p99.toFixed(2)} ms (how late the load generator sent)`,
          ...(settled.complete ? [] : [`not every task settled within 60 s: ${JSON.stringify(settled.metrics)}`]),
          ...offered.refusals.map((refusal) => `refused: ${refusal}`),
        ],
      };
    } finally {
      taskLog?.close();
      await client?.close();
      await server?.stop();
      await upstream?.stop();
      await removeDirectory(dataDir);
    }
  },
};
