import { systemClock, type Clock } from "../domain/clock.ts";
import type { ImageOutput, ImageProvider, ImageRequest, ProviderHealth } from "./image-provider.ts";
import { abortedRequestError, deadlinePassedError } from "./request-abort.ts";

/** Node fires longer timers at once, so a far deadline is capped to the longest delay it honours. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

interface Waiter {
  grant: () => void;
}

/** A counting semaphore whose waiters are served first come, first served. */
export class Semaphore {
  readonly #limit: number;
  #held = 0;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`the concurrency limit must be a positive integer, got ${limit}`);
    }
    this.#limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves with a release function once a slot is held. Rejects with `onGiveUp()`'s error when
   * `signal` aborts first (or the returned giveUp is called), leaving the queue as if it never waited.
   */
  acquire(signal: AbortSignal, onGiveUp: () => Error): { slot: Promise<() => void>; giveUp: () => void } {
    if (signal.aborted) {
      return { slot: Promise.reject(onGiveUp()), giveUp: () => undefined };
    }
    if (this.#held < this.#limit) {
      this.#held += 1;
      return { slot: Promise.resolve(this.#releaser()), giveUp: () => undefined };
    }
    let giveUp: () => void = () => undefined;
    const slot = new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", giveUp);
          resolve(this.#releaser());
        },
      };
      giveUp = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index === -1) {
          return;
        }
        this.#waiters.splice(index, 1);
        signal.removeEventListener("abort", giveUp);
        reject(onGiveUp());
      };
      signal.addEventListener("abort", giveUp, { once: true });
      this.#waiters.push(waiter);
    });
    return { slot, giveUp: () => giveUp() };
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.#waiters.shift();
      if (next === undefined) {
        this.#held -= 1;
      } else {
        // The slot passes straight to the next waiter, so a newcomer cannot jump the queue.
        next.grant();
      }
    };
  }
}

export interface ConcurrencyLimitedImageProviderOptions {
  maxConcurrency: number;
  clock?: Clock;
}

/**
 * Lets at most `maxConcurrency` calls into the inner provider at once; the rest wait in arrival
 * order until a slot frees, the task's signal aborts (CANCELED/TIMEOUT) or its deadline passes
 * (TIMEOUT). It leaves onStart alone: the leaf adapter calls it right before its upstream call,
 * which only happens once the slot is held, so a waiting task stays `queuing`.
 */
export class ConcurrencyLimitedImageProvider implements ImageProvider {
  readonly name: string;
  readonly #inner: ImageProvider;
  readonly #semaphore: Semaphore;
  readonly #clock: Clock;

  constructor(inner: ImageProvider, options: ConcurrencyLimitedImageProviderOptions) {
    this.name = inner.name;
    this.#inner = inner;
    this.#semaphore = new Semaphore(options.maxConcurrency);
    this.#clock = options.clock ?? systemClock;
  }

  /** Calls holding a slot, and calls waiting for one; for health figures and tests. */
  get load(): { active: number; waiting: number } {
    return { active: this.#semaphore.held, waiting: this.#semaphore.waiting };
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    const release = await this.#acquire(request);
    try {
      return await this.#inner.generate(request);
    } finally {
      release();
    }
  }

  health(): ProviderHealth {
    return this.#inner.health?.() ?? { ok: true };
  }

  async checkUpstream(): Promise<void> {
    await this.#inner.checkUpstream?.();
  }

  async #acquire(request: ImageRequest): Promise<() => void> {
    if (this.#clock.now() >= request.deadline) {
      throw deadlinePassedError();
    }
    let deadlinePassed = false;
    const { slot, giveUp } = this.#semaphore.acquire(request.signal, () =>
      deadlinePassed ? deadlinePassedError() : abortedRequestError(request.signal),
    );
    const deadlineTimer = setTimeout(() => {
      deadlinePassed = true;
      giveUp();
    }, Math.min(request.deadline - this.#clock.now(), MAX_TIMER_DELAY_MS));
    try {
      return await slot;
    } finally {
      clearTimeout(deadlineTimer);
    }
  }
}
