import { FakeUpstreamProcess } from "../fake-upstream-process.ts";
import { ImagegateProcess } from "../imagegate-process.ts";
import type { ServerMetrics } from "../prometheus.ts";
import { removeDirectory, sleep, temporaryDirectory } from "../processes.ts";
import { ApiClient } from "../requests.ts";
import { cpuPerTaskFigures, serverCpu } from "../server-cpu.ts";
import { MEBIBYTE, type Scenario, type ScenarioOutcome, type ScenarioSettings } from "../scenario.ts";
import { waitUntilSettled } from "../settling.ts";
import { distribution } from "../statistics.ts";
import { overheadPartFigures, TaskLog } from "../task-log.ts";
import { offerTasks } from "./steady-load.ts";

const UPSTREAM_LATENCY_MS = 10_000;
const RATE_PER_SECOND = 200;
const CONCURRENCY = 3_000;
const FULL_SECONDS = 60;
const QUICK_SECONDS = 20;

/** The most of each gauge seen while sampling. */
class Peaks {
  inFlight = 0;
  running = 0;
  residentBytes = 0;

  observe(metrics: ServerMetrics): void {
    this.inFlight = Math.max(this.inFlight, metrics.tasksCreated - metrics.tasksSucceeded - metrics.tasksFailed);
    this.running = Math.max(this.running, metrics.tasksRunning);
    this.residentBytes = Math.max(this.residentBytes, metrics.residentMemoryBytes);
  }
}

export const slowUpstreamScenario: Scenario = {
  name: "slowUpstream",
  title: `slow upstream: ${UPSTREAM_LATENCY_MS / 1000} s per image, ${RATE_PER_SECOND} tasks/s offered`,
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const seconds = settings.quick ? QUICK_SECONDS : FULL_SECONDS;
    const dataDir = await temporaryDirectory("slow-upstream");
    let upstream: FakeUpstreamProcess | null = null;
    let server: ImagegateProcess | null = null;
    let client: ApiClient | null = null;
    let taskLog: TaskLog | null = null;
    let sampling = true;
    let sampler: Promise<void> = Promise.resolve();
    try {
      upstream = await FakeUpstreamProcess.start(UPSTREAM_LATENCY_MS);
      server = await ImagegateProcess.start({
        dataDir,
        logLevel: "info",
        workerConcurrency: CONCURRENCY,
        upstreamUrl: upstream.url,
        upstreamConcurrency: CONCURRENCY,
        nodeArguments: settings.serverNodeArguments,
      });
      const running = server;
      const apiKey = running.demoKey;
      if (apiKey === null) throw new Error("imagegate printed no demo key on its first start");
      taskLog = new TaskLog(running.process);
      client = new ApiClient(running.url, apiKey);
      const peaks = new Peaks();
      let missedSamples = 0;
      sampler = (async () => {
        while (sampling) {
          try {
            peaks.observe(await running.metrics());
          } catch {
            missedSamples += 1;
          }
          await sleep(1_000);
        }
      })();

      const cpuBefore = await serverCpu(running.pid);
      settings.progress(`offering ${RATE_PER_SECOND} tasks/s for ${seconds} s (${RATE_PER_SECOND * seconds} tasks)`);
      const offered = await offerTasks(client, RATE_PER_SECOND, seconds);
      settings.progress(`waiting for the ${offered.result.accepted} accepted tasks to finish`);
      const settled = await waitUntilSettled(running, offered.result.accepted, UPSTREAM_LATENCY_MS + 120_000, (metrics) =>
        peaks.observe(metrics),
      );
      sampling = false;
      await sampler;
      const final = await running.metrics();
      const cpuAfter = await serverCpu(running.pid);
      peaks.observe(final);
      const peakResident = await running.peakResidentBytes();

      const succeeded = final.tasksSucceeded;
      const unfinished = Math.max(0, offered.result.accepted - succeeded - final.tasksFailed);
      const failures = offered.result.failed + final.tasksFailed + unfinished;
      const { overheads, parts } = taskLog.overheads(offered.taskIds);
      const overhead = distribution(overheads);
      const eventLoopDelayP99Ms = final.eventLoopDelayP99Seconds * 1000;
      return {
        figures: [
          { key: "slowUpstream.offered", label: "tasks offered", value: offered.result.sent, unit: "tasks" },
          { key: "slowUpstream.achievedRate", label: "rate achieved", value: offered.result.sent / offered.result.durationSeconds, unit: "tasks/s" },
          { key: "slowUpstream.succeeded", label: "tasks succeeded", value: succeeded, unit: "tasks" },
          { key: "slowUpstream.failures", label: "failures (all three below)", value: failures, unit: "count" },
          { key: "slowUpstream.createFailures", label: "  createTask refused or no answer", value: offered.result.failed, unit: "count" },
          { key: "slowUpstream.tasksFailed", label: "  tasks failed", value: final.tasksFailed, unit: "count" },
          { key: "slowUpstream.tasksUnfinished", label: "  tasks unfinished at the bound", value: unfinished, unit: "count" },
          { key: "slowUpstream.peakInFlight", label: "peak tasks in flight (created - settled, sampled 1/s)", value: peaks.inFlight, unit: "tasks" },
          { key: "slowUpstream.peakRunning", label: "peak tasks running (imagegate_tasks_running_peak)", value: final.tasksRunningPeak, unit: "tasks" },
          { key: "slowUpstream.overheadP50", label: "overhead p50", value: overhead.p50, unit: "ms" },
          { key: "slowUpstream.overheadP99", label: "overhead p99", value: overhead.p99, unit: "ms" },
          ...overheadPartFigures("slowUpstream", parts),
          { key: "slowUpstream.createLatencyP50", label: "createTask latency p50 (client)", value: offered.result.latency.p50, unit: "ms" },
          { key: "slowUpstream.createLatencyP99", label: "createTask latency p99 (client)", value: offered.result.latency.p99, unit: "ms" },
          {
            key: "slowUpstream.peakResidentMiB",
            label: "peak RSS (VmHWM)",
            value: peakResident === null ? null : peakResident / MEBIBYTE,
            unit: "MiB",
          },
          { key: "slowUpstream.sampledResidentMiB", label: "peak RSS (sampled from /metrics)", value: peaks.residentBytes / MEBIBYTE, unit: "MiB" },
          { key: "slowUpstream.eventLoopDelayP99", label: "event-loop delay p99 (since start)", value: eventLoopDelayP99Ms, unit: "ms" },
          { key: "slowUpstream.eventLoopDelayMax", label: "event-loop delay max", value: final.eventLoopDelayMaxSeconds * 1000, unit: "ms" },
          ...cpuPerTaskFigures("slowUpstream", cpuBefore, cpuAfter, offered.result.accepted),
          { key: "slowUpstream.drainSeconds", label: "time from the last createTask to the last settle", value: settled.waitedSeconds, unit: "s" },
        ],
        notes: [
          `open loop, ${RATE_PER_SECOND} createTask/s for ${seconds} s${settings.quick ? ` (quick run: ${QUICK_SECONDS} s instead of ${FULL_SECONDS} s)` : ""}; the fake Gemini holds every call ${UPSTREAM_LATENCY_MS / 1000} s, then answers a 1024x1024 PNG`,
          `WORKER_CONCURRENCY and GEMINI_MAX_CONCURRENCY ${CONCURRENCY}`,
          "event-loop delay is imagegate_event_loop_delay_seconds{quantile=\"0.99\"}: its histogram samples every 10 ms and counts that interval in, so an idle loop reads about 10 ms",
          `scheduler lag p99 ${offered.result.schedulerLagMs.p99.toFixed(2)} ms (how late the load generator sent)`,
          ...(missedSamples === 0 ? [] : [`${missedSamples} samples of /metrics failed`]),
          ...(settled.complete ? [] : [`not every task settled within the bound: ${JSON.stringify(settled.metrics)}`]),
          ...offered.refusals.map((refusal) => `refused: ${refusal}`),
        ],
      };
    } finally {
      sampling = false;
      await sampler;
      taskLog?.close();
      await client?.close();
      await server?.stop();
      await upstream?.stop();
      await removeDirectory(dataDir);
    }
  },
};
