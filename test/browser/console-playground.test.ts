import sharp from "sharp";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { expectAccessible, openConsole, screenshot, signIn, VIEWPORTS } from "../helpers/console.ts";
import { call, startTestServer, type TaskData, type TestServer } from "../helpers/test-server.ts";

interface JobsPage {
  items: TaskData[];
  nextCursor: string | null;
}

async function listTasks(harness: TestServer, key = harness.key): Promise<TaskData[]> {
  return (await call<JobsPage>(harness.baseUrl, "GET", "/api/v1/jobs?limit=100", { key })).body.data.items;
}

async function balance(harness: TestServer, key = harness.key): Promise<number> {
  return (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data;
}

/** The playground's field, found by its label as a person would. */
const field = (page: Page, label: string) => page.getByLabel(label, { exact: true });

describe.runIf(browserAvailable())("the console's sign-in and playground in a browser", () => {
  let harness: TestServer;
  let browser: Browser;
  let reference: Buffer;

  beforeAll(async () => {
    harness = await startTestServer({ SANDBOX_LATENCY_MS: "300" });
    browser = await launchBrowser();
    reference = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30, g: 110, b: 200 } } }).png().toBuffer();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  for (const viewport of VIEWPORTS) {
    it(`signs in only with a key the server knows, kept in the tab's session storage alone (${viewport.device})`, async () => {
      const { page, problems } = await openConsole(browser, harness.baseUrl, viewport);
      await expect.poll(() => page.getByRole("heading", { name: "Sign in to the console" }).count()).toBe(1);
      await expectAccessible(page);
      await screenshot(page, "sign-in");

      await field(page, "API key or admin key").fill("ig_live_thisKeyDoesNotExist0000000000000");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect.poll(() => page.getByRole("alert").first().textContent()).toContain("unknown or revoked");
      await field(page, "API key or admin key").fill("not-a-key-and-not-the-admin-key-at-all");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect.poll(() => page.getByRole("alert").first().textContent()).toMatch(/admin API is off|neither an API key/);

      await field(page, "API key or admin key").fill("");
      await signIn(page, harness.key);
      expect(page.url()).not.toContain(harness.key);
      expect(await page.evaluate(() => sessionStorage.getItem("imagegate.session"))).toContain(harness.key);
      expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + document.cookie)).not.toContain(harness.key);
      // The first Tab reaches the skip link, which moves the focus to the page.
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
      await page.keyboard.press("Enter");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");

      // A reload keeps the session; signing out forgets it.
      await page.reload();
      await page.getByRole("heading", { name: "Playground" }).waitFor();
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem("imagegate.session"))).toBeNull();
      expect(problems).toEqual([]);
      await page.close();
    }, 60_000);
  }

  it("generates an image from a prompt, showing its states live, then its size, cost, time and a download", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    const before = await balance(harness);
    await expect.poll(() => page.locator(".credits").textContent()).toBe(`${before.toLocaleString("en-US")} credits`);

    await field(page, "Model").selectOption("google/nano-banana");
    await field(page, "Prompt").fill("A lighthouse made of bananas");
    await field(page, "Aspect ratio").selectOption("16:9");
    await page.getByRole("button", { name: "Generate" }).click();

    // With 300 ms of sandbox latency the task is seen before it is done, then done.
    await expect.poll(() => page.locator(".result .badge").textContent()).toMatch(/waiting|queuing|generating/);
    const image = page.locator(".result-figure img");
    await image.waitFor({ timeout: 15_000 });
    await expect.poll(() => image.evaluate((element: HTMLImageElement) => element.complete && element.naturalWidth)).toBe(1376);
    await expect.poll(() => page.locator(".result dl.facts").textContent()).toContain("1376 × 768");
    expect(await page.locator(".result dl.facts").textContent()).toContain("4 credits");
    expect(await page.locator(".steps .step-done").count()).toBe(4);

    const [task] = await listTasks(harness);
    expect(task).toMatchObject({ model: "google/nano-banana", state: "success", creditsConsumed: 4 });
    expect(JSON.parse(task?.param ?? "{}")).toEqual({ model: "google/nano-banana", input: { prompt: "A lighthouse made of bananas", image_size: "16:9", output_format: "png" } });
    const resultUrl = JSON.parse(task?.resultJson ?? "{}").resultUrls[0];
    expect(await page.getByRole("link", { name: "Download" }).getAttribute("href")).toBe(resultUrl);
    expect(await page.getByRole("link", { name: task?.taskId ?? "" }).getAttribute("href")).toBe(`#/tasks/${task?.taskId}`);
    await expect.poll(() => page.locator(".credits").textContent()).toBe(`${(before - 4).toLocaleString("en-US")} credits`);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  for (const viewport of VIEWPORTS) {
    it(`generates from reference images chosen with the file picker and dropped on the page (${viewport.device})`, async () => {
      const { page, problems } = await openConsole(browser, harness.baseUrl, viewport);
      await signIn(page, harness.key);
      await field(page, "Model").selectOption("google/nano-banana-edit");
      await field(page, "Prompt").fill("Make the square a banana");
      await page.getByLabel("Choose reference images").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: reference });
      const thumbnails = page.locator(".reference-list img");
      await expect.poll(() => thumbnails.count()).toBe(1);

      // A file dropped on the drop zone goes the same way, through the File Upload API.
      const bytes = [...reference];
      const dropped = await page.evaluateHandle((data) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(data)], "dropped.png", { type: "image/png" }));
        return transfer;
      }, bytes);
      await page.locator(".dropzone").dispatchEvent("drop", { dataTransfer: dropped });
      await expect.poll(() => thumbnails.count()).toBe(2);
      await expect.poll(() => thumbnails.evaluateAll((images: HTMLImageElement[]) => images.every((image) => image.complete && image.naturalWidth === 320))).toBe(true);

      await page.getByRole("button", { name: "Generate" }).click();
      await page.locator(".result-figure img").waitFor({ timeout: 15_000 });
      const [task] = await listTasks(harness);
      const input = JSON.parse(task?.param ?? "{}").input;
      expect(task?.state).toBe("success");
      expect(input.image_urls).toHaveLength(2);
      for (const url of input.image_urls) {
        expect(url).toContain(`${harness.baseUrl}/files/uploads/`);
        expect((await fetch(url)).status).toBe(200);
      }
      await expect.poll(() => page.locator(".result dl.facts").textContent()).toMatch(/\d+ × \d+/);
      await expectAccessible(page);
      await screenshot(page, "playground");
      expect(problems).toEqual([]);
      await page.close();
    }, 60_000);
  }

  it("shows the server's message next to the field it names, and creates no task", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    const tasksBefore = (await listTasks(harness)).length;

    await field(page, "Model").selectOption("google/nano-banana");
    await page.getByRole("button", { name: "Generate" }).click();
    const promptField = page.locator(".field", { has: page.getByLabel("Prompt", { exact: true }) });
    await expect.poll(() => promptField.locator(".field-error").textContent()).toBe("input.prompt must not be empty or only whitespace");
    expect(await field(page, "Prompt").getAttribute("aria-invalid")).toBe("true");

    await field(page, "Model").selectOption("google/nano-banana-edit");
    await field(page, "Prompt").fill("A banana");
    await page.getByLabel("Image URL").fill("ftp://example.invalid/cat.png");
    await page.getByRole("button", { name: "Add URL" }).click();
    await page.getByRole("button", { name: "Generate" }).click();
    await expect.poll(() => page.locator(".reference-images .field-error").textContent()).toContain("input.image_urls[0] must be an http or https URL");
    expect(await promptField.locator(".field-error").count()).toBe(0);

    expect((await listTasks(harness)).length).toBe(tasksBefore);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("marks a test-mode key's session with a test mode badge", async () => {
    const testKey = await harness.newAccountKey("playground-test", "test");
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, testKey);
    await expect.poll(() => page.locator("header .badge-test").textContent()).toBe("test mode");
    expect(await field(page, "Model").evaluate((select) => select.closest(".field")?.textContent ?? "")).toContain("free with a test-mode key");
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
