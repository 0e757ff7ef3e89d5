import { runOpenLoop, type OpenLoopResult } from "../open-loop.ts";
import { ApiClient, createTaskBody } from "../requests.ts";

export interface OfferedLoad {
  result: OpenLoopResult;
  /** Ids of the accepted tasks. */
  taskIds: string[];
  /** The first few refusals, for the notes. */
  refusals: string[];
}

/** createTask at a steady rate (an open loop), each a 1:1 PNG with a random prompt. */
export async function offerTasks(client: ApiClient, ratePerSecond: number, durationSeconds: number): Promise<OfferedLoad> {
  const taskIds: string[] = [];
  const refusals: string[] = [];
  const result = await runOpenLoop({
    ratePerSecond,
    durationSeconds,
    send: async () => {
      try {
        const outcome = await client.createTask(createTaskBody({ imageSize: "1:1", outputFormat: "png" }));
        if (outcome.ok) {
          taskIds.push(outcome.taskId);
          return true;
        }
        if (refusals.length < 5) refusals.push(`HTTP ${outcome.status}: ${outcome.message}`);
        return false;
      } catch (error) {
        if (refusals.length < 5) refusals.push(error instanceof Error ? error.message : String(error));
        throw error;
      }
    },
  });
  return { result, taskIds, refusals };
}
