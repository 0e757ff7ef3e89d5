import { rm } from "node:fs/promises";
import path from "node:path";
import { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import { migrate, openSqlite, type SqliteHandle } from "../../src/db/sqlite.ts";
import type { WalSync } from "../../src/db/wal-sync.ts";
import { temporaryDirectory } from "./test-server.ts";

/** A WalSync whose flushes finish only when the test says so. */
export class HeldSync implements WalSync {
  calls = 0;
  private releases: Array<(error?: Error) => void> = [];

  sync(): Promise<void> {
    this.calls += 1;
    return new Promise((resolve, reject) => {
      this.releases.push((error) => (error === undefined ? resolve() : reject(error)));
    });
  }

  finish(error?: Error): void {
    for (const release of this.releases.splice(0)) release(error);
  }
}

/** A migrated database in a directory of its own, whose group commit's log flushes are held. */
export interface HeldDatabase {
  handle: SqliteHandle;
  held: HeldSync;
  groupCommit: SqliteGroupCommit;
  close(): Promise<void>;
}

export async function openHeldDatabase(prefix: string): Promise<HeldDatabase> {
  const directory = await temporaryDirectory(prefix);
  const handle = openSqlite(path.join(directory, "imagegate.db"));
  await migrate(handle.db);
  const held = new HeldSync();
  return {
    handle,
    held,
    groupCommit: new SqliteGroupCommit(handle.raw, held),
    close: async () => {
      await handle.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
