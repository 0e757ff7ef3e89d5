import type { Redis } from "ioredis";

/**
 * Closes a connection: politely when it is up, so replies still on their way arrive, at once when
 * it is not, since a QUIT would wait for a Redis that may never come back.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === "ready") {
    try {
      await client.quit();
      return;
    } catch {
      // Lost while quitting: nothing left to be polite to.
    }
  }
  client.disconnect();
}
