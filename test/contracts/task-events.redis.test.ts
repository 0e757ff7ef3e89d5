import { afterEach, describe, expect, it } from "vitest";
import type { TaskEvents } from "../../src/domain/tasks/events.ts";
import { RedisTaskEvents } from "../../src/events/redis-task-events.ts";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitUntil } from "../helpers/wait.ts";
import { eventOf, taskEventsContract } from "./task-events.contract.ts";

taskEventsContract("Redis", async () => {
  const prefix = uniquePrefix();
  const errors: unknown[] = [];
  // Each adapter has its own connections, as each process would.
  const opened: TaskEvents[] = [];
  return {
    open: async () => {
      const events = await RedisTaskEvents.connect({ url: REDIS_URL, prefix, onError: (error) => errors.push(error) });
      opened.push(events);
      return events;
    },
    errors,
    cleanup: async () => {
      await Promise.all(opened.map((events) => events.close()));
      await deleteKeys(prefix);
    },
  };
});

describe("RedisTaskEvents", () => {
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  it("subscribes again after its connection to Redis was lost, and hears later changes", async () => {
    const prefix = uniquePrefix();
    const { proxy, url: proxied } = await TcpProxy.before(REDIS_URL, 6379);
    closing.push(() => proxy.close());
    const listening = await RedisTaskEvents.connect({ url: proxied, prefix, onError: () => undefined });
    closing.push(() => listening.close());
    const publisher = await RedisTaskEvents.connect({ url: REDIS_URL, prefix, onError: () => undefined });
    closing.push(() => publisher.close());
    const heard: string[] = [];
    listening.subscribe((event) => heard.push(event.taskId));

    await publisher.publish(eventOf("task_before", "queuing"));
    await waitUntil(() => heard.includes("task_before"));
    proxy.cut();
    await waitUntil(() => proxy.connections === 0);
    // Published while the listener is cut off: lost to it, which shows the cut was real.
    await publisher.publish(eventOf("task_during", "queuing"));
    proxy.restore();
    // Published until heard: the listener hears again once it has reconnected and subscribed.
    await waitUntil(async () => {
      await publisher.publish(eventOf("task_after", "queuing"));
      return heard.includes("task_after");
    });
    expect(heard.filter((taskId) => taskId !== "task_after")).toEqual(["task_before"]);
    await deleteKeys(prefix);
  });
});
