import type { FailCode, Task, TaskRecord, TaskState } from "./task.ts";

/** The fields a state change may set besides `state` and `updateTime`. */
export interface TaskChange {
  state: TaskState;
  updateTime: number;
  resultJson?: string;
  failCode?: FailCode;
  failMsg?: string;
  completeTime?: number;
  /**
   * Adds one to `attempts` and to `upstreamAttempts`: a start is followed by its run's first
   * upstream call, so one write counts both.
   */
  countAttempt?: boolean;
  /** What happens to the task's credit hold, in the same transaction as the change. */
  credits?: "capture" | "release";
  /**
   * Writes the task's callback to the outbox in the same transaction, when it has a callBackUrl:
   * the id becomes the delivery's webhook-id.
   */
  callbackId?: string;
}

export type IdempotencyClaim =
  | { kind: "claimed" }
  | { kind: "replay"; taskId: string }
  | { kind: "in-flight" }
  | { kind: "mismatch" };

/** What must hold for a task to be admitted, checked in the transaction that stores it. */
export interface Admission {
  /** The account's maximum of non-terminal tasks. */
  activeLimit: number;
  /** Credits held from the account's balance; 0 holds nothing. */
  price: number;
  /** A claimed Idempotency-Key, linked to the task in the same transaction. */
  idempotencyKey?: string;
}

export type CreateOutcome = "created" | "ACTIVE_LIMIT" | "INSUFFICIENT_CREDITS";

/** When a write's caller hears of it: once it is on disk, or once it is committed. */
export type Durability = "on-disk" | "committed";

export interface TaskRepository {
  /**
   * In one transaction: checks the active limit, holds `price` credits (never below zero) and
   * stores the task. Nothing is written unless the outcome is "created".
   */
  create(task: Task, admission: Admission): Promise<CreateOutcome>;
  get(taskId: string): Promise<Task | null>;
  /** The task only if it belongs to the account: another account's task looks missing. */
  getForAccount(taskId: string, accountId: string): Promise<Task | null>;
  /**
   * What recordInfo answers, read alone: the hottest read of the API. Null like getForAccount.
   * Records are frozen, and an adapter that keeps them may answer the same object again while
   * the task is unchanged (a change makes a new one), so callers may cache by identity.
   */
  getRecordForAccount(taskId: string, accountId: string): Promise<TaskRecord | null>;
  /**
   * Compare-and-set: applies `change` only while the task's state is one of `from`. Returns the
   * updated task, or null when the task was not in one of those states (someone else moved it).
   * It answers once the change is on disk, or with "committed" as soon as it is committed: for a
   * change that a crash may undo harmlessly, because recovery redoes what it stood for.
   */
  transition(taskId: string, from: readonly TaskState[], change: TaskChange, wait?: Durability): Promise<Task | null>;
  /**
   * Adds one to a non-terminal task's `upstreamAttempts`. Answers once committed, not once on disk:
   * the count survives a crash of the process, and a power loss costs one upstream call more.
   */
  countUpstreamAttempt(taskId: string): Promise<void>;
  /** Every non-terminal task, oldest first: what a restart must resume. */
  listActive(): Promise<Task[]>;
  /**
   * Non-terminal tasks unchanged since before `updatedBefore`, their ids and states, in id order
   * after `afterId` (null: from the first), at most `limit`: what a queue outside the process may
   * have lost.
   */
  listIdleActive(updatedBefore: number, afterId: string | null, limit: number): Promise<Array<Pick<Task, "id" | "state">>>;
  /** Non-terminal tasks whose deadline is before `now`. */
  listOverdue(now: number, limit: number): Promise<Task[]>;
  /** Every task of the account, whatever its state. */
  countForAccount(accountId: string): Promise<number>;
  /**
   * Claims an Idempotency-Key for a request whose body hashes to `requestHash`. A claim that never
   * got its task (a crash, a rejected request) stops blocking once `staleBefore` has passed.
   */
  claimIdempotencyKey(claim: {
    accountId: string;
    key: string;
    requestHash: string;
    now: number;
    expiresAt: number;
    staleBefore: number;
  }): Promise<IdempotencyClaim>;
  /** Forgets a claim whose request was rejected, so the key can be used again. */
  releaseIdempotencyKey(accountId: string, key: string): Promise<void>;
  deleteExpiredIdempotencyKeys(now: number): Promise<number>;
}

/** What a consumer runs for each task it takes; a rejection is the handler's to report. */
export type TaskHandler = (taskId: string) => Promise<void>;

/**
 * Hands accepted tasks to workers: the producer side of a queue of task ids. A task is queued
 * once: enqueuing an id that waits or runs adds nothing, and once its handling has finished it may
 * be enqueued again (a recovered task). At-least-once: a worker that dies mid-task has its task
 * handed over again, so a handler must tolerate a second run.
 */
export interface TaskQueue {
  /**
   * True when handing a task over cannot fail or lag (an in-process queue): a new task is then
   * stored as `queuing` in the very write that stores it, since storing and handing over are one
   * step. A queue outside the process stores `waiting` first and moves to `queuing` once it took
   * the task. A crash in between loses nothing either way: the database holds every active task,
   * and recovery (or the reconciler of a shared queue) hands it over again.
   */
  readonly handsOverAtOnce: boolean;
  /**
   * Returns once the queue holds the task: at once for a queue in the process, through a promise
   * for one outside it, which rejects when the queue could not take it.
   */
  enqueue(taskId: string): void | Promise<void>;
}

export interface TaskConsumerOptions {
  /** Tasks handled at once by this consumer. */
  concurrency: number;
}

/** The worker side of a TaskQueue: hands queued tasks to a handler, at most `concurrency` at once. */
export interface TaskConsumer {
  start(handler: TaskHandler, options: TaskConsumerOptions): void;
  /**
   * Stops taking tasks and waits up to `graceMs` for the running ones; returns the ids of those
   * still running. What this consumer leaves unfinished the queue hands over again.
   */
  stop(graceMs: number): Promise<string[]>;
}
