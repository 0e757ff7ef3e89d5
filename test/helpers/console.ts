import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";

/** Where the browser tests leave their screenshots: test-artifacts/console/NAME-WIDTH.png. */
export const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-artifacts/console");

/** The widths every console page is looked at. */
export const VIEWPORTS = [
  { device: "desktop", width: 1366, height: 900 },
  { device: "phone", width: 390, height: 844 },
] as const;

/**
 * A page that fails its test on anything the console should never do: a console error, an
 * uncaught exception, or a request to another origin than the server's (the console must work
 * without outside network).
 */
export async function openConsole(browser: Browser, baseUrl: string, viewport: { width: number; height: number } = VIEWPORTS[0]): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  const origin = new URL(baseUrl).origin;
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // A 4xx answer the page expects (a revoked key, a field error) is logged by Chromium as a failed load.
    if (message.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) problems.push(`request to another origin: ${url}`);
  });
  await page.goto(`${baseUrl}/`);
  return { page, problems };
}

/** Signs in on the console's sign-in page with `key` and waits for the first page's heading. */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel("API key or admin key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("main h1").first().waitFor();
  await expect.poll(() => page.getByRole("button", { name: "Sign out" }).count()).toBe(1);
}

/** Opens a console page by its fragment path ("/history", "/tasks/task_...") and waits for its heading. */
export async function goTo(page: Page, fragment: string): Promise<void> {
  await page.evaluate((hash) => {
    location.hash = hash;
  }, fragment);
  await page.locator("main h1").first().waitFor();
}

/** Saves a full-page screenshot as a test artifact, named by page and width. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}-${page.viewportSize()?.width ?? 0}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Runs axe-core on the page as it is now (WCAG 2.1 A and AA rules) and fails on any violation,
 * listing the rule and the elements.
 */
export async function expectAccessible(page: Page): Promise<void> {
  // Evaluated through the browser's debugging protocol: the console's content security policy
  // rightly refuses a script tag that is not the server's own.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } });
    return result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, nodes: violation.nodes.map((node) => ({ target: node.target })) }));
  });
  expect(violations.map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`)).toEqual([]);
}
