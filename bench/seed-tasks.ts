import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { newId } from "../src/domain/ids.ts";
import { randomPrompt } from "./requests.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9"];
const PRICE = 4;

export interface SeededTasks {
  taskIds: string[];
  seconds: number;
  databaseBytes: number;
}

/** 80 random bits per id, taken from one large buffer rather than a system call per id. */
function randomSource(count: number): (size: number) => Buffer {
  const pool = randomBytes(count * 10);
  let offset = 0;
  return (size) => {
    const slice = pool.subarray(offset, offset + size);
    offset += size;
    return slice.length === size ? slice : randomBytes(size);
  };
}

/**
 * Writes `count` finished tasks of the demo account straight into a stopped server's database,
 * in one transaction: rows as TaskService and the worker leave them (state success, a signed
 * result URL, times spread over the last 13 days, ids time-sortable like real ones).
 */
export function seedSucceededTasks(dataDir: string, count: number, publicBaseUrl: string): SeededTasks {
  const started = performance.now();
  const file = path.join(dataDir, "imagegate.db");
  const database = new SqliteDatabase(file);
  const taskIds: string[] = new Array<string>(count);
  try {
    database.pragma("journal_mode = WAL");
    const account = database.prepare("SELECT id FROM accounts WHERE name = 'demo'").get() as { id: string } | undefined;
    if (account === undefined) throw new Error(`no demo account in ${file}`);
    const key = database.prepare("SELECT id FROM api_keys WHERE account_id = ?").get(account.id) as { id: string } | undefined;
    const insert = database.prepare(
      `INSERT INTO tasks (id, account_id, api_key_id, mode, model, state, param, input, callback_url, result_json,
         fail_code, fail_msg, create_time, update_time, complete_time, deadline_time, attempts, credits_held)
       VALUES (@id, @accountId, @apiKeyId, 'live', 'nano-banana-text-to-image', 'success', @param, @input, NULL, @resultJson,
         NULL, NULL, @createTime, @completeTime, @completeTime, @deadlineTime, 1, @creditsHeld)`,
    );
    const random = randomSource(count);
    const end = Date.now() - 60_000;
    const span = 13 * DAY_MS;
    const insertAll = database.transaction(() => {
      for (let index = 0; index < count; index += 1) {
        const createTime = Math.floor(end - span + (index * span) / count);
        const completeTime = createTime + 6_000 + Math.floor(Math.random() * 6_000);
        const id = newId("task", createTime, random);
        const prompt = randomPrompt();
        const ratio = RATIOS[index % RATIOS.length] ?? "1:1";
        const day = new Date(completeTime).toISOString().slice(0, 10);
        const expires = Math.floor(completeTime / 1000) + 14 * 86_400;
        const signature = randomBytes(32).toString("base64url");
        insert.run({
          id,
          accountId: account.id,
          apiKeyId: key?.id ?? null,
          param: JSON.stringify({ model: "nano-banana-text-to-image", input: { prompt, image_size: ratio } }),
          input: JSON.stringify({ prompt, aspectRatio: ratio, outputFormat: "png", safetyChecking: true }),
          resultJson: JSON.stringify({ resultUrls: [`${publicBaseUrl}/files/${day}/${id}.png?expires=${expires}&signature=${signature}`] }),
          createTime,
          completeTime,
          deadlineTime: createTime + 300_000,
          creditsHeld: PRICE,
        });
        taskIds[index] = id;
      }
    });
    insertAll();
    database.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    database.close();
  }
  return { taskIds, seconds: (performance.now() - started) / 1000, databaseBytes: statSync(file).size };
}
