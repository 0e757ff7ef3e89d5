import { InProcessDispatcher } from "../../src/queue/in-process-dispatcher.ts";
import { taskQueueContract } from "./task-queue.contract.ts";

taskQueueContract("in-process", async () => {
  // One process: the queue is its own producer and its only consumer.
  const queue = new InProcessDispatcher(1);
  return { producer: () => queue, consumer: () => queue, errors: [], cleanup: async () => undefined };
});
