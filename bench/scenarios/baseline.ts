import { REPOSITORY_ROOT } from "../imagegate-process.ts";
import { baseEnvironment, ManagedProcess } from "../processes.ts";
import type { Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { closedLoopFigures, describeFailures, warmUpThenMeasure } from "./closed-loop-figures.ts";

export const baselineScenario: Scenario = {
  name: "baseline",
  title: "baseline: a bare Fastify route answering a constant envelope",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const child = new ManagedProcess({
      name: "baseline",
      command: process.execPath,
      arguments: ["--import", "tsx", "bench/baseline-server.ts"],
      cwd: REPOSITORY_ROOT,
      environment: baseEnvironment(),
    });
    try {
      const listening = await child.waitForLine(/baseline listening on (http:\/\/\S+)/, 30_000);
      const origin = listening[1] ?? "";
      const load = {
        origin,
        headers: {},
        nextRequest: () => ({ method: "GET" as const, path: "/api/v1/baseline" }),
        connections: settings.connections,
      };
      const { result } = await warmUpThenMeasure(load, settings);
      const failures = describeFailures(result);
      return {
        figures: closedLoopFigures("baseline", "", result),
        notes: [
          `GET ${origin}/api/v1/baseline, no schema, no logging; ${settings.connections} connections, pipelining 1, keep-alive`,
          ...(failures === null ? [] : [failures]),
        ],
      };
    } finally {
      await child.stop();
    }
  },
};
