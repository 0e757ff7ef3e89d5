import { setTimeout as sleep } from "node:timers/promises";

/**
 * Waits until `condition` holds, checking every few milliseconds; fails, naming the condition,
 * after `timeoutMs`. A deadline for the test to fail by, not a timing the test asserts.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what = String(condition),
  timeoutMs = 15_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
