import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { RequestThread } from "../../src/threads/request-thread.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

// A thread that doubles numbers, fails on "bad" and exits on "die".
const DOUBLER = `
function handle(batch) {
  return batch.map(({ id, request }) => {
    if (request === "die") process.exit(3);
    if (request === "bad") return failure(id, Object.assign(new Error("not a number"), { code: "EBAD" }));
    return { id, ok: true, value: { doubled: request * 2, batch: batch.length } };
  });
}
`;

let thread: RequestThread<number | string, { doubled: number; batch: number }>;
afterEach(async () => {
  await thread.close();
});

describe("RequestThread", () => {
  it("answers each request with its own value, handling those that arrive together at once", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    const answers = await Promise.all([1, 2, 3].map((value) => thread.request(value)));
    expect(answers.map((answer) => answer.doubled)).toEqual([2, 4, 6]);
    expect(answers.map((answer) => answer.batch)).toEqual([3, 3, 3]);
  });

  it("fails only the request the thread fails, with its message and code", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    const outcomes = await Promise.allSettled([thread.request(1), thread.request("bad")]);
    expect(outcomes[0]).toMatchObject({ status: "fulfilled", value: { doubled: 2 } });
    expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { message: "not a number", code: "EBAD" } });
  });

  it("rejects a request that cannot be sent, sending nothing, and goes on serving", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    const uncopyable = (() => 1) as unknown as number;
    await expect(thread.request(uncopyable)).rejects.toThrow(/could not be cloned/);
    await expect(thread.request(4)).resolves.toMatchObject({ doubled: 8, batch: 1 });
    // Nothing is left pending: close() does not wait for an answer that will never come.
    await thread.close();
  });

  it("fails what was pending when the thread dies, and starts a new thread for the next request", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    await expect(thread.request("die")).rejects.toThrow("the doubling thread stopped");
    await expect(thread.request(5)).resolves.toMatchObject({ doubled: 10 });
  });

  it("answers what was asked before close", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    const asked = thread.request(7);
    await thread.close();
    await expect(asked).resolves.toMatchObject({ doubled: 14 });
  });

  it("closes an idle thread in a process that has nothing else to do, and the process ends normally", async () => {
    thread = new RequestThread(DOUBLER, "doubling thread");
    const directory = await temporaryDirectory("imagegate-request-thread-");
    const script = path.join(directory, "close-idle.mts");
    const module = fileURLToPath(new URL("../../src/threads/request-thread.ts", import.meta.url));
    await writeFile(
      script,
      `import { RequestThread } from ${JSON.stringify(module)};
const thread = new RequestThread(\`function handle(batch) { return batch.map(({ id, request }) => ({ id, ok: true, value: request })); }\`, "echo");
console.log(await thread.request(7));
await thread.close();
console.log("closed");
`,
    );
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], { timeout: 30_000 });
      expect(stdout.split("\n")).toEqual(["7", "closed", ""]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
