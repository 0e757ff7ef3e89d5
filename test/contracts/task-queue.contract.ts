import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskConsumer, TaskQueue } from "../../src/domain/tasks/ports.ts";
import { waitUntil } from "../helpers/wait.ts";

/**
 * One queue, as a test sees it: `producer()` hands tasks in, `consumer()` is a worker taking them
 * out (a queue in memory is both in one object, which these answer each time).
 */
export interface TaskQueueHarness {
  producer(): TaskQueue;
  consumer(): TaskConsumer;
  /** Errors the adapters reported through their onError. */
  errors: unknown[];
  cleanup(): Promise<void>;
}

/** How long a test watches for something that must not happen, such as a handling after stop. */
const QUIET_MS = 300;

/** A handler that records what it handled and runs each task until the test releases it. */
class Handlings {
  readonly handled: string[] = [];
  readonly running = new Set<string>();
  mostAtOnce = 0;
  private readonly releases = new Map<string, () => void>();
  private holding = false;

  constructor(private readonly failing: ReadonlySet<string> = new Set()) {}

  /** From now on, each task runs until released. */
  hold(): this {
    this.holding = true;
    return this;
  }

  handler = async (taskId: string): Promise<void> => {
    this.handled.push(taskId);
    this.running.add(taskId);
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running.size);
    try {
      if (this.holding) await new Promise<void>((resolve) => this.releases.set(taskId, resolve));
      if (this.failing.has(taskId)) throw new Error(`handler failed on ${taskId}`);
    } finally {
      this.running.delete(taskId);
    }
  };

  release(taskId: string): void {
    this.releases.get(taskId)?.();
    this.releases.delete(taskId);
  }

  releaseAll(): void {
    this.holding = false;
    for (const taskId of [...this.releases.keys()]) this.release(taskId);
  }

  count(taskId: string): number {
    return this.handled.filter((handled) => handled === taskId).length;
  }
}

const ids = (count: number, from = 0): string[] => Array.from({ length: count }, (_, i) => `task_${from + i}`);

/** The behaviour every queue adapter shares; `create` builds a fresh, empty queue per test. */
export function taskQueueContract(name: string, create: () => Promise<TaskQueueHarness>): void {
  describe(`TaskQueue contract: ${name}`, () => {
    let harness: TaskQueueHarness;
    let consumers: TaskConsumer[];
    const consumer = (): TaskConsumer => {
      const created = harness.consumer();
      consumers.push(created);
      return created;
    };
    beforeEach(async () => {
      harness = await create();
      consumers = [];
    });
    afterEach(async () => {
      await Promise.all(consumers.map((created) => created.stop(5_000)));
      await harness.cleanup();
    });

    it("hands every enqueued task to the handler once", async () => {
      const queue = harness.producer();
      const handlings = new Handlings();
      consumer().start(handlings.handler, { concurrency: 4 });
      const tasks = ids(30);
      for (const taskId of tasks) await queue.enqueue(taskId);
      await waitUntil(() => handlings.handled.length >= tasks.length);
      expect([...handlings.handled].sort()).toEqual([...tasks].sort());
    });

    it("queues a task enqueued twice while it waits once", async () => {
      const queue = harness.producer();
      await queue.enqueue("task_twice");
      await queue.enqueue("task_twice");
      await queue.enqueue("task_after");
      const handlings = new Handlings();
      consumer().start(handlings.handler, { concurrency: 1 });
      // One at a time, first in first out: a second task_twice would come before task_after.
      await waitUntil(() => handlings.handled.includes("task_after"));
      expect(handlings.handled).toEqual(["task_twice", "task_after"]);
    });

    it("ignores a task enqueued again while it runs, and queues it again once it has finished", async () => {
      const queue = harness.producer();
      const handlings = new Handlings().hold();
      consumer().start(handlings.handler, { concurrency: 1 });
      await queue.enqueue("task_again");
      await waitUntil(() => handlings.running.has("task_again"));
      await queue.enqueue("task_again");
      handlings.releaseAll();
      // With one at a time, task_marker runs only once task_again's handling has finished.
      await queue.enqueue("task_marker");
      await waitUntil(() => handlings.handled.includes("task_marker"));
      await queue.enqueue("task_again");
      await waitUntil(() => handlings.count("task_again") === 2);
      expect(handlings.handled).toEqual(["task_again", "task_marker", "task_again"]);
    });

    it("runs at most `concurrency` tasks at once, and reaches it", async () => {
      const queue = harness.producer();
      const handlings = new Handlings().hold();
      consumer().start(handlings.handler, { concurrency: 3 });
      const tasks = ids(8);
      for (const taskId of tasks) await queue.enqueue(taskId);
      let finished = 0;
      while (finished < tasks.length) {
        const expected = Math.min(3, tasks.length - finished);
        await waitUntil(() => handlings.running.size === expected);
        // Given time to start one more, the consumer does not.
        await sleep(QUIET_MS / 3);
        expect(handlings.running.size).toBe(expected);
        const batch = [...handlings.running];
        for (const taskId of batch) handlings.release(taskId);
        finished += batch.length;
        await waitUntil(() => batch.every((taskId) => !handlings.running.has(taskId)));
      }
      handlings.releaseAll();
      expect(handlings.mostAtOnce).toBe(3);
      expect([...handlings.handled].sort()).toEqual([...tasks].sort());
    });

    it("keeps handing out tasks after a handler rejected", async () => {
      const queue = harness.producer();
      const handlings = new Handlings(new Set(["task_broken"]));
      consumer().start(handlings.handler, { concurrency: 1 });
      await queue.enqueue("task_broken");
      await queue.enqueue("task_fine");
      await waitUntil(() => handlings.handled.includes("task_fine"));
      expect(handlings.handled).toEqual(["task_broken", "task_fine"]);
    });

    it("on stop, waits for the running tasks to finish and returns none", async () => {
      const queue = harness.producer();
      const handlings = new Handlings().hold();
      const worker = consumer();
      worker.start(handlings.handler, { concurrency: 2 });
      await queue.enqueue("task_a");
      await queue.enqueue("task_b");
      await waitUntil(() => handlings.running.size === 2);
      let stopped: string[] | null = null;
      const stopping = worker.stop(60_000).then((left) => (stopped = left));
      await sleep(QUIET_MS);
      expect(stopped).toBeNull();
      handlings.releaseAll();
      await stopping;
      expect(stopped).toEqual([]);
      expect(handlings.running.size).toBe(0);
    });

    it("on stop, gives up waiting after the grace period and returns the tasks still running", async () => {
      const queue = harness.producer();
      const handlings = new Handlings().hold();
      const worker = consumer();
      worker.start(handlings.handler, { concurrency: 2 });
      await queue.enqueue("task_stuck");
      await waitUntil(() => handlings.running.has("task_stuck"));
      expect(await worker.stop(50)).toEqual(["task_stuck"]);
      handlings.releaseAll();
    });

    it("hands out no task after stop", async () => {
      const queue = harness.producer();
      const handlings = new Handlings();
      const worker = consumer();
      worker.start(handlings.handler, { concurrency: 2 });
      await queue.enqueue("task_before");
      await waitUntil(() => handlings.handled.includes("task_before"));
      expect(await worker.stop(5_000)).toEqual([]);
      await queue.enqueue("task_after_stop");
      await sleep(QUIET_MS);
      expect(handlings.handled).toEqual(["task_before"]);
    });
  });
}
