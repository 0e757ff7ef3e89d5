import { BullMqTaskConsumer, BullMqTaskQueue } from "../../src/queue/bullmq-queue.ts";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts";
import { taskQueueContract } from "./task-queue.contract.ts";

taskQueueContract("BullMQ", async () => {
  const prefix = uniquePrefix();
  const errors: unknown[] = [];
  const connection = { url: REDIS_URL, prefix, onError: (error: unknown) => errors.push(error) };
  const queue = new BullMqTaskQueue(connection);
  return {
    producer: () => queue,
    // Each consumer is a worker with its own connections, as in another process.
    consumer: () => new BullMqTaskConsumer(connection),
    errors,
    cleanup: async () => {
      await queue.close();
      await deleteKeys(prefix);
    },
  };
});
