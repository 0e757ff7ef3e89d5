import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linesOf, runImagegate, type CliRun } from "../helpers/cli.ts";
import {
  call,
  MODEL,
  startTestServer,
  temporaryDirectory,
  waitForTerminal,
  type TaskData,
  type TestServer,
} from "../helpers/test-server.ts";

// Every command is a child process that loads the sources through tsx (about a second each), and
// several run at once: the limits are generous.
const COMMAND_TIMEOUT_MS = 120_000;
const PRICE = 4;
const LIVE_KEY = /^ig_live_[A-Za-z0-9_-]{32}$/;
const ACCOUNT_ID = /^acct_[0-9a-z]{26}$/;
const KEY_ID = /^key_[0-9a-z]{26}$/;
const ISO_TIME = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z";

interface AccountJson {
  id: string;
  name: string;
  credits: number;
  limits: { activeTasks: number | null; createTask: string | null; other: string | null };
  keys?: { id: string; mode: string; hint: string; revokedAt: number | null }[];
  ledger?: { kind: string; amount: number; balanceAfter: number; reason: string | null; actor: string | null }[];
}

interface TaskJson {
  taskId: string;
  state: string;
  accountId: string;
  accountName: string;
  createTime: number;
  creditsHeld: number;
  failCode: string | null;
}

/** A successful command: exit 0, nothing on stderr. */
function succeeded(run: CliRun): string {
  expect(run.stderr).toBe("");
  expect(run.exitCode).toBe(0);
  return run.stdout;
}

function json<T>(run: CliRun): T {
  return JSON.parse(succeeded(run)) as T;
}

/** A failed command: a non-zero exit code, nothing on stdout, one line on stderr. */
function expectOneLineFailure(run: CliRun, message: string): void {
  expect(run.exitCode).not.toBeNull();
  expect(run.exitCode).not.toBe(0);
  expect(run.stdout).toBe("");
  expect(linesOf(run.stderr)).toEqual([message]);
}

describe("imagegate administration commands", { timeout: COMMAND_TIMEOUT_MS }, () => {
  let dataDir: string;
  let harness: TestServer;
  let acmeCreation: CliRun;
  let bravoCreation: CliRun;
  let grant: CliRun;
  let keyCreation: CliRun;
  let key: string;
  let keyId: string;
  /** acme's tasks, oldest first: a success, a failure, a success. */
  const tasks: TaskData[] = [];
  const admin = (args: readonly string[]): Promise<CliRun> => runImagegate(args, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });

  beforeAll(async () => {
    dataDir = await temporaryDirectory("imagegate-admin-cli-");
    acmeCreation = await admin(["accounts", "create", "--name", "acme"]);
    [bravoCreation, grant, keyCreation] = await Promise.all([
      admin(["accounts", "create", "--name", "bravo", "--json"]),
      admin(["credits", "grant", "acme", "100", "--reason", "welcome"]),
      admin(["keys", "create", "--account", "acme", "--json"]),
    ]);
    ({ key, keyId } = JSON.parse(keyCreation.stdout) as { key: string; keyId: string });

    // A server on the same database runs the tasks the reports are about.
    harness = await startTestServer({ DATA_DIR: dataDir });
    for (const prompt of ["one", "[sandbox:fail] two", "three"]) {
      const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key,
        body: { model: MODEL, input: { prompt } },
      });
      const { record } = await waitForTerminal(harness.baseUrl, key, created.body.data.taskId);
      tasks.push(record);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }, COMMAND_TIMEOUT_MS);

  afterAll(async () => {
    await harness.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe("accounts and credits", () => {
    it("accounts create prints the new account, as text or JSON", () => {
      expect(succeeded(acmeCreation).trim()).toMatch(/^created account acme \(acct_[0-9a-z]{26}\)$/);
      expect(json<AccountJson>(bravoCreation)).toEqual({
        id: expect.stringMatching(ACCOUNT_ID),
        name: "bravo",
        createdAt: expect.any(Number),
        credits: 0,
        limits: { activeTasks: null, createTask: null, other: null },
      });
    });

    it("credits grant prints the new balance", () => {
      expect(succeeded(grant).trim()).toBe("granted 100 credits to acme; balance 100");
    });

    it("accounts list shows each account with its balance", async () => {
      const lines = linesOf(succeeded(await admin(["accounts", "list"])));
      expect(lines).toHaveLength(3);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^acct_[0-9a-z]{26}  acme  ${ISO_TIME}  ${100 - 2 * PRICE} credits$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^acct_[0-9a-z]{26}  bravo  ${ISO_TIME}  0 credits$`)));
    });

    it("accounts show prints balance, limits, keys and the ledger", async () => {
      const lines = linesOf(succeeded(await admin(["accounts", "show", "acme"])));
      expect(lines.slice(0, 5)).toEqual([
        expect.stringMatching(/^account {2}acme \(acct_[0-9a-z]{26}\)$/),
        expect.stringMatching(new RegExp(`^created  ${ISO_TIME}$`)),
        `balance  ${100 - 2 * PRICE} credits`,
        "limits   active tasks default, createTask default, other default",
        "keys (1):",
      ]);
      expect(lines[5]).toBe(`  ${keyId}  ${key.slice(0, 12)}…  live  active`);
      expect(lines[6]).toBe("ledger (newest 20):");
      expect(lines.at(-1)).toMatch(new RegExp(`^  ${ISO_TIME}  grant  \\+100  balance 100  by cli: welcome$`));
      expect(lines.join("\n")).not.toContain(key.slice(12));
    });

    it("credits deduct lowers the balance; below zero it exits non-zero and nothing changes", async () => {
      const balance = 100 - 2 * PRICE;
      const deducted = json<{ balance: number }>(await admin(["credits", "deduct", "acme", "2", "--reason", "correction", "--json"]));
      expect(deducted).toEqual({ accountId: expect.stringMatching(ACCOUNT_ID), account: "acme", amount: 2, balance: balance - 2 });

      const refused = await admin(["credits", "deduct", "acme", "1000", "--reason", "too much"]);
      expectOneLineFailure(refused, `imagegate: cannot deduct 1000: acme has only ${balance - 2} credits`);

      const shown = json<AccountJson>(await admin(["accounts", "show", "acme", "--json"]));
      expect(shown.credits).toBe(balance - 2);
      expect(shown.ledger?.[0]).toMatchObject({ kind: "deduct", amount: -2, balanceAfter: balance - 2, reason: "correction", actor: "cli" });
      expect(shown.ledger?.at(-1)).toMatchObject({ kind: "grant", amount: 100, balanceAfter: 100, reason: "welcome", actor: "cli" });
      expect(shown.keys).toEqual([expect.objectContaining({ id: keyId, mode: "live", revokedAt: null })]);
      expect(JSON.stringify(shown)).not.toContain(key.slice(12));
    });
  });

  describe("keys", () => {
    it("keys list --json lists the account's keys without secrets", async () => {
      const list = json<Record<string, unknown>[]>(await admin(["keys", "list", "--account", "acme", "--json"]));
      expect(list).toEqual([
        { id: keyId, accountId: expect.stringMatching(ACCOUNT_ID), mode: "live", hint: `${key.slice(0, 12)}…`, createdAt: expect.any(Number), revokedAt: null, name: null, lastUsedAt: null },
      ]);
    });

    it("keys rotate prints a new key that works while the old one answers 401; keys revoke revokes it", async () => {
      const rotated = json<{ keyId: string; key: string }>(await admin(["keys", "rotate", keyId, "--json"]));
      expect(rotated).toEqual({
        account: "acme",
        accountId: expect.stringMatching(ACCOUNT_ID),
        keyId: expect.stringMatching(KEY_ID),
        key: expect.stringMatching(LIVE_KEY),
        replaces: keyId,
      });
      const credit = "/api/v1/chat/credit";
      expect((await call(harness.baseUrl, "GET", credit, { key })).status).toBe(401);
      expect((await call(harness.baseUrl, "GET", credit, { key: rotated.key })).status).toBe(200);

      const listed = linesOf(succeeded(await admin(["keys", "list", "--account", "acme"])));
      expect(listed).toEqual([
        expect.stringMatching(new RegExp(`^${keyId}  ig_live_\\S+…  live  acct_[0-9a-z]{26}  revoked ${ISO_TIME}$`)),
        expect.stringMatching(new RegExp(`^${rotated.keyId}  ${rotated.key.slice(0, 12)}…  live  acct_[0-9a-z]{26}  active$`)),
      ]);

      const revoked = await admin(["keys", "revoke", rotated.keyId]);
      expect(succeeded(revoked).trim()).toBe(`revoked ${rotated.keyId}`);
      expect((await call(harness.baseUrl, "GET", credit, { key: rotated.key })).status).toBe(401);
    });
  });

  describe("limits", () => {
    it("limits set changes the options given, and default puts one back", async () => {
      const set = json<AccountJson>(await admin(["limits", "set", "bravo", "--active-tasks", "3", "--create-task", "2/10s", "--json"]));
      expect(set).toMatchObject({ name: "bravo", limits: { activeTasks: 3, createTask: "2/10s", other: null } });

      const reset = await admin(["limits", "set", "bravo", "--create-task", "default", "--other", "5/1s"]);
      expect(succeeded(reset).trim()).toBe("limits of bravo: active tasks 3, createTask default, other 5/1s");

      const shown = json<AccountJson>(await admin(["accounts", "show", "bravo", "--json"]));
      expect(shown.limits).toEqual({ activeTasks: 3, createTask: null, other: "5/1s" });
    });
  });

  describe("tasks and usage", () => {
    it("tasks list prints a table of the account's tasks, newest first", async () => {
      const lines = linesOf(succeeded(await admin(["tasks", "list", "--account", "acme"])));
      expect(lines[0]).toMatch(/^TASK\s+STATE\s+ACCOUNT\s+MODEL\s+CREATED\s+TOOK$/);
      const expected = [...tasks].reverse();
      expect(lines.slice(1)).toHaveLength(expected.length);
      lines.slice(1).forEach((line, index) => {
        const task = expected[index];
        expect(line).toMatch(
          new RegExp(`^${task?.taskId}  ${task?.state}\\s+acme\\s+${MODEL}  ${new Date(task?.createTime ?? 0).toISOString()}\\s+\\d+\\.\\ds$`),
        );
      });
    });

    it("tasks list --json filters by state, time and limit", async () => {
      const [first, second, third] = tasks;
      const failed = json<TaskJson[]>(await admin(["tasks", "list", "--account", "acme", "--state", "fail", "--json"]));
      expect(failed.map((task) => [task.taskId, task.state, task.accountName])).toEqual([[second?.taskId, "fail", "acme"]]);
      expect(failed[0]).toMatchObject({ failCode: "PROVIDER_ERROR", creditsHeld: PRICE, accountId: expect.stringMatching(ACCOUNT_ID) });

      const since = new Date(second?.createTime ?? 0).toISOString();
      const until = String(third?.createTime ?? 0);
      const window = json<TaskJson[]>(await admin(["tasks", "list", "--since", since, "--until", until, "--limit", "5", "--json"]));
      expect(window.map((task) => task.taskId)).toEqual([second?.taskId]);
      expect(first?.state).toBe("success");
    });

    it("tasks show prints every field of a task, as text or JSON", async () => {
      const failedTask = tasks[1];
      const [text, asJson] = await Promise.all([
        admin(["tasks", "show", failedTask?.taskId ?? ""]),
        admin(["tasks", "show", failedTask?.taskId ?? "", "--json"]),
      ]);
      const lines = linesOf(succeeded(text));
      expect(lines).toContain(`task      ${failedTask?.taskId}`);
      expect(lines).toContainEqual(expect.stringMatching(/^account {3}acme \(acct_[0-9a-z]{26}\)$/));
      expect(lines).toContain("state     fail");
      expect(lines).toContain(`credits   0 charged (the ${PRICE} held were released)`);
      expect(lines).toContain("upstream  1");
      expect(lines).toContain(`param     ${JSON.stringify({ model: MODEL, input: { prompt: "[sandbox:fail] two" } })}`);
      expect(lines).toContainEqual(expect.stringMatching(/^failure {3}PROVIDER_ERROR: .+$/));
      expect(json<TaskJson>(asJson)).toMatchObject({
        taskId: failedTask?.taskId,
        state: "fail",
        accountName: "acme",
        failCode: "PROVIDER_ERROR",
        attempts: 1,
        upstreamAttempts: 1,
        mode: "live",
      });
    });

    it("usage prints tasks by state and credits spent per day and account", async () => {
      const lines = linesOf(succeeded(await admin(["usage", "--account", "acme"])));
      const day = new Date(tasks[0]?.createTime ?? 0).toISOString().slice(0, 10);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^DAY\s+ACCOUNT\s+WAITING\s+QUEUING\s+GENERATING\s+SUCCESS\s+FAIL\s+CREDITS\s+BY MODEL$/);
      expect(lines[1]).toMatch(new RegExp(`^${day}\\s+acme\\s+0\\s+0\\s+0\\s+2\\s+1\\s+${2 * PRICE}\\s+${MODEL} 3/${2 * PRICE}$`));
    });

    it("usage --json honours --since", async () => {
      const tomorrow = String(Date.now() + 86_400_000);
      expect(json<unknown[]>(await admin(["usage", "--since", tomorrow, "--json"]))).toEqual([]);
    });
  });

  describe("audit", () => {
    it("audit --json lists every change made through the CLI, newest first, by cli", async () => {
      const entries = json<{ actor: string; action: string; details: Record<string, unknown> }[]>(await admin(["audit", "--json"]));
      const actions = entries.map((entry) => entry.action).reverse();
      // The test server's own setup (account alpha) runs as "system" and is not audited.
      expect(entries.every((entry) => entry.actor === "cli")).toBe(true);
      expect(actions.slice(0, 1)).toEqual(["account.create"]);
      expect([...actions.slice(1, 4)].sort()).toEqual(["account.create", "credits.grant", "key.create"]);
      expect(actions.slice(4)).toEqual([
        "credits.deduct",
        "key.create",
        "key.rotate",
        "key.revoke",
        "limits.set",
        "limits.set",
      ]);
      expect(entries[0]?.details).toEqual({ createTask: null, other: "5/1s" });
    });

    it("audit --limit prints a table of the newest entries", async () => {
      const lines = linesOf(succeeded(await admin(["audit", "--limit", "2"])));
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$/);
      expect(lines[1]).toMatch(new RegExp(`^${ISO_TIME}  cli\\s+limits\\.set  acct_[0-9a-z]{26}  \\{"createTask":null,"other":"5/1s"\\}$`));
    });
  });

  describe("errors", () => {
    it.concurrent("credits grant with an AMOUNT that is not a whole number names it", async () => {
      expectOneLineFailure(
        await admin(["credits", "grant", "acme", "ten", "--reason", "x"]),
        'imagegate: AMOUNT must be a whole number from 1 to 1000000000, got "ten"',
      );
    });

    it.concurrent("credits deduct without --reason names the option", async () => {
      expectOneLineFailure(await admin(["credits", "deduct", "acme", "5"]), "error: required option '--reason <text>' not specified");
    });

    it.concurrent("limits set with a bad rate names the option", async () => {
      expectOneLineFailure(
        await admin(["limits", "set", "bravo", "--other", "fast"]),
        'imagegate: --other must be a rate such as 20/10s (a count per window in s, m or h) or "default", got "fast"',
      );
    });

    it.concurrent("tasks list with a bad --since names the option", async () => {
      expectOneLineFailure(
        await admin(["tasks", "list", "--since", "yesterday"]),
        'imagegate: --since must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds, got "yesterday"',
      );
    });

    it.concurrent("usage with --until before --since names both options", async () => {
      expectOneLineFailure(
        await admin(["usage", "--since", "2026-11-28", "--until", "2026-11-01"]),
        "imagegate: --until must be later than --since, got 2026-11-28 to 2026-11-01",
      );
    });

    it.concurrent("tasks show of an unknown task exits non-zero", async () => {
      expectOneLineFailure(await admin(["tasks", "show", "task_unknown"]), "imagegate: no task with taskId task_unknown");
    });

    it.concurrent("usage for an unknown account exits non-zero", async () => {
      expectOneLineFailure(await admin(["usage", "--account", "nobody"]), "imagegate: no account named nobody");
    });
  });
});
