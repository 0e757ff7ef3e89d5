import { ImagegateProcess } from "../imagegate-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import { authorizationHeaders, createTaskBody } from "../requests.ts";
import type { Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { alongsideBaselineFigures, alongsideBaselineNotes, measureAlongsideBaseline, recordAnswer } from "./alongside-baseline.ts";
import { closedLoopFigures, describeFailures } from "./closed-loop-figures.ts";

export const createTaskScenario: Scenario = {
  name: "createTask",
  title: "createTask: valid random prompts, tasks stored durably before the answer",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const dataDir = await temporaryDirectory("create-task");
    let server: ImagegateProcess | null = null;
    try {
      // Accepted tasks wait on a ten-minute sandbox image, so workers take no CPU from the API.
      server = await ImagegateProcess.start({
        dataDir,
        logLevel: "warn",
        workerConcurrency: 32,
        sandboxLatencyMs: 600_000,
        nodeArguments: settings.serverNodeArguments,
      });
      if (server.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
      const load = {
        origin: server.url,
        headers: authorizationHeaders(server.demoKey),
        nextRequest: () => ({ method: "POST" as const, path: "/api/v1/jobs/createTask", body: createTaskBody() }),
        connections: settings.connections,
      };
      const measured = await measureAlongsideBaseline("createTask", load, settings, await recordAnswer(load));
      const result = measured.subject;
      const metrics = await server.metrics();
      const failures = describeFailures(result);
      return {
        figures: [
          ...closedLoopFigures("createTask", "", result),
          ...alongsideBaselineFigures("createTask", measured),
          { key: "createTask.firstSecond", label: "throughput in the first second of the first round", value: result.perSecond[0] ?? null, unit: "req/s" },
          { key: "createTask.lastSecond", label: "throughput in the last second of the last round", value: result.perSecond.at(-1) ?? null, unit: "req/s" },
          { key: "createTask.storedTasks", label: "tasks stored at the end (none finished)", value: metrics.tasksCreated, unit: "tasks" },
          { key: "createTask.checkpoints", label: "log checkpoints on the checkpointing thread", value: metrics.databaseCheckpoints, unit: "count" },
          {
            key: "createTask.restartCheckpoints",
            label: "log checkpoints on the event loop (a long log's last pages)",
            value: metrics.databaseRestartCheckpoints,
            unit: "count",
          },
          {
            key: "createTask.restartCheckpointMean",
            label: "  each, mean",
            value: metrics.databaseRestartCheckpoints === 0 ? null : (metrics.databaseRestartCheckpointSeconds * 1000) / metrics.databaseRestartCheckpoints,
            unit: "ms",
          },
        ],
        notes: [
          "POST /api/v1/jobs/createTask, a random prompt of 6 to 30 words, a random image_size and output_format per request",
          ...alongsideBaselineNotes("createTask", measured),
          `tasks stay active (sandbox latency 10 min), so the account's active-task count grows: ${measured.warmup.okCount} after the warm-up, ${metrics.tasksCreated} at the end`,
          `answers per second, round by round: ${measured.rounds.map((round) => round.perSecond.join(", ")).join(" | ")}`,
          ...(failures === null ? [] : [failures]),
        ],
      };
    } finally {
      await server?.stop();
      await removeDirectory(dataDir);
    }
  },
};
