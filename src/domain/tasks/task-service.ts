import { hash } from "node:crypto";
import type { Caller } from "../accounts/account.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { Clock } from "../clock.ts";
import { failure, success, type Result } from "../errors.ts";
import { newId } from "../ids.ts";
import type { Durability, TaskQueue, TaskRepository } from "./ports.ts";
import { ACTIVE_STATES, type FailCode, type Task, type TaskRecord } from "./task.ts";

export interface CreateTaskCommand {
  caller: Caller;
  model: string;
  input: unknown;
  /** As the client sent it; undefined when absent. */
  callbackUrl: unknown;
  /** The Idempotency-Key header, when given: a replay with the same body answers the same task. */
  idempotencyKey?: string;
}

/** Hears every task this process stores (`created`) or moves to another state (`changed`). */
export type TaskListener = (task: Task, event: "created" | "changed") => void;

export interface TaskServiceOptions {
  taskTimeoutMs: number;
  /** Non-terminal tasks an account may have unless its own limit says otherwise. */
  activeTaskLimit: number;
  /**
   * Hears of a queue outside the process that could not take a stored task: it stays `waiting`,
   * accepted and durable, until the reconciler hands it over.
   */
  onHandOverFailure?: (taskId: string, error: unknown) => void;
}

/** Tasks read per statement when the reconciler walks the idle ones. */
const REQUEUE_PAGE = 500;

const CALLBACK_URL_MAX = 2048;
const IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;
/** A claimed key whose request never produced a task (a crash) stops blocking after this. */
const IDEMPOTENCY_STALE_MS = 60_000;

/** Literally absolute: the scheme and `//` written out, nothing the URL parser would repair. */
const ABSOLUTE_HTTP_URL = /^https?:\/\/[^\s\\]+$/i;

const CALLBACK_URL_RULE = `callBackUrl must be an absolute http or https URL of at most ${CALLBACK_URL_MAX} characters`;

/**
 * The task's callback URL, null for none, or the 422 saying what is wrong with it. Clients of the
 * hosted services send "" or null when they want no callback.
 */
function callbackUrlOf(value: unknown): Result<string | null> {
  if (value === undefined || value === null || value === "") return success(null);
  const invalid = failure("VALIDATION_FAILED", CALLBACK_URL_RULE);
  if (typeof value !== "string" || value.length > CALLBACK_URL_MAX || !ABSOLUTE_HTTP_URL.test(value)) return invalid;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return invalid;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return invalid;
  // fetch refuses a URL with credentials, so every delivery to it would fail.
  if (url.username !== "" || url.password !== "") return failure("VALIDATION_FAILED", "callBackUrl must not contain a user name or password");
  return success(value);
}

/**
 * The rules of a task's life. Every state change is a compare-and-set on the current state, so a
 * task touched twice (a recovered task, an at-least-once queue) still settles exactly once.
 */
export class TaskService {
  private readonly listeners = new Set<TaskListener>();

  constructor(
    private readonly tasks: TaskRepository,
    private readonly catalog: Catalog,
    private readonly queue: TaskQueue,
    private readonly clock: Clock,
    private readonly options: TaskServiceOptions,
  ) {}

  /** Listeners hear of every state change this process makes (live status, metrics). */
  onChange(listener: TaskListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async create(command: CreateTaskCommand): Promise<Result<Task>> {
    const validated = this.catalog.validate(command.model, command.input);
    if (!validated.ok) return validated;
    const given = command.callbackUrl;
    const callbackUrl = callbackUrlOf(given);
    if (!callbackUrl.ok) return callbackUrl;
    // Only now is the body known to be small and flat enough to serialize cheaply. As sent: an
    // empty or null callBackUrl stays in param, though it means no callback.
    const param = JSON.stringify({
      model: command.model,
      input: command.input,
      ...(given === undefined ? {} : { callBackUrl: given }),
    });
    const now = this.clock.now();
    const task: Task = {
      id: newId("task", now),
      accountId: command.caller.accountId,
      apiKeyId: command.caller.keyId,
      mode: command.caller.mode,
      model: command.model,
      state: this.queue.handsOverAtOnce ? "queuing" : "waiting",
      param,
      input: JSON.stringify(validated.value.input),
      callbackUrl: callbackUrl.value,
      resultJson: null,
      failCode: null,
      failMsg: null,
      createTime: now,
      updateTime: now,
      completeTime: null,
      deadlineTime: now + this.options.taskTimeoutMs,
      attempts: 0,
      upstreamAttempts: 0,
      creditsHeld: 0,
    };
    const idempotency =
      command.idempotencyKey === undefined
        ? undefined
        : { key: command.idempotencyKey, requestHash: hash("sha256", param, "hex") };
    if (idempotency !== undefined) {
      const claim = await this.tasks.claimIdempotencyKey({
        accountId: task.accountId,
        key: idempotency.key,
        requestHash: idempotency.requestHash,
        now,
        expiresAt: now + IDEMPOTENCY_RETENTION_MS,
        staleBefore: now - IDEMPOTENCY_STALE_MS,
      });
      if (claim.kind === "mismatch") {
        return failure("VALIDATION_FAILED", "Idempotency-Key was already used with a different request body; use a new key.");
      }
      if (claim.kind === "in-flight") {
        return failure("CONFLICT", "A request with this Idempotency-Key is still being processed; retry shortly.");
      }
      if (claim.kind === "replay") {
        const first = await this.tasks.get(claim.taskId);
        if (first !== null) return success(first);
      }
    }
    // Test-mode keys exercise everything but credits.
    const price = command.caller.mode === "test" ? 0 : this.catalog.price(command.model, validated.value.input.resolution);
    const activeLimit = command.caller.limits.activeTasks ?? this.options.activeTaskLimit;
    const outcome = await this.tasks.create(task, {
      activeLimit,
      price,
      ...(idempotency === undefined ? {} : { idempotencyKey: idempotency.key }),
    });
    if (outcome !== "created" && idempotency !== undefined) {
      await this.tasks.releaseIdempotencyKey(task.accountId, idempotency.key);
    }
    if (outcome === "ACTIVE_LIMIT") {
      return failure("CONFLICT", `The account already has its maximum of ${activeLimit} active tasks; wait for some to finish.`);
    }
    if (outcome === "INSUFFICIENT_CREDITS") {
      const at = validated.value.model.resolutions.length > 1 ? ` at ${validated.value.input.resolution ?? "1K"}` : "";
      return failure("INSUFFICIENT_CREDITS", `Insufficient credits: ${command.model} costs ${price} credits per task${at}.`);
    }
    task.creditsHeld = price;
    this.notify(task, "created");
    if (task.state === "queuing") {
      // In the process: cannot fail, and returns nothing to wait for.
      void this.queue.enqueue(task.id);
      return success(task);
    }
    const queued = await this.enqueue(task.id);
    return success(queued ?? task);
  }

  async get(accountId: string, taskId: string): Promise<Result<Task>> {
    const task = await this.tasks.getForAccount(taskId, accountId);
    return task === null ? failure("NOT_FOUND", `no task with taskId ${taskId}`) : success(task);
  }

  /** The task as recordInfo shows it. */
  async record(accountId: string, taskId: string): Promise<Result<TaskRecord>> {
    const record = await this.tasks.getRecordForAccount(taskId, accountId);
    return record === null ? failure("NOT_FOUND", `no task with taskId ${taskId}`) : success(record);
  }

  /**
   * Hands a waiting task to the queue and, once the queue holds it, records that it is queuing.
   * A queue that cannot take it leaves it waiting (null), for the reconciler to hand over. The
   * record need not wait for the disk: a crash that undoes it leaves the task waiting, which the
   * reconciler hands over again, and the queue holds a task once.
   */
  async enqueue(taskId: string): Promise<Task | null> {
    try {
      return await this.handOver(taskId);
    } catch (error) {
      this.options.onHandOverFailure?.(taskId, error);
      return null;
    }
  }

  /** Hands a waiting task to the queue, then records that it is queuing; rejects when the queue refuses it. */
  private async handOver(taskId: string): Promise<Task | null> {
    await this.queue.enqueue(taskId);
    return this.transition(taskId, ["waiting"], { state: "queuing" }, "committed");
  }

  /**
   * Hands every active task unchanged since `idleBefore` to the queue again: those an API process
   * stored but died before handing over, those a worker left at shutdown, and every one a queue
   * that lost its data (a Redis restarted empty) no longer holds. Harmless for the others: the
   * queue holds a task once, and a task run twice still settles once. Returns how many it handed;
   * rejects when the queue refuses them.
   */
  async requeueIdle(idleBefore: number): Promise<number> {
    let handed = 0;
    let after: string | null = null;
    for (;;) {
      const page = await this.tasks.listIdleActive(idleBefore, after, REQUEUE_PAGE);
      // A queue that refuses one refuses all (Redis down): the first refusal ends the walk.
      await Promise.all(
        page.map((task) => (task.state === "waiting" ? this.handOver(task.id) : this.queue.enqueue(task.id))),
      );
      handed += page.length;
      const last = page.at(-1);
      if (last === undefined || page.length < REQUEUE_PAGE) return handed;
      after = last.id;
    }
  }

  /** A worker is about to call the upstream model. A recovered `generating` task may start again. */
  start(taskId: string): Promise<Task | null> {
    // The worker need not wait for the disk: if a crash undoes this change, recovery finds the
    // task queuing (or generating) and starts it again, which is what this change stood for. The
    // same write counts the run's first upstream call; a crash of the process keeps that count once
    // committed, and only a power loss can undo it, which allows the task one upstream call more.
    return this.transition(taskId, ACTIVE_STATES, { state: "generating", countAttempt: true }, "committed");
  }

  /**
   * A worker is about to call the upstream again in the same run (a retry, or the next provider of
   * a fallback route); the run's first call was counted by start(). Counted before the call, so a
   * restart knows of it, and like start() without waiting for the disk: a crash of the process
   * keeps the committed count, and only a power loss can undo it, allowing one call more.
   */
  countUpstreamAttempt(taskId: string): Promise<void> {
    return this.tasks.countUpstreamAttempt(taskId);
  }

  succeed(taskId: string, resultUrls: readonly string[]): Promise<Task | null> {
    const now = this.clock.now();
    return this.transition(taskId, ["generating"], {
      state: "success",
      resultJson: JSON.stringify({ resultUrls }),
      completeTime: now,
      credits: "capture",
      callbackId: newId("msg", now),
    });
  }

  fail(taskId: string, code: FailCode, message: string): Promise<Task | null> {
    const now = this.clock.now();
    return this.transition(taskId, ACTIVE_STATES, {
      state: "fail",
      failCode: code,
      failMsg: message,
      completeTime: now,
      credits: "release",
      callbackId: newId("msg", now),
    });
  }

  /**
   * Cancels a non-terminal task of the account: it fails with CANCELED and its hold is released.
   * Listeners (the worker running it) hear of the change and abort the upstream call.
   */
  async cancel(accountId: string, taskId: string): Promise<Result<Task>> {
    const task = await this.tasks.getForAccount(taskId, accountId);
    if (task === null) return failure("NOT_FOUND", `no task with taskId ${taskId}`);
    const canceled = await this.fail(taskId, "CANCELED", CANCELED_MESSAGE);
    if (canceled !== null) return success(canceled);
    const settled = await this.tasks.get(taskId);
    return failure("CONFLICT", `The task is already ${settled?.state ?? task.state}; only waiting, queuing or generating tasks can be canceled.`);
  }

  /** Forgets Idempotency-Keys older than their 24 hours. */
  deleteExpiredIdempotencyKeys(): Promise<number> {
    return this.tasks.deleteExpiredIdempotencyKeys(this.clock.now());
  }

  /** Fails every task whose deadline has passed; returns how many. */
  async failOverdue(limit = 500): Promise<number> {
    const overdue = await this.tasks.listOverdue(this.clock.now(), limit);
    // Issued together, so a storage that groups concurrent writes commits them at once.
    const failed = await Promise.all(overdue.map((task) => this.fail(task.id, "TIMEOUT", TIMEOUT_MESSAGE)));
    return failed.filter((task) => task !== null).length;
  }

  /**
   * After a restart of the one process that runs tasks from this database: every task left
   * non-terminal is failed if overdue, else handed over again.
   */
  async recover(): Promise<{ resumed: number; timedOut: number }> {
    const timedOut = await this.failOverdue(Number.MAX_SAFE_INTEGER);
    const active = await this.tasks.listActive();
    await Promise.all(
      active.map(async (task) => {
        if (task.state === "waiting") await this.enqueue(task.id);
        else await this.queue.enqueue(task.id);
      }),
    );
    return { resumed: active.length, timedOut };
  }

  countForAccount(accountId: string): Promise<number> {
    return this.tasks.countForAccount(accountId);
  }

  getById(taskId: string): Promise<Task | null> {
    return this.tasks.get(taskId);
  }

  private async transition(
    taskId: string,
    from: Parameters<TaskRepository["transition"]>[1],
    change: Omit<Parameters<TaskRepository["transition"]>[2], "updateTime">,
    wait: Durability = "on-disk",
  ): Promise<Task | null> {
    // A terminal change happens at its completeTime: both timestamps are the same instant.
    const updateTime = change.completeTime ?? this.clock.now();
    const updated = await this.tasks.transition(taskId, from, { ...change, updateTime }, wait);
    if (updated !== null) this.notify(updated);
    return updated;
  }

  private notify(task: Task, event: "created" | "changed" = "changed"): void {
    for (const listener of this.listeners) listener(task, event);
  }
}

export const TIMEOUT_MESSAGE = "The task did not finish before its deadline.";
export const CANCELED_MESSAGE = "The task was canceled.";
