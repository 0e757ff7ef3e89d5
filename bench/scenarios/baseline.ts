import { BASELINE_PATH, BaselineProcess } from "../baseline-process.ts";
import type { Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { closedLoopFigures, describeFailures, warmUpThenMeasure } from "./closed-loop-figures.ts";

export const baselineScenario: Scenario = {
  name: "baseline",
  title: "baseline: a bare Fastify route answering a constant envelope",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    const baseline = await BaselineProcess.start();
    try {
      const { result } = await warmUpThenMeasure(baseline.load(settings.connections), settings);
      const failures = describeFailures(result);
      return {
        figures: closedLoopFigures("baseline", "", result),
        notes: [
          `GET ${baseline.url}${BASELINE_PATH}, no schema, no logging; ${settings.connections} connections, pipelining 1, keep-alive`,
          "createTask and recordInfo measure this server again, in rounds alternating with their own, and divide by that figure",
          ...(failures === null ? [] : [failures]),
        ],
      };
    } finally {
      await baseline.stop();
    }
  },
};
