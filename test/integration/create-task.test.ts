import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

const RATIOS = "1:1, 9:16, 16:9, 3:4, 4:3, 3:2, 2:3, 5:4, 4:5, 21:9, auto";
let harness: TestServer;

beforeAll(async () => {
  harness = await startTestServer();
});
afterAll(async () => {
  await harness.close();
});

async function create(body: unknown, options: { key?: string | null; rawBody?: string; headers?: Record<string, string> } = {}) {
  return call<{ taskId: string } | null>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key: options.key === undefined ? harness.key : options.key,
    ...(options.rawBody === undefined ? { body } : { rawBody: options.rawBody }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
}

function expectError(answer: { status: number; body: { code: number; msg: string; data: unknown } }, status: number, message: RegExp) {
  expect(answer.status).toBe(status);
  expect(answer.body.code).toBe(status);
  expect(answer.body.data).toBeNull();
  expect(answer.body.msg).toMatch(message);
}

describe("POST /api/v1/jobs/createTask", () => {
  it("accepts a valid request and answers a task id in the envelope", async () => {
    const answer = await create({ model: MODEL, input: { prompt: "a banana in space" } });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ code: 200, msg: "success", data: { taskId: expect.stringMatching(/^task_[0-9a-z]{26}$/) } });
    expect(answer.headers.get("x-request-id")).toMatch(/\S+/);
  });

  it.each([[""], [null]])("takes callBackUrl %j as no callback, keeping it in param as sent", async (callBackUrl) => {
    const answer = await create({ model: MODEL, input: { prompt: "no callback wanted" }, callBackUrl });
    expect(answer.status).toBe(200);
    const taskId = answer.body.data?.taskId ?? "";
    const task = await harness.server.store.tasks.get(taskId);
    expect(task?.callbackUrl).toBeNull();
    expect(task?.param).toBe(JSON.stringify({ model: MODEL, input: { prompt: "no callback wanted" }, callBackUrl }));
  });

  it("gives task ids that sort by creation time", async () => {
    const first = await create({ model: MODEL, input: { prompt: "one" } });
    await new Promise((resolve) => setTimeout(resolve, 3));
    const second = await create({ model: MODEL, input: { prompt: "two" } });
    expect(first.body.data?.taskId.localeCompare(second.body.data?.taskId ?? "")).toBe(-1);
  });

  describe("401", () => {
    it("without an Authorization header", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x" } }, { key: null }), 401, /Authorization: Bearer/);
    });
    it("with a malformed header", async () => {
      const answer = await create({ model: MODEL, input: { prompt: "x" } }, { key: null, headers: { Authorization: "Basic abc" } });
      expectError(answer, 401, /malformed, unknown or revoked/);
    });
    it("with an unknown key", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x" } }, { key: `ig_live_${"A".repeat(32)}` }), 401, /unknown or revoked/);
    });
    it("comes before body checks", async () => {
      expectError(await create(undefined, { key: "nope", rawBody: "{not json" }), 401, /API key/);
    });
  });

  describe("400", () => {
    it("when the body is not JSON", async () => {
      expectError(await create(undefined, { rawBody: "{not json", headers: { "Content-Type": "application/json" } }), 400, /not valid JSON/);
    });
    it("when the body is empty", async () => {
      expectError(await create(undefined, { rawBody: "", headers: { "Content-Type": "application/json" } }), 400, /JSON object/);
    });
    it("when the body is JSON without a JSON content type", async () => {
      const answer = await create(undefined, { rawBody: "[1,2]", headers: { "Content-Type": "text/plain" } });
      expectError(answer, 400, /JSON object/);
    });
    it.each([[[]], ["text"], [42], [null]])("when the body is %j, not an object", async (body) => {
      expectError(await create(body), 400, /JSON object/);
    });
    it("when model is missing", async () => {
      expectError(await create({ input: { prompt: "x" } }), 400, /^model is required and must be a string/);
    });
    it("when model is not a string", async () => {
      expectError(await create({ model: 7, input: { prompt: "x" } }), 400, /^model is required and must be a string/);
    });
    it("when input is missing", async () => {
      expectError(await create({ model: MODEL }), 400, /^input is required and must be an object/);
    });
    it.each([["text"], [[1]], [null], [3]])("when input is %j", async (input) => {
      expectError(await create({ model: MODEL, input }), 400, /^input is required and must be an object/);
    });
  });

  it("413 for a body over 1 MiB", async () => {
    const answer = await create({ model: MODEL, input: { prompt: "x".repeat(1024 * 1024 + 10) } });
    expectError(answer, 413, /at most 1 MiB/);
  });

  describe("422", () => {
    it("for a model not in the catalog, listing the known models", async () => {
      expectError(await create({ model: "dall-e", input: { prompt: "x" } }), 422, /^model must be one of nano-banana-text-to-image, google\/nano-banana, google\/nano-banana-edit, nano-banana-pro, nano-banana-2, nano-banana-2-lite, nano-banana-2-1$/);
    });
    it("for a missing prompt", async () => {
      expectError(await create({ model: MODEL, input: {} }), 422, /^input\.prompt is required/);
    });
    it("for a prompt that is not a string", async () => {
      expectError(await create({ model: MODEL, input: { prompt: 12 } }), 422, /^input\.prompt is required and must be a string/);
    });
    it.each([[""], ["   \n\t "]])("for an empty or blank prompt %j", async (prompt) => {
      expectError(await create({ model: MODEL, input: { prompt } }), 422, /^input\.prompt must not be empty/);
    });
    it("for a prompt over 20000 code points", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "a".repeat(20_001) } }), 422, /^input\.prompt must be at most 20000 characters/);
    });
    it("accepts 20000 code points even when they take 40000 UTF-16 units", async () => {
      const answer = await create({ model: MODEL, input: { prompt: "🍌".repeat(20_000) } });
      expect(answer.status).toBe(200);
    });
    it("for an unknown image_size, listing the accepted values", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x", image_size: "7:3" } }), 422, new RegExp(`^input\\.image_size must be one of ${RATIOS}$`));
    });
    it("for an aspect_ratio of the wrong type", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x", aspect_ratio: 1 } }), 422, /^input\.aspect_ratio must be one of 1:1/);
    });
    it("when image_size and aspect_ratio disagree", async () => {
      const answer = await create({ model: MODEL, input: { prompt: "x", image_size: "1:1", aspect_ratio: "16:9" } });
      expectError(answer, 422, /^input\.aspect_ratio and input\.image_size disagree/);
    });
    it("accepts image_size and aspect_ratio when they agree", async () => {
      expect((await create({ model: MODEL, input: { prompt: "x", image_size: "4:3", aspect_ratio: "4:3" } })).status).toBe(200);
    });
    it("for an unknown output_format", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x", output_format: "gif" } }), 422, /^input\.output_format must be one of png, jpeg$/);
    });
    it("accepts jpg as jpeg", async () => {
      expect((await create({ model: MODEL, input: { prompt: "x", output_format: "jpg" } })).status).toBe(200);
    });
    it("for nsfw_checker that is not a boolean", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x", nsfw_checker: "false" } }), 422, /^input\.nsfw_checker must be a boolean/);
    });
    it("for an unknown input field, naming it", async () => {
      expectError(await create({ model: MODEL, input: { prompt: "x", seed: 3 } }), 422, /^input\.seed is not a known field/);
    });
    it.each([
      ["ftp://example.com/hook"],
      ["/relative/hook"],
      ["not a url"],
      [`https://example.com/${"a".repeat(2048)}`],
      [12],
      [" https://example.com/hook"],
      ["https:example.com/hook"],
    ])(
      "for callBackUrl %j",
      async (callBackUrl) => {
        const answer = await create({ model: MODEL, input: { prompt: "x" }, callBackUrl });
        expectError(answer, 422, /^callBackUrl must be an absolute http or https URL of at most 2048 characters$/);
      },
    );
    it.each([["https://user:secret@example.com/hook"], ["https://user@example.com/hook"], ["http://:secret@example.com/hook"]])(
      "for callBackUrl %j with credentials, storing and charging nothing",
      async (callBackUrl) => {
        const tasksBefore = await harness.server.tasks.countForAccount(harness.accountId);
        const creditsBefore = await harness.server.accounts.balance(harness.accountId);
        const answer = await create({ model: MODEL, input: { prompt: "x" }, callBackUrl });
        expect(answer.status).toBe(422);
        expect(answer.body).toEqual({ code: 422, msg: "callBackUrl must not contain a user name or password", data: null });
        expect(await harness.server.tasks.countForAccount(harness.accountId)).toBe(tasksBefore);
        expect(await harness.server.accounts.balance(harness.accountId)).toBe(creditsBefore);
      },
    );
    it("answers 400 before the 422 of a callBackUrl with credentials", async () => {
      const answer = await create({ model: 12, input: { prompt: "x" }, callBackUrl: "https://user:secret@example.com/hook" });
      expectError(answer, 400, /^model is required and must be a string\.$/);
    });
    it("answers the 422 of a callBackUrl with credentials before the 402 of an account without credits", async () => {
      const poorKey = await harness.newAccountKey("penniless-callback", "live", 0);
      const answer = await create(
        { model: MODEL, input: { prompt: "x" }, callBackUrl: "https://user:secret@example.com/hook" },
        { key: poorKey },
      );
      expectError(answer, 422, /^callBackUrl must not contain a user name or password$/);
    });
    it("accepts an https callBackUrl", async () => {
      expect((await create({ model: MODEL, input: { prompt: "x" }, callBackUrl: "https://example.com/hook" })).status).toBe(200);
    });
  });

  it("stores nothing for a rejected request", async () => {
    const before = await harness.server.tasks.countForAccount(harness.accountId);
    await create({ model: MODEL, input: { prompt: "x", image_size: "bad" } });
    await create({ model: MODEL });
    await create(undefined, { rawBody: "{" });
    expect(await harness.server.tasks.countForAccount(harness.accountId)).toBe(before);
  });
});

describe("unknown routes", () => {
  it("answer the envelope with 404", async () => {
    const answer = await call(harness.baseUrl, "GET", "/api/v1/jobs/nothing", { key: harness.key });
    expectError(answer, 404, /no route GET \/api\/v1\/jobs\/nothing/i);
  });
});
