import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linesOf, runImagegate } from "../helpers/cli.ts";
import { call, MODEL, startTestServer, temporaryDirectory, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

const COMMAND_TIMEOUT_MS = 120_000;

interface BackupJson {
  directory: string;
  databaseBytes: number;
  resultFiles: number;
  resultBytes: number;
  milliseconds: number;
}

describe("imagegate backup", () => {
  let running: TestServer;
  let scratch: string;

  beforeAll(async () => {
    running = await startTestServer({ ACTIVE_TASK_LIMIT: "100000" });
    scratch = await temporaryDirectory("imagegate-backup-");
  });

  afterAll(async () => {
    await running.close();
    await rm(scratch, { recursive: true, force: true });
  });

  async function createTask(prompt: string): Promise<string> {
    const answer = await call<{ taskId: string }>(running.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: running.key,
      body: { model: MODEL, input: { prompt } },
    });
    expect(answer.status).toBe(200);
    return answer.body.data.taskId;
  }

  it(
    "copies a running server's data into a directory another server starts from, with its keys, tasks and result files",
    async () => {
      const taskId = await createTask("a backed-up banana");
      const { record } = await waitForTerminal(running.baseUrl, running.key, taskId);
      expect(record.state).toBe("success");
      const resultUrl = new URL((JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "");
      const original = Buffer.from(await (await fetch(resultUrl)).arrayBuffer());

      // Tasks keep being written while the copy is made.
      let writing = true;
      const writer = (async () => {
        let written = 0;
        while (writing) {
          await createTask(`written during the backup ${written}`);
          written += 1;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return written;
      })();
      const target = path.join(scratch, "copy");
      const run = await runImagegate(["backup", target, "--json"], { DATA_DIR: running.dataDir }, COMMAND_TIMEOUT_MS);
      writing = false;
      expect(await writer).toBeGreaterThan(0);
      expect(run.stderr).toBe("");
      expect(run.exitCode).toBe(0);
      const summary = JSON.parse(run.stdout) as BackupJson;
      expect(summary.directory).toBe(target);
      expect(summary.databaseBytes).toBeGreaterThan(0);
      expect(summary.resultFiles).toBeGreaterThanOrEqual(1);
      expect(summary.resultBytes).toBeGreaterThanOrEqual(original.length);

      const restored = await startTestServer({ DATA_DIR: target });
      try {
        // The key made before the backup still authenticates, and the task reads as it was.
        const answer = await call<{ state: string; resultJson: string }>(
          restored.baseUrl,
          "GET",
          `/api/v1/jobs/recordInfo?taskId=${taskId}`,
          { key: running.key },
        );
        expect(answer.status).toBe(200);
        expect(answer.body.data.state).toBe("success");
        // The URL handed out before the backup is still valid: same signing key, same file.
        const copied = await fetch(`${restored.baseUrl}${resultUrl.pathname}${resultUrl.search}`);
        expect(copied.status).toBe(200);
        expect(Buffer.from(await copied.arrayBuffer()).equals(original)).toBe(true);
      } finally {
        await restored.close();
      }
    },
    COMMAND_TIMEOUT_MS,
  );

  it(
    "refuses a directory that is not empty, changing nothing in it",
    async () => {
      const target = path.join(scratch, "occupied");
      await mkdir(target);
      await writeFile(path.join(target, "keep.txt"), "mine");
      const run = await runImagegate(["backup", target], { DATA_DIR: running.dataDir }, COMMAND_TIMEOUT_MS);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toBe("");
      expect(linesOf(run.stderr)).toEqual([`imagegate: ${target} is not empty: back up into a new or empty directory`]);
    },
    COMMAND_TIMEOUT_MS,
  );

  it(
    "says where it looked when DATA_DIR holds no database",
    async () => {
      const empty = path.join(scratch, "no-data");
      await mkdir(empty);
      const run = await runImagegate(["backup", path.join(scratch, "unused")], { DATA_DIR: empty }, COMMAND_TIMEOUT_MS);
      expect(run.exitCode).toBe(1);
      expect(linesOf(run.stderr)).toEqual([
        `imagegate: there is no database at ${path.join(empty, "imagegate.db")}: set DATA_DIR to the server's data directory`,
      ]);
    },
    COMMAND_TIMEOUT_MS,
  );
});
