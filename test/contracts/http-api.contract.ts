import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import sharp from "sharp";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminMadeAccount } from "../helpers/admin-api.ts";
import { startCallbackReceiver, type CallbackReceiver, type ReceivedCallback } from "../helpers/callback-receiver.ts";
import { call, MODEL, waitForTerminal, type ApiAnswer, type TaskData } from "../helpers/test-server.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A running imagegate as its clients and its operator see it: URLs and keys, nothing beneath. */
export interface HttpApiTarget {
  /**
   * Every URL a client may send requests to: each API process, and the load balancer before them
   * (one URL for a single server). The suite spreads its requests over them, so a task made
   * through one is read, canceled and streamed through another.
   */
  baseUrls: readonly string[];
  adminKey: string;
  /** SANDBOX_LATENCY_MS: how long a task generates; a `[sandbox:slow]` prompt takes ten times that. */
  latencyMs: number;
  /** An account with `credits` and one live key, made through the admin API. */
  newAccount(name: string, credits: number): Promise<AdminMadeAccount>;
  stop(): Promise<void>;
}

const RECORD_FIELDS = [
  "completeTime", "costTime", "createTime", "creditsConsumed", "failCode", "failMsg",
  "model", "param", "resultJson", "state", "taskId", "updateTime",
].sort();
const STATE_ORDER = ["waiting", "queuing", "generating", "success", "fail"];
const PRICE = 4;
const RATIOS = "1:1, 9:16, 16:9, 3:4, 4:3, 3:2, 2:3, 5:4, 4:5, 21:9, auto";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A callback receiver listening for the enclosing describe block; `url` is known once its
 * beforeAll has run.
 */
function callbackReceiver(path: string): { received: ReceivedCallback[]; url: () => string } {
  const received: ReceivedCallback[] = [];
  let receiver: CallbackReceiver | null = null;
  beforeAll(async () => {
    receiver = await startCallbackReceiver(path, received);
  });
  afterAll(async () => {
    await receiver?.close();
  });
  return { received, url: () => receiver?.url ?? "" };
}

/**
 * The HTTP API as docs/contract.md and docs/api.md promise it, through HTTP alone: the answers a
 * client relies on, whichever process (or balancer) each of its requests reaches.
 */
export function httpApiContract(name: string, start: () => Promise<HttpApiTarget>, startTimeoutMs = 60_000): void {
  describe(`HTTP API contract: ${name}`, () => {
    let target: HttpApiTarget;
    beforeAll(async () => {
      target = await start();
    }, startTimeoutMs);
    afterAll(async () => {
      await target?.stop();
    });

    /** The i-th base URL, round and round: consecutive indexes are different URLs (where there are several). */
    const via = (index: number): string => target.baseUrls[index % target.baseUrls.length] ?? "";
    const everywhere = (): readonly string[] => target.baseUrls;
    const slowMs = (): number => target.latencyMs * 10;

    function createTask(baseUrl: string, key: string, body: unknown, headers: Record<string, string> = {}) {
      return call<{ taskId: string } | null>(baseUrl, "POST", "/api/v1/jobs/createTask", { key, body, headers });
    }

    async function taskIdOf(baseUrl: string, key: string, input: Record<string, unknown>, callBackUrl?: string): Promise<string> {
      const answer = await createTask(baseUrl, key, { model: MODEL, input, ...(callBackUrl === undefined ? {} : { callBackUrl }) });
      expect(answer.body).toEqual({ code: 200, msg: "success", data: { taskId: expect.stringMatching(/^task_[0-9a-z]{26}$/) } });
      return answer.body.data?.taskId ?? "";
    }

    async function recordOf(baseUrl: string, key: string, taskId: string): Promise<TaskData> {
      const answer = await call<TaskData>(baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key });
      expect(answer.status).toBe(200);
      return answer.body.data;
    }

    async function creditOf(baseUrl: string, key: string): Promise<number> {
      const answer = await call<number>(baseUrl, "GET", "/api/v1/chat/credit", { key });
      expect(answer.body).toMatchObject({ code: 200, msg: "success" });
      return answer.body.data;
    }

    /** The balance as every process answers it: one number, or the answers disagree. */
    async function creditEverywhere(key: string): Promise<number> {
      const balances = await Promise.all(everywhere().map((baseUrl) => creditOf(baseUrl, key)));
      expect(new Set(balances).size).toBe(1);
      return balances[0] ?? Number.NaN;
    }

    function cancel(baseUrl: string, key: string, taskId: string) {
      return call<TaskData | null>(baseUrl, "POST", "/api/v1/jobs/cancelTask", { key, body: { taskId } });
    }

    function admin<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
      return call<T>(via(0), method, path, { key: target.adminKey, ...(body === undefined ? {} : { body }) });
    }

    /** The account's tasks as the operator sees them, newest first. */
    async function tasksOf(account: AdminMadeAccount): Promise<Array<{ taskId: string; state: string }>> {
      const answer = await admin<Array<{ taskId: string; state: string }>>("GET", `/admin/v1/tasks?account=${account.name}&limit=1000`);
      expect(answer.status).toBe(200);
      return answer.body.data;
    }

    /** The ledger entries of one task, oldest first. */
    async function ledgerOf(account: AdminMadeAccount, taskId: string): Promise<Array<{ kind: string; amount: number }>> {
      const answer = await admin<{ ledger: Array<{ taskId: string | null; kind: string; amount: number }> }>("GET", `/admin/v1/accounts/${account.name}`);
      expect(answer.status).toBe(200);
      return answer.body.data.ledger
        .filter((entry) => entry.taskId === taskId)
        .reverse()
        .map(({ kind, amount }) => ({ kind, amount }));
    }

    async function setLimits(account: AdminMadeAccount, baseUrl: string, limits: Record<string, unknown>): Promise<void> {
      const answer = await call(baseUrl, "PUT", `/admin/v1/accounts/${account.name}/limits`, { key: target.adminKey, body: limits });
      expect(answer.status).toBe(200);
    }

    async function untilState(baseUrl: string, key: string, taskId: string, state: string): Promise<TaskData> {
      let record: TaskData | undefined;
      await waitUntil(async () => {
        record = await recordOf(baseUrl, key, taskId);
        if (record.state === "success" || record.state === "fail") throw new Error(`task ${taskId} ended ${record.state} before ${state}`);
        return record.state === state;
      }, `task ${taskId} ${state}`);
      if (record === undefined) throw new Error("no record");
      return record;
    }

    /**
     * Reads a streamInfo answer to its end: the response and the records of its `state` events,
     * each handed to `onEvent` as it arrives.
     */
    async function readStream(
      baseUrl: string,
      key: string,
      taskId: string,
      onEvent: (record: TaskData) => void = () => undefined,
    ): Promise<{ response: Response; events: TaskData[] }> {
      const response = await fetch(`${baseUrl}/api/v1/jobs/streamInfo?taskId=${taskId}`, {
        headers: { Authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(20_000),
      });
      const events: TaskData[] = [];
      let text = "";
      for await (const chunk of response.body ?? []) {
        text += Buffer.from(chunk).toString("utf8");
        let end: number;
        while ((end = text.indexOf("\n\n")) !== -1) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          if (!block.startsWith("event: state\n")) continue;
          const record = JSON.parse(block.slice(block.indexOf("\ndata: ") + "\ndata: ".length)) as TaskData;
          events.push(record);
          onEvent(record);
        }
      }
      return { response, events };
    }

    function resultUrlOf(record: TaskData): string {
      const parsed = JSON.parse(record.resultJson ?? "null") as { resultUrls: string[] };
      expect(parsed.resultUrls).toHaveLength(1);
      return parsed.resultUrls[0] ?? "";
    }

    /** The same path and query on another base URL: a result URL as another process serves it. */
    function onOrigin(url: string, baseUrl: string): string {
      const moved = new URL(url);
      const origin = new URL(baseUrl);
      moved.host = origin.host;
      moved.protocol = origin.protocol;
      return moved.href;
    }

    async function download(url: string): Promise<{ response: Response; bytes: Buffer }> {
      const response = await fetch(url);
      return { response, bytes: Buffer.from(await response.arrayBuffer()) };
    }

    describe("createTask refusals", () => {
      it("answer 422 or 400 naming the field, on every process, and store and charge nothing", async () => {
        const account = await target.newAccount("refused", 100);
        const input = { prompt: "a lighthouse" };
        const cases: Array<[number, unknown, RegExp]> = [
          [422, { model: "dall-e", input }, /^model must be one of nano-banana-text-to-image, google\/nano-banana, /],
          [422, { model: MODEL, input: {} }, /^input\.prompt is required/],
          [422, { model: MODEL, input: { prompt: " \n " } }, /^input\.prompt must not be empty/],
          [422, { model: MODEL, input: { prompt: "x".repeat(20_001) } }, /^input\.prompt must be at most 20000 characters/],
          [422, { model: MODEL, input: { ...input, image_size: "7:3" } }, new RegExp(`^input\\.image_size must be one of ${RATIOS}$`)],
          [422, { model: MODEL, input: { ...input, image_size: "1:1", aspect_ratio: "16:9" } }, /^input\.aspect_ratio and input\.image_size disagree/],
          [422, { model: MODEL, input: { ...input, output_format: "gif" } }, /^input\.output_format must be one of png, jpeg$/],
          [422, { model: MODEL, input: { ...input, nsfw_checker: "false" } }, /^input\.nsfw_checker must be a boolean/],
          [422, { model: MODEL, input: { ...input, seed: 3 } }, /^input\.seed is not a known field/],
          [422, { model: MODEL, input, callBackUrl: "ftp://example.com/hook" }, /^callBackUrl must be an absolute http or https URL of at most 2048 characters$/],
          [422, { model: MODEL, input, callBackUrl: "https://user:secret@example.com/hook" }, /^callBackUrl must not contain a user name or password$/],
          [400, { input }, /^model is required and must be a string/],
          [400, { model: MODEL }, /^input is required and must be an object/],
          [400, [MODEL], /JSON object/],
        ];
        for (const [index, [status, body, message]] of cases.entries()) {
          const answer = await createTask(via(index), account.key, body, { "Idempotency-Key": `refused-${index}` });
          expect({ case: index, status: answer.status, code: answer.body.code, data: answer.body.data }).toEqual({ case: index, status, code: status, data: null });
          expect(answer.body.msg).toMatch(message);
        }
        const notJson = await call(via(1), "POST", "/api/v1/jobs/createTask", {
          key: account.key,
          rawBody: "{not json",
          headers: { "Content-Type": "application/json" },
        });
        expect(notJson.status).toBe(400);
        expect(notJson.body.msg).toMatch(/not valid JSON/);

        expect(await creditEverywhere(account.key)).toBe(100);
        expect(await tasksOf(account)).toEqual([]);
        // A refused request leaves its Idempotency-Key unused.
        const accepted = await createTask(via(2), account.key, { model: MODEL, input }, { "Idempotency-Key": "refused-0" });
        expect(accepted.status).toBe(200);
      });
    });

    describe("authentication", () => {
      it("answers 401 without a key, or with an unknown one, on every process", async () => {
        for (const baseUrl of everywhere()) {
          const missing = await call(baseUrl, "GET", "/api/v1/chat/credit", {});
          expect(missing.status).toBe(401);
          expect(missing.headers.get("x-request-id")).toMatch(/\S/);
          expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="imagegate"');
          expect(missing.body).toEqual({ code: 401, msg: "Authentication failed: send the header Authorization: Bearer <api key>.", data: null });
          const unknown = await createTask(baseUrl, `ig_live_${"A".repeat(32)}`, { model: MODEL, input: { prompt: "x" } });
          expect(unknown.body).toEqual({ code: 401, msg: "Authentication failed: the API key is malformed, unknown or revoked.", data: null });
        }
      });

      it("refuses a key revoked on one process on every process from the next request, open connections included", async () => {
        const account = await target.newAccount("revoked", 100);
        // Every process (and connection) has seen the key work.
        expect(await creditEverywhere(account.key)).toBe(100);
        const other = await admin<{ key: string }>("POST", `/admin/v1/accounts/${account.name}/keys`, { mode: "live" });
        expect(other.status).toBe(200);

        const revoked = await call(via(1), "POST", `/admin/v1/keys/${account.keyId}/revoke`, { key: target.adminKey });
        expect(revoked.status).toBe(200);
        for (const baseUrl of everywhere()) {
          const credit = await call(baseUrl, "GET", "/api/v1/chat/credit", { key: account.key });
          expect(credit.body).toEqual({ code: 401, msg: "Authentication failed: the API key is malformed, unknown or revoked.", data: null });
          expect((await createTask(baseUrl, account.key, { model: MODEL, input: { prompt: "x" } })).status).toBe(401);
        }
        // The account's other key is untouched.
        expect(await creditEverywhere(other.body.data.key)).toBe(100);
        expect(await tasksOf(account)).toEqual([]);
      });
    });

    describe("a task's life", () => {
      it("goes forward to success with every recordInfo field, read on another process", async () => {
        const account = await target.newAccount("lifecycle", 100);
        const body = { model: MODEL, input: { prompt: "a lighthouse at dusk", image_size: "16:9" } };
        const created = await createTask(via(0), account.key, body);
        expect(created.status).toBe(200);
        const taskId = created.body.data?.taskId ?? "";
        const { record, states } = await waitForTerminal(via(1), account.key, taskId);
        expect(states.at(-1)).toBe("success");
        const ranks = states.map((state) => STATE_ORDER.indexOf(state));
        expect(ranks).toEqual([...new Set(ranks)].sort((a, b) => a - b));

        expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
        expect(record).toMatchObject({ taskId, model: MODEL, state: "success", failCode: null, failMsg: null, creditsConsumed: PRICE });
        expect(JSON.parse(record.param)).toEqual(body);
        expect(record.completeTime).toBeGreaterThanOrEqual(record.createTime);
        expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
        expect(record.updateTime).toBe(record.completeTime);
        expect(resultUrlOf(record)).toMatch(/\/files\/\d{4}-\d{2}-\d{2}\/task_[0-9a-z]{26}\.png\?expires=\d+&signature=[\w-]+$/);
        // Every process answers the same record.
        for (const baseUrl of everywhere()) expect(await recordOf(baseUrl, account.key, taskId)).toEqual(record);
        expect(await creditEverywhere(account.key)).toBe(100 - PRICE);
        expect(await ledgerOf(account, taskId)).toEqual([
          { kind: "hold", amount: -PRICE },
          { kind: "capture", amount: 0 },
        ]);
      });

      it("keeps a result downloadable as a PNG of the table's size through every process", async () => {
        const account = await target.newAccount("downloads", 100);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "a wide harbour", image_size: "16:9" });
        const url = resultUrlOf((await waitForTerminal(via(1), account.key, taskId)).record);
        expect(everywhere()).toContain(new URL(url).origin);
        const copies: Buffer[] = [];
        const etags = new Set<string | null>();
        for (const baseUrl of everywhere()) {
          const { response, bytes } = await download(onOrigin(url, baseUrl));
          expect(response.status).toBe(200);
          expect(response.headers.get("content-type")).toBe("image/png");
          expect(response.headers.get("content-length")).toBe(String(bytes.length));
          expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
          expect(response.headers.get("etag")).toMatch(/^"[\w-]+"$/);
          etags.add(response.headers.get("etag"));
          expect(bytes.subarray(0, 8)).toEqual(PNG_SIGNATURE);
          copies.push(bytes);
        }
        expect(etags.size).toBe(1);
        const [etag] = etags;
        for (const baseUrl of everywhere()) {
          // An interrupted download resumes on whichever process the next connection reaches.
          const part = await fetch(onOrigin(url, baseUrl), { headers: { Range: "bytes=0-99" } });
          expect(part.status).toBe(206);
          expect(part.headers.get("content-range")).toBe(`bytes 0-99/${copies[0]?.length}`);
          expect(Buffer.from(await part.arrayBuffer())).toEqual(copies[0]?.subarray(0, 100));
          const unchanged = await fetch(onOrigin(url, baseUrl), { headers: { "If-None-Match": etag ?? "" } });
          await unchanged.arrayBuffer();
          expect(unchanged.status).toBe(304);
        }
        for (const copy of copies) expect(copy.equals(copies[0] ?? Buffer.alloc(0))).toBe(true);
        const metadata = await sharp(copies[0]).metadata();
        expect([metadata.format, metadata.width, metadata.height]).toEqual(["png", 1376, 768]);

        const tampered = new URL(url);
        tampered.searchParams.set("expires", String(Number(tampered.searchParams.get("expires")) + 1));
        for (const baseUrl of everywhere()) {
          const { response, bytes } = await download(onOrigin(tampered.href, baseUrl));
          expect(response.status).toBe(403);
          expect(JSON.parse(bytes.toString())).toMatchObject({ code: 403, data: null });
        }
      });

      it("gives a JPEG when asked for jpg", async () => {
        const account = await target.newAccount("jpeg", 100);
        const taskId = await taskIdOf(via(1), account.key, { prompt: "a square", output_format: "jpg" });
        const url = resultUrlOf((await waitForTerminal(via(2), account.key, taskId)).record);
        expect(url).toMatch(new RegExp(`/${taskId}\\.jpg\\?`));
        const { response, bytes } = await download(onOrigin(url, via(0)));
        expect(response.headers.get("content-type")).toBe("image/jpeg");
        const metadata = await sharp(bytes).metadata();
        expect([metadata.format, metadata.width, metadata.height]).toEqual(["jpeg", 1024, 1024]);
      });

      it.each([
        ["PROVIDER_ERROR", { prompt: "please [sandbox:fail]" }],
        ["CONTENT_POLICY", { prompt: "[sandbox:unsafe] thing" }],
      ])("fails with %s and releases the credits it held", async (failCode, input) => {
        const account = await target.newAccount(`failing-${failCode.toLowerCase().replace("_", "-")}`, 100);
        const taskId = await taskIdOf(via(0), account.key, input);
        const { record } = await waitForTerminal(via(1), account.key, taskId);
        expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
        expect(record).toMatchObject({ state: "fail", failCode, resultJson: null, creditsConsumed: 0 });
        expect(record.failMsg).toMatch(/^[A-Z].+\.$/);
        expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
        expect(await creditEverywhere(account.key)).toBe(100);
        expect(await ledgerOf(account, taskId)).toEqual([
          { kind: "hold", amount: -PRICE },
          { kind: "release", amount: PRICE },
        ]);
      });
    });

    describe("test keys", () => {
      it("run tasks on the sandbox without touching credits", async () => {
        const account = await target.newAccount("integrating", 0);
        const created = await admin<{ key: string }>("POST", `/admin/v1/accounts/${account.name}/keys`, { mode: "test" });
        expect(created.body.data.key).toMatch(/^ig_test_/);
        const testKey = created.body.data.key;
        const taskId = await taskIdOf(via(0), testKey, { prompt: "for free" });
        const { record } = await waitForTerminal(via(1), testKey, taskId);
        expect(record).toMatchObject({ state: "success", creditsConsumed: 0 });
        expect(await creditEverywhere(testKey)).toBe(0);
        expect((await createTask(via(2), account.key, { model: MODEL, input: { prompt: "live" } })).status).toBe(402);
      });
    });

    describe("uploads", () => {
      it("serve a file uploaded on one process from every process, and a worker reads it as a reference image", async () => {
        const account = await target.newAccount("uploading", 100);
        // 64x48: a 4:3 picture, whose shape an `auto` task takes.
        const picture = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#c03020" } }).png().toBuffer();
        const uploaded = await call<{ downloadUrl: string; mimeType: string; fileSize: number; filePath: string }>(
          via(0),
          "POST",
          "/api/file-base64-upload",
          { key: account.key, body: { base64Data: picture.toString("base64"), uploadPath: "inputs", fileName: "red.png" } },
        );
        expect(uploaded.status).toBe(200);
        expect(uploaded.body).toMatchObject({ success: true, code: 200, data: { filePath: "inputs/red.png", mimeType: "image/png", fileSize: picture.length } });
        const { downloadUrl } = uploaded.body.data;
        for (const baseUrl of everywhere()) {
          const { response, bytes } = await download(onOrigin(downloadUrl, baseUrl));
          expect(response.headers.get("content-type")).toBe("image/png");
          expect(bytes.equals(picture)).toBe(true);
        }

        const created = await createTask(via(1), account.key, {
          model: "google/nano-banana-edit",
          input: { prompt: "the red card, framed", image_urls: [downloadUrl], image_size: "auto" },
        });
        expect(created.status).toBe(200);
        const { record } = await waitForTerminal(via(2), account.key, created.body.data?.taskId ?? "");
        expect(record.state).toBe("success");
        const metadata = await sharp((await download(resultUrlOf(record))).bytes).metadata();
        expect([metadata.width, metadata.height]).toEqual([1200, 896]);
      });
    });

    describe("recordInfo", () => {
      it("answers 400 without a taskId and 404 for an unknown task or another account's, on every process", async () => {
        const owner = await target.newAccount("owner", 100);
        const stranger = await target.newAccount("stranger", 100);
        const taskId = await taskIdOf(via(0), owner.key, { prompt: "mine" });
        for (const baseUrl of everywhere()) {
          expect((await call(baseUrl, "GET", "/api/v1/jobs/recordInfo", { key: owner.key })).body).toEqual({
            code: 400,
            msg: "taskId is required as a query parameter.",
            data: null,
          });
          expect((await call(baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_nothing", { key: owner.key })).body).toEqual({
            code: 404,
            msg: "no task with taskId task_nothing",
            data: null,
          });
          expect((await call(baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: stranger.key })).body).toEqual({
            code: 404,
            msg: `no task with taskId ${taskId}`,
            data: null,
          });
        }
        await waitForTerminal(via(1), owner.key, taskId);
      });
    });

    describe("credits", () => {
      it("are held at createTask, shown by every process, and captured once on success", async () => {
        const account = await target.newAccount("held", 10);
        expect(await creditEverywhere(account.key)).toBe(10);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "[sandbox:slow] held" });
        expect(await creditEverywhere(account.key)).toBe(10 - PRICE);
        expect((await recordOf(via(1), account.key, taskId)).creditsConsumed).toBe(0);
        const { record } = await waitForTerminal(via(2), account.key, taskId);
        expect(record).toMatchObject({ state: "success", creditsConsumed: PRICE });
        expect(await creditEverywhere(account.key)).toBe(10 - PRICE);
      });

      it("refuse a task the balance cannot cover with 402 on another process, storing nothing", async () => {
        const account = await target.newAccount("short", 6);
        const first = await taskIdOf(via(0), account.key, { prompt: "affordable" });
        const refused = await createTask(via(1), account.key, { model: MODEL, input: { prompt: "too dear" } });
        expect(refused.status).toBe(402);
        expect(refused.body).toEqual({ code: 402, msg: `Insufficient credits: ${MODEL} costs ${PRICE} credits per task.`, data: null });
        expect(await creditEverywhere(account.key)).toBe(6 - PRICE);
        expect((await tasksOf(account)).map((task) => task.taskId)).toEqual([first]);
        const penniless = await target.newAccount("penniless", 0);
        expect((await createTask(via(2), penniless.key, { model: MODEL, input: { prompt: "free?" } })).status).toBe(402);
        await waitForTerminal(via(2), account.key, first);
      });
    });

    describe("limits set through the admin API", () => {
      it("hold the active-task limit across processes under concurrency, and free a slot when a task is canceled", async () => {
        const account = await target.newAccount("busy", 1_000);
        await creditEverywhere(account.key);
        await setLimits(account, via(1), { activeTasks: 3 });
        const answers = await Promise.all(
          Array.from({ length: 9 }, (_, index) => createTask(via(index), account.key, { model: MODEL, input: { prompt: `[sandbox:slow] busy ${index}` } })),
        );
        const accepted = answers.filter((answer) => answer.status === 200).map((answer) => answer.body.data?.taskId ?? "");
        const refused = answers.filter((answer) => answer.status === 409);
        expect([accepted.length, refused.length]).toEqual([3, 6]);
        expect(refused[0]?.body).toEqual({
          code: 409,
          msg: "The account already has its maximum of 3 active tasks; wait for some to finish.",
          data: null,
        });
        expect(await creditEverywhere(account.key)).toBe(1_000 - 3 * PRICE);

        const [first = "", ...rest] = accepted;
        expect((await cancel(via(2), account.key, first)).status).toBe(200);
        const next = await taskIdOf(via(0), account.key, { prompt: "[sandbox:slow] after a slot freed" });
        expect((await createTask(via(1), account.key, { model: MODEL, input: { prompt: "one too many" } })).status).toBe(409);
        for (const [index, taskId] of [...rest, next].entries()) expect((await cancel(via(index), account.key, taskId)).status).toBe(200);
        expect(await tasksOf(account)).toHaveLength(4);
        expect(await creditEverywhere(account.key)).toBe(1_000);
      });

      it("count a key's createTask budget across processes", async () => {
        const account = await target.newAccount("limited", 1_000);
        // Every process has seen the key under the server's defaults before the change.
        await creditEverywhere(account.key);
        await setLimits(account, via(2), { createTask: "3/10s" });
        const answers = [];
        for (let index = 0; index < 5; index += 1) answers.push(await createTask(via(index), account.key, { model: MODEL, input: { prompt: `limited ${index}` } }));
        expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429]);
        expect(answers[0]?.headers.get("ratelimit-policy")).toBe('"createTask";q=3;w=10');
        const limited = answers[3];
        expect(limited?.body).toMatchObject({ code: 429, data: null });
        expect(limited?.body.msg).toMatch(/^Rate limit exceeded: this key may make 3 createTask requests per 10 s; retry after \d+ s\.$/);
        expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(Number(limited?.headers.get("retry-after"))).toBeLessThanOrEqual(10);
        expect(await tasksOf(account)).toHaveLength(3);
      });

      it("count a key's budget for the other routes across processes, apart from createTask's", async () => {
        const account = await target.newAccount("polling", 1_000);
        await setLimits(account, via(0), { other: "3/10s" });
        const statuses = [];
        for (let index = 0; index < 4; index += 1) {
          statuses.push((await call(via(index), "GET", "/api/v1/jobs/recordInfo?taskId=task_nothing", { key: account.key })).status);
        }
        expect(statuses).toEqual([404, 404, 404, 429]);
        const credit = await call(via(1), "GET", "/api/v1/chat/credit", { key: account.key });
        expect(credit.status).toBe(429);
        expect(credit.headers.get("ratelimit-policy")).toBe('"other";q=3;w=10');
        expect(credit.headers.get("retry-after")).toMatch(/^\d+$/);
        expect((await createTask(via(2), account.key, { model: MODEL, input: { prompt: "its own budget" } })).status).toBe(200);
      });
    });

    describe("cancelTask", () => {
      it("cancels on another process a task that is generating: fail/CANCELED, credits released, never success later", async () => {
        const account = await target.newAccount("canceling", 100);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "[sandbox:slow] canceled midway" });
        const running = await untilState(via(1), account.key, taskId, "generating");
        const generatingSince = Date.now();
        expect(running).toMatchObject({ resultJson: null, failCode: null, failMsg: null, costTime: null, completeTime: null, creditsConsumed: 0 });
        // A stream on a third process, open before the cancel, follows the cancel made on the second.
        let streamOpened = (): void => undefined;
        const opened = new Promise<void>((resolve) => (streamOpened = resolve));
        const streamed = readStream(via(2), account.key, taskId, () => streamOpened());
        await opened;

        const canceled = await cancel(via(1), account.key, taskId);
        expect(canceled.status).toBe(200);
        expect(canceled.body.data).toMatchObject({ taskId, state: "fail", failCode: "CANCELED", failMsg: "The task was canceled.", resultJson: null });
        expect(canceled.body.data?.costTime).toBe((canceled.body.data?.completeTime ?? 0) - (canceled.body.data?.createTime ?? 0));
        expect(await creditEverywhere(account.key)).toBe(100);
        const { events } = await streamed;
        expect(events.map((event) => event.state)).toEqual(["generating", "fail"]);
        expect(events.at(-1)).toEqual(canceled.body.data);

        // Past the time the generation would have taken, it is still canceled, and charged nothing.
        await sleep(Math.max(0, generatingSince + slowMs() + 500 - Date.now()));
        for (const baseUrl of everywhere()) expect(await recordOf(baseUrl, account.key, taskId)).toEqual(canceled.body.data);
        expect(await creditEverywhere(account.key)).toBe(100);
        expect(await ledgerOf(account, taskId)).toEqual([
          { kind: "hold", amount: -PRICE },
          { kind: "release", amount: PRICE },
        ]);
      });

      it("answers 409 for a task already ended, 404 for an unknown or another account's task", async () => {
        const account = await target.newAccount("cancel-late", 100);
        const stranger = await target.newAccount("cancel-stranger", 100);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "quick" });
        await waitForTerminal(via(1), account.key, taskId);
        expect((await cancel(via(2), account.key, taskId)).body).toEqual({
          code: 409,
          msg: "The task is already success; only waiting, queuing or generating tasks can be canceled.",
          data: null,
        });
        expect((await cancel(via(1), account.key, "task_nothing")).body).toEqual({ code: 404, msg: "no task with taskId task_nothing", data: null });
        expect((await cancel(via(0), stranger.key, taskId)).status).toBe(404);
        expect((await recordOf(via(2), account.key, taskId)).state).toBe("success");
      });
    });

    describe("Idempotency-Key", () => {
      it("answers the same task on every process, charged once, and refuses another body with 422", async () => {
        const account = await target.newAccount("idempotent", 100);
        const body = { model: MODEL, input: { prompt: "[sandbox:slow] once only" } };
        // Concurrent first tries on different processes: one task; the others wait for it (409) or answer it.
        const racing = await Promise.all(
          Array.from({ length: 6 }, (_, index) => createTask(via(index), account.key, body, { "Idempotency-Key": "order-1" })),
        );
        expect(racing.every((answer) => answer.status === 200 || answer.status === 409)).toBe(true);
        const ids = new Set(racing.filter((answer) => answer.status === 200).map((answer) => answer.body.data?.taskId));
        expect(ids.size).toBe(1);
        const [taskId = ""] = ids;
        for (const baseUrl of everywhere()) {
          expect((await createTask(baseUrl, account.key, body, { "Idempotency-Key": "order-1" })).body).toEqual({
            code: 200,
            msg: "success",
            data: { taskId },
          });
        }
        const other = await createTask(via(1), account.key, { model: MODEL, input: { prompt: "another" } }, { "Idempotency-Key": "order-1" });
        expect(other.body).toEqual({ code: 422, msg: "Idempotency-Key was already used with a different request body; use a new key.", data: null });
        expect(await creditEverywhere(account.key)).toBe(100 - PRICE);
        expect((await tasksOf(account)).map((task) => task.taskId)).toEqual([taskId]);
        expect((await cancel(via(2), account.key, taskId)).status).toBe(200);
      });
    });

    describe("streamInfo", () => {
      it("follows a task made on another process through its states to success", async () => {
        const account = await target.newAccount("streaming", 100);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "[sandbox:slow] followed live" });
        const { response, events } = await readStream(via(1), account.key, taskId);
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
        expect(response.headers.get("cache-control")).toBe("no-cache, no-transform");
        const ranks = events.map((event) => STATE_ORDER.indexOf(event.state));
        expect(ranks).toEqual([...new Set(ranks)].sort((a, b) => a - b));
        expect(events.length).toBeGreaterThanOrEqual(2);
        expect(events.at(-1)?.state).toBe("success");
        expect(events.at(-1)).toEqual(await recordOf(via(2), account.key, taskId));
        // Once ended, the stream answers the terminal state alone, on any process.
        for (const baseUrl of everywhere()) {
          expect((await readStream(baseUrl, account.key, taskId)).events.map((event) => event.state)).toEqual(["success"]);
        }
      });

      it("answers 400 and 404 like recordInfo", async () => {
        const account = await target.newAccount("streaming-errors", 100);
        for (const baseUrl of everywhere()) {
          expect((await call(baseUrl, "GET", "/api/v1/jobs/streamInfo", { key: account.key })).status).toBe(400);
          expect((await call(baseUrl, "GET", "/api/v1/jobs/streamInfo?taskId=task_none", { key: account.key })).body).toEqual({
            code: 404,
            msg: "no task with taskId task_none",
            data: null,
          });
        }
      });
    });

    describe("the account's own routes", () => {
      interface Page {
        items: TaskData[];
        nextCursor: string | null;
      }

      it("list the account's tasks newest first a page at a time, across processes, and none of another account's", async () => {
        const account = await target.newAccount("listed", 100);
        const stranger = await target.newAccount("listed-stranger", 100);
        const made: string[] = [];
        for (let index = 0; index < 5; index += 1) made.push(await taskIdOf(via(index), account.key, { prompt: `listed ${index}` }));
        for (const [index, taskId] of made.entries()) await waitForTerminal(via(index + 1), account.key, taskId);
        const newestFirst = (await tasksOf(account)).map((task) => task.taskId);
        expect([...newestFirst].sort()).toEqual([...made].sort());

        const listed: TaskData[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        for (let page = 0; page === 0 || cursor !== null; page += 1) {
          const query: string = cursor === null ? "" : `&cursor=${cursor}`;
          const answer: ApiAnswer<Page> = await call<Page>(via(page), "GET", `/api/v1/jobs?limit=2${query}`, { key: account.key });
          expect(answer.status).toBe(200);
          listed.push(...answer.body.data.items);
          sizes.push(answer.body.data.items.length);
          cursor = answer.body.data.nextCursor;
        }
        expect(sizes).toEqual([2, 2, 1]);
        expect(listed.map((record) => record.taskId)).toEqual(newestFirst);
        for (const record of listed) expect(record).toEqual(await recordOf(via(2), account.key, record.taskId));

        for (const baseUrl of everywhere()) {
          const successes = await call<Page>(baseUrl, "GET", `/api/v1/jobs?state=success&model=${MODEL}`, { key: account.key });
          expect(successes.body.data.items.map((record) => record.taskId)).toEqual(newestFirst);
          expect((await call<Page>(baseUrl, "GET", "/api/v1/jobs", { key: stranger.key })).body.data).toEqual({ items: [], nextCursor: null });
          expect((await call(baseUrl, "GET", "/api/v1/jobs?state=finished", { key: account.key })).body).toEqual({
            code: 422,
            msg: "state must be one of waiting, queuing, generating, success, fail",
            data: null,
          });
        }
      });

      it("make a key that works on every process, and revoke keys, the calling one too, on every process from the next request", async () => {
        const account = await target.newAccount("self-keys", 100);
        const made = await call<{ id: string; key: string; name: string }>(via(0), "POST", "/api/v1/keys", { key: account.key, body: { name: "deploy" } });
        expect(made.body).toMatchObject({ code: 200, data: { name: "deploy", key: expect.stringMatching(/^ig_live_/) } });
        expect(await creditEverywhere(made.body.data.key)).toBe(100);
        const listed = await call<Array<{ id: string; current: boolean }>>(via(1), "GET", "/api/v1/keys", { key: account.key });
        expect(listed.body.data.map((key) => [key.id, key.current])).toEqual([
          [made.body.data.id, false],
          [account.keyId, true],
        ]);

        expect((await call(via(1), "POST", `/api/v1/keys/${made.body.data.id}/revoke`, { key: account.key })).status).toBe(200);
        const refused = { code: 401, msg: "Authentication failed: the API key is malformed, unknown or revoked.", data: null };
        for (const baseUrl of everywhere()) expect((await call(baseUrl, "GET", "/api/v1/chat/credit", { key: made.body.data.key })).body).toEqual(refused);
        expect(await creditEverywhere(account.key)).toBe(100);

        // The account's key revokes itself: answered, then refused everywhere.
        const itself = await call<{ id: string; current: boolean; revokedAt: number | null }>(via(2), "POST", `/api/v1/keys/${account.keyId}/revoke`, { key: account.key });
        expect(itself.body.data).toMatchObject({ id: account.keyId, current: true, revokedAt: expect.any(Number) });
        for (const baseUrl of everywhere()) expect((await call(baseUrl, "GET", "/api/v1/keys", { key: account.key })).body).toEqual(refused);
      });
    });

    describe("callbacks", () => {
      const { received, url: receiverUrl } = callbackReceiver("/hooks/imagegate?token=receiver");

      it("deliver exactly one callback per task, its recordInfo body, signed with the account's webhook secret", async () => {
        const account = await target.newAccount("called-back", 100);
        const secretAnswer = await admin<{ secret: string }>("GET", `/admin/v1/accounts/${account.name}/webhook-secret`);
        expect(secretAnswer.status).toBe(200);
        const secret = secretAnswer.body.data.secret;
        expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

        const succeeded = await taskIdOf(via(0), account.key, { prompt: "called back" }, receiverUrl());
        const failed = await taskIdOf(via(1), account.key, { prompt: "called back [sandbox:fail]" }, receiverUrl());
        const canceled = await taskIdOf(via(2), account.key, { prompt: "called back [sandbox:slow]" }, receiverUrl());
        expect((await cancel(via(3), account.key, canceled)).status).toBe(200);
        const expected = new Map([
          [succeeded, "success"],
          [failed, "fail"],
          [canceled, "fail"],
        ]);
        const bodyOf = (callback: ReceivedCallback) => JSON.parse(callback.body) as { data: TaskData };
        await waitUntil(() => new Set(received.map((callback) => bodyOf(callback).data.taskId)).size === expected.size, "a callback per task");
        // Long enough for a second sender, or a second wake-up, to send one again.
        await sleep(1_000);
        expect(received.map((callback) => bodyOf(callback).data.taskId).sort()).toEqual([...expected.keys()].sort());

        const key = Buffer.from(secret.slice("whsec_".length), "base64");
        for (const [index, callback] of received.entries()) {
          const taskId = bodyOf(callback).data.taskId;
          expect(callback.path).toBe("/hooks/imagegate?token=receiver");
          expect(callback.headers["content-type"]).toBe("application/json");
          const record = await call<TaskData>(via(index), "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: account.key });
          expect(JSON.parse(callback.body)).toEqual(record.body);
          expect(record.body.data.state).toBe(expected.get(taskId));
          if (taskId === canceled) expect(record.body.data.failCode).toBe("CANCELED");

          const timestamp = String(callback.headers["x-webhook-timestamp"]);
          expect(callback.headers["webhook-timestamp"]).toBe(timestamp);
          expect(Math.abs(Number(timestamp) - Date.now() / 1_000)).toBeLessThan(60);
          expect(callback.headers["x-webhook-signature"]).toBe(createHmac("sha256", key).update(`${taskId}.${timestamp}`).digest("base64"));
          expect(callback.headers["webhook-id"]).toMatch(/^msg_[0-9a-z]{26}$/);
          const headers = Object.fromEntries(Object.entries(callback.headers).map(([name, value]) => [name, String(value)]));
          expect(new Webhook(secret).verify(callback.body, headers)).toEqual(record.body);
        }
        expect(new Set(received.map((callback) => callback.headers["webhook-id"])).size).toBe(expected.size);
      });
    });

    describe("callbacks through the account's own key", () => {
      const { received, url: receiverUrl } = callbackReceiver("/hooks/own");

      it("are signed with the secret the key rotated, listed with their attempts on every process, and sent again on request", async () => {
        const account = await target.newAccount("own-callbacks", 100);
        const first = await call<{ secret: string }>(via(0), "GET", "/api/v1/webhook-secret", { key: account.key });
        const rotated = await call<{ secret: string }>(via(1), "POST", "/api/v1/webhook-secret/rotate", { key: account.key });
        const secret = rotated.body.data.secret;
        expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
        expect(secret).not.toBe(first.body.data.secret);
        for (const baseUrl of everywhere()) {
          expect((await call(baseUrl, "GET", "/api/v1/webhook-secret", { key: account.key })).body.data).toEqual({ secret });
        }

        const taskId = await taskIdOf(via(2), account.key, { prompt: "called back through the key" }, receiverUrl());
        await waitUntil(() => received.length === 1, "the callback");
        const headersOf = (callback: ReceivedCallback) => Object.fromEntries(Object.entries(callback.headers).map(([name, value]) => [name, String(value)]));
        const [callback] = received;
        if (callback === undefined) throw new Error("no callback");
        expect(new Webhook(secret).verify(callback.body, headersOf(callback))).toMatchObject({ data: { taskId } });

        type Details = { delivery: { id: string; state: string; payload: string }; attempts: Array<{ status: number | null }> };
        await waitUntil(async () => {
          const listed = await call<Details[]>(via(3), "GET", `/api/v1/jobs/callbacks?taskId=${taskId}`, { key: account.key });
          return listed.body.data[0]?.delivery.state === "delivered";
        }, "the delivery recorded");
        for (const baseUrl of everywhere()) {
          const listed = await call<Details[]>(baseUrl, "GET", `/api/v1/jobs/callbacks?taskId=${taskId}`, { key: account.key });
          expect(listed.body.data).toHaveLength(1);
          expect(listed.body.data[0]?.delivery).toMatchObject({ id: callback.headers["webhook-id"], state: "delivered", payload: callback.body });
          expect(listed.body.data[0]?.attempts.map((attempt) => attempt.status)).toEqual([200]);
        }

        const again = await call<{ state: string }>(via(1), "POST", "/api/v1/jobs/callbacks/redeliver", { key: account.key, body: { taskId } });
        expect(again.body).toMatchObject({ code: 200, data: { state: "pending" } });
        await waitUntil(() => received.length === 2, "the callback sent again");
        expect(received[1]?.headers["webhook-id"]).toBe(callback.headers["webhook-id"]);
        expect(new Webhook(secret).verify(received[1]?.body ?? "", headersOf(received[1] ?? callback))).toMatchObject({ data: { taskId } });
        const stranger = await target.newAccount("own-callbacks-stranger", 0);
        expect((await call(via(0), "POST", "/api/v1/jobs/callbacks/redeliver", { key: stranger.key, body: { taskId } })).status).toBe(404);
      });
    });

    describe("download-url", () => {
      it("answers, on another process, a 20-minute URL for the same file; 422 for any other URL", async () => {
        const account = await target.newAccount("linking", 100);
        const stranger = await target.newAccount("linking-stranger", 100);
        const taskId = await taskIdOf(via(0), account.key, { prompt: "link me" });
        const url = resultUrlOf((await waitForTerminal(via(1), account.key, taskId)).record);
        const answer = await call<string>(via(2), "POST", "/api/v1/common/download-url", { key: account.key, body: { url } });
        expect(answer.status).toBe(200);
        const link = new URL(answer.body.data);
        expect(link.pathname).toBe(new URL(url).pathname);
        const lifetime = Number(link.searchParams.get("expires")) - Math.floor(Date.now() / 1_000);
        expect(lifetime).toBeGreaterThan(20 * 60 - 30);
        expect(lifetime).toBeLessThanOrEqual(20 * 60);
        const original = (await download(url)).bytes;
        for (const baseUrl of everywhere()) {
          const { response, bytes } = await download(onOrigin(link.href, baseUrl));
          expect(response.status).toBe(200);
          expect(bytes.equals(original)).toBe(true);
        }

        const refusal = { code: 422, msg: "url must be a resultUrl of one of your tasks.", data: null };
        const tampered = url.replace(/signature=(.)/, (_match, first: string) => `signature=${first === "A" ? "B" : "A"}`);
        for (const [index, other] of [tampered, "https://example.com/x.png", "not a url"].entries()) {
          expect((await call(via(index), "POST", "/api/v1/common/download-url", { key: account.key, body: { url: other } })).body).toEqual(refusal);
        }
        expect((await call(via(1), "POST", "/api/v1/common/download-url", { key: stranger.key, body: { url } })).body).toEqual(refusal);
      });
    });

    describe("models", () => {
      it("lists the same catalog with prices on every process", async () => {
        const account = await target.newAccount("catalog", 0);
        const answers = await Promise.all(
          everywhere().map((baseUrl) =>
            call<Array<{ id: string; price: number; defaults: unknown; inputSchema: { properties: Record<string, unknown> } }>>(
              baseUrl,
              "GET",
              "/api/v1/models",
              { key: account.key },
            ),
          ),
        );
        for (const answer of answers) {
          expect(answer.status).toBe(200);
          expect(answer.body).toEqual(answers[0]?.body);
        }
        const model = answers[0]?.body.data.find((candidate) => candidate.id === MODEL);
        expect(model).toMatchObject({ price: PRICE, defaults: { image_size: "1:1", output_format: "png", nsfw_checker: true } });
        expect(Object.keys(model?.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(["prompt", "image_size", "output_format", "nsfw_checker"]));
        expect((await call(via(1), "GET", "/api/v1/models", {})).status).toBe(401);
      });
    });
  });
}
