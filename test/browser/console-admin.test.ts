import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { startCallbackReceiver, type CallbackReceiver } from "../helpers/callback-receiver.ts";
import { expectAccessible, goTo, openConsole, screenshot, signIn, VIEWPORTS } from "../helpers/console.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "adm_test_0123456789abcdef0123456789";

interface AccountData {
  id: string;
  name: string;
  credits: number;
  limits: { activeTasks: number | null; createTask: string | null; other: string | null };
  keys: { id: string; revokedAt: number | null }[];
  ledger: { kind: string; amount: number; reason: string | null }[];
}

interface DeliveryData {
  id: string;
  taskId: string;
  state: string;
  attempts: number;
}

interface DeliveryDetailsData {
  delivery: DeliveryData & { payload: string };
  attempts: { status: number | null }[];
}

/** Today's UTC day, as the usage table names it. */
const today = (): string => new Date().toISOString().slice(0, 10);

/** The digits of a shown amount ("1,000,500 credits") as a number. */
const shownNumber = (text: string | null): number => Number((text ?? "").replace(/[^\d-]/g, ""));

describe.runIf(browserAvailable())("the console's admin pages in a browser", () => {
  let harness: TestServer;
  let receiver: CallbackReceiver;
  let browser: Browser;
  let delivery: DeliveryData;

  const adminData = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await call<T>(harness.baseUrl, method, `/admin/v1${path}`, { key: ADMIN_KEY, ...(body === undefined ? {} : { body }) });
    if (answer.status !== 200) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body.msg}`);
    return answer.body.data;
  };
  const balanceOf = async (key: string): Promise<number> => (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data;

  /** The note under a field (its error or hint), found through the control's aria-describedby. */
  const noteOf = async (page: Page, label: string): Promise<string> => {
    const describedBy = await page.getByLabel(label, { exact: true }).getAttribute("aria-describedby");
    if (describedBy === null) return "";
    return (await page.locator(`[id="${describedBy}"]`).textContent()) ?? "";
  };

  /** A signed-in admin page at `fragment`, its heading shown. */
  const adminPage = async (fragment: string, viewport: { width: number; height: number } = VIEWPORTS[0]) => {
    const opened = await openConsole(browser, harness.baseUrl, viewport);
    await signIn(opened.page, ADMIN_KEY);
    await goTo(opened.page, fragment);
    return opened;
  };

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY, CALLBACK_ALLOW_PRIVATE: "true" });
    browser = await launchBrowser();
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, callBackUrl: receiver.url, input: { prompt: "a banana for the admin pages" } },
    });
    const taskId = created.body.data.taskId;
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
    const until = Date.now() + 15_000;
    for (;;) {
      const [listed] = await adminData<DeliveryData[]>("GET", `/callbacks?task=${taskId}`);
      if (listed?.state === "delivered") {
        delivery = listed;
        break;
      }
      if (Date.now() > until) throw new Error("the callback was not delivered");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
    await receiver?.close();
  });

  for (const viewport of VIEWPORTS) {
    it(`lists accounts with their balances under the admin badge (${viewport.device})`, async () => {
      const { page, problems } = await adminPage("/admin/accounts", viewport);
      await expect.poll(() => page.locator(".badge-admin").textContent()).toBe("admin");
      await page.getByRole("heading", { name: "Accounts", level: 1 }).waitFor();
      const alpha = page.getByRole("row").filter({ has: page.getByRole("link", { name: "alpha", exact: true }) });
      await expect.poll(() => alpha.count()).toBe(1);
      const balance = await balanceOf(harness.key);
      expect(shownNumber(await alpha.getByRole("cell").nth(1).textContent())).toBe(balance);
      expect(await alpha.textContent()).toContain("Server defaults");

      // The filter keeps only the accounts whose name or id holds the text.
      await page.getByLabel("Filter accounts").fill("no-such-account");
      await expect.poll(() => page.getByText("No account's name or id contains").count()).toBe(1);
      await page.getByLabel("Filter accounts").fill("alp");
      await expect.poll(() => alpha.count()).toBe(1);

      await expectAccessible(page);
      await screenshot(page, "admin-accounts");
      expect(problems).toEqual([]);
      await page.close();
    });
  }

  it("grants 500 credits with a reason: the balance shown and the API's both go up by 500", async () => {
    const { page, problems } = await adminPage("/admin/accounts");
    await page.getByRole("link", { name: "alpha", exact: true }).click();
    await page.getByRole("heading", { name: "alpha", level: 1 }).waitFor();
    expect(page.url()).toContain("#/admin/accounts/alpha");
    const before = await balanceOf(harness.key);
    await expect.poll(async () => shownNumber(await page.getByTestId("balance").textContent())).toBe(before);

    await page.getByLabel("Amount", { exact: true }).fill("500");
    await page.getByLabel("Reason", { exact: true }).fill("invoice 2026-0042");
    await page.getByRole("button", { name: "Grant credits" }).click();
    await expect.poll(async () => shownNumber(await page.getByTestId("balance").textContent())).toBe(before + 500);
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Granted 500 credits" }).count()).toBe(1);
    expect(await balanceOf(harness.key)).toBe(before + 500);
    const account = await adminData<AccountData>("GET", "/accounts/alpha");
    expect(account.ledger[0]).toMatchObject({ kind: "grant", amount: 500, reason: "invoice 2026-0042" });
    // The new entry is in the ledger shown.
    await expect.poll(() => page.getByRole("row").filter({ hasText: "invoice 2026-0042" }).count()).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the server's message next to the amount for a bad amount, and changes nothing", async () => {
    const { page, problems } = await adminPage("/admin/accounts/alpha");
    await page.getByRole("heading", { name: "alpha", level: 1 }).waitFor();
    const before = await balanceOf(harness.key);
    const ledgerBefore = (await adminData<AccountData>("GET", "/accounts/alpha")).ledger;

    for (const [amount, message] of [
      ["-5", "amount must be a whole number from 1 to 1000000000"],
      ["abc", "amount is required and must be a number."],
    ] as const) {
      await page.getByLabel("Amount", { exact: true }).fill(amount);
      await page.getByLabel("Reason", { exact: true }).fill("should not happen");
      await page.getByRole("button", { name: "Grant credits" }).click();
      await expect.poll(() => noteOf(page, "Amount")).toBe(message);
      expect(await page.getByLabel("Amount", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      // The reason was fine: its note is still the hint.
      expect(await noteOf(page, "Reason")).toContain("Written to the ledger");
    }
    // A deduction below zero is refused; the message is about the amount too.
    await page.getByLabel("Deduct (take away)").check();
    await page.getByLabel("Amount", { exact: true }).fill(String(before + 1));
    await page.getByRole("button", { name: "Deduct credits" }).click();
    // Nothing is sent before the confirm: the amount still shows the previous answer.
    await page.getByRole("button", { name: "Cancel" }).click();
    expect(await noteOf(page, "Amount")).toBe("amount is required and must be a number.");
    await page.getByRole("button", { name: "Deduct credits" }).click();
    await page.getByRole("button", { name: "Yes, deduct" }).click();
    await expect.poll(() => noteOf(page, "Amount")).toContain(`cannot deduct ${before + 1}`);

    expect(await balanceOf(harness.key)).toBe(before);
    expect(shownNumber(await page.getByTestId("balance").textContent())).toBe(before);
    expect((await adminData<AccountData>("GET", "/accounts/alpha")).ledger).toEqual(ledgerBefore);
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("sets limits (empty is the server's default) and shows a bad rate next to its field", async () => {
    const { page, problems } = await adminPage("/admin/accounts/alpha");
    await page.getByRole("heading", { name: "alpha", level: 1 }).waitFor();
    expect(await noteOf(page, "createTask rate")).toContain("60/1m");

    await page.getByLabel("Active tasks", { exact: true }).fill("7");
    await page.getByLabel("createTask rate", { exact: true }).fill("fast");
    await page.getByRole("button", { name: "Save limits" }).click();
    await expect.poll(() => noteOf(page, "createTask rate")).toBe("createTask must be a rate such as 20/10s (a count per window in s, m or h)");
    expect((await adminData<AccountData>("GET", "/accounts/alpha")).limits).toEqual({ activeTasks: null, createTask: null, other: null });

    await page.getByLabel("createTask rate", { exact: true }).fill("30/1m");
    await page.getByRole("button", { name: "Save limits" }).click();
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Limits saved" }).count()).toBe(1);
    expect((await adminData<AccountData>("GET", "/accounts/alpha")).limits).toEqual({ activeTasks: 7, createTask: "30/1m", other: null });
    await expect.poll(() => page.locator(".facts").textContent()).toContain("createTask rate 30/1m");

    // Emptying a field puts that limit back to the server's default.
    await page.getByLabel("Active tasks", { exact: true }).fill("");
    await page.getByRole("button", { name: "Save limits" }).click();
    await expect.poll(async () => (await adminData<AccountData>("GET", "/accounts/alpha")).limits.activeTasks).toBeNull();
    expect((await adminData<AccountData>("GET", "/accounts/alpha")).limits.createTask).toBe("30/1m");

    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await expectAccessible(page);
      await screenshot(page, "admin-account");
    }
    expect(problems).toEqual([]);
    await page.close();
  });

  it("creates an account with its first key, shown once, that works on the API; then revokes it after a confirm", async () => {
    const { page, problems } = await adminPage("/admin/accounts");
    await page.getByRole("button", { name: "New account" }).click();
    // A name already taken is refused next to the name.
    await page.getByLabel("Name", { exact: true }).fill("alpha");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect.poll(() => noteOf(page, "Name")).toBe("an account named alpha already exists");

    await page.getByLabel("Name", { exact: true }).fill("gamma");
    await page.getByLabel("Key name (optional)").fill("backend");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Account gamma created" }).waitFor();
    const key = await page.getByLabel("New API key").inputValue();
    expect(key).toMatch(/^ig_live_/);
    expect(await page.getByRole("button", { name: "Copy key" }).count()).toBe(1);
    await expect.poll(() => page.getByRole("link", { name: "gamma", exact: true }).count()).toBe(1);
    const credit = await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key });
    expect(credit.status).toBe(200);
    expect(credit.body.data).toBe(0);
    await expectAccessible(page);

    // The account's page lists the key by its hint only, never the key.
    await page.getByRole("link", { name: "Open gamma" }).click();
    await page.getByRole("heading", { name: "gamma", level: 1 }).waitFor();
    expect(await page.locator("main").textContent()).not.toContain(key);
    const row = page.getByRole("row").filter({ hasText: "backend" });
    await row.getByRole("button", { name: "Revoke" }).click();
    // Nothing is revoked before the confirm; Cancel leaves the key alone.
    await page.getByRole("button", { name: "Cancel" }).click();
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).status).toBe(200);
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => page.getByText("This account has no active key").count()).toBe(1);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).status).toBe(401);
    const gamma = await adminData<AccountData>("GET", "/accounts/gamma");
    expect(gamma.keys.map((entry) => entry.revokedAt !== null)).toEqual([true]);

    // A new test key from the account's page is shown once and works.
    await page.getByLabel("Mode", { exact: true }).selectOption("test");
    await page.getByRole("button", { name: "Create key" }).click();
    const testKey = await page.getByLabel("New API key").inputValue();
    expect(testKey).toMatch(/^ig_test_/);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: testKey })).status).toBe(200);
    expect(problems).toEqual([]);
    await page.close();
  });

  for (const viewport of VIEWPORTS) {
    it(`shows today's usage per account with totals and a chart of credits per day (${viewport.device})`, async () => {
      const { page, problems } = await adminPage("/admin/usage", viewport);
      await page.getByRole("heading", { name: "Usage", level: 1 }).waitFor();
      const [usage] = await adminData<{ day: string; accountName: string; creditsSpent: number; tasks: { success: number } }[]>("GET", "/usage?account=alpha");
      expect(usage?.day).toBe(today());
      const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "alpha", exact: true }) });
      await expect.poll(() => row.count()).toBe(1);
      // The day heads its group of rows; the row holds alpha's numbers.
      await expect.poll(() => page.getByRole("rowheader", { name: today() }).count()).toBe(1);
      const cells = await row.getByRole("cell").allTextContents();
      expect(cells).toContain(String(usage?.tasks.success));
      expect(cells).toContain(String(usage?.creditsSpent));
      const chart = page.getByRole("img", { name: /Credits spent per UTC day/ });
      expect(await chart.getAttribute("aria-label")).toContain(`most on ${today()}`);
      expect(await page.locator("tfoot").textContent()).toContain("Total");

      // Per day only: one row for today, without accounts.
      await page.getByLabel("Per day", { exact: true }).check();
      await expect.poll(() => page.getByRole("columnheader", { name: "Account" }).count()).toBe(0);
      await expect.poll(() => page.getByRole("rowheader", { name: today() }).count()).toBe(1);
      await page.getByLabel("Per day and account").check();

      await expectAccessible(page);
      await screenshot(page, "admin-usage");
      expect(problems).toEqual([]);
      await page.close();
    });
  }

  it("lists the callback delivery, shows its body and attempts, and Redeliver adds an attempt after a confirm", async () => {
    const { page, problems } = await adminPage("/admin/callbacks");
    await page.getByRole("heading", { name: "Callback deliveries", level: 1 }).waitFor();
    const row = page.getByRole("row").filter({ hasText: delivery.taskId });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain("delivered");
    expect(await row.textContent()).toContain("HTTP 200");
    expect(await row.textContent()).toContain(receiver.url);

    // The state filter lives in the URL and asks the server.
    await page.getByLabel("State", { exact: true }).selectOption("failed");
    await expect.poll(() => page.getByText("No delivery matches these filters").count()).toBe(1);
    expect(page.url()).toContain("state=failed");
    await page.getByLabel("State", { exact: true }).selectOption("delivered");
    await expect.poll(() => row.count()).toBe(1);
    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await expectAccessible(page);
      await screenshot(page, "admin-callbacks");
    }
    await page.setViewportSize(VIEWPORTS[0]);

    await row.getByRole("link", { name: /^Details/ }).click();
    await page.getByRole("heading", { name: "Callback delivery", level: 1 }).waitFor();
    expect(page.url()).toContain(`delivery=${delivery.id}`);
    const before = await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`);
    await expect.poll(() => page.getByRole("region", { name: /^Attempts \(/ }).getByRole("row").count()).toBe(1 + before.attempts.length);
    expect(await page.getByRole("region", { name: "Body" }).locator("pre").textContent()).toContain(delivery.taskId);
    const received = receiver.requests.length;

    await page.getByRole("button", { name: "Redeliver" }).click();
    // Cancel first: nothing is sent.
    await page.getByRole("button", { name: "Cancel" }).click();
    expect((await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`)).attempts).toHaveLength(before.attempts.length);
    await page.getByRole("button", { name: "Redeliver" }).click();
    await page.getByRole("button", { name: "Send again" }).click();
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Redelivered: the receiver answered HTTP 200" }).count(), { timeout: 15_000 }).toBe(1);

    const after = await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`);
    expect(after.attempts).toHaveLength(before.attempts.length + 1);
    expect(after.attempts.at(-1)?.status).toBe(200);
    expect(after.delivery.state).toBe("delivered");
    expect(receiver.requests.length).toBe(received + 1);
    expect(receiver.requests.at(-1)?.headers["webhook-id"]).toBe(delivery.id);
    await expect.poll(() => page.getByRole("region", { name: /^Attempts \(/ }).getByRole("row").count()).toBe(1 + after.attempts.length);

    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await expectAccessible(page);
      await screenshot(page, "admin-callback");
    }
    expect(problems).toEqual([]);
    await page.close();
  });
});
