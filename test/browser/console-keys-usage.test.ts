import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { expectAccessible, goTo, openConsole, screenshot, signIn, VIEWPORTS } from "../helpers/console.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

interface OwnKey {
  id: string;
  prefix: string;
  mode: "live" | "test";
  name: string | null;
  revokedAt: number | null;
  current: boolean;
}

interface UsageDay {
  day: string;
  tasks: Record<string, number>;
  creditsSpent: number;
  models: Record<string, { tasks: number; creditsSpent: number }>;
}

interface LedgerEntry {
  id: number;
  taskId: string | null;
  kind: string;
  amount: number;
}

const PRO = "nano-banana-pro";
/** Tasks made before the pages are opened: enough ledger entries (a hold and a capture each, and the grant) for two pages. */
const TASKS = [...Array<string>(8).fill(MODEL), ...Array<string>(4).fill(PRO)];

async function keysOf(harness: TestServer, key = harness.key): Promise<OwnKey[]> {
  return (await call<OwnKey[]>(harness.baseUrl, "GET", "/api/v1/keys", { key })).body.data;
}

async function webhookSecret(harness: TestServer): Promise<string> {
  return (await call<{ secret: string }>(harness.baseUrl, "GET", "/api/v1/webhook-secret", { key: harness.key })).body.data.secret;
}

/** The key table's row of the key with `prefix`. */
const keyRow = (page: Page, prefix: string) => page.locator("table.keys-table tbody tr").filter({ hasText: `${prefix}…` });

/** The usage table as the page shows it: its header cells and each row's cells, by day. */
async function usageTable(page: Page): Promise<{ header: string[]; rows: Record<string, string[]> }> {
  const table = page.locator(".usage-table table");
  const header = (await table.locator("thead th").allTextContents()).map((text) => text.trim());
  const rows: Record<string, string[]> = {};
  for (const row of await table.locator("tbody tr").all()) {
    rows[(await row.getAttribute("data-day")) ?? ""] = (await row.locator("th, td").allTextContents()).map((text) => text.trim());
  }
  return { header, rows };
}

/** How wide the page's content is: wider than the screen means the page scrolls sideways. */
async function pageWidth(page: Page): Promise<number> {
  return page.locator("html").evaluate((root) => root.scrollWidth);
}

const number = (text: string) => Number(text.replace(/[^\d.-]/g, ""));

describe.runIf(browserAvailable())("the console's Keys & webhooks and Usage pages in a browser", () => {
  let harness: TestServer;
  let browser: Browser;
  const taskIds: string[] = [];

  beforeAll(async () => {
    harness = await startTestServer();
    browser = await launchBrowser();
    for (const model of TASKS) {
      const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: harness.key,
        body: { model, input: { prompt: "a lighthouse at dusk" } },
      });
      expect(created.status).toBe(200);
      taskIds.push(created.body.data.taskId);
    }
    for (const taskId of taskIds) expect((await waitForTerminal(harness.baseUrl, harness.key, taskId)).record.state).toBe("success");
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it("makes a key that is shown once and works, then revokes it after a confirmation so the API refuses it", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    await goTo(page, "/keys");
    await expect.poll(() => page.locator("main h1").innerText()).toBe("Keys & webhooks");

    // The key signed in is marked as such.
    const own = (await keysOf(harness)).find((key) => key.current);
    expect(own).toBeDefined();
    await expect.poll(() => keyRow(page, own?.prefix ?? "").innerText()).toMatch(/this key/);

    await page.getByLabel("Key name").fill("ci");
    await page.getByRole("button", { name: "Make key" }).click();
    const shown = page.getByTestId("new-key");
    await shown.waitFor();
    expect(await page.getByRole("region", { name: "Your new key “ci”" }).innerText()).toMatch(/will not be shown again/);
    const made = (await shown.innerText()).trim();
    expect(made).toMatch(/^ig_live_[A-Za-z0-9_-]{32}$/);
    expect(await page.getByLabel("Key name").inputValue()).toBe("");
    await expectAccessible(page);

    // The key works against the API and is in the account's list, and in the page's.
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: made })).status).toBe(200);
    const listed = (await keysOf(harness)).find((key) => key.name === "ci");
    expect(listed).toMatchObject({ prefix: made.slice(0, 12), mode: "live", revokedAt: null, current: false });
    const row = keyRow(page, made.slice(0, 12));
    await expect.poll(() => row.innerText()).toMatch(/ci[\s\S]*live[\s\S]*active/);

    // Revoke asks first; Cancel leaves the key alone.
    await row.getByRole("button", { name: /^Revoke ci/ }).click();
    const confirm = row.getByRole("group", { name: "Confirm revoking ci" });
    expect(await confirm.innerText()).toMatch(/Requests with it will fail/);
    // The focus moves into the question, on its safe answer.
    expect(await confirm.getByRole("button", { name: "Cancel" }).evaluate((button) => button === button.ownerDocument.activeElement)).toBe(true);
    await confirm.getByRole("button", { name: "Cancel" }).click();
    expect(await confirm.count()).toBe(0);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: made })).status).toBe(200);

    await row.getByRole("button", { name: /^Revoke ci/ }).click();
    await confirm.getByRole("button", { name: "Yes, revoke" }).click();
    await expect.poll(() => row.innerText()).toMatch(/revoked/);
    expect(await row.getByRole("button", { name: /Revoke/ }).count()).toBe(0);
    // The key shown once goes away with it.
    expect(await shown.count()).toBe(0);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: made })).status).toBe(401);
    expect((await keysOf(harness)).find((key) => key.name === "ci")?.revokedAt).toEqual(expect.any(Number));
    // The key signed in still works: the page is still the account's.
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows a field error from the server next to the key name", async () => {
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    await goTo(page, "/keys");
    const before = (await keysOf(harness)).length;
    await page.getByLabel("Key name").fill("two\u0007lines");
    await page.getByRole("button", { name: "Make key" }).click();
    const error = page.locator(".field-error");
    await error.waitFor();
    expect(await error.innerText()).toMatch(/^name must be 1 to 64 characters/);
    expect(await page.getByLabel("Key name").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByTestId("new-key").count()).toBe(0);
    expect((await keysOf(harness)).length).toBe(before);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("reveals the webhook secret and rotates it after a confirmation", async () => {
    const before = await webhookSecret(harness);
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    await goTo(page, "/keys");
    const secret = page.getByTestId("webhook-secret");
    const masked = /^whsec_•+\s+hidden; use Reveal to show it$/;
    await expect.poll(() => secret.innerText()).toMatch(masked);
    expect(await secret.innerText()).not.toContain(before.slice(6, 12));

    await page.getByRole("button", { name: "Reveal" }).click();
    await expect.poll(() => secret.innerText()).toBe(before);
    await page.getByRole("button", { name: "Hide" }).click();
    await expect.poll(() => secret.innerText()).toMatch(masked);

    await page.getByRole("button", { name: "Rotate…" }).click();
    const confirm = page.getByRole("group", { name: /Rotate the webhook secret/ });
    expect(await confirm.innerText()).toMatch(/signed with the new secret only/);
    await confirm.getByRole("button", { name: "Yes, rotate" }).click();
    await expect.poll(() => page.getByText("The secret is rotated").count()).toBe(1);

    const after = await webhookSecret(harness);
    expect(after).not.toBe(before);
    expect(after).toMatch(/^whsec_/);
    expect((await secret.innerText()).trim()).toBe(after);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("warns before revoking the key signed in, then signs out", async () => {
    const ownKey = await harness.newAccountKey("alpha");
    const prefix = ownKey.slice(0, 12);
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, ownKey);
    await goTo(page, "/keys");
    const row = keyRow(page, prefix);
    await expect.poll(() => row.innerText()).toMatch(/this key/);
    await row.getByRole("button", { name: /^Revoke/ }).click();
    const confirm = row.getByRole("group", { name: /^Confirm revoking/ });
    expect(await confirm.innerText()).toMatch(/key you are signed in with[\s\S]*signs you out/);
    await confirm.getByRole("button", { name: "Yes, revoke" }).click();

    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    expect(await page.getByRole("alert").first().innerText()).toMatch(/Signed out: .*revoked/);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: ownKey })).status).toBe(401);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: harness.key })).status).toBe(200);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("lets a test-mode key look at the keys but not change them or see the secret", async () => {
    const testKey = await harness.newAccountKey("beta", "test");
    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, testKey);
    await goTo(page, "/keys");
    expect(await page.locator("header .badge-test").innerText()).toBe("test mode");
    await expect.poll(() => keyRow(page, testKey.slice(0, 12)).innerText()).toMatch(/this key[\s\S]*test[\s\S]*active/);

    expect(await page.getByRole("button", { name: "Make key" }).isDisabled()).toBe(true);
    expect(await page.getByLabel("Key name").isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: /^Revoke/ }).isDisabled()).toBe(true);
    // The server's own refusal is shown where the secret would be.
    await expect
      .poll(() => page.getByRole("region", { name: "Webhook secret" }).innerText())
      .toContain("A test-mode key cannot read the webhook secret: use a live key (ig_live_...).");
    expect(await page.getByRole("button", { name: "Rotate…" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Reveal" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Copy secret" }).count()).toBe(0);
    await screenshot(page, "keys-test-mode");
    await expectAccessible(page);
    expect((await keysOf(harness, testKey)).filter((key) => key.revokedAt === null)).toHaveLength(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("charts today's tasks and credits by model with the API's numbers, and pages through the ledger", async () => {
    const usage = (await call<{ days: UsageDay[] }>(harness.baseUrl, "GET", "/api/v1/usage", { key: harness.key })).body.data;
    const today = new Date().toISOString().slice(0, 10);
    const day = usage.days.find((entry) => entry.day === today);
    expect(day?.models[MODEL]?.tasks).toBe(8);
    expect(day?.models[PRO]?.tasks).toBe(4);
    const balance = (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: harness.key })).body.data;

    const { page, problems } = await openConsole(browser, harness.baseUrl);
    await signIn(page, harness.key);
    await goTo(page, "/usage");
    await expect.poll(() => page.getByTestId("balance").innerText()).toBe(`${balance.toLocaleString("en-US")} credits`);

    // One bar for today, a part per model, and a summary for screen readers.
    const chart = page.getByRole("img", { name: /per day over the last 30 days/ });
    await chart.waitFor();
    expect(await chart.getAttribute("aria-label")).toContain("12 tasks in all");
    expect(await page.locator(`svg g.usage-day`).count()).toBe(30);
    const bar = page.locator(`svg g.usage-day[data-day="${today}"] rect`);
    expect(await bar.count()).toBe(2);
    expect(await bar.locator("title").allTextContents()).toEqual([expect.stringMatching(new RegExp(`${MODEL}, 8 tasks$`)), expect.stringMatching(/nano-banana-pro, 4 tasks$/)]);
    expect(await page.getByRole("list", { name: "Models" }).innerText()).toMatch(new RegExp(`${MODEL}[\\s\\S]*${PRO}`));

    // The table under the chart has the API's numbers.
    await page.getByText("The numbers as a table").click();
    let table = await usageTable(page);
    expect(table.header).toEqual(["Day", MODEL, PRO, "Total"]);
    expect(Object.keys(table.rows)).toEqual([today]);
    expect(table.rows[today]?.map(number)).toEqual([number(today), day?.models[MODEL]?.tasks, day?.models[PRO]?.tasks, 12]);

    await page.getByRole("radio", { name: "Credits" }).check();
    await expect.poll(() => page.locator("main h2").first().innerText()).toBe("Credits spent per day");
    table = await usageTable(page);
    expect(day?.creditsSpent).toBeGreaterThan(0);
    expect(table.rows[today]?.slice(1).map(number)).toEqual([day?.models[MODEL]?.creditsSpent, day?.models[PRO]?.creditsSpent, day?.creditsSpent]);

    // Another period asks the server for that window.
    const asked = page.waitForRequest((request) => request.url().includes("/api/v1/usage?"));
    await page.getByRole("radio", { name: "7 days" }).check();
    const window = new URL((await asked).url()).searchParams;
    expect(Number(window.get("to")) - Number(window.get("from"))).toBe(7 * 86_400_000);
    await expect.poll(() => page.locator("svg g.usage-day").count()).toBe(7);

    // The ledger: a hold and a capture per task, newest first, linking to the task; 20 a page.
    const ledger = (await call<{ items: LedgerEntry[] }>(harness.baseUrl, "GET", "/api/v1/ledger?limit=100", { key: harness.key })).body.data.items;
    expect(ledger).toHaveLength(TASKS.length * 2 + 1);
    const rows = page.locator("table.ledger-table tbody tr");
    await expect.poll(() => rows.count()).toBe(20);
    const first = ledger[0];
    expect(await rows.first().getAttribute("data-kind")).toBe(first?.kind);
    const holds = page.locator('table.ledger-table tbody tr[data-kind="hold"]');
    const hold = ledger.find((entry) => entry.kind === "hold");
    const holdRow = holds.filter({ hasText: hold?.taskId ?? "" }).first();
    expect(await holdRow.locator("td.amount").innerText()).toBe(`−${-(hold?.amount ?? 0)}`);
    expect(await holdRow.getByRole("link").getAttribute("href")).toBe(`#/tasks/${hold?.taskId}`);
    expect(await page.locator('table.ledger-table tbody tr[data-kind="capture"]').count()).toBeGreaterThan(0);

    await page.getByRole("button", { name: "Older →" }).click();
    await expect.poll(() => rows.count()).toBe(ledger.length - 20);
    expect(await rows.last().getAttribute("data-kind")).toBe("grant");
    expect(await rows.last().locator("td.amount").innerText()).toBe("+1,000,000");
    expect(await page.getByRole("button", { name: "Older →" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "← Newer" }).click();
    await expect.poll(() => rows.count()).toBe(20);
    expect(await page.getByRole("button", { name: "← Newer" }).isDisabled()).toBe(true);

    // A task's link opens its page.
    await holdRow.getByRole("link").click();
    await expect.poll(() => new URL(page.url()).hash).toBe(`#/tasks/${hold?.taskId}`);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  for (const viewport of VIEWPORTS) {
    it(`lays both pages out on a ${viewport.device} screen (${viewport.width} px) with no accessibility violations`, async () => {
      const { page, problems } = await openConsole(browser, harness.baseUrl, viewport);
      await signIn(page, harness.key);

      await goTo(page, "/keys");
      await page.locator("table.keys-table").waitFor();
      await page.getByTestId("webhook-secret").filter({ hasText: "whsec_" }).waitFor();
      // Nothing wider than the screen: wide tables scroll in their own box.
      expect(await pageWidth(page)).toBeLessThanOrEqual(viewport.width);
      await screenshot(page, "keys");
      await expectAccessible(page);

      await goTo(page, "/usage");
      await page.getByRole("img", { name: /per day/ }).waitFor();
      await page.locator("table.ledger-table").waitFor();
      await page.getByText("The numbers as a table").click();
      expect(await pageWidth(page)).toBeLessThanOrEqual(viewport.width);
      const bars = await page.locator("svg.usage-svg").boundingBox();
      expect(bars?.width).toBeLessThanOrEqual(viewport.width);
      await screenshot(page, "usage");
      await expectAccessible(page);
      expect(problems).toEqual([]);
      await page.close();
    }, 60_000);
  }
});
