import { Queue } from "bullmq";
import Fastify from "fastify";
import { Redis } from "ioredis";
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
  sameHash,
  stopOnSignals,
  taskRecord,
  type CreateTaskBody,
} from "./peer-route.ts";

/*
 * The other do-it-yourself design: a Fastify route that checks the bearer key, validates the body
 * and hands the task to a BullMQ queue (`queue.add`, jobId = a new task id) before answering, with
 * no database at all; the job's data is the task. recordInfo reads the job back.
 *
 *   REDIS_URL=redis://... PEER_API_KEY=secret [PORT=0] [PEER_PREFIX=peer] tsx bench/peers/fastify-bullmq.ts
 *   (or --redis-url, --api-key, --port, --prefix; the queue's keys are under `<prefix>:tasks:`)
 *
 * Prints `fastify-bullmq listening on http://127.0.0.1:<port>` once it answers.
 */

const ACCOUNT_ID = "acct_peer";

interface TaskJob {
  accountId: string;
  model: string;
  param: string;
  callbackUrl: string | null;
  createTime: number;
}

/** BullMQ's states as a task's. */
const STATES: Record<string, string> = { waiting: "waiting", prioritized: "waiting", delayed: "waiting", active: "generating", completed: "success", failed: "fail" };

const options = peerOptions();
if (options.redisUrl === undefined) throw new Error("no Redis: pass --redis-url or set REDIS_URL");
const keyHash = hashKey(options.apiKey);

const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
connection.on("error", () => undefined);
const queue = new Queue<TaskJob>("tasks", { connection, prefix: options.prefix });
queue.on("error", () => undefined);
await queue.waitUntilReady();

const app = Fastify({ logger: false });
envelopeAndAuthentication(app, (given) => Promise.resolve(sameHash(given, keyHash) ? ACCOUNT_ID : null));

app.post<{ Body: CreateTaskBody }>("/api/v1/jobs/createTask", { schema: createTaskSchema }, async (request, reply) => {
  const invalid = invalidBody(request.body);
  if (invalid !== null) return fail(reply, 422, invalid);
  const now = Date.now();
  const taskId = newId("task", now);
  await queue.add(
    "task",
    { accountId: request.accountId, model: MODEL, param: JSON.stringify(request.body), callbackUrl: callbackUrlOf(request.body), createTime: now },
    { jobId: taskId },
  );
  return { code: 200, msg: "success", data: { taskId } };
});

app.get<{ Querystring: { taskId: string } }>("/api/v1/jobs/recordInfo", { schema: recordInfoSchema }, async (request, reply) => {
  const job = await queue.getJob(request.query.taskId);
  if (job?.id === undefined || job.data.accountId !== request.accountId) return fail(reply, 404, `no task with taskId ${request.query.taskId}`);
  const state = STATES[await job.getState()] ?? "waiting";
  return {
    code: 200,
    msg: "success",
    data: taskRecord({ id: job.id, model: job.data.model, state, param: job.data.param, createTime: job.data.createTime, updateTime: job.processedOn ?? job.data.createTime }),
  };
});

const address = await app.listen({ port: options.port, host: "127.0.0.1" });
process.stdout.write(`fastify-bullmq listening on ${address}\n`);
stopOnSignals(app, async () => {
  await queue.close();
  await connection.quit();
});
