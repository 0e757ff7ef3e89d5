import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_SIZE, REFRESH_INTERVAL_MS } from "../../console/src/pages/history-query.ts";
import type { ImageProvider, ImageRequest } from "../../src/providers/image-provider.ts";
import { SandboxImageProvider } from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { startCallbackReceiver, type CallbackReceiver } from "../helpers/callback-receiver.ts";
import { expectAccessible, goTo, openConsole, screenshot, signIn, VIEWPORTS } from "../helpers/console.ts";
import { call, startTestServer, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

/** A prompt with this word waits in the provider until the test releases it: a task that stays running. */
const HELD = "[held]";

/** The tasks made for the account, in the order they were created. */
interface Made {
  taskId: string;
  model: string;
  prompt: string;
  state: "success" | "fail";
  callback: boolean;
  ratio: string;
}

const SUBJECTS = ["A lighthouse on a cliff at dusk", "A red fox in fresh snow", "A tram crossing a bridge in the rain", "A bowl of ramen, top view", "A paper boat on a pond"];
const TASK_COUNT = 30;

/** Whether an <img> has really loaded (runs in the page). */
const loaded = (element: unknown) => {
  const image = element as unknown as { complete: boolean; naturalWidth: number };
  return image.complete && image.naturalWidth > 0;
};

interface Delivered {
  delivery: { id: string; state: string; attempts: number; url: string };
  attempts: Array<{ at: number; status: number | null; error: string | null }>;
}

describe.runIf(browserAvailable())("the console's History and Task pages", () => {
  let harness: TestServer;
  let receiver: CallbackReceiver;
  let browser: Browser;
  /** Account historian's key: only this test's tasks are on its list. */
  let key: string;
  const made: Made[] = [];
  /** Releases of the held tasks, by a word of their prompt. */
  const held = new Map<string, () => void>();
  const newestFirst = () => [...made].reverse();

  const sandbox = new SandboxImageProvider({ latencyMs: 20 });
  const provider: ImageProvider = {
    name: "sandbox",
    async generate(request: ImageRequest) {
      if (request.prompt.includes(HELD)) await new Promise<void>((resolve) => held.set(request.prompt, resolve));
      return sandbox.generate(request);
    },
  };

  async function createTask(body: Record<string, unknown>): Promise<string> {
    const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, body });
    expect(answer.body.msg).toBe("success");
    return answer.body.data.taskId;
  }

  async function release(prompt: string): Promise<void> {
    await expect.poll(() => held.has(prompt), { timeout: 10_000 }).toBe(true);
    held.get(prompt)?.();
    held.delete(prompt);
  }

  beforeAll(async () => {
    receiver = await startCallbackReceiver("/hooks/history");
    harness = await startTestServer({ CALLBACK_ALLOW_PRIVATE: "true" }, { provider });
    key = await harness.newAccountKey("historian");
    for (let index = 0; index < TASK_COUNT; index += 1) {
      const model = index % 3 === 0 ? "google/nano-banana" : "nano-banana-2";
      const fails = index % 8 === 5;
      const callback = index % 10 === 9;
      const ratio = index % 2 === 0 ? "1:1" : "16:9";
      const prompt = `${SUBJECTS[index % SUBJECTS.length]}, study ${index + 1}${fails ? " [sandbox:fail]" : ""}`;
      const taskId = await createTask({ model, input: { prompt, aspect_ratio: ratio }, ...(callback ? { callBackUrl: receiver.url } : {}) });
      made.push({ taskId, model, prompt, state: fails ? "fail" : "success", callback, ratio });
    }
    const ended = await Promise.all(made.map((task) => waitForTerminal(harness.baseUrl, key, task.taskId)));
    expect(ended.map(({ record }) => record.state)).toEqual(made.map((task) => task.state));
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    for (const resolve of held.values()) resolve();
    await browser?.close();
    await harness?.close();
    await receiver?.close();
  });

  /** The task links of the History list, in order. */
  async function listed(page: Page): Promise<string[]> {
    return page.locator(".history-list a.history-link").evaluateAll((links) => links.map((link) => link.getAttribute("href") ?? ""));
  }

  const linksTo = (tasks: Made[]) => tasks.map((task) => `#/tasks/${task.taskId}`);

  async function jobIds(query: string): Promise<string[]> {
    const answer = await call<{ items: TaskData[] }>(harness.baseUrl, "GET", `/api/v1/jobs${query}`, { key });
    return answer.body.data.items.map((task) => task.taskId);
  }

  async function deliveries(taskId: string): Promise<Delivered[]> {
    return (await call<Delivered[]>(harness.baseUrl, "GET", `/api/v1/jobs/callbacks?taskId=${taskId}`, { key })).body.data;
  }

  const receivedFor = (taskId: string) =>
    receiver.requests.filter((request) => (JSON.parse(request.body) as { data: { taskId: string } }).data.taskId === taskId);

  /** Scrolls each thumbnail into view (they load lazily) and waits until every one has really loaded. */
  async function expectThumbnailsLoaded(page: Page, count: number): Promise<void> {
    const images = page.locator(".history-list img");
    await expect.poll(() => images.count()).toBe(count);
    for (let index = 0; index < count; index += 1) {
      const image = images.nth(index);
      await image.scrollIntoViewIfNeeded();
      await expect.poll(() => image.evaluate(loaded), { timeout: 10_000 }).toBe(true);
    }
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
  }

  it("lists the account's tasks newest first with their thumbnails, state, model and cost, and pages Older and Newer", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, key);
    await goTo(page, "/history");
    expect(await page.locator("main h1").innerText()).toBe("History");

    const firstPage = newestFirst().slice(0, PAGE_SIZE);
    await expect.poll(() => listed(page)).toEqual(linksTo(firstPage));
    expect(await jobIds(`?limit=${PAGE_SIZE}`)).toEqual(firstPage.map((task) => task.taskId));

    const cards = await page.locator(".history-item").evaluateAll((items) =>
      items.map((item) => ({
        text: (item.querySelector(".history-link")?.textContent ?? "").trim(),
        state: item.querySelector(".badge")?.textContent ?? "",
        model: item.querySelector(".history-model")?.textContent ?? "",
        meta: item.querySelector(".history-meta")?.textContent ?? "",
        fail: item.querySelector(".history-fail")?.textContent ?? null,
        image: item.querySelector("img") === null ? null : { alt: item.querySelector("img")?.alt, loading: item.querySelector("img")?.getAttribute("loading"), decoding: item.querySelector("img")?.getAttribute("decoding") },
      })),
    );
    expect(cards).toEqual(
      firstPage.map((task) => ({
        text: task.prompt,
        state: task.state,
        model: task.model,
        meta: expect.stringMatching(
          new RegExp(`^${task.state === "fail" ? "0 credits" : task.model === "nano-banana-2" ? "8 credits" : "4 credits"}just now(took \\d+(\\.\\d)? m?s)$`),
        ),
        fail: task.state === "fail" ? "PROVIDER_ERROR" : null,
        image: task.state === "success" ? { alt: task.prompt, loading: "lazy", decoding: "async" } : null,
      })),
    );
    const successes = firstPage.filter((task) => task.state === "success").length;
    await expectThumbnailsLoaded(page, successes);
    // Every image box has one size, loaded or not, so nothing moves as images arrive.
    const boxes = await page.locator(".history-thumb").evaluateAll((elements) => elements.map((element) => `${element.clientWidth}x${element.clientHeight}`));
    expect(new Set(boxes).size).toBe(1);
    expect(await page.getByRole("button", { name: "Newer" }).isDisabled()).toBe(true);
    await screenshot(page, "history");
    await expectAccessible(page);

    // Older: the 6 oldest tasks; the fragment remembers the page through a reload.
    await page.getByRole("button", { name: "Older" }).click();
    const secondPage = newestFirst().slice(PAGE_SIZE);
    expect(secondPage).toHaveLength(TASK_COUNT - PAGE_SIZE);
    await expect.poll(() => listed(page)).toEqual(linksTo(secondPage));
    expect(page.url()).toMatch(/#\/history\?cursor=[A-Za-z0-9_-]+$/);
    expect(await page.getByRole("button", { name: "Older" }).isDisabled()).toBe(true);
    await expect.poll(() => page.locator(".history-pager").innerText()).toContain("Page 2");
    await page.reload();
    await page.locator("main h1").waitFor();
    await expect.poll(() => listed(page)).toEqual(linksTo(secondPage));

    // Newer goes back to the first page; the browser's Back returns to the second.
    await page.getByRole("button", { name: "Newer" }).click();
    await expect.poll(() => listed(page)).toEqual(linksTo(firstPage));
    expect(page.url()).toMatch(/#\/history$/);
    await page.goBack();
    await expect.poll(() => listed(page)).toEqual(linksTo(secondPage));
    expect(problems).toEqual([]);
    await page.close();
  });

  it("filters by model and by state, keeping the filters in the fragment through reload and Back", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, key);
    await goTo(page, "/history");
    await expect.poll(() => listed(page)).toHaveLength(PAGE_SIZE);

    const google = newestFirst().filter((task) => task.model === "google/nano-banana");
    await page.getByLabel("Model").selectOption("google/nano-banana");
    await expect.poll(() => listed(page)).toEqual(linksTo(google));
    expect(page.url()).toMatch(/#\/history\?model=google%2Fnano-banana$/);
    expect(await jobIds("?model=google/nano-banana&limit=100")).toEqual(google.map((task) => task.taskId));
    expect(await page.locator(".history-pager").count()).toBe(0);

    const googleFailed = google.filter((task) => task.state === "fail");
    expect(googleFailed.length).toBeGreaterThan(0);
    await page.getByLabel("State").selectOption("fail");
    await expect.poll(() => listed(page)).toEqual(linksTo(googleFailed));
    expect(await jobIds("?model=google/nano-banana&state=fail")).toEqual(googleFailed.map((task) => task.taskId));
    expect(await page.locator(".history-list .badge").allInnerTexts()).toEqual(googleFailed.map(() => "fail"));

    await page.reload();
    await page.locator("main h1").waitFor();
    await expect.poll(() => listed(page)).toEqual(linksTo(googleFailed));
    expect(await page.getByLabel("State").inputValue()).toBe("fail");
    expect(await page.getByLabel("Model").inputValue()).toBe("google/nano-banana");

    await page.goBack();
    await expect.poll(() => listed(page)).toEqual(linksTo(google));
    expect(await page.getByLabel("State").inputValue()).toBe("");

    // Only failed tasks of every model.
    await page.getByLabel("Model").selectOption("");
    await page.getByLabel("State").selectOption("fail");
    const failed = newestFirst().filter((task) => task.state === "fail");
    await expect.poll(() => listed(page)).toEqual(linksTo(failed));

    // A filter nothing matches says so, and leads back.
    await page.getByLabel("State").selectOption("generating");
    await page.getByRole("heading", { name: "No tasks match these filters" }).waitFor();
    expect(await page.locator(".history-empty a").evaluateAll((links) => links.map((link) => link.getAttribute("href")))).toEqual(["#/history", "#/playground"]);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await expect.poll(() => listed(page)).toHaveLength(PAGE_SIZE);
    expect(page.url()).toMatch(/#\/history$/);

    // A link with a state the server does not know shows its answer under the State field; a
    // tampered page position says so and leads to the newest tasks.
    await goTo(page, "/history?state=bogus");
    await page.locator(".field-error").waitFor();
    expect(await page.getByLabel("State").getAttribute("aria-describedby")).toBe(await page.locator(".field-error").getAttribute("id"));
    expect(await page.locator(".field-error").innerText()).toBe("state must be one of waiting, queuing, generating, success, fail");
    await goTo(page, "/history?model=nano-banana-2&cursor=bm90LWEtY3Vyc29y");
    await page.locator(".notice-error").waitFor();
    await page.locator(".notice-error").getByRole("link", { name: "Go to the newest tasks" }).click();
    await expect.poll(() => listed(page)).toEqual(linksTo(newestFirst().filter((task) => task.model === "nano-banana-2").slice(0, PAGE_SIZE)));
    expect(page.url()).toMatch(/#\/history\?model=nano-banana-2$/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("refreshes History while a task runs and stops when none does; a running task's page follows it live", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    const listReads: string[] = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname === "/api/v1/jobs") listReads.push(request.url());
    });
    await signIn(page, key);

    const comet = `${HELD} A comet over the harbour`;
    const cometId = await createTask({ model: "nano-banana-2", input: { prompt: comet, aspect_ratio: "16:9" } });
    await goTo(page, "/history");
    await expect.poll(() => listed(page)).toEqual([`#/tasks/${cometId}`, ...linksTo(newestFirst().slice(0, PAGE_SIZE - 1))]);
    const first = page.locator(".history-item").first();
    expect(["waiting", "queuing", "generating"]).toContain(await first.locator(".badge").innerText());
    expect(await page.locator(".history-summary").innerText()).toBe("1 task is still running; this page updates by itself.");
    expect(await first.locator("img").count()).toBe(0);

    await release(comet);
    await expect.poll(() => first.locator(".badge").innerText(), { timeout: REFRESH_INTERVAL_MS * 3 }).toBe("success");
    await expect.poll(() => first.locator("img").evaluate(loaded)).toBe(true);
    const readsWhenDone = listReads.length;
    expect(readsWhenDone).toBeGreaterThan(1);
    await page.waitForTimeout(REFRESH_INTERVAL_MS + 1500);
    expect(listReads.length).toBe(readsWhenDone);

    // A task's page while it runs, then its image arriving through the event stream.
    const kite = `${HELD} A kite festival on the beach`;
    const kiteId = await createTask({ model: "google/nano-banana", input: { prompt: kite, aspect_ratio: "1:1" } });
    await goTo(page, `/tasks/${kiteId}`);
    await page.locator(".task-pending").waitFor();
    expect(await page.locator(".task-pending").innerText()).toMatch(/^(Waiting|Queued|Generating)…/);
    expect(await page.getByRole("figure").count()).toBe(0);
    await release(kite);
    const image = page.getByRole("figure").getByRole("img");
    await expect.poll(() => image.evaluate(loaded), { timeout: 10_000 }).toBe(true);
    expect(await page.locator(".task-figure-caption").innerText()).toContain("1024 × 1024 px");
    expect(await page.locator(".task-layout .facts .badge").first().innerText()).toBe("success");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows a task's result, parameters and callback delivery, and sends the callback again on request", async () => {
    const task = made.find((candidate) => candidate.callback && candidate.state === "success" && candidate.model === "nano-banana-2");
    if (task === undefined) throw new Error("no successful nano-banana-2 task with a callback");
    const record = (await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${task.taskId}`, { key })).body.data;
    const [resultUrl] = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls;
    await expect.poll(async () => (await deliveries(task.taskId))[0]?.delivery.state).toBe("delivered");
    const [before] = await deliveries(task.taskId);
    expect(before?.attempts).toHaveLength(1);
    expect(receivedFor(task.taskId)).toHaveLength(1);

    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, key);
    await goTo(page, "/history");
    await page.getByRole("link", { name: task.prompt }).click();
    await page.getByRole("heading", { name: "Task", exact: true }).waitFor();
    expect(page.url()).toMatch(new RegExp(`#/tasks/${task.taskId}$`));
    expect(await page.locator(".task-id code").innerText()).toBe(task.taskId);

    // The result, large, with its pixel size once loaded and a download link.
    const image = page.getByRole("figure").getByRole("img", { name: task.prompt });
    await expect.poll(() => image.evaluate(loaded), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => page.locator(".task-figure-caption").innerText()).toContain("1376 × 768 px");
    const download = page.getByRole("link", { name: "Download" });
    expect(await download.getAttribute("href")).toBe(resultUrl);
    expect(await download.getAttribute("download")).toBe(`${task.taskId}.jpg`);

    // Details and parameters.
    const facts = await page.locator(".task-side .card").first().locator("dt, dd").allInnerTexts();
    expect(facts.slice(0, 4)).toEqual(["State", "success", "Model", "nano-banana-2"]);
    expect(facts).toContain("8 credits");
    expect(await page.locator(".task-prompt").innerText()).toBe(task.prompt);
    expect(await page.locator(".task-input").locator("dt, dd").allInnerTexts()).toEqual(["aspect_ratio", "16:9"]);
    await page.getByText("The request as sent (JSON)").click();
    expect(JSON.parse(await page.locator(".task-side details pre").innerText())).toEqual(JSON.parse(record.param));

    // The callback's delivery with its one attempt.
    const delivery = page.locator(".task-delivery");
    expect(await delivery.locator("dd code").innerText()).toBe(before?.delivery.id);
    expect(await delivery.locator(".badge").innerText()).toBe("delivered");
    expect(await delivery.locator("tbody tr").count()).toBe(1);
    expect(await delivery.locator("tbody tr td").nth(2).innerText()).toBe("HTTP 200");
    await screenshot(page, "task");
    await expectAccessible(page);

    // Redeliver asks first; Cancel sends nothing.
    await page.getByRole("button", { name: "Redeliver" }).click();
    await page.getByRole("group", { name: "Confirm the redelivery" }).waitFor();
    await page.getByRole("button", { name: "Cancel" }).click();
    expect(await page.getByRole("group", { name: "Confirm the redelivery" }).count()).toBe(0);
    await page.getByRole("button", { name: "Redeliver" }).click();
    await page.getByRole("button", { name: "Send again" }).click();
    await page.locator(".task-callbacks .notice-success").waitFor({ timeout: 15_000 });
    expect(await page.locator(".task-callbacks .notice-success").innerText()).toMatch(/^Sent again: the receiver answered 200 in \d+ ms\.$/);
    await expect.poll(() => delivery.locator("tbody tr").count()).toBe(2);

    const [after] = await deliveries(task.taskId);
    expect(after?.delivery).toMatchObject({ id: before?.delivery.id, state: "delivered", attempts: 2 });
    expect(after?.attempts.map((attempt) => attempt.status)).toEqual([200, 200]);
    expect(receivedFor(task.taskId).map((request) => request.headers["webhook-id"])).toEqual([before?.delivery.id, before?.delivery.id]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows a failed task's failure, says when there is no callback, and answers an unknown task with a way back", async () => {
    const failed = made.find((candidate) => candidate.state === "fail" && !candidate.callback);
    if (failed === undefined) throw new Error("no failed task without a callback");
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, key);
    await goTo(page, `/tasks/${failed.taskId}`);
    await page.locator(".task-result .notice-error").waitFor();
    expect(await page.locator(".task-result .notice-error").innerText()).toMatch(/^The task failed: PROVIDER_ERROR\.\n?.+/);
    expect(await page.locator(".task-callbacks").innerText()).toContain("created without a callBackUrl");
    expect(await page.getByRole("button", { name: "Redeliver" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Download" }).count()).toBe(0);

    await goTo(page, "/tasks/task_00000000000000000000000000");
    await page.getByRole("heading", { name: "Task not found" }).waitFor();
    expect(await page.locator(".task-missing").innerText()).toContain("There is no task task_00000000000000000000000000 on this account.");
    await page.locator(".task-missing").getByRole("link", { name: "History" }).click();
    await page.getByRole("heading", { name: "History" }).waitFor();
    expect(problems).toEqual([]);
    await page.close();
  });

  it("fits a phone: History as a compact list and the Task page in one column", async () => {
    const phone = VIEWPORTS[1];
    const { page, problems } = await openConsole(browser, harness.baseUrl, phone);
    await signIn(page, key);
    await goTo(page, "/history");
    await expect.poll(() => listed(page)).toHaveLength(PAGE_SIZE);
    const successes = (await page.locator(".history-item-success").count());
    await expectThumbnailsLoaded(page, successes);
    const rows = await page.locator(".history-item").evaluateAll((items) =>
      items.slice(0, 3).map((item) => {
        const box = item.getBoundingClientRect();
        const thumb = item.querySelector(".history-thumb")?.getBoundingClientRect();
        return { left: Math.round(box.left), width: Math.round(box.width), thumb: `${thumb?.width}x${thumb?.height}`, thumbHeightBelowRow: (thumb?.height ?? 0) <= box.height };
      }),
    );
    // One task a row, each as wide as the list, with a small thumbnail beside the text.
    expect(new Set(rows.map((row) => `${row.left}/${row.width}`)).size).toBe(1);
    expect(rows.every((row) => row.thumb === "76x76" && row.thumbHeightBelowRow && row.width > 300)).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
    await screenshot(page, "history");
    await expectAccessible(page);

    const task = made.find((candidate) => candidate.callback && candidate.state === "success");
    await goTo(page, `/tasks/${task?.taskId ?? ""}`);
    const image = page.getByRole("figure").getByRole("img");
    await expect.poll(() => image.evaluate(loaded), { timeout: 10_000 }).toBe(true);
    await page.locator(".task-delivery tbody tr").first().waitFor();
    const order = await page.locator(".task-layout .card h2").evaluateAll((headings) =>
      headings.map((heading) => ({ text: heading.textContent, top: heading.getBoundingClientRect().top })).sort((a, b) => a.top - b.top).map((heading) => heading.text),
    );
    expect(order).toEqual(["Result", "Details", "Parameters", "Callback deliveries"]);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
    await screenshot(page, "task");
    await expectAccessible(page);

    // An account without tasks is told where to make one.
    const emptyKey = await harness.newAccountKey("newcomer");
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, emptyKey);
    await goTo(page, "/history");
    await page.getByRole("heading", { name: "No tasks yet" }).waitFor();
    await page.getByRole("link", { name: "Create an image in the Playground" }).click();
    expect(page.url()).toMatch(/#\/playground$/);
    expect(problems).toEqual([]);
    await page.close();
  });
});
