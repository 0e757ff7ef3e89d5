import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { freePort, startTestServer, type TestServer } from "../helpers/test-server.ts";

describe.runIf(browserAvailable())("the /docs page in a browser", () => {
  let harness: TestServer;
  let browser: Browser;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    // The public URL names another host than the one the page is opened on, as behind a proxy.
    harness = await startTestServer({ PORT: String(port), PUBLIC_BASE_URL: `http://localhost:${port}` });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  for (const [device, width, height] of [
    ["desktop", 1366, 900],
    ["phone", 390, 844],
  ] as const) {
    it(`creates a task with Try it out on a ${device} screen, opened on another host name than PUBLIC_BASE_URL`, async () => {
      const page = await browser.newPage({ viewport: { width, height } });
      const failedRequests: string[] = [];
      page.on("requestfailed", (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText ?? ""}`));
      await page.goto(`http://127.0.0.1:${port}/docs`, { waitUntil: "networkidle" });

      await page.click("button.authorize");
      await page.locator(".modal-ux input").first().fill(harness.key);
      await page.click(".modal-ux button.authorize");
      await page.click(".modal-ux button.close-modal");
      const operation = page.locator("#operations-tasks-createTask");
      await operation.locator(".opblock-summary").click();
      await operation.locator("button.try-out__btn").click();
      const body = await operation.locator("textarea.body-param__text").inputValue();
      expect(body).not.toContain("callBackUrl");
      await operation.locator("button.execute").click();

      const answer = operation.locator(".live-responses-table tr.response .response-col_status").first();
      await answer.waitFor({ timeout: 15_000 });
      expect((await answer.innerText()).trim()).toBe("200");
      const shown = await operation.locator(".live-responses-table tr.response .response-col_description").first().innerText();
      expect(shown).toMatch(/"taskId": "task_[0-9a-z]{26}"/);
      expect(await operation.locator(".request-url").innerText()).toContain(`http://127.0.0.1:${port}/api/v1/jobs/createTask`);
      expect(failedRequests).toEqual([]);
      await page.close();
    }, 60_000);
  }
});
