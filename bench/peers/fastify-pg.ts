import Fastify from "fastify";
import pg from "pg";
import { newId } from "../../src/domain/ids.ts";
import {
  callbackUrlOf,
  createTaskSchema,
  envelopeAndAuthentication,
  fail,
  hashKey,
  invalidBody,
  MODEL,
  peerOptions,
  recordInfoSchema,
  stopOnSignals,
  taskRecord,
  type CreateTaskBody,
} from "./peer-route.ts";

/*
 * The do-it-yourself design imagegate's PostgreSQL mode is measured against: a Fastify route that
 * checks the bearer key against a table, validates the body, and stores the task with one INSERT
 * in its own (autocommit) transaction before answering, so every accepted task is durable. A pool
 * of 10 connections, as imagegate's. It creates its two tables, `<prefix>_api_keys` (holding the
 * one key it accepts, by hash) and `<prefix>_tasks`, if they are missing.
 *
 *   DATABASE_URL=postgres://... PEER_API_KEY=secret [PORT=0] [PEER_PREFIX=peer] tsx bench/peers/fastify-pg.ts
 *   (or --database-url, --api-key, --port, --prefix)
 *
 * Prints `fastify-pg listening on http://127.0.0.1:<port>` once it answers.
 */

const ACCOUNT_ID = "acct_peer";

const options = peerOptions();
if (options.databaseUrl === undefined) throw new Error("no database: pass --database-url or set DATABASE_URL");
const tasks = `${options.prefix}_tasks`;
const keys = `${options.prefix}_api_keys`;

const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, application_name: "fastify-pg" });
// An idle connection's error must not end the process; the pool replaces the connection.
pool.on("error", () => undefined);
await pool.query(`CREATE TABLE IF NOT EXISTS ${keys} (
  hash text PRIMARY KEY,
  account_id text NOT NULL,
  revoked_at bigint
)`);
await pool.query(`CREATE TABLE IF NOT EXISTS ${tasks} (
  id text COLLATE "C" PRIMARY KEY,
  account_id text NOT NULL,
  model text NOT NULL,
  state text NOT NULL,
  param text NOT NULL,
  callback_url text,
  create_time bigint NOT NULL,
  update_time bigint NOT NULL
)`);
await pool.query(`INSERT INTO ${keys} (hash, account_id) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`, [hashKey(options.apiKey), ACCOUNT_ID]);

// Prepared once per connection, as a careful operator names the statements run on every request.
const FIND_KEY = { name: "find_key", text: `SELECT account_id FROM ${keys} WHERE hash = $1 AND revoked_at IS NULL` };
const INSERT_TASK = {
  name: "insert_task",
  text: `INSERT INTO ${tasks} (id, account_id, model, state, param, callback_url, create_time, update_time) VALUES ($1, $2, $3, 'waiting', $4, $5, $6, $6)`,
};
const FIND_TASK = {
  name: "find_task",
  text: `SELECT id, model, state, param, create_time, update_time FROM ${tasks} WHERE id = $1 AND account_id = $2`,
};

const app = Fastify({ logger: false });
// Read from the table at every request, so a revoked key fails at once.
envelopeAndAuthentication(app, async (keyHash) => {
  const { rows } = await pool.query<{ account_id: string }>({ ...FIND_KEY, values: [keyHash] });
  return rows[0]?.account_id ?? null;
});

app.post<{ Body: CreateTaskBody }>("/api/v1/jobs/createTask", { schema: createTaskSchema }, async (request, reply) => {
  const invalid = invalidBody(request.body);
  if (invalid !== null) return fail(reply, 422, invalid);
  const now = Date.now();
  const taskId = newId("task", now);
  await pool.query({
    ...INSERT_TASK,
    values: [taskId, request.accountId, MODEL, JSON.stringify(request.body), callbackUrlOf(request.body), now],
  });
  return { code: 200, msg: "success", data: { taskId } };
});

app.get<{ Querystring: { taskId: string } }>("/api/v1/jobs/recordInfo", { schema: recordInfoSchema }, async (request, reply) => {
  const { rows } = await pool.query<{ id: string; model: string; state: string; param: string; create_time: string; update_time: string }>({
    ...FIND_TASK,
    values: [request.query.taskId, request.accountId],
  });
  const row = rows[0];
  if (row === undefined) return fail(reply, 404, `no task with taskId ${request.query.taskId}`);
  return {
    code: 200,
    msg: "success",
    data: taskRecord({ ...row, createTime: Number(row.create_time), updateTime: Number(row.update_time) }),
  };
});

const address = await app.listen({ port: options.port, host: "127.0.0.1" });
process.stdout.write(`fastify-pg listening on ${address}\n`);
stopOnSignals(app, () => pool.end());
