import type pg from "pg";
import { evenShare } from "./closed-loop.ts";
import type { ImagegateProcess } from "./imagegate-process.ts";
import { sleep } from "./processes.ts";
import { createTaskBody, type ApiClient } from "./requests.ts";

/** createTask requests in flight while a batch is submitted, shared by the API processes. */
export const BATCH_CONCURRENCY = 16;
const SETTLE_BOUND_MS = 300_000;

export interface Settled {
  succeeded: number;
  failed: number;
  /** Why the failed ones failed, where the count can tell: "3 INTERNAL: ...". */
  reasons?: string[];
}

/** How many of a batch's tasks have settled so far. */
export type SettledCount = (taskIds: readonly string[]) => Promise<Settled>;

/** Where a batch goes: the API processes taking its tasks, and a count of them settled, started as the batch starts. */
export interface BatchTarget {
  clients: readonly ApiClient[];
  countSettled: () => Promise<SettledCount>;
}

/** What a batch left: `tasks` submitted, of which `succeeded` settled in success within the bound. */
export interface Batch extends Settled {
  tasks: number;
  seconds: number;
}

/**
 * Submits `count` tasks (1:1 PNGs) spread evenly over the target's API processes, 16 requests in
 * flight in all, and waits until every accepted one has settled (5 minutes at most): the batch
 * lasts from the first request to the last settle, the whole path from createTask through the
 * queue and a worker.
 */
export async function runBatch(target: BatchTarget, count: number): Promise<Batch> {
  const settledOf = await target.countSettled();
  const started = performance.now();
  const { clients } = target;
  const created = await Promise.all(
    clients.map((client, index) =>
      client.createMany(evenShare(count, clients.length, index), Math.max(1, BATCH_CONCURRENCY / clients.length), () =>
        createTaskBody({ imageSize: "1:1", outputFormat: "png" }),
      ),
    ),
  );
  const taskIds = created.flat();
  for (;;) {
    const settled = await settledOf(taskIds);
    const seconds = (performance.now() - started) / 1000;
    if (settled.succeeded + settled.failed >= taskIds.length || seconds * 1000 > SETTLE_BOUND_MS) return { tasks: count, ...settled, seconds };
    await sleep(100);
  }
}

/** Batches as one: the tasks that succeeded over the seconds they all took. */
export function batchTotals(batches: readonly Batch[]): Batch & { tasksPerSecond: number; failures: number } {
  const sum = (field: "tasks" | "succeeded" | "failed" | "seconds"): number => batches.reduce((total, batch) => total + batch[field], 0);
  const total = { tasks: sum("tasks"), succeeded: sum("succeeded"), failed: sum("failed"), seconds: sum("seconds") };
  // Refused, failed or unfinished at the bound.
  return { ...total, tasksPerSecond: total.succeeded / total.seconds, failures: total.tasks - total.succeeded };
}

/** Settled tasks read from a shared PostgreSQL database: the truth, whichever process ran them. */
export function settledInDatabase(sql: pg.Pool): SettledCount {
  return async (taskIds) => {
    const { rows } = await sql.query<{ state: string; count: string }>(
      "SELECT state, count(*) AS count FROM tasks WHERE id = ANY($1) AND state IN ('success', 'fail') GROUP BY state",
      [taskIds],
    );
    const count = (state: string): number => Number(rows.find((row) => row.state === state)?.count ?? 0);
    const failed = count("fail");
    if (failed === 0) return { succeeded: count("success"), failed };
    const { rows: reasons } = await sql.query<{ reason: string; count: string }>(
      "SELECT fail_code || ': ' || fail_msg AS reason, count(*) AS count FROM tasks WHERE id = ANY($1) AND state = 'fail' GROUP BY 1",
      [taskIds],
    );
    return { succeeded: count("success"), failed, reasons: reasons.map((row) => `${row.count} ${row.reason}`) };
  };
}

/** The tasks a one-process server settles from now on, from the counters of its /metrics. */
export async function settledFromNowOn(server: ImagegateProcess): Promise<SettledCount> {
  const before = await server.metrics();
  return async () => {
    const now = await server.metrics();
    return { succeeded: now.tasksSucceeded - before.tasksSucceeded, failed: now.tasksFailed - before.tasksFailed };
  };
}
