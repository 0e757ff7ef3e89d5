import { FakeUpstreamProcess } from "../fake-upstream-process.ts";
import { ImagegateProcess } from "../imagegate-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import { ApiClient, authorizationHeaders, createTaskBody } from "../requests.ts";
import type { Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { waitUntilSettled } from "../settling.ts";
import { alongsideBaselineFigures, alongsideBaselineNotes, measureAlongsideBaseline, recordAnswer } from "./alongside-baseline.ts";
import { closedLoopFigures, describeFailures } from "./closed-loop-figures.ts";

const SEEDED_TASKS = 1_000;

export const recordInfoScenario: Scenario = {
  name: "recordInfo",
  title: "recordInfo: polling finished tasks by random id",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const dataDir = await temporaryDirectory("record-info");
    let upstream: FakeUpstreamProcess | null = null;
    let server: ImagegateProcess | null = null;
    let client: ApiClient | null = null;
    try {
      upstream = await FakeUpstreamProcess.start(0);
      server = await ImagegateProcess.start({
        dataDir,
        logLevel: "warn",
        workerConcurrency: 32,
        upstreamUrl: upstream.url,
        upstreamConcurrency: 32,
        nodeArguments: settings.serverNodeArguments,
      });
      if (server.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
      client = new ApiClient(server.url, server.demoKey);
      settings.progress(`creating ${SEEDED_TASKS} tasks through the API and waiting for them to succeed`);
      const seedStarted = performance.now();
      const taskIds = await client.createMany(SEEDED_TASKS, 16, () => createTaskBody({ imageSize: "1:1", outputFormat: "png" }));
      const settled = await waitUntilSettled(server, taskIds.length, 120_000);
      const seedSeconds = (performance.now() - seedStarted) / 1000;
      if (!settled.complete || taskIds.length === 0) {
        throw new Error(`seeding failed: ${taskIds.length} tasks created, ${settled.metrics.tasksSucceeded} succeeded`);
      }
      // Nothing is left for the upstream or the workers to do while recordInfo is measured.
      await upstream.stop();
      await client.close();
      client = null;

      const load = {
        origin: server.url,
        headers: authorizationHeaders(server.demoKey),
        nextRequest: () => ({
          method: "GET" as const,
          path: `/api/v1/jobs/recordInfo?taskId=${taskIds[Math.floor(Math.random() * taskIds.length)] ?? ""}`,
        }),
        connections: settings.connections,
      };
      const measured = await measureAlongsideBaseline("recordInfo", load, settings, await recordAnswer(load));
      const failures = describeFailures(measured.subject);
      return {
        figures: [
          ...closedLoopFigures("recordInfo", "", measured.subject),
          ...alongsideBaselineFigures("recordInfo", measured),
          { key: "recordInfo.storedTasks", label: "stored tasks (state success)", value: settled.metrics.tasksSucceeded, unit: "tasks" },
        ],
        notes: [
          `GET /api/v1/jobs/recordInfo?taskId=<random one of ${taskIds.length}>, tasks made through createTask and finished by the fake upstream (${seedSeconds.toFixed(1)} s to seed)`,
          ...alongsideBaselineNotes("recordInfo", measured),
          ...(failures === null ? [] : [failures]),
        ],
      };
    } finally {
      await client?.close();
      await server?.stop();
      await upstream?.stop();
      await removeDirectory(dataDir);
    }
  },
};
