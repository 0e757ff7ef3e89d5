/** What one item of a batch came to: its value, or the error it alone failed with. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface BatcherOptions {
  /** Batches running at once; items submitted while that many run wait for the next one. */
  concurrency: number;
  /** Items in one batch at most. */
  maxItems: number;
}

/**
 * Reads by key gathered into one statement. A read of a batch starts after every one of its
 * callers asked, so each sees every commit made, by any process, before it asked: as fresh as a
 * statement of its own, for one round trip among many callers.
 */
export const READ_BATCHES: BatcherOptions = { concurrency: 4, maxItems: 500 };

interface Pending<Item, Value> {
  item: Item;
  resolve: (value: Value) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the calls made during one turn of the event loop, and those made while `concurrency`
 * batches already run, into one batch handed to `run`: one round trip and, for writes, one commit
 * for all of them instead of one each. A lone call waits for no one: the batch closes at the end
 * of the current turn (setImmediate), or as soon as a running batch ends. `run` answers each
 * item's own outcome, in order, so one item's failure is that caller's alone; if `run` itself
 * throws, every caller of the batch hears that error.
 */
export class Batcher<Item, Value> {
  private pending: Pending<Item, Value>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: Item[]) => Promise<ItemOutcome<Value>[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: Item): Promise<Value> {
    return new Promise<Value>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0 || this.running >= this.options.concurrency) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0 && this.running < this.options.concurrency) {
      void this.runBatch(this.pending.splice(0, this.options.maxItems));
    }
  }

  private async runBatch(batch: Pending<Item, Value>[]): Promise<void> {
    this.running += 1;
    let outcomes: ItemOutcome<Value>[] | null = null;
    let failure: unknown = null;
    try {
      outcomes = await this.run(batch.map((pending) => pending.item));
    } catch (error) {
      failure = error;
    }
    this.running -= 1;
    // The items gathered meanwhile go first, before this batch's callers are answered (which, for a
    // request, means its whole answer): they waited for this batch alone.
    this.flush();
    batch.forEach((pending, index) => {
      const outcome = outcomes === null ? { ok: false as const, error: failure } : outcomes[index];
      if (outcome === undefined) pending.reject(new Error("a batch answered fewer outcomes than it had items"));
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
