import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { TaskEvents } from "../domain/tasks/events.ts";
import type { TaskConsumer, TaskQueue } from "../domain/tasks/ports.ts";
import { InProcessTaskEvents } from "../events/in-process-task-events.ts";
import type { QueueGauges } from "../observability/task-metrics.ts";
import { InProcessDispatcher } from "../queue/in-process-dispatcher.ts";

/** How tasks reach workers and how task changes reach every process, as configured. */
export interface Dispatch {
  queue: TaskQueue;
  /** What runs this process's share of the tasks; null in a process that runs none (ROLE=api). */
  consumer: TaskConsumer | null;
  /** Task changes, heard by every process: cancels, live streams, callback wake-ups. */
  events: TaskEvents;
  /** This process's running (and, in process, waiting) tasks, for /metrics. */
  gauges: QueueGauges;
  /**
   * True when the queue lives outside the process and outlives it: tasks a process leaves behind
   * are found by the reconciler, not by a recovery at start, which would take other processes'.
   */
  shared: boolean;
  close(): Promise<void>;
}

/**
 * In this process (the embedded default), or through Redis with REDIS_URL: BullMQ hands tasks to
 * the workers of every process, and task changes go out on a pub/sub channel. Both under
 * REDIS_PREFIX.
 */
export async function openDispatch(config: Config, logger: Logger): Promise<Dispatch> {
  const runsTasks = config.role !== "api";
  if (config.redis === null) {
    const dispatcher = new InProcessDispatcher(config.workerConcurrency);
    const events = new InProcessTaskEvents((error) => logger.error({ err: error }, "a task change listener failed"));
    return { queue: dispatcher, consumer: dispatcher, events, gauges: dispatcher, shared: false, close: () => events.close() };
  }
  // Loaded only when configured: the embedded default needs none of it.
  const [{ BullMqTaskConsumer, BullMqTaskQueue }, { RedisTaskEvents }] = await Promise.all([
    import("../queue/bullmq-queue.ts"),
    import("../events/redis-task-events.ts"),
  ]);
  const { url, prefix } = config.redis;
  const reportQueue = (error: unknown): void => logger.warn({ err: error }, "task queue (Redis)");
  const queue = new BullMqTaskQueue({ url, prefix, onError: reportQueue });
  // A dead worker's task is taken over once its claim runs out and a worker looks for such claims.
  const consumer = runsTasks
    ? new BullMqTaskConsumer({ url, prefix, onError: reportQueue, lockDurationMs: config.queueLockMs, stalledIntervalMs: Math.ceil(config.queueLockMs / 2) })
    : null;
  const events = await RedisTaskEvents.connect({
    url,
    prefix,
    onError: (error) => logger.warn({ err: error }, "task changes (Redis)"),
  });
  return {
    queue,
    consumer,
    events,
    gauges: { get runningCount() { return consumer?.runningCount ?? 0; }, waitingCount: 0 },
    shared: true,
    close: async () => {
      await Promise.all([queue.close(), events.close()]);
    },
  };
}
