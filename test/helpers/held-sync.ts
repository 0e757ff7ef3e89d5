import type { WalSync } from "../../src/db/wal-sync.ts";

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
