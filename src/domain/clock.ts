/** The source of time for everything that stores or compares timestamps; tests pass a fake. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
