import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BullMqTaskConsumer, BullMqTaskQueue } from "../../src/queue/bullmq-queue.ts";
import { REPOSITORY_ROOT } from "../helpers/cli.ts";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitUntil } from "../helpers/wait.ts";

/** Short, so a dead worker's task is taken over within seconds rather than the default's minute. */
const LOCK_DURATION_MS = 1_000;
const STALLED_INTERVAL_MS = 500;

describe("BullMqTaskConsumer", () => {
  const closing: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  it("takes over the task of a worker process killed mid-task, once its claim has run out", async () => {
    const prefix = uniquePrefix();
    closing.push(() => deleteKeys(prefix));
    const queue = new BullMqTaskQueue({ url: REDIS_URL, prefix, onError: () => undefined });
    closing.push(() => queue.close());

    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join("test", "fakes", "bullmq-worker-process.ts"), REDIS_URL, prefix, String(LOCK_DURATION_MS), String(STALLED_INTERVAL_MS)],
      { cwd: REPOSITORY_ROOT, stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = once(child, "exit");
    closing.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    await waitUntil(() => output.includes("ready\n"), "the worker process to start", 30_000);
    await queue.enqueue("task_orphaned");
    await waitUntil(() => output.includes("started task_orphaned\n"), "the worker process to take the task");

    // Another worker, running beside it: it gets the task only once the first is gone.
    const handled: string[] = [];
    const survivor = new BullMqTaskConsumer({
      url: REDIS_URL,
      prefix,
      lockDurationMs: LOCK_DURATION_MS,
      stalledIntervalMs: STALLED_INTERVAL_MS,
      onError: () => undefined,
    });
    survivor.start(async (taskId) => void handled.push(taskId), { concurrency: 1 });
    closing.push(() => survivor.stop(5_000));
    expect(handled).toEqual([]);

    child.kill("SIGKILL");
    await exited;
    await waitUntil(() => handled.length > 0, "the surviving worker to take the task over");
    expect(handled).toEqual(["task_orphaned"]);
  });

  /** A proxy in front of the machine's Redis, and the URL that goes through it. */
  async function proxiedRedis(): Promise<{ proxy: TcpProxy; url: string }> {
    const proxied = await TcpProxy.before(REDIS_URL, 6379);
    closing.push(() => proxied.proxy.close());
    return proxied;
  }

  it("refuses a task at once while Redis is unreachable, rather than hold the caller until it is back", async () => {
    const prefix = uniquePrefix();
    closing.push(() => deleteKeys(prefix));
    const { proxy, url } = await proxiedRedis();
    const queue = new BullMqTaskQueue({ url, prefix, onError: () => undefined });
    closing.push(() => queue.close());
    await queue.enqueue("task_before");
    proxy.cut();
    await waitUntil(() => proxy.connections === 0);
    const attempt = queue.enqueue("task_cut_off").then(
      () => "queued",
      () => "refused",
    );
    // Redis is reachable again before the queue could reconnect: a queue that held the task would
    // now take it.
    proxy.restore();
    expect(await attempt).toBe("refused");
    await waitUntil(async () => {
      try {
        await queue.enqueue("task_after");
        return true;
      } catch {
        return false;
      }
    }, "the queue to take tasks again");
  });

  it("goes on taking tasks after its connection to Redis was lost and came back", async () => {
    const prefix = uniquePrefix();
    closing.push(() => deleteKeys(prefix));
    const { proxy, url } = await proxiedRedis();
    const queue = new BullMqTaskQueue({ url: REDIS_URL, prefix, onError: () => undefined });
    closing.push(() => queue.close());
    const handled: string[] = [];
    const consumer = new BullMqTaskConsumer({ url, prefix, onError: () => undefined });
    consumer.start(async (taskId) => void handled.push(taskId), { concurrency: 1 });
    closing.push(() => consumer.stop(5_000));
    await queue.enqueue("task_before");
    await waitUntil(() => handled.includes("task_before"));

    proxy.cut();
    await waitUntil(() => proxy.connections === 0);
    await queue.enqueue("task_while_cut_off");
    proxy.restore();
    await queue.enqueue("task_after");
    await waitUntil(() => handled.length === 3, "the worker to take the tasks queued while it was cut off and after");
    expect(handled).toEqual(["task_before", "task_while_cut_off", "task_after"]);
  });
});
