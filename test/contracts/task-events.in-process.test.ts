import { InProcessTaskEvents } from "../../src/events/in-process-task-events.ts";
import { taskEventsContract } from "./task-events.contract.ts";

taskEventsContract("in-process", async () => {
  const errors: unknown[] = [];
  // One process: all of its parts share the one bus.
  const events = new InProcessTaskEvents((error) => errors.push(error));
  return { open: async () => events, errors, cleanup: () => events.close() };
});
