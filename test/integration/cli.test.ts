import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pixelSize } from "../../src/domain/catalog/aspect-ratios.ts";
import { sandboxLayout } from "../../src/providers/sandbox/sandbox-layout.ts";
import { linesOf, runImagegate, type CliRun } from "../helpers/cli.ts";
import {
  call,
  freePort,
  MODEL,
  startTestServer,
  temporaryDirectory,
  waitForTerminal,
  type TaskData,
  type TestServer,
} from "../helpers/test-server.ts";

// Every command is a child process that loads the sources through tsx (about a second each).
const COMMAND_TIMEOUT_MS = 60_000;
const LIVE_KEY = /^ig_live_[A-Za-z0-9_-]{32}$/;
const TEST_KEY = /^ig_test_[A-Za-z0-9_-]{32}$/;
const UNKNOWN_KEY = `ig_live_${"A".repeat(32)}`;

interface CreatedKeyOutput {
  account: string;
  keyId: string;
  key: string;
}

function parseCreatedKey(run: CliRun): CreatedKeyOutput {
  return JSON.parse(run.stdout) as CreatedKeyOutput;
}

/** A failed command: a non-zero exit code, nothing on stdout, and one line on stderr. */
function expectOneLineFailure(run: CliRun, message: RegExp): void {
  expect(run.exitCode).not.toBeNull();
  expect(run.exitCode).not.toBe(0);
  expect(run.stdout).toBe("");
  expect(linesOf(run.stderr)).toHaveLength(1);
  expect(run.stderr.trim()).toMatch(message);
}

describe("imagegate accounts and keys", { timeout: COMMAND_TIMEOUT_MS }, () => {
  let dataDir: string;
  let accountCreation: CliRun;
  let liveKeyCreation: CliRun;
  let testKeyCreation: CliRun;
  const admin = (args: readonly string[]): Promise<CliRun> => runImagegate(args, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });

  beforeAll(async () => {
    dataDir = await temporaryDirectory("imagegate-cli-");
    accountCreation = await admin(["accounts", "create", "--name", "acme"]);
    [liveKeyCreation, testKeyCreation] = await Promise.all([
      admin(["keys", "create", "--account", "acme", "--json"]),
      admin(["keys", "create", "--account", "acme", "--test", "--json"]),
    ]);
  }, COMMAND_TIMEOUT_MS);
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("accounts create --name acme creates the account", () => {
    expect(accountCreation.stderr).toBe("");
    expect(accountCreation.exitCode).toBe(0);
    expect(accountCreation.stdout.trim()).toMatch(/^created account acme \(acct_[0-9a-z]+\)$/);
  });

  it("keys create --json prints the account and a live key", () => {
    expect(liveKeyCreation.stderr).toBe("");
    expect(liveKeyCreation.exitCode).toBe(0);
    expect(parseCreatedKey(liveKeyCreation)).toMatchObject({
      account: "acme",
      keyId: expect.stringMatching(/^key_[0-9a-z]+$/),
      key: expect.stringMatching(LIVE_KEY),
    });
  });

  it("keys create --test prints a test-mode key", () => {
    expect(testKeyCreation.stderr).toBe("");
    expect(testKeyCreation.exitCode).toBe(0);
    expect(parseCreatedKey(testKeyCreation)).toMatchObject({ account: "acme", key: expect.stringMatching(TEST_KEY) });
  });

  it("keys list shows each key's id and hint, never the key", async () => {
    const run = await admin(["keys", "list", "--account", "acme"]);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const lines = linesOf(run.stdout);
    expect(lines).toHaveLength(2);
    for (const created of [parseCreatedKey(liveKeyCreation), parseCreatedKey(testKeyCreation)]) {
      const line = lines.find((candidate) => candidate.includes(created.keyId));
      expect(line).toBeDefined();
      // The hint is the key's visible prefix (ig_live_ + a few characters); the rest stays secret.
      expect(line).toContain(created.key.slice(0, 12));
      expect(run.stdout).not.toContain(created.key);
      expect(run.stdout).not.toContain(created.key.slice(12));
    }
  });

  it("keys revoke makes the key answer 401 on a server using the same DATA_DIR", async () => {
    const { keyId, key } = parseCreatedKey(liveKeyCreation);
    const harness: TestServer = await startTestServer({ DATA_DIR: dataDir });
    try {
      const lookup = "/api/v1/jobs/recordInfo?taskId=task_none";
      expect((await call(harness.baseUrl, "GET", lookup, { key })).status).toBe(404);

      const run = await admin(["keys", "revoke", keyId]);
      expect(run.stderr).toBe("");
      expect(run.exitCode).toBe(0);
      expect(run.stdout.trim()).toBe(`revoked ${keyId}`);

      const answer = await call(harness.baseUrl, "GET", lookup, { key });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ code: 401, msg: expect.stringMatching(/unknown or revoked/), data: null });
    } finally {
      await harness.close();
    }
  });

  describe("errors", () => {
    it.concurrent("keys create for an unknown account exits non-zero with one line", async () => {
      expectOneLineFailure(await admin(["keys", "create", "--account", "nobody", "--json"]), /^imagegate: no account named nobody$/);
    });

    it.concurrent("accounts create with a name already taken exits non-zero with one line", async () => {
      expectOneLineFailure(await admin(["accounts", "create", "--name", "acme"]), /^imagegate: an account named acme already exists$/);
    });

    it.concurrent("keys revoke of an unknown key exits non-zero with one line", async () => {
      expectOneLineFailure(await admin(["keys", "revoke", "key_unknown"]), /^imagegate: no active key with id key_unknown$/);
    });
  });
});

describe("imagegate generate", { timeout: COMMAND_TIMEOUT_MS }, () => {
  let harness: TestServer;
  let outputDir: string;
  const generate = (args: readonly string[]): Promise<CliRun> => runImagegate(["generate", ...args], { LOG_LEVEL: "silent" });

  beforeAll(async () => {
    harness = await startTestServer({ SANDBOX_LATENCY_MS: "100" });
    outputDir = await temporaryDirectory("imagegate-cli-output-");
  });
  afterAll(async () => {
    await harness.close();
    await rm(outputDir, { recursive: true, force: true });
  });

  it("creates a task, shows each state with its elapsed time, and saves the image", async () => {
    const target = path.join(outputDir, "kite.jpg");
    const run = await generate([
      "a red kite", "--ratio", "16:9", "--format", "jpeg", "-o", target, "--base-url", harness.baseUrl, "--key", harness.key,
    ]);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);

    const lines = linesOf(run.stdout);
    expect(lines[0]).toMatch(/^task task_[0-9a-z]{26} created$/);
    const stateLines = lines.slice(1, -1);
    const states = stateLines.map((line) => /^\[(\d+\.\d)s\] (waiting|queuing|generating|success|fail)$/.exec(line));
    expect(states.length).toBeGreaterThan(0);
    for (const match of states) expect(match).not.toBeNull();
    const order = ["waiting", "queuing", "generating", "success"];
    const seen = states.map((match) => order.indexOf(match?.[2] ?? ""));
    expect(seen.at(-1)).toBe(order.indexOf("success"));
    expect([...seen].sort((left, right) => left - right)).toEqual(seen);
    const elapsed = states.map((match) => Number(match?.[1]));
    expect([...elapsed].sort((left, right) => left - right)).toEqual(elapsed);
    expect(lines.at(-1)).toMatch(new RegExp(`^saved \\d+ bytes \\(image/jpeg\\) to ${escapeRegExp(target)} in \\d+\\.\\ds$`));

    const metadata = await sharp(target).metadata();
    expect({ format: metadata.format, width: metadata.width, height: metadata.height }).toEqual({
      format: "jpeg",
      width: 1376,
      height: 768,
    });
  });

  describe("with reference images", () => {
    const RED = { r: 220, g: 30, b: 40 };
    let testKey: string;
    let testAccountId: string;
    let localFile: string;
    let localBytes: Buffer;
    let previousUrl: string;
    let target: string;
    let run: CliRun;

    beforeAll(async () => {
      // A test-mode key: its tasks are served by the sandbox, which draws its inputs.
      testKey = await harness.newAccountKey("tester", "test");
      testAccountId = (await harness.server.accounts.findAccount("tester"))?.id ?? "";
      localFile = path.join(outputDir, "local.png");
      localBytes = await sharp({ create: { width: 300, height: 200, channels: 3, background: RED } }).png().toBuffer();
      await writeFile(localFile, localBytes);
      const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: testKey,
        body: { model: MODEL, input: { prompt: "an earlier result", image_size: "16:9" } },
      });
      const { record } = await waitForTerminal(harness.baseUrl, testKey, created.body.data.taskId);
      previousUrl = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
      target = path.join(outputDir, "composed.png");
      run = await generate([
        "the first image in front of the second", "--model", "nano-banana-pro", "--resolution", "2K",
        "--image", localFile, "--image", previousUrl, "-o", target, "--base-url", harness.baseUrl, "--key", testKey,
      ]);
    }, COMMAND_TIMEOUT_MS);

    it("uploads the local file with progress, then follows the task and saves the image", () => {
      expect(run.stderr).toBe("");
      expect(run.exitCode).toBe(0);
      const lines = linesOf(run.stdout);
      expect(localBytes.length).toBeGreaterThanOrEqual(1000);
      expect(localBytes.length).toBeLessThan(1_000_000);
      expect(lines[0]).toBe(`uploading local.png (${(localBytes.length / 1000).toFixed(1)} kB)... done`);
      expect(lines[1]).toMatch(/^task task_[0-9a-z]{26} created$/);
      expect(lines.at(-2)).toMatch(/\] success$/);
      expect(lines.at(-1)).toMatch(new RegExp(`^saved \\d+ bytes \\(image/png\\) to ${escapeRegExp(target)} in `));
    });

    it("sends the uploaded file's URL and the given URL, in order, as image_urls with the resolution", async () => {
      const taskId = /^task (\S+) created$/.exec(linesOf(run.stdout)[1] ?? "")?.[1] ?? "";
      const answer = await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: testKey });
      expect(answer.body.data.state).toBe("success");
      const param = JSON.parse(answer.body.data.param) as { model: string; input: { image_urls: string[]; resolution: string } };
      expect(param.model).toBe("nano-banana-pro");
      expect(param.input.resolution).toBe("2K");
      expect(param.input.image_urls).toHaveLength(2);
      const [uploaded, given] = param.input.image_urls;
      expect(uploaded).toMatch(new RegExp(`^${escapeRegExp(harness.baseUrl)}/files/uploads/${testAccountId}/cli/local\\.png\\?expires=\\d+&signature=`));
      expect(given).toBe(previousUrl);
      const stored = await fetch(uploaded ?? "");
      expect(Buffer.from(await stored.arrayBuffer()).equals(localBytes)).toBe(true);
    });

    it("saves the sandbox's 2K picture, which shows the uploaded image first", async () => {
      const size = pixelSize("1:1", "2K");
      const metadata = await sharp(target).metadata();
      expect({ width: metadata.width, height: metadata.height }).toEqual(size);
      const [first] = sandboxLayout(size, 2).thumbnails;
      const centre = { left: (first?.x ?? 0) + Math.floor((first?.width ?? 0) / 2), top: (first?.y ?? 0) + Math.floor((first?.height ?? 0) / 2) };
      const pixel = await sharp(target).extract({ ...centre, width: 1, height: 1 }).raw().toBuffer();
      expect([...pixel.subarray(0, 3)]).toEqual([RED.r, RED.g, RED.b]);
    });

    it.concurrent("with a missing file exits 2 naming the path, before sending anything", async () => {
      // No server listens there: reaching it first would be a different error.
      const port = await freePort();
      const missing = await generate([
        "a red kite", "--model", "nano-banana-pro", "--image", previousUrl, "--image", "./no-such-dir/cat.png",
        "--base-url", `http://127.0.0.1:${port}`, "--key", testKey,
      ]);
      expect(missing.exitCode).toBe(2);
      expectOneLineFailure(missing, /^imagegate: --image \.\/no-such-dir\/cat\.png: no such file \(\/.*\/no-such-dir\/cat\.png\)$/);
    });

    it.concurrent("with a file the server refuses shows the server's message", async () => {
      const notes = path.join(outputDir, "notes.png");
      await writeFile(notes, "not an image at all");
      const refused = await generate([
        "a red kite", "--model", "nano-banana-pro", "--image", notes, "--base-url", harness.baseUrl, "--key", testKey,
      ]);
      expect(refused.exitCode).toBe(1);
      expect(linesOf(refused.stdout)).toEqual(["uploading notes.png (19 B)... failed"]);
      expect(linesOf(refused.stderr)).toHaveLength(1);
      expect(refused.stderr.trim()).toBe(
        `imagegate: uploading ${notes} failed: The file is not an image: only PNG, JPEG, WebP and GIF are accepted. (HTTP 415)`,
      );
    });

    it.concurrent("with a model that takes no images exits 2 before uploading, naming the models that do", async () => {
      const refused = await generate(["a red kite", "--image", localFile, "--base-url", harness.baseUrl, "--key", testKey]);
      expect(refused.exitCode).toBe(2);
      expectOneLineFailure(
        refused,
        /^imagegate: --model nano-banana-text-to-image takes no input images; give --model one of google\/nano-banana-edit, nano-banana-pro, nano-banana-2, /,
      );
    });
  });

  describe("failures", () => {
    it.concurrent("with a key the server does not know exits non-zero with one line mentioning 401", async () => {
      const run = await generate(["a red kite", "--base-url", harness.baseUrl, "--key", UNKNOWN_KEY]);
      expectOneLineFailure(run, /^imagegate: .*\b401\b/);
    });

    it.concurrent("with an invalid ratio exits non-zero naming input.aspect_ratio", async () => {
      const run = await generate(["a red kite", "--ratio", "7:3", "--base-url", harness.baseUrl, "--key", harness.key]);
      expectOneLineFailure(run, /^imagegate: input\.aspect_ratio must be one of .*\(HTTP 422\)/);
    });

    it.concurrent("with --resolution 8K exits non-zero listing the resolutions", async () => {
      const run = await generate(["a red kite", "--resolution", "8K", "--base-url", harness.baseUrl, "--key", harness.key]);
      expectOneLineFailure(run, /^error: option '--resolution <resolution>' argument '8K' is invalid\. Allowed choices are 1K, 2K, 4K\.$/);
    });

    it.concurrent("with --resolution on a model of one size exits non-zero naming input.resolution", async () => {
      const run = await generate(["a red kite", "--resolution", "2K", "--base-url", harness.baseUrl, "--key", harness.key]);
      expectOneLineFailure(run, /^imagegate: input\.resolution is not a known field of nano-banana-text-to-image\b.*\(HTTP 422\)/);
    });

    it.concurrent("when the task fails exits non-zero naming the failure", async () => {
      const run = await generate(["[sandbox:fail] a red kite", "--base-url", harness.baseUrl, "--key", harness.key]);
      expect(run.exitCode).not.toBe(0);
      expect(run.exitCode).not.toBeNull();
      expect(linesOf(run.stdout).at(-1)).toMatch(/\] fail$/);
      expect(linesOf(run.stderr)).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(/^imagegate: the task failed: .+ \(PROVIDER_ERROR\)$/);
    });

    it.concurrent("against a port with no server exits non-zero saying it could not reach the server", async () => {
      const port = await freePort();
      const run = await generate(["a red kite", "--base-url", `http://127.0.0.1:${port}`, "--key", harness.key]);
      expectOneLineFailure(run, new RegExp(`^imagegate: could not reach imagegate at http://127\\.0\\.0\\.1:${port}\\b`));
    });

    it.concurrent("without any key exits 2", async () => {
      const run = await generate(["a red kite", "--base-url", harness.baseUrl]);
      expect(run.exitCode).toBe(2);
      expect(run.stdout).toBe("");
      expect(linesOf(run.stderr)).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(/^imagegate: no API key: pass --key KEY or set IMAGEGATE_API_KEY/);
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
