import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

// Written from CONTRACT.md alone: nothing here imports the product's validation.
const BODY_LIMIT_BYTES = 1024 * 1024;
const RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"] as const;
const OUTPUT_FORMATS = ["png", "jpeg", "jpg"] as const;
const INPUT_FIELDS = ["prompt", "image_size", "aspect_ratio", "output_format", "nsfw_checker"] as const;
const TOP_FIELDS = ["model", "input", "callBackUrl"] as const;
const MAX_PROMPT_CODE_POINTS = 20_000;
const MAX_CALLBACK_URL_LENGTH = 2048;
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  null,
] as const;
/** Marks a number literal that JSON.stringify cannot write (1e999 and the like); see `serialize`. */
const RAW_LITERAL = /"\\u0000raw:([^"\\]*)\\u0000"/g;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Probe {
  /** The body as text; what is sent is its UTF-8 encoding unless `bytes` is given. */
  text: string;
  bytes?: Uint8Array;
  contentType: string | null;
}

type Expected =
  | { status: 200 }
  | { status: 400 | 413 | 422; mentions: readonly string[] }
  /** The contract does not decide this body; only the properties common to every answer apply. */
  | { status: "undecided" };

interface Answer {
  status: number;
  requestId: string | null;
  text: string;
}

// ---------------------------------------------------------------------------------------------
// The oracle: CONTRACT.md's checks 3 and 4, in order, for a body as the server receives it.
// ---------------------------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
/** Throws on bytes that are not UTF-8, where the plain decoder would put U+FFFD. */
const strictUtf8 = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasOwn(target: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(target, key);
}

function ownValue(target: Record<string, unknown>, key: string): unknown {
  return hasOwn(target, key) ? target[key] : undefined;
}

/** "Whitespace" is ECMAScript's (String.prototype.trim's): the project is JavaScript end to end. */
function isBlank(text: string): boolean {
  return /^\s*$/u.test(text);
}

function isAbsoluteHttpUrl(value: unknown): boolean {
  if (typeof value !== "string" || value.length > MAX_CALLBACK_URL_LENGTH || !URL.canParse(value)) return false;
  // Literally absolute: the scheme and "//" written out, nothing the URL parser would have to repair.
  if (!/^https?:\/\/[^\s\\]+$/i.test(value)) return false;
  const url = new URL(value);
  // A user name or password would make every delivery fail.
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.username === "" && url.password === "";
}

function oneOf(allowed: readonly string[], value: unknown): boolean {
  return typeof value === "string" && allowed.includes(value);
}

/** The fields the contract's 422 would name for this input; empty when the input is valid. */
function inputProblems(input: Record<string, unknown>): string[] {
  const problems = Object.keys(input)
    .filter((key) => !(INPUT_FIELDS as readonly string[]).includes(key))
    .map((key) => `input.${key}`);
  const prompt = ownValue(input, "prompt");
  if (typeof prompt !== "string") problems.push("input.prompt");
  else {
    const codePoints = [...prompt].length;
    if (codePoints < 1 || codePoints > MAX_PROMPT_CODE_POINTS || isBlank(prompt)) problems.push("input.prompt");
  }
  for (const field of ["image_size", "aspect_ratio"]) {
    if (hasOwn(input, field) && !oneOf(RATIOS, input[field])) problems.push(`input.${field}`);
  }
  const imageSize = ownValue(input, "image_size");
  const aspectRatio = ownValue(input, "aspect_ratio");
  if (oneOf(RATIOS, imageSize) && oneOf(RATIOS, aspectRatio) && imageSize !== aspectRatio) problems.push("input.aspect_ratio");
  if (hasOwn(input, "output_format") && !oneOf(OUTPUT_FORMATS, input.output_format)) problems.push("input.output_format");
  if (hasOwn(input, "nsfw_checker") && typeof input.nsfw_checker !== "boolean") problems.push("input.nsfw_checker");
  return problems;
}

function expectedAnswer(bytes: Uint8Array): Expected {
  if (bytes.byteLength > BODY_LIMIT_BYTES) return { status: 413, mentions: ["1 MiB"] };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { status: 400, mentions: ["UTF-8"] };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: 400, mentions: ["JSON"] };
  }
  if (!isPlainObject(body)) return { status: 400, mentions: ["JSON object"] };
  if (typeof ownValue(body, "model") !== "string") return { status: 400, mentions: ["model"] };
  const input = ownValue(body, "input");
  if (!isPlainObject(input)) return { status: 400, mentions: ["input"] };
  const problems = inputProblems(input);
  if (body.model !== MODEL) problems.push("model");
  const callBackUrl = ownValue(body, "callBackUrl");
  // `"callBackUrl"?: string`: "" and null mean no callback; anything else must be an absolute http(s) URL.
  if (hasOwn(body, "callBackUrl") && callBackUrl !== "" && callBackUrl !== null && !isAbsoluteHttpUrl(callBackUrl)) {
    problems.push("callBackUrl");
  }
  return problems.length === 0 ? { status: 200 } : { status: 422, mentions: problems };
}

// ---------------------------------------------------------------------------------------------
// Sending probes and checking every answer.
// ---------------------------------------------------------------------------------------------

let harness: TestServer;
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

beforeAll(async () => {
  // Accepted tasks must not cost CPU during the run: one worker, a sandbox that sleeps a minute;
  // they stay active, so the active-task limit is lifted out of the way.
  harness = await startTestServer({
    SANDBOX_LATENCY_MS: "60000",
    WORKER_CONCURRENCY: "1",
    TASK_TIMEOUT_MS: "86400000",
    ACTIVE_TASK_LIMIT: "1000000",
    SHUTDOWN_GRACE_MS: "0",
  });
});
afterAll(async () => {
  await harness.close();
});

async function send(probe: Probe): Promise<Answer> {
  const headers: Record<string, string> = { Authorization: `Bearer ${harness.key}` };
  if (probe.contentType !== null) headers["Content-Type"] = probe.contentType;
  const response = await fetch(`${harness.baseUrl}/api/v1/jobs/createTask`, { method: "POST", headers, body: new Uint8Array(bytesOf(probe)) });
  return { status: response.status, requestId: response.headers.get("x-request-id"), text: await response.text() };
}

function excerpt(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} characters)` : text;
}

const STACK_TRACE = [/\bat\s+\S+\s+\(\S*:\d+:\d+\)/, /\bat\s+(file:|node:|\/)\S*:\d+/, /Error:/, /SQLITE/i, /node_modules/];

/** Words a message may echo from the request (unknown field names), removed before looking for leaks. */
function echoedWords(probe: Probe): string[] {
  try {
    const body: unknown = JSON.parse(utf8.decode(bytesOf(probe)));
    const input = isPlainObject(body) ? ownValue(body, "input") : undefined;
    return isPlainObject(input) ? Object.keys(input).filter((key) => key !== "") : [];
  } catch {
    return [];
  }
}

function checkAnswer(probe: Probe, answer: Answer): void {
  const context = `request ${excerpt(probe.text)} (${probe.contentType ?? "no content type"}) answered ${answer.status} ${excerpt(answer.text)}`;
  expect(answer.status, context).toBeLessThan(500);
  expect(answer.requestId, context).toMatch(/\S/);
  let envelope: unknown;
  try {
    envelope = JSON.parse(answer.text);
  } catch {
    expect.fail(`the answer is not JSON: ${context}`);
  }
  expect(isPlainObject(envelope), context).toBe(true);
  const { code, msg, data } = envelope as Record<string, unknown>;
  expect(Object.keys(envelope as object).sort(), context).toEqual(["code", "data", "msg"]);
  expect(code, context).toBe(answer.status);
  expect(typeof msg, context).toBe("string");
  const message = String(msg);

  const expected = expectedAnswer(bytesOf(probe));
  if (expected.status !== "undecided") expect(answer.status, context).toBe(expected.status);

  if (answer.status === 200) {
    expect(message, context).toBe("success");
    expect(data, context).toEqual({ taskId: expect.stringMatching(/^task_[0-9a-z]+$/) });
    return;
  }
  expect(data, context).toBeNull();
  expect(message.trim(), context).not.toBe("");
  const scanned = echoedWords(probe).reduce((text, word) => text.split(word).join(""), message);
  expect(scanned, context).not.toContain("\n");
  for (const leak of STACK_TRACE) expect(scanned, context).not.toMatch(leak);
  if (expected.status !== "undecided" && expected.status !== 200) {
    // The message names the offending field (any one of them when several fail).
    expect(expected.mentions.some((name) => message.includes(name)), `${context}; expected a mention of ${expected.mentions.join(" or ")}`).toBe(true);
  }
}

/** Sends one batch concurrently (over keep-alive connections) and checks it as the contract says. */
async function checkBatch(probes: readonly Probe[]): Promise<void> {
  const before = await harness.server.tasks.countForAccount(harness.accountId);
  const answers = await Promise.all(probes.map(send));
  probes.forEach((probe, index) => {
    const answer = answers[index];
    if (answer === undefined) throw new Error("an answer is missing");
    checkAnswer(probe, answer);
  });
  const accepted = answers.filter((answer) => answer.status === 200).length;
  expect(await harness.server.tasks.countForAccount(harness.accountId), "tasks stored = requests answered 200").toBe(before + accepted);
  expect(Object.getOwnPropertyNames(Object.prototype).sort(), "Object.prototype is untouched").toEqual(prototypeKeys);
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder();

function bytesOf(probe: Probe): Uint8Array {
  return probe.bytes ?? encoder.encode(probe.text);
}

/** A probe that fast-check prints as a short description rather than kilobytes of body. */
function makeProbe(text: string, contentType: string | null, options: { bytes?: Uint8Array; label?: string } = {}): Probe {
  const description = `${options.label ?? JSON.stringify(excerpt(text))} as ${contentType ?? "no content type"}`;
  const probe: Probe = { text, contentType, ...(options.bytes === undefined ? {} : { bytes: options.bytes }) };
  return Object.assign(probe, { [fc.toStringMethod]: () => description });
}

const contentType = fc.constantFrom(...CONTENT_TYPES);

/** A number literal JSON allows but JavaScript cannot round-trip. */
const hugeNumberLiteral = fc.constantFrom("1e999", "-1e999", "123456789012345678901234567890", "1e-400", "-0", "0E+0", "1.0000000000000000000001");
const rawLiteral = hugeNumberLiteral.map((literal) => `\u0000raw:${literal}\u0000`);

/** Writes `value` as JSON text, turning raw-literal markers into the literals themselves. */
function serialize(value: unknown, indent: number): string {
  return (JSON.stringify(value, null, indent) ?? "null").replace(RAW_LITERAL, "$1");
}

/** A deep copy that keeps own "__proto__" keys as keys, so mutations never touch generated values. */
function cloneJson<T extends Json>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Defines an own property, so "__proto__" becomes a key rather than the prototype. */
function setOwn(target: JsonObject, key: string, value: Json): void {
  Object.defineProperty(target, key, { value: cloneJson(value), enumerable: true, writable: true, configurable: true });
}

const WHITESPACE = [" ", "\t", "\n", "\r", "\u000b", "\u000c", "\u00a0", "\u1680", "\u2003", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"];

const validPrompt = fc.oneof(
  { arbitrary: fc.constantFrom("a banana in space", "a red kite", "🍌", "e\u0301", "東京の夜景", "a\u0000b", "\ud800 lone surrogate", " padded "), weight: 3 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 60 }).filter((text) => !isBlank(text)), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((text) => !isBlank(text)), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((text) => !isBlank(text)), weight: 2 },
  { arbitrary: fc.constantFrom("a".repeat(MAX_PROMPT_CODE_POINTS), "🍌".repeat(MAX_PROMPT_CODE_POINTS)), weight: 1 },
);

const promptValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: validPrompt, weight: 4 },
  { arbitrary: fc.array(fc.constantFrom(...WHITESPACE), { maxLength: 6 }).map((characters) => characters.join("")), weight: 2 },
  {
    arbitrary: fc.constantFrom("a".repeat(MAX_PROMPT_CODE_POINTS + 1), "🍌".repeat(MAX_PROMPT_CODE_POINTS + 1), `${"🍌".repeat(MAX_PROMPT_CODE_POINTS - 1)}ab`),
    weight: 1,
  },
);

const ratioValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.constantFrom(...RATIOS), weight: 4 },
  { arbitrary: fc.constantFrom("1:1 ", " 1:1", "16/9", "16:09", "AUTO", "Auto", "", "1:1\u0000", "0:0", "99:1", "1：1", "21:9\n"), weight: 2 },
  { arbitrary: fc.string({ maxLength: 6 }), weight: 1 },
);

const formatValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.constantFrom(...OUTPUT_FORMATS), weight: 3 },
  { arbitrary: fc.constantFrom("PNG", "JPEG", "JPG", "gif", "webp", "", " png", "png\u0000", "image/png"), weight: 2 },
);

const nsfwValue: fc.Arbitrary<Json> = fc.constantFrom(true, false, "true", "false", 0, 1, "", "yes");

const modelValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.constant(MODEL), weight: 4 },
  { arbitrary: fc.constantFrom(MODEL.toUpperCase(), `${MODEL} `, ` ${MODEL}`, `${MODEL}\u0000`, "nano-banana", "", "gpt-image-1", "dall-e"), weight: 2 },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 1 },
);

const VALID_CALLBACK_URLS = [
  "https://example.com/hook",
  "http://localhost:3000/callback?x=1",
  "https://[::1]:8443/cb",
  "https://例え.jp/パス?q=ü",
  "HTTPS://EXAMPLE.COM/UP",
  `https://example.com/${"a".repeat(MAX_CALLBACK_URL_LENGTH - "https://example.com/".length)}`,
];

const callbackValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.constantFrom(...VALID_CALLBACK_URLS), weight: 3 },
  { arbitrary: fc.webUrl({ validSchemes: ["http", "https"], withQueryParameters: true, withFragments: true }), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      "ftp://example.com/hook", "/relative/hook", "not a url", "", "https://", "http://exa mple.com", "javascript:alert(1)",
      "mailto:a@example.com", "https://user:pass@example.com/h#frag", "https://user@example.com/h", "//example.com/x", "file:///etc/passwd", "ws://example.com", "https://example.com:99999",
      `https://example.com/${"a".repeat(MAX_CALLBACK_URL_LENGTH)}`,
      // Strings the WHATWG URL parser repairs; the oracle takes the parser's word for them.
      " https://example.com", "https:example.com", "https:\\\\example.com\\x", "ht\ttps://example.com",
    ),
    weight: 3,
  },
  { arbitrary: fc.constantFrom<Json>(12, true, {}, [], ["https://example.com"]), weight: 1 },
);

const ODD_KEYS = [
  "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__",
  "Prompt", "PROMPT", "prompt ", " prompt", "imageSize", "image-size", "outputFormat", "nsfwChecker", "aspectRatio",
  "seed", "n", "negative_prompt", "", "input", "model", "callbackUrl", "callBackURL", "\u0000", "🍌", "Error: boom", "at f (x.js:1:2)",
];
const keyName = fc.oneof({ arbitrary: fc.constantFrom(...ODD_KEYS), weight: 3 }, { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 });

const oddValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.constantFrom<Json>(null, [], {}, 0, -1, 1.5, "", " ", true, false, "null", [null], { "0": 1 }), weight: 3 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, weight: 2 },
  { arbitrary: rawLiteral, weight: 1 },
);

const validInput: fc.Arbitrary<JsonObject> = fc
  .tuple(
    fc.record(
      { prompt: validPrompt, image_size: fc.constantFrom(...RATIOS), aspect_ratio: fc.constantFrom(...RATIOS), output_format: fc.constantFrom(...OUTPUT_FORMATS), nsfw_checker: fc.boolean() },
      { requiredKeys: ["prompt"] },
    ),
    fc.boolean(),
  )
  .map(([input, agree]) => {
    const copy: JsonObject = { ...input };
    if (agree && input.image_size !== undefined && input.aspect_ratio !== undefined) copy.aspect_ratio = input.image_size;
    for (const [key, value] of Object.entries(copy)) if (value === undefined) delete copy[key];
    return copy;
  });

const validBody: fc.Arbitrary<JsonObject> = fc
  .record({ input: validInput, callBackUrl: fc.constantFrom(...VALID_CALLBACK_URLS) }, { requiredKeys: ["input"] })
  .map(({ input, callBackUrl }) => ({ model: MODEL, input, ...(callBackUrl === undefined ? {} : { callBackUrl }) }));

type Mutation = (body: JsonObject) => void;

function inputOf(body: JsonObject): JsonObject | null {
  const input = ownValue(body, "input");
  return isPlainObject(input) ? (input as JsonObject) : null;
}

function rename(target: JsonObject, from: string, to: string): void {
  if (!hasOwn(target, from)) return;
  const value = target[from] ?? null;
  delete target[from];
  setOwn(target, to, value);
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...TOP_FIELDS).map((field): Mutation => (body) => delete body[field]),
  fc.constantFrom(...INPUT_FIELDS).map((field): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) delete input[field];
  }),
  fc.tuple(fc.constantFrom(...TOP_FIELDS), oddValue).map(([field, value]): Mutation => (body) => setOwn(body, field, value)),
  fc.tuple(fc.constantFrom(...INPUT_FIELDS), oddValue).map(([field, value]): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, field, value);
  }),
  fc.tuple(fc.constantFrom(...TOP_FIELDS), keyName).map(([from, to]): Mutation => (body) => rename(body, from, to)),
  fc.tuple(fc.constantFrom(...INPUT_FIELDS), keyName).map(([from, to]): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) rename(input, from, to);
  }),
  fc.tuple(fc.constantFrom("image_size", "aspect_ratio"), ratioValue).map(([field, value]): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, field, value);
  }),
  formatValue.map((value): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, "output_format", value);
  }),
  nsfwValue.map((value): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, "nsfw_checker", value);
  }),
  promptValue.map((value): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, "prompt", value);
  }),
  fc.tuple(keyName, oddValue).map(([key, value]): Mutation => (body) => {
    const input = inputOf(body);
    if (input !== null) setOwn(input, key, value);
  }),
  fc.tuple(keyName, oddValue).map(([key, value]): Mutation => (body) => setOwn(body, key, value)),
  callbackValue.map((value): Mutation => (body) => setOwn(body, "callBackUrl", value)),
  modelValue.map((value): Mutation => (body) => setOwn(body, "model", value)),
);

/** How the mutated body becomes text: as is, indented, truncated, or with something around it. */
const writing = fc.oneof(
  { arbitrary: fc.constant((text: string) => text), weight: 14 },
  { arbitrary: fc.integer({ min: 0, max: 100 }).map((percent) => (text: string) => text.slice(0, Math.floor((text.length * percent) / 100))), weight: 2 },
  { arbitrary: fc.constantFrom(" ", "\n", "\ufeff", "\u00a0", "x", ",", "}", "]", "\u0000").map((extra) => (text: string) => `${text}${extra}`), weight: 1 },
  { arbitrary: fc.constantFrom(" \r\n\t", "\ufeff", "[", "\u00a0").map((extra) => (text: string) => `${extra}${text}`), weight: 1 },
  { arbitrary: fc.constant((text: string) => `{"model":"dall-e","input":"x",${text.slice(1)}`), weight: 1 },
);

const mutatedProbe: fc.Arbitrary<Probe> = fc
  .record({ body: validBody, mutations: fc.array(mutation, { maxLength: 4 }), indent: fc.constantFrom(0, 0, 2), write: writing, contentType })
  .map(({ body, mutations, indent, write, contentType: type }) => {
    const copy = cloneJson(body);
    for (const apply of mutations) apply(copy);
    return makeProbe(write(serialize(copy, indent)), type);
  });

const SPECIAL_TEXTS = [
  "", " ", "null", "[]", "{}", "true", '"x"', "1e999", "-0", "NaN", "undefined", "{'model':1}", '{"model":', "{",
  `{"__proto__":{"model":"${MODEL}","input":{"prompt":"x"}}}`,
  `{"constructor":{"prototype":{"model":"${MODEL}","input":{"prompt":"x"}}}}`,
  `{"model":"${MODEL}","input":{"prompt":"x"},"__proto__":{"polluted":true}}`,
  `{"model":"${MODEL}","input":{"__proto__":{"prompt":"x"}}}`,
  `{"model":"${MODEL}","input":{"prompt":"x","constructor":{"prototype":{"polluted":true}}}}`,
  `[{"model":"${MODEL}","input":{"prompt":"x"}}]`,
  `\ufeff{"model":"${MODEL}","input":{"prompt":"x"}}`,
  `{"model":"${MODEL}","input":{"prompt":"x"}}`,
  `{"model":"${MODEL}","model":7,"input":{"prompt":"x"}}`,
  `{"model":7,"model":"${MODEL}","input":{"prompt":"x"}}`,
  `{"model":"${MODEL}","input":{"prompt":"\\ud83c"}}`,
  `{"model":"${MODEL}","input":{"prompt":"x"}} {"model":"${MODEL}"}`,
];

const numberInField = fc
  .tuple(fc.constantFrom("model", "input", "callBackUrl", "prompt", "image_size", "nsfw_checker", "extra"), hugeNumberLiteral)
  .map(([field, literal]) =>
    ["model", "input", "callBackUrl"].includes(field)
      ? `{"model":"${MODEL}","input":{"prompt":"x"},"${field}":${literal}}`
      : `{"model":"${MODEL}","input":{"prompt":"x","${field}":${literal}}}`,
  );

const rawProbe: fc.Arbitrary<Probe> = fc.oneof(
  fc.tuple(fc.string({ unit: "binary", maxLength: 200 }), contentType).map(([text, type]) => makeProbe(text, type)),
  fc.tuple(fc.string({ maxLength: 200 }), contentType).map(([text, type]) => makeProbe(text, type)),
  fc.tuple(fc.json({ maxDepth: 4 }), contentType).map(([text, type]) => makeProbe(text, type)),
  fc.tuple(fc.constantFrom(...SPECIAL_TEXTS), contentType).map(([text, type]) => makeProbe(text, type)),
  fc.tuple(numberInField, contentType).map(([text, type]) => makeProbe(text, type)),
  fc.tuple(validBody, fc.nat(), contentType).map(([body, cut, type]) => {
    const text = JSON.stringify(body);
    return makeProbe(text.slice(0, cut % (text.length + 1)), type);
  }),
  fc.tuple(fc.uint8Array({ maxLength: 200 }), contentType).map(([bytes, type]) => makeProbe(`bytes ${Buffer.from(bytes).toString("hex")}`, type, { bytes })),
  // A valid body with random bytes spliced into its prompt: invalid UTF-8 inside a JSON string.
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), contentType).map(([noise, type]) => {
    const [head, tail] = [encoder.encode(`{"model":"${MODEL}","input":{"prompt":"x`), encoder.encode(`"}}`)];
    const bytes = new Uint8Array([...head, ...noise, ...tail]);
    return makeProbe(`a valid body with bytes ${Buffer.from(noise).toString("hex")} in its prompt`, type, { bytes });
  }),
);

/** A value nested `depth` levels deep, placed somewhere in an otherwise valid body. */
const deepProbe: fc.Arbitrary<Probe> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 200, max: 20_000 })),
    shape: fc.constantFrom("array", "object"),
    place: fc.constantFrom("body", "model", "input", "input.prompt", "input.extra", "callBackUrl", "extra"),
  })
  .map(({ depth, shape, place }) => {
    const nested = shape === "array" ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    const texts: Record<string, string> = {
      body: nested,
      model: `{"model":${nested},"input":{"prompt":"x"}}`,
      input: `{"model":"${MODEL}","input":${nested}}`,
      "input.prompt": `{"model":"${MODEL}","input":{"prompt":${nested}}}`,
      "input.extra": `{"model":"${MODEL}","input":{"prompt":"x","extra":${nested}}}`,
      callBackUrl: `{"model":"${MODEL}","input":{"prompt":"x"},"callBackUrl":${nested}}`,
      extra: `{"model":"${MODEL}","input":{"prompt":"x"},"extra":${nested}}`,
    };
    const text = texts[place] ?? nested;
    return makeProbe(text, "application/json", { label: `${shape} nested ${depth} deep at ${place}` });
  });

const batch = (probe: fc.Arbitrary<Probe>, maxLength: number) => fc.array(probe, { minLength: 1, maxLength });

describe("POST /api/v1/jobs/createTask under random and mutated bodies", () => {
  it("the oracle agrees with the contract's own examples", () => {
    const statusOf = (body: unknown): Expected["status"] => expectedAnswer(encoder.encode(JSON.stringify(body))).status;
    expect(statusOf({ model: MODEL, input: { prompt: "a banana in space" } })).toBe(200);
    expect(statusOf({ model: MODEL, input: { prompt: "x", image_size: "4:3", aspect_ratio: "4:3", output_format: "jpg", nsfw_checker: false } })).toBe(200);
    expect(statusOf([])).toBe(400);
    expect(statusOf({ input: { prompt: "x" } })).toBe(400);
    expect(statusOf({ model: MODEL, input: [1] })).toBe(400);
    expect(statusOf({ model: "dall-e", input: { prompt: "x" } })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "   " } })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "🍌".repeat(20_000) } })).toBe(200);
    expect(statusOf({ model: MODEL, input: { prompt: "a".repeat(20_001) } })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "x", image_size: "1:1", aspect_ratio: "16:9" } })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "x", seed: 3 } })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "x" }, callBackUrl: "ftp://example.com/hook" })).toBe(422);
    expect(statusOf({ model: MODEL, input: { prompt: "x" }, callBackUrl: "https://example.com/hook" })).toBe(200);
    expect(statusOf({ model: MODEL, input: { prompt: "x" }, callBackUrl: "https://user:secret@example.com/hook" })).toBe(422);
    expect(expectedAnswer(encoder.encode("{not json")).status).toBe(400);
    expect(expectedAnswer(new Uint8Array([...encoder.encode(`{"model":"${MODEL}","input":{"prompt":"`), 0xff, ...encoder.encode('"}}')])).status).toBe(400);
  });

  it("raw strings, random bytes, truncated JSON and odd numbers: never a 5xx, always the envelope, the oracle's status", async () => {
    await fc.assert(fc.asyncProperty(batch(rawProbe, 10), checkBatch), { numRuns: 250 });
  });

  it("mutations of a valid body: dropped, retyped and renamed fields, odd values, extra keys", async () => {
    await fc.assert(fc.asyncProperty(batch(mutatedProbe, 10), checkBatch), { numRuns: 500 });
  });

  it("bodies around the 1 MiB limit: 413 only above it", async () => {
    const valid = `{"model":"${MODEL}","input":{"prompt":"x"}}`;
    const sized = fc.integer({ min: -3, max: 3 }).map((offset) => {
      const text = `${valid}${" ".repeat(BODY_LIMIT_BYTES + offset - valid.length)}`;
      return makeProbe(text, "application/json", { label: `a valid body padded to 1 MiB ${offset >= 0 ? "+" : ""}${offset} bytes` });
    });
    await fc.assert(fc.asyncProperty(batch(sized, 2), checkBatch), { numRuns: 8 });
  });

  it("deeply nested values anywhere in the body: never a 5xx", async () => {
    await fc.assert(fc.asyncProperty(batch(deepProbe, 4), checkBatch), { numRuns: 60 });
  });
});
