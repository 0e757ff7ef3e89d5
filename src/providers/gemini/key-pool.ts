import type { Clock } from "../../domain/clock.ts";

/** How long a rejected key sits out before one real request probes it again. */
export const REJECTED_KEY_PROBE_INTERVAL_MS = 60_000;

interface KeyState {
  readonly key: string;
  /** Epoch ms until which the upstream asked this key to wait (a 429's retry delay). */
  restingUntil: number;
  /** Epoch ms of the last time the upstream rejected this key as invalid; null while it is accepted. */
  rejectedAt: number | null;
}

export interface KeyLease {
  key: string;
  /** The key's position in the pool (configured order, duplicates dropped): safe to log, unlike the key. */
  index: number;
  /** 0, or how long every usable key still rests; the caller waits this long before using it. */
  waitMs: number;
}

/**
 * Spreads requests over several upstream API keys in turn. A key that hit a rate limit rests for
 * the delay the upstream asked for while the others carry on; a key the upstream rejected is left
 * out (probed again once a minute) as long as another key is usable.
 */
export class KeyPool {
  readonly #keys: KeyState[];
  readonly #clock: Clock;
  #cursor = 0;

  constructor(keys: readonly string[], clock: Clock) {
    const distinct = [...new Set(keys.map((key) => key.trim()).filter((key) => key.length > 0))];
    if (distinct.length === 0) {
      throw new RangeError("the Gemini key pool needs at least one API key");
    }
    this.#keys = distinct.map((key) => ({ key, restingUntil: 0, rejectedAt: null }));
    this.#clock = clock;
  }

  get size(): number {
    return this.#keys.length;
  }

  /**
   * The next key in rotation that is neither resting nor rejected; else the rate-limited key that
   * wakes first, with how long to wait; else (every key rejected) the next key anyway, so the
   * request fails fast with the upstream's verdict instead of hanging.
   */
  next(): KeyLease {
    const now = this.#clock.now();
    const count = this.#keys.length;
    for (let step = 0; step < count; step += 1) {
      const index = (this.#cursor + step) % count;
      const state = this.#stateAt(index);
      if (state.restingUntil <= now && !this.#isLeftOut(state, now)) {
        this.#cursor = (index + 1) % count;
        return { key: state.key, index, waitMs: 0 };
      }
    }
    const resting = this.#keys
      .map((state, index) => ({ state, index }))
      .filter(({ state }) => !this.#isLeftOut(state, now))
      .sort((left, right) => left.state.restingUntil - right.state.restingUntil)[0];
    if (resting !== undefined) {
      this.#cursor = (resting.index + 1) % count;
      return { key: resting.state.key, index: resting.index, waitMs: resting.state.restingUntil - now };
    }
    const index = this.#cursor;
    this.#cursor = (index + 1) % count;
    return { key: this.#stateAt(index).key, index, waitMs: 0 };
  }

  /** Rests the key for `ms` (never shortening a longer rest already asked for). */
  rest(index: number, ms: number): void {
    const state = this.#stateAt(index);
    state.restingUntil = Math.max(state.restingUntil, this.#clock.now() + ms);
  }

  markRejected(index: number): void {
    this.#stateAt(index).rejectedAt = this.#clock.now();
  }

  markAccepted(index: number): void {
    this.#stateAt(index).rejectedAt = null;
  }

  /** 0 when some key can be used now, else how long until the first rate-limited key wakes. */
  msUntilAvailable(): number {
    const now = this.#clock.now();
    const usable = this.#keys.filter((state) => !this.#isLeftOut(state, now));
    if (usable.length === 0) {
      return 0;
    }
    return Math.max(0, Math.min(...usable.map((state) => state.restingUntil - now)));
  }

  /** Whether some key has not been rejected; when none is left, nothing can be served. */
  hasAcceptedKey(): boolean {
    return this.#keys.some((state) => state.rejectedAt === null);
  }

  rejectedIndexes(): number[] {
    return this.#keys.flatMap((state, index) => (state.rejectedAt === null ? [] : [index]));
  }

  #isLeftOut(state: KeyState, now: number): boolean {
    return state.rejectedAt !== null && now - state.rejectedAt < REJECTED_KEY_PROBE_INTERVAL_MS;
  }

  #stateAt(index: number): KeyState {
    const state = this.#keys[index];
    if (state === undefined) {
      throw new RangeError(`no key at index ${index}`);
    }
    return state;
  }
}
