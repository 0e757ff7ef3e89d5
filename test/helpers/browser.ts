import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium; `.ci/run` installs it (apt-get install chromium) when it is missing. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether this machine can run the browser tests. CI always runs them (a missing browser fails
 * there); elsewhere they are skipped with a reason, so `npm test` works before Chromium is installed.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM) || process.env.CI === "true") return true;
  process.stderr.write(`browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)\n`);
  return false;
}

/** Headless Chromium with no network of its own: the machine reaches only loopback. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
