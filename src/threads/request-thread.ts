import { Worker, type TransferListItem } from "node:worker_threads";

/**
 * The thread's side of the protocol, put before each thread's own source. That source defines
 * `handle(batch)`, which answers the requests `[{ id, request }]` that arrived together with
 * `[{ id, ok: true, value }]` or `failure(id, error)`, and may define `stop()`, run when told to
 * stop after the requests already asked for are answered.
 */
const PRELUDE = `
const { parentPort } = require("node:worker_threads");
let queue = [];
let scheduled = false;
function failure(id, error) {
  return { id, ok: false, message: String(error?.message ?? error), code: error?.code };
}
function answerQueued() {
  scheduled = false;
  const batch = queue;
  queue = [];
  parentPort.postMessage(handle(batch));
}
parentPort.on("message", (message) => {
  if (message === null) {
    if (scheduled) answerQueued();
    if (typeof stop === "function") stop();
    parentPort.close();
    return;
  }
  queue.push(message);
  if (!scheduled) {
    scheduled = true;
    setImmediate(answerQueued);
  }
});
`;

type Answer<Value> = { id: number; ok: true; value: Value } | { id: number; ok: false; message: string; code?: string };

interface Pending<Value> {
  resolve: (value: Value) => void;
  reject: (error: Error) => void;
}

/**
 * Blocking work (a flush, a sequence of file calls) on a thread of its own, started on first use:
 * the event loop sends one message per request and hears one answer. `source` is CommonJS run
 * with eval; it defines `handle(batch)` (see PRELUDE). The thread holds the process open only
 * while a request is pending.
 */
export class RequestThread<Request, Value> {
  private thread: Worker | null = null;
  private readonly pending = new Map<number, Pending<Value>>();
  private nextId = 1;
  /** close() calls waiting for the pending requests to be answered. */
  private idleWaiters: (() => void)[] = [];
  /** Threads told to stop, whose exit is expected. */
  private readonly stopping = new WeakSet<Worker>();

  /** `name` says in an error which thread stopped. */
  constructor(
    private readonly source: string,
    private readonly name: string,
  ) {}

  /** `transfer`: memory the message moves to the thread instead of copying (see postMessage). */
  request(request: Request, transfer: readonly TransferListItem[] = []): Promise<Value> {
    return new Promise((resolve, reject) => {
      const id = this.nextId;
      this.nextId += 1;
      const thread = this.startThread();
      try {
        thread.postMessage({ id, request }, transfer);
      } catch (error) {
        // Nothing was sent (the request could not be copied, or its memory not moved).
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      this.pending.set(id, { resolve, reject });
      thread.ref();
    });
  }

  /** Stops the thread once the requests already asked for are answered; a later one starts a new thread. */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    if (thread === null) return;
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const exited = new Promise((resolve) => thread.once("exit", resolve));
    this.stopping.add(thread);
    // An idle thread is unreferenced; waiting for its exit must keep the process alive, or a
    // process with nothing else to do would end with close() unsettled.
    thread.ref();
    thread.postMessage(null);
    await exited;
  }

  private startThread(): Worker {
    if (this.thread !== null) return this.thread;
    const thread = new Worker(PRELUDE + this.source, { eval: true });
    thread.on("message", (answers: Answer<Value>[]) => {
      for (const answer of answers) {
        const waiting = this.pending.get(answer.id);
        this.pending.delete(answer.id);
        if (waiting === undefined) continue;
        if (answer.ok) waiting.resolve(answer.value);
        else waiting.reject(Object.assign(new Error(answer.message), { code: answer.code }));
      }
      if (this.pending.size === 0) {
        thread.unref();
        this.wakeIdleWaiters();
      }
    });
    const lost = (error: Error): void => {
      if (this.stopping.has(thread)) return;
      if (this.thread === thread) this.thread = null;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
      this.wakeIdleWaiters();
    };
    thread.on("error", lost);
    thread.on("exit", () => lost(new Error(`the ${this.name} stopped`)));
    thread.unref();
    this.thread = thread;
    return thread;
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
