import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { expectAccessible, goTo, openConsole, screenshot, signIn, VIEWPORTS } from "../helpers/console.ts";
import { call, freePort, startTestServer, temporaryDirectory, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "adm_test_0123456789abcdef0123456789";

describe.runIf(browserAvailable())("the console's upstreams page in a browser", () => {
  let harness: TestServer;
  let gemini: FakeGeminiServer;
  let browser: Browser;

  beforeAll(async () => {
    const downPort = await freePort();
    gemini = await FakeGeminiServer.start();
    const directory = await temporaryDirectory("imagegate-console-upstreams-");
    const file = path.join(directory, "upstreams.yaml");
    await writeFile(
      file,
      `breaker: {consecutiveFailures: 1, coolDownMs: 600000}
upstreams:
  - {name: primary, kind: gemini, apiKey: k, baseUrl: "http://127.0.0.1:${downPort}", maxAttempts: 1, price: 0.134}
  - {name: secondary, kind: gemini, apiKey: k, baseUrl: "${gemini.url}"}
routes:
  "*": {upstreams: [primary, secondary]}
`,
    );
    harness = await startTestServer({ UPSTREAMS_FILE: file, ADMIN_API_KEY: ADMIN_KEY });
    // One task fails over from the primary, which is down, and opens its circuit; the next skips it.
    for (const prompt of ["a kite", "a second kite"]) {
      const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: harness.key,
        body: { model: "nano-banana-pro", input: { prompt } },
      });
      expect((await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId)).record.state).toBe("success");
    }
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
    await gemini?.close();
  });

  for (const viewport of VIEWPORTS) {
    it(`shows each upstream's circuit and figures and each route (${viewport.device})`, async () => {
      const { page, problems } = await openConsole(browser, harness.baseUrl, viewport);
      await signIn(page, ADMIN_KEY);
      await goTo(page, "/admin/upstreams");
      await page.getByRole("heading", { name: "Upstreams", level: 1 }).waitFor();
      const primary = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: /primary/ }) });
      const secondary = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: /secondary/ }) });
      await expect.poll(() => primary.locator(".badge").textContent()).toBe("open");
      const primaryCells = await primary.locator("td").allTextContents();
      // Circuit, served, failed, skipped, attempts, failed attempts, p50/p99, in flight, health.
      expect(primaryCells[0]).toMatch(/open.*next probe in \d+ min/);
      expect(primaryCells.slice(1, 5)).toEqual(["0", "1", "1", "1"]);
      expect(primaryCells[5]).toContain("retryable error 1");
      expect(await primary.getByRole("rowheader").textContent()).toContain("$0.134 an image");
      expect(await secondary.locator(".badge").textContent()).toBe("closed");
      expect((await secondary.locator("td").allTextContents()).slice(1, 2)).toEqual(["2"]);
      expect(await page.getByRole("row").filter({ hasText: "nano-banana-pro" }).locator("td").last().textContent()).toBe("primary → secondary");
      expect(await page.locator(".notice").textContent()).toContain("Routes and upstreams from UPSTREAMS_FILE.");

      // The figures agree with the admin API's.
      const answer = await call<{ upstreams: { name: string; tasksServed: number; tasksSkipped: number }[] }>(harness.baseUrl, "GET", "/admin/v1/upstreams", { key: ADMIN_KEY });
      expect(answer.body.data.upstreams.map(({ name, tasksServed, tasksSkipped }) => ({ name, tasksServed, tasksSkipped }))).toEqual([
        { name: "primary", tasksServed: 0, tasksSkipped: 1 },
        { name: "secondary", tasksServed: 2, tasksSkipped: 0 },
      ]);
      await expectAccessible(page);
      await screenshot(page, "admin-upstreams");
      expect(problems).toEqual([]);
      await page.close();
    }, 60_000);
  }
});
