import { TASK_STATES } from "../domain/tasks/task.ts";

/** One day of usage as the account's and the operator's usage routes answer it. */
export const usageDayProperties = {
  day: { type: "string", example: "2026-05-01", description: "UTC day of the tasks' creation." },
  tasks: {
    type: "object",
    description: "Tasks created that day, by current state.",
    properties: Object.fromEntries(TASK_STATES.map((state) => [state, { type: "integer" }])),
  },
  creditsSpent: { type: "number", description: "Credits captured by the day's successful tasks." },
  models: {
    type: "object",
    description: "The day's tasks and credits spent, per model.",
    additionalProperties: { type: "object", properties: { tasks: { type: "integer" }, creditsSpent: { type: "number" } } },
    example: { "nano-banana-pro": { tasks: 3, creditsSpent: 54 } },
  },
};
