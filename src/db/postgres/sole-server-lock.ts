import pg from "pg";

/** The advisory lock key a server holds on its database (see SoleServerLock). */
const LOCK_KEY = 0x69677376;
const RETRY_MS = 2_000;

export interface SoleServerLockEvents {
  /** The lock's connection was lost; it is being taken again. */
  onLost(error: Error | null): void;
  /** Taken again after a loss. */
  onRegained(): void;
  /** Another server took the lock while this one had lost it: two servers now run on one database. */
  onTaken(): void;
}

/**
 * A PostgreSQL session lock that marks the one server of a database. It lives on a connection of
 * its own: a lost connection loses the lock, so the lock is taken again as soon as the database
 * answers, and the operator is told if another server took it meanwhile.
 */
export class SoleServerLock {
  #client: pg.Client | null = null;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;
  #toldTaken = false;

  private constructor(
    private readonly databaseUrl: string,
    private readonly events: SoleServerLockEvents,
  ) {}

  /** The lock, or null when another server holds it. */
  static async acquire(databaseUrl: string, events: SoleServerLockEvents): Promise<SoleServerLock | null> {
    const lock = new SoleServerLock(databaseUrl, events);
    return (await lock.#take()) ? lock : null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    // Ending the session ends its lock.
    await client?.end().catch(() => undefined);
  }

  /** Connects and tries the lock once; true when held. */
  async #take(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: "imagegate lock" });
    client.on("error", (error) => this.#lost(client, error));
    client.on("end", () => this.#lost(client, null));
    await client.connect();
    const answer = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [LOCK_KEY]);
    if (answer.rows[0]?.locked !== true) {
      this.#client = null;
      await client.end().catch(() => undefined);
      return false;
    }
    this.#client = client;
    return true;
  }

  #lost(client: pg.Client, error: Error | null): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = null;
    this.events.onLost(error);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (this.#closed) return;
      this.#take().then(
        (held) => {
          if (held) {
            this.#toldTaken = false;
            this.events.onRegained();
            return;
          }
          if (!this.#toldTaken) {
            this.#toldTaken = true;
            this.events.onTaken();
          }
          this.#scheduleRetry();
        },
        () => this.#scheduleRetry(),
      );
    }, RETRY_MS);
    this.#retry.unref();
  }
}
