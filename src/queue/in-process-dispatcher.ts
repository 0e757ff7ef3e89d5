import type { TaskConsumer, TaskConsumerOptions, TaskHandler, TaskQueue } from "../domain/tasks/ports.ts";

/**
 * The embedded queue: task ids wait in memory and at most `concurrency` run at once. Nothing here
 * needs to be durable: the database holds every non-terminal task, and a restart re-enqueues them.
 */
export class InProcessDispatcher implements TaskQueue, TaskConsumer {
  readonly handsOverAtOnce = true;
  private readonly waiting: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private handler: TaskHandler | null = null;
  private accepting = true;

  /** `concurrency` holds unless `start` is given another. */
  constructor(private concurrency: number) {}

  /** Starts handing tasks to `handler`. */
  start(handler: TaskHandler, options?: TaskConsumerOptions): void {
    if (options !== undefined) this.concurrency = options.concurrency;
    this.handler = handler;
    this.pump();
  }

  enqueue(taskId: string): void {
    if (!this.accepting || this.queued.has(taskId) || this.running.has(taskId)) return;
    this.queued.add(taskId);
    this.waiting.push(taskId);
    this.pump();
  }

  get runningCount(): number {
    return this.running.size;
  }

  get waitingCount(): number {
    return this.waiting.length - this.head;
  }

  /** Stops handing out tasks and waits up to `graceMs` for the running ones; returns those still running. */
  async stop(graceMs: number): Promise<string[]> {
    this.accepting = false;
    this.waiting.length = 0;
    this.head = 0;
    this.queued.clear();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.running.values()]), graceOver]);
    clearTimeout(timer);
    return [...this.running.keys()];
  }

  private pump(): void {
    const handler = this.handler;
    if (handler === null) return;
    while (this.accepting && this.running.size < this.concurrency && this.head < this.waiting.length) {
      const taskId = this.waiting[this.head] as string;
      this.head += 1;
      this.queued.delete(taskId);
      const run = handler(taskId)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(taskId);
          this.pump();
        });
      this.running.set(taskId, run);
    }
    // Drop consumed entries now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}
