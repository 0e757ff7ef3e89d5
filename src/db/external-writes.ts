import type SqliteDatabase from "better-sqlite3";

/**
 * Tells caches on this connection when another connection (the CLI, another process) has
 * committed, so that what they hold may be stale. SQLite's data_version moves only for other
 * connections' commits, never for this one's, whose writes the caches see as they make them.
 */
export class ExternalWrites {
  private readonly dataVersion: SqliteDatabase.Statement;
  private version = -1;
  private generationValue = 0;
  private checkedThisTurn = false;

  constructor(database: SqliteDatabase.Database) {
    this.dataVersion = database.prepare("PRAGMA data_version").pluck();
  }

  /**
   * A number that grows whenever another connection has committed since the last look. The pragma
   * runs once per turn of the event loop: a request that arrives after another process committed
   * is always handled in a later turn than that commit.
   */
  generation(): number {
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(() => {
        this.checkedThisTurn = false;
      });
      const version = this.dataVersion.get() as number;
      if (version !== this.version) {
        this.version = version;
        this.generationValue += 1;
      }
    }
    return this.generationValue;
  }
}
