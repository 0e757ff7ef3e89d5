import type { Clock } from "../clock.ts";
import type { AccountRepository, KeyUse } from "./account.ts";

/** How stale a key's "last used" may be: a key is written at most once in this time per process. */
export const KEY_USE_RESOLUTION_MS = 60_000;

/**
 * When each key was last used, kept without a write per request: a request only notes the time
 * in memory, and at most once a minute per key; flush() writes what was noted since the last
 * flush, in one batch, on a timer of the server's, so no request waits for it. A crash loses at
 * most the uses noted since the last flush, which a "last used" shown to the minute can afford.
 */
export class KeyUsage {
  /** When each key's use was last noted, to tell whether the next one is news. */
  private readonly noted = new Map<string, number>();
  /** The latest use of each key noted since the last flush: one entry per key however long writes fail. */
  private pending = new Map<string, number>();

  constructor(
    private readonly accounts: Pick<AccountRepository, "recordKeyUse">,
    private readonly clock: Clock,
  ) {}

  /** Called for every authenticated request: one map lookup, and nothing more within the minute. */
  seen(keyId: string): void {
    const now = this.clock.now();
    const last = this.noted.get(keyId);
    if (last !== undefined && now - last < KEY_USE_RESOLUTION_MS) return;
    this.noted.set(keyId, now);
    this.pending.set(keyId, now);
  }

  /** Writes the uses noted since the last flush; a failed write is retried at the next flush. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const uses: KeyUse[] = [...batch].map(([keyId, at]) => ({ keyId, at }));
    try {
      await this.accounts.recordKeyUse(uses);
    } catch (error) {
      // Uses noted meanwhile are later than those of the batch.
      for (const [keyId, at] of batch) if (!this.pending.has(keyId)) this.pending.set(keyId, at);
      throw error;
    }
    // Keys not seen within the minute need no memory of their last note: the next use is news anyway.
    const before = this.clock.now() - KEY_USE_RESOLUTION_MS;
    for (const [keyId, at] of this.noted) if (at < before) this.noted.delete(keyId);
  }
}
