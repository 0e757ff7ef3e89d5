/**
 * Runs a flush (an fsync) for callers who each need everything written before their call to be on
 * disk. Flushes never overlap: a caller arriving while one runs waits for the next, which starts
 * when the running one ends (the running one may have begun before the caller's write). Every
 * caller arriving meanwhile shares that next flush, so under load the flushes coalesce.
 */
export class CoalescedFlush {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(private readonly flush: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running === null) return this.begin();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.begin();
      });
    return this.queued;
  }

  /** True while a flush runs or waits to. */
  get busy(): boolean {
    return this.running !== null || this.queued !== null;
  }

  /** Settles once no flush runs or waits. */
  async idle(): Promise<void> {
    while (this.busy) await Promise.allSettled([this.running, this.queued]);
  }

  private begin(): Promise<void> {
    const run = this.flush();
    this.running = run;
    const clear = (): void => {
      if (this.running === run) this.running = null;
    };
    run.then(clear, clear);
    return run;
  }
}
