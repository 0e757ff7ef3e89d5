import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalog } from "../../src/domain/catalog/catalog.ts";
import { ATTEMPTS_SPENT_MESSAGE } from "../../src/providers/retrying-image-provider.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { storedTask } from "../helpers/tasks.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

/**
 * Upstream attempts are counted on the task's row before each call, so a task resumed after a
 * crash spends what is left of GEMINI_MAX_ATTEMPTS, not the whole of it again. These tests resume
 * tasks the way recovery does (a stored task handed to the worker) on a real server, with real
 * SQLite and the fake Gemini server; the crash itself is in crash-recovery.test.ts.
 */

const MAX_ATTEMPTS = 4;
const PRICE = 4;
const UNAVAILABLE_MESSAGE = "The image model is temporarily unavailable.";

let fake: FakeGeminiServer;
let main: TestServer;

beforeAll(async () => {
  fake = await FakeGeminiServer.start();
  main = await startTestServer({
    GEMINI_API_KEY: "upstream-attempts-key",
    GEMINI_BASE_URL: fake.url,
    GEMINI_TIMEOUT_MS: "1000",
    GEMINI_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
  });
});

afterAll(async () => {
  await main.close();
  await fake.close();
});

function requestsFor(prompt: string): number {
  return fake.requests.filter((request) => request.prompt === prompt).length;
}

function countsOf(taskId: string): { attempts: number; upstreamAttempts: number } {
  const database = new SqliteDatabase(path.join(main.dataDir, "imagegate.db"), { readonly: true });
  try {
    return database.prepare("SELECT attempts, upstream_attempts AS upstreamAttempts FROM tasks WHERE id = ?").get(taskId) as {
      attempts: number;
      upstreamAttempts: number;
    };
  } finally {
    database.close();
  }
}

/**
 * A paid task as a crashed run left it: `spent` upstream calls recorded on its row, its credits
 * held. It is handed to the worker as recovery hands it.
 */
async function resumeTask(accountName: string, prompt: string, spent: number): Promise<{ taskId: string; key: string; accountId: string }> {
  const key = await main.newAccountKey(accountName, "live", 100);
  const accountId = (await main.server.accounts.findAccount(accountName))?.id ?? "";
  const validated = new Catalog().validate(MODEL, { prompt });
  if (!validated.ok) throw new Error(validated.message);
  const now = Date.now();
  const task = storedTask(accountId, now, {
    state: "waiting",
    param: JSON.stringify({ model: MODEL, input: { prompt } }),
    input: JSON.stringify(validated.value.input),
    attempts: spent,
    upstreamAttempts: spent,
  });
  expect(await main.server.store.tasks.create(task, { activeLimit: 100, price: PRICE })).toBe("created");
  expect(await main.server.accounts.balance(accountId)).toBe(100 - PRICE);
  await main.server.tasks.enqueue(task.id);
  return { taskId: task.id, key, accountId };
}

describe("upstream attempts across restarts", () => {
  it("fails a task whose earlier runs made GEMINI_MAX_ATTEMPTS calls with PROVIDER_ERROR, without calling Gemini", async () => {
    const prompt = "spent before the restart";
    const { taskId, key, accountId } = await resumeTask("attempts-spent", prompt, MAX_ATTEMPTS);

    const { record } = await waitForTerminal(main.baseUrl, key, taskId);

    expect(record).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", failMsg: ATTEMPTS_SPENT_MESSAGE, resultJson: null });
    expect(requestsFor(prompt)).toBe(0);
    expect(countsOf(taskId)).toEqual({ attempts: MAX_ATTEMPTS, upstreamAttempts: MAX_ATTEMPTS });
    expect(await main.server.accounts.balance(accountId)).toBe(100);
    expect(await main.server.accounts.ledgerSum(accountId)).toBe(100);
  });

  it("gives a task with 2 attempts spent only the 2 left", async () => {
    const prompt = "two spent, always unavailable [gemini:503]";
    const { taskId, key, accountId } = await resumeTask("attempts-two-spent", prompt, 2);

    const { record } = await waitForTerminal(main.baseUrl, key, taskId);

    expect(record).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", failMsg: UNAVAILABLE_MESSAGE });
    expect(requestsFor(prompt)).toBe(MAX_ATTEMPTS - 2);
    expect(countsOf(taskId)).toEqual({ attempts: 3, upstreamAttempts: MAX_ATTEMPTS });
    expect(await main.server.accounts.balance(accountId)).toBe(100);
  });

  it("lets a resumed task succeed on one of the attempts it has left", async () => {
    const prompt = "three spent, then an image";
    const { taskId, key, accountId } = await resumeTask("attempts-three-spent", prompt, 3);

    const { record } = await waitForTerminal(main.baseUrl, key, taskId);

    expect(record.state).toBe("success");
    expect(requestsFor(prompt)).toBe(1);
    expect(countsOf(taskId)).toEqual({ attempts: 4, upstreamAttempts: 4 });
    expect(await main.server.accounts.balance(accountId)).toBe(100 - PRICE);
  });

  it("counts every call of one run: the start's write counts the first, each retry one more", async () => {
    const prompt = "two 503s in one run [gemini:503x2]";
    const created = await call<{ taskId: string }>(main.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: main.key,
      body: { model: MODEL, input: { prompt } },
    });
    const { taskId } = created.body.data;

    const { record } = await waitForTerminal(main.baseUrl, main.key, taskId);

    expect(record.state).toBe("success");
    expect(requestsFor(prompt)).toBe(3);
    expect(countsOf(taskId)).toEqual({ attempts: 1, upstreamAttempts: 3 });
  });

  it("keeps recordInfo's answer to the fields of the contract", async () => {
    const prompt = "the public record";
    const created = await call<{ taskId: string }>(main.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: main.key,
      body: { model: MODEL, input: { prompt } },
    });
    const { taskId } = created.body.data;
    await waitForTerminal(main.baseUrl, main.key, taskId);

    const answer = await call<Record<string, unknown>>(main.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: main.key });

    expect(Object.keys(answer.body.data).sort()).toEqual(
      ["completeTime", "costTime", "createTime", "creditsConsumed", "failCode", "failMsg", "model", "param", "resultJson", "state", "taskId", "updateTime"],
    );
    expect(countsOf(taskId)).toEqual({ attempts: 1, upstreamAttempts: 1 });
  });
});
