import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskEvent, TaskEvents } from "../../src/domain/tasks/events.ts";
import type { TaskState } from "../../src/domain/tasks/task.ts";
import { waitUntil } from "../helpers/wait.ts";

/**
 * One bus of task events, as a test sees it: `open()` is one more process's adapter on that bus
 * (a bus in memory belongs to one process, so its adapter answers the same one again).
 */
export interface TaskEventsHarness {
  open(): Promise<TaskEvents>;
  /** Errors the adapters reported through their onError. */
  errors: unknown[];
  cleanup(): Promise<void>;
}

export function eventOf(taskId: string, state: TaskState, changes: Partial<TaskEvent> = {}): TaskEvent {
  return { taskId, accountId: "acct_a", state, failCode: null, hasCallback: false, updateTime: 1_000, ...changes };
}

/** The behaviour every TaskEvents adapter shares; `create` builds a fresh bus per test. */
export function taskEventsContract(name: string, create: () => Promise<TaskEventsHarness>): void {
  describe(`TaskEvents contract: ${name}`, () => {
    let harness: TaskEventsHarness;
    beforeEach(async () => {
      harness = await create();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it("delivers a published change, as published, to every subscriber of every process", async () => {
      const publisher = await harness.open();
      const other = await harness.open();
      const heard: Array<{ who: string; event: TaskEvent }> = [];
      publisher.subscribe((event) => heard.push({ who: "publisher", event }));
      other.subscribe((event) => heard.push({ who: "other 1", event }));
      other.subscribe((event) => heard.push({ who: "other 2", event }));
      const canceled = eventOf("task_1", "fail", { failCode: "CANCELED", hasCallback: true, updateTime: 2_000 });
      await publisher.publish(canceled);
      await waitUntil(() => heard.length === 3);
      expect(heard.map((entry) => entry.who).sort()).toEqual(["other 1", "other 2", "publisher"]);
      for (const entry of heard) expect(entry.event).toEqual(canceled);
    });

    it("delivers each task's changes in the order they were published", async () => {
      const publisher = await harness.open();
      const other = await harness.open();
      const heard: TaskEvent[] = [];
      other.subscribe((event) => heard.push(event));
      const states: TaskState[] = ["waiting", "queuing", "generating", "success"];
      const published = Array.from({ length: 50 }, (_, i) => states.map((state) => eventOf(`task_${i}`, state))).flat();
      await Promise.all(published.map((event) => publisher.publish(event)));
      await waitUntil(() => heard.length === published.length);
      for (let i = 0; i < 50; i += 1) {
        expect(heard.filter((event) => event.taskId === `task_${i}`).map((event) => event.state)).toEqual(states);
      }
    });

    it("stops delivering to a listener once unsubscribed, and only to that one", async () => {
      const publisher = await harness.open();
      const other = await harness.open();
      const stayed: string[] = [];
      const left: string[] = [];
      other.subscribe((event) => stayed.push(event.taskId));
      const unsubscribe = other.subscribe((event) => left.push(event.taskId));
      await publisher.publish(eventOf("task_before", "queuing"));
      await waitUntil(() => stayed.length === 1 && left.length === 1);
      unsubscribe();
      await publisher.publish(eventOf("task_after", "queuing"));
      // The one still subscribed hears the second event, so it has been delivered by now.
      await waitUntil(() => stayed.length === 2);
      expect(left).toEqual(["task_before"]);
    });

    it("keeps delivering to the other listeners when one throws, and reports the error", async () => {
      const events = await harness.open();
      const heard: string[] = [];
      events.subscribe(() => {
        throw new Error("listener broke");
      });
      events.subscribe((event) => heard.push(event.taskId));
      await events.publish(eventOf("task_1", "queuing"));
      await events.publish(eventOf("task_2", "queuing"));
      await waitUntil(() => heard.length === 2);
      expect(heard).toEqual(["task_1", "task_2"]);
      expect(harness.errors.map((error) => (error as Error).message)).toEqual(["listener broke", "listener broke"]);
    });
  });
}
