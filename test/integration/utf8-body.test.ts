import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "admin-key-for-tests-0123456789abcdef";
let harness: TestServer;

beforeAll(async () => {
  harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY });
});
afterAll(async () => {
  await harness.close();
});

interface Answer {
  status: number;
  body: { code: number; msg: string; data: unknown };
}

async function post(path: string, bytes: Uint8Array, key: string | null): Promise<Answer> {
  const response = await fetch(`${harness.baseUrl}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(key === null ? {} : { Authorization: `Bearer ${key}` }) },
    body: new Uint8Array(bytes),
  });
  return { status: response.status, body: (await response.json()) as Answer["body"] };
}

/** A createTask body whose prompt holds `inside` as raw bytes, the rest being valid JSON. */
function createTaskBytes(inside: readonly number[]): Buffer {
  return Buffer.concat([Buffer.from(`{"model":"${MODEL}","input":{"prompt":"a `), Buffer.from(inside), Buffer.from(' b"}}')]);
}

const INVALID_SEQUENCES: ReadonlyArray<[string, number[]]> = [
  ["a 0xFF byte", [0xff]],
  ["an overlong encoding of '/'", [0xc0, 0xaf]],
  ["a lone surrogate encoded as CESU-8", [0xed, 0xa0, 0x80]],
  ["a truncated four-byte sequence", [0xf0, 0x9f, 0x8d]],
];

describe("createTask with a body that is not valid UTF-8", () => {
  it.each(INVALID_SEQUENCES)("answers 400 for %s, storing and charging nothing", async (_name, inside) => {
    const tasksBefore = await harness.server.tasks.countForAccount(harness.accountId);
    const creditsBefore = await harness.server.accounts.balance(harness.accountId);
    const answer = await post("/api/v1/jobs/createTask", createTaskBytes(inside), harness.key);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ code: 400, msg: "The request body is not valid UTF-8.", data: null });
    expect(await harness.server.tasks.countForAccount(harness.accountId)).toBe(tasksBefore);
    expect(await harness.server.accounts.balance(harness.accountId)).toBe(creditsBefore);
  });

  it("answers 401 first when the key is missing", async () => {
    const answer = await post("/api/v1/jobs/createTask", createTaskBytes([0xff]), null);
    expect(answer.status).toBe(401);
  });
});

describe("createTask with multi-byte UTF-8", () => {
  it.each([
    ["an emoji", "a banana 🍌 in space"],
    ["CJK text", "宇宙の中のバナナ, 太空中的香蕉"],
    ["a literal U+FFFD sent on purpose", "replacement \uFFFD kept"],
  ])("accepts %s and stores param byte for byte as sent", async (_name, prompt) => {
    const sent = JSON.stringify({ model: MODEL, input: { prompt } });
    const answer = await post("/api/v1/jobs/createTask", Buffer.from(sent, "utf8"), harness.key);
    expect(answer.status).toBe(200);
    const taskId = (answer.body.data as { taskId: string }).taskId;
    const record = await fetch(`${harness.baseUrl}/api/v1/jobs/recordInfo?taskId=${taskId}`, {
      headers: { Authorization: `Bearer ${harness.key}` },
    });
    const param = ((await record.json()) as { data: { param: string } }).data.param;
    expect(Buffer.from(param, "utf8").equals(Buffer.from(sent, "utf8"))).toBe(true);
  });
});

describe("the admin API with a body that is not valid UTF-8", () => {
  it("answers 400 and creates no account", async () => {
    const body = Buffer.concat([Buffer.from('{"name":"bad'), Buffer.from([0xff]), Buffer.from('"}')]);
    const answer = await post("/admin/v1/accounts", body, ADMIN_KEY);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ code: 400, msg: "The request body is not valid UTF-8.", data: null });
    const accounts = await harness.server.accounts.listAccounts();
    expect(accounts.map((account) => account.name)).toEqual(["alpha"]);
  });

  it("answers 401 first without the admin key", async () => {
    const answer = await post("/admin/v1/accounts", Buffer.from([0x7b, 0xff, 0x7d]), null);
    expect(answer.status).toBe(401);
  });
});
