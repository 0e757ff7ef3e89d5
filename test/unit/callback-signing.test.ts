import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  GIVE_UP_AFTER_MS,
  MAX_RETRY_AFTER_MS,
  RETRY_DELAYS_MS,
  nextAttemptAt,
} from "../../src/domain/callbacks/retry-schedule.ts";
import { generateWebhookSecret, signCallback } from "../../src/domain/callbacks/signing.ts";
import { parseRetryAfter } from "../../src/net/retry-after.ts";

const HOUR_MS = 3_600_000;
const body = JSON.stringify({ code: 200, msg: "success", data: { taskId: "task_01jdw", state: "success" } });

/** The contract's key derivation, written out independently of the module under test. */
function keyOf(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ""), "base64");
}

function sign(overrides: Partial<Parameters<typeof signCallback>[0]> = {}) {
  return signCallback({
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    webhookId: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    taskId: "task_01jdw",
    timestampSeconds: Math.floor(Date.now() / 1_000),
    body,
    ...overrides,
  });
}

describe("callback signatures", () => {
  it("X-Webhook-Signature is base64(HMAC-SHA256(decoded secret, taskId.timestamp))", () => {
    const secret = generateWebhookSecret();
    const headers = sign({ secret, taskId: "task_abc", timestampSeconds: 1_767_225_600 });
    const expected = createHmac("sha256", keyOf(secret)).update("task_abc.1767225600").digest("base64");
    expect(headers["X-Webhook-Timestamp"]).toBe("1767225600");
    expect(headers["X-Webhook-Signature"]).toBe(expected);
  });

  it("webhook-signature is v1, + base64(HMAC-SHA256(decoded secret, id.timestamp.body))", () => {
    const secret = generateWebhookSecret();
    const headers = sign({ secret, webhookId: "msg_1", timestampSeconds: 1_767_225_600 });
    const expected = createHmac("sha256", keyOf(secret)).update(`msg_1.1767225600.${body}`).digest("base64");
    expect(headers["webhook-id"]).toBe("msg_1");
    expect(headers["webhook-timestamp"]).toBe("1767225600");
    expect(headers["webhook-signature"]).toBe(`v1,${expected}`);
    expect(headers["Content-Type"]).toBe("application/json");
  });

  it("matches the Standard Webhooks reference vector", () => {
    const headers = sign({ timestampSeconds: 1_614_265_330, body: '{"test": 2432232314}' });
    expect(headers["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("agrees with the standardwebhooks library: its sign() and its verify()", () => {
    const secret = generateWebhookSecret();
    const timestampSeconds = Math.floor(Date.now() / 1_000);
    const headers = sign({ secret, timestampSeconds });
    const library = new Webhook(secret);
    expect(headers["webhook-signature"]).toBe(library.sign(headers["webhook-id"], new Date(timestampSeconds * 1_000), body));
    expect(library.verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it("fails verification under a wrong secret, a changed body or a changed task id", () => {
    const secret = generateWebhookSecret();
    const headers = sign({ secret });
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(/signature/i);
    expect(() => new Webhook(secret).verify(`${body} `, { ...headers })).toThrow(/signature/i);
    const otherTask = createHmac("sha256", keyOf(secret)).update(`task_other.${headers["X-Webhook-Timestamp"]}`).digest("base64");
    expect(headers["X-Webhook-Signature"]).not.toBe(otherTask);
    const wrongKey = createHmac("sha256", keyOf(generateWebhookSecret()))
      .update(`task_01jdw.${headers["X-Webhook-Timestamp"]}`)
      .digest("base64");
    expect(headers["X-Webhook-Signature"]).not.toBe(wrongKey);
  });

  it("makes secrets of whsec_ and 32 random bytes", () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(keyOf(secret)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });
});

/** Every attempt time of a delivery that never succeeds, until the schedule gives up. */
function attemptTimes(random: () => number, createdAt = 1_000_000): number[] {
  const times = [createdAt];
  for (;;) {
    const last = times.at(-1) ?? createdAt;
    const next = nextAttemptAt({ attempts: times.length, now: last, firstAttemptAt: createdAt, retryAfterMs: null, random });
    if (next === null) return times;
    times.push(next);
    if (times.length > 100) throw new Error("the schedule never gives up");
  }
}

describe("retry schedule", () => {
  it.each([
    ["the shortest jitter", () => 0],
    ["no jitter", () => 0.5],
    ["the longest jitter", () => 0.999_999],
  ])("keeps retrying for at least 24 hours and then gives up (%s)", (_name, random) => {
    const times = attemptTimes(random);
    const first = times[0] ?? 0;
    const last = times.at(-1) ?? 0;
    expect(last - first).toBeGreaterThanOrEqual(GIVE_UP_AFTER_MS);
    // The attempt before the last was still inside the 24 hours, or it would have been the last.
    expect((times.at(-2) ?? 0) - first).toBeLessThan(GIVE_UP_AFTER_MS);
    expect(times.length).toBeGreaterThanOrEqual(RETRY_DELAYS_MS.length);
  });

  it("starts at 5 s and grows to hours, never shrinking", () => {
    expect(RETRY_DELAYS_MS[0]).toBe(5_000);
    for (let index = 1; index < RETRY_DELAYS_MS.length; index += 1) {
      expect(RETRY_DELAYS_MS[index] ?? 0).toBeGreaterThan(RETRY_DELAYS_MS[index - 1] ?? 0);
    }
    expect(RETRY_DELAYS_MS.at(-1) ?? 0).toBeGreaterThanOrEqual(HOUR_MS);
  });

  it("jitters every delay within ±20%", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempts, draw) => {
        const now = 10 * HOUR_MS;
        const next = nextAttemptAt({ attempts, now, firstAttemptAt: now - 1_000, retryAfterMs: null, random: () => draw });
        const scheduled = RETRY_DELAYS_MS[Math.min(attempts, RETRY_DELAYS_MS.length) - 1] ?? 0;
        expect(next).not.toBeNull();
        const delay = (next ?? 0) - now;
        expect(delay).toBeGreaterThanOrEqual(Math.floor(scheduled * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(scheduled * 1.2));
      }),
    );
  });

  it("spreads the first retry over 4 to 6 s", () => {
    const next = (draw: number) =>
      nextAttemptAt({ attempts: 1, now: 0, firstAttemptAt: 0, retryAfterMs: null, random: () => draw });
    expect(next(0)).toBe(4_000);
    expect(next(0.5)).toBe(5_000);
    expect(next(0.999_999)).toBe(6_000);
  });

  it("honours Retry-After instead of the schedule, between 1 s and 6 h", () => {
    const after = (retryAfterMs: number) =>
      nextAttemptAt({ attempts: 1, now: 50_000, firstAttemptAt: 0, retryAfterMs, random: () => 0.5 });
    expect(after(120_000)).toBe(50_000 + 120_000);
    expect(after(0)).toBe(50_000 + 1_000);
    expect(after(10 * HOUR_MS)).toBe(50_000 + MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBe(6 * HOUR_MS);
  });

  it("gives up once 24 hours have passed since the first attempt, even with a Retry-After", () => {
    expect(nextAttemptAt({ attempts: 3, now: GIVE_UP_AFTER_MS, firstAttemptAt: 0, retryAfterMs: 1_000, random: () => 0.5 })).toBeNull();
    expect(nextAttemptAt({ attempts: 3, now: GIVE_UP_AFTER_MS - 1, firstAttemptAt: 0, retryAfterMs: null, random: () => 0.5 })).not.toBeNull();
  });
});

describe("Retry-After header", () => {
  const now = Date.parse("2026-11-27T10:00:00Z");

  it("reads delay-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
  });

  it("reads an HTTP date, relative to now, and a past date as no wait", () => {
    expect(parseRetryAfter("Fri, 27 Nov 2026 10:02:00 GMT", now)).toBe(120_000);
    expect(parseRetryAfter("Friday, 27-Nov-26 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Fri, 27 Nov 2026 09:00:00 GMT", now)).toBe(0);
  });

  it("ignores what it cannot read, leaving the schedule in charge", () => {
    for (const value of [null, "", "soon", "-5", "1.5", "2026-11-27T10:02:00Z"]) {
      expect(parseRetryAfter(value, now)).toBeNull();
    }
  });
});

describe("the verification samples of docs/callbacks.md", () => {
  const documentation = readFileSync(path.resolve(import.meta.dirname, "../../docs/callbacks.md"), "utf8");
  const samples = [...documentation.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");

  /** A sample as a function of its imports, which the test hands in instead of `import` lines. */
  function sampleFunction(marker: string, imports: string[], returned: string): (...values: unknown[]) => unknown {
    const sample = samples.find((text) => text.includes(marker));
    if (sample === undefined) throw new Error(`no js sample with ${marker} in docs/callbacks.md`);
    const code = sample.replace(/^import .*$/gm, "");
    return new Function(...imports, `${code}\nreturn ${returned};`) as (...values: unknown[]) => unknown;
  }

  it("the node:crypto sample accepts a real callback's headers and refuses a changed body or an old timestamp", () => {
    const verifyCallback = sampleFunction("function verifyCallback", ["createHmac", "timingSafeEqual"], "verifyCallback")(
      createHmac,
      timingSafeEqual,
    ) as (secret: string, headers: Record<string, string>, rawBody: string) => boolean;
    const secret = generateWebhookSecret();
    const headers = sign({ secret });
    expect(verifyCallback(secret, { ...headers }, body)).toBe(true);
    expect(verifyCallback(secret, { ...headers }, `${body} `)).toBe(false);
    expect(verifyCallback(generateWebhookSecret(), { ...headers }, body)).toBe(false);
    const old = sign({ secret, timestampSeconds: Math.floor(Date.now() / 1_000) - 600 });
    expect(verifyCallback(secret, { ...old }, body)).toBe(false);
  });

  it("the standardwebhooks sample reads a real callback's body", () => {
    const secret = generateWebhookSecret();
    const headers = sign({ secret });
    const verify = sampleFunction("new Webhook", ["Webhook", "process", "rawBody", "request"], "body");
    const read = verify(Webhook, { env: { IMAGEGATE_WEBHOOK_SECRET: secret } }, body, { headers: { ...headers } });
    expect(read).toEqual(JSON.parse(body));
  });
});
