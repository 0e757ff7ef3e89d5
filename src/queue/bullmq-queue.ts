import { setTimeout as sleep } from "node:timers/promises";
import { Queue, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { Batcher, type ItemOutcome } from "../concurrency/batcher.ts";
import type { TaskConsumer, TaskConsumerOptions, TaskHandler, TaskQueue } from "../domain/tasks/ports.ts";
import { closeRedis } from "../redis/connections.ts";

/** The one BullMQ queue of tasks, its keys under `<prefix>:tasks:`. */
const QUEUE_NAME = "tasks";

export interface BullMqConnectionOptions {
  url: string;
  /** BullMQ's key prefix, shared by producers and consumers of the same queue. */
  prefix: string;
  /** Hears of what goes wrong out of any caller's sight: connection errors, failed jobs. */
  onError: (error: unknown) => void;
}

export interface BullMqConsumerOptions extends BullMqConnectionOptions {
  /**
   * How long a worker's claim on a job lasts; it renews it every half of this while the handler
   * runs. A worker that dies loses the claim when it runs out, and its task is handed over. A
   * claim that lapses under a worker alive but stuck (an event loop blocked for longer than this)
   * hands the task over too: a second run, which a task settled by compare-and-set tolerates.
   */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose claim ran out. */
  stalledIntervalMs?: number;
  /**
   * How many times a job may lose its worker before BullMQ fails it rather than hand it over
   * again: a task that kills every worker it meets stops going round. The task itself stays
   * active in the database, to be re-enqueued by recovery or failed at its deadline.
   */
  maxStalledCount?: number;
}

/** A dead worker's task is taken over within about 30 + 15 seconds. */
const DEFAULT_LOCK_DURATION_MS = 30_000;
const DEFAULT_STALLED_INTERVAL_MS = 15_000;
const DEFAULT_MAX_STALLED_COUNT = 2;

/**
 * Hands tasks to workers in any process through BullMQ. The job id is the task id, so a task is
 * queued once however often it is enqueued while it waits or runs; jobs are removed as soon as
 * they finish, so a task recovered later can be queued again.
 */
export class BullMqTaskQueue implements TaskQueue {
  readonly handsOverAtOnce = false;
  private readonly connection: Redis;
  private readonly queue: Queue;
  /** Tasks enqueued together (the creates of one group commit) go to Redis in one round trip. */
  private readonly adds: Batcher<string, void>;

  constructor(options: BullMqConnectionOptions) {
    // Refuses at once while Redis is unreachable rather than hold the caller until it is back: the
    // task stays waiting in the database, where recovery finds it.
    this.connection = new Redis(options.url, { enableOfflineQueue: false });
    this.connection.on("error", options.onError);
    this.queue = new Queue(QUEUE_NAME, {
      connection: this.connection,
      prefix: options.prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
    });
    this.queue.on("error", options.onError);
    this.adds = new Batcher<string, void>(
      async (taskIds) => {
        await this.queue.addBulk(taskIds.map((taskId) => ({ name: "task", data: {}, opts: { jobId: taskId } })));
        return taskIds.map((): ItemOutcome<void> => ({ ok: true, value: undefined }));
      },
      { concurrency: 4, maxItems: 500 },
    );
  }

  enqueue(taskId: string): Promise<void> {
    return this.adds.submit(taskId);
  }

  async close(): Promise<void> {
    await this.queue.close();
    await closeRedis(this.connection);
  }
}

/** A BullMQ worker that hands each job's task id to the handler. */
export class BullMqTaskConsumer implements TaskConsumer {
  private worker: Worker | null = null;
  private connection: Redis | null = null;
  private closed: Promise<void> | null = null;
  private readonly running = new Set<string>();

  constructor(private readonly options: BullMqConsumerOptions) {}

  /** Tasks this consumer's handler runs now. */
  get runningCount(): number {
    return this.running.size;
  }

  start(handler: TaskHandler, consumer: TaskConsumerOptions): void {
    if (this.worker !== null) throw new Error("this consumer has already started");
    const { url, prefix, onError } = this.options;
    // A worker's commands wait out a lost connection rather than fail: BullMQ requires it.
    const connection = new Redis(url, { maxRetriesPerRequest: null });
    connection.on("error", onError);
    this.connection = connection;
    const processJob = async (job: Job): Promise<void> => {
      const taskId = job.id;
      if (taskId === undefined) throw new Error("a job without an id: it names no task");
      this.running.add(taskId);
      try {
        await handler(taskId);
      } finally {
        this.running.delete(taskId);
      }
    };
    this.worker = new Worker(QUEUE_NAME, processJob, {
      connection,
      prefix,
      concurrency: consumer.concurrency,
      lockDuration: this.options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
      stalledInterval: this.options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
      maxStalledCount: this.options.maxStalledCount ?? DEFAULT_MAX_STALLED_COUNT,
    });
    this.worker.on("error", onError);
    this.worker.on("failed", (job, error) => onError(new Error(`task ${job?.id ?? "?"} failed in the queue: ${error.message}`, { cause: error })));
  }

  async stop(graceMs: number): Promise<string[]> {
    const worker = this.worker;
    const connection = this.connection;
    if (worker === null || connection === null) return [];
    // Closing stops taking jobs, then waits for the running ones; the connection goes after them.
    this.closed ??= worker.close().then(() => closeRedis(connection));
    const graceOver = new AbortController();
    await Promise.race([this.closed, sleep(graceMs, undefined, { signal: graceOver.signal }).catch(() => undefined)]);
    graceOver.abort();
    return [...this.running];
  }
}
