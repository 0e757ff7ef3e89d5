// A worker process for the BullMQ tests to kill: it takes tasks from the queue and never finishes
// one, saying on stdout which it took.
// Usage: node --import tsx test/fakes/bullmq-worker-process.ts <redis url> <prefix> <lock duration ms> <stalled interval ms>
import { BullMqTaskConsumer } from "../../src/queue/bullmq-queue.ts";

const [url = "", prefix = "", lockDurationMs = "", stalledIntervalMs = ""] = process.argv.slice(2);
const consumer = new BullMqTaskConsumer({
  url,
  prefix,
  lockDurationMs: Number(lockDurationMs),
  stalledIntervalMs: Number(stalledIntervalMs),
  onError: (error) => process.stderr.write(`${String(error)}\n`),
});
consumer.start(
  async (taskId) => {
    process.stdout.write(`started ${taskId}\n`);
    await new Promise(() => undefined);
  },
  { concurrency: 1 },
);
process.stdout.write("ready\n");
