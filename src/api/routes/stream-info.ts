import type { FastifyInstance } from "fastify";
import { isTerminal, stateRank, toRecord, type Task } from "../../domain/tasks/task.ts";
import type { ApiContext } from "../context.ts";
import { errorEnvelopeSchema, fail } from "../envelope.ts";
import { callerOf, taskIdFromQuery } from "../request-fields.ts";

const HEARTBEAT_MS = 15_000;
/** A change whose event this process missed (cut off from Redis for a moment) is found by this re-read. */
const RECHECK_MS = 2_000;

const eventStreamSchema = {
  type: "string",
  description:
    "Server-sent events. Each state is one event `event: state` whose `data:` line is the recordInfo `data` object as JSON (taskId, model, state, param, resultJson, failCode, failMsg, costTime, completeTime, createTime, updateTime, creditsConsumed): the current state first, then every later change. The stream ends after the success or fail state. Lines `: heartbeat` are comments sent every 15 s to keep the connection open; ignore them.",
  example: 'event: state\ndata: {"taskId":"task_01jd...","model":"nano-banana-text-to-image","state":"queuing",...}\n\n: heartbeat\n\n',
};

/** Errors come before the stream starts, as the JSON envelope of every other route. */
const jsonError = { description: errorEnvelopeSchema.description, content: { "application/json": { schema: errorEnvelopeSchema } } };

export function registerStreamInfo(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/jobs/streamInfo",
    {
      schema: {
        operationId: "streamInfo",
        summary: "Follow a task live (server-sent events)",
        description:
          "text/event-stream: one `event: state` whose data is the recordInfo data as JSON now and at every later change; the stream ends after the terminal state. Comment lines are heartbeats.",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        querystring: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
        response: {
          200: {
            description: "The task's states as server-sent events.",
            content: { "text/event-stream": { schema: eventStreamSchema } },
          },
          400: jsonError,
          401: jsonError,
          404: jsonError,
          429: jsonError,
        },
      },
    },
    async (request, reply) => {
      const requested = taskIdFromQuery(request);
      if (!requested.ok) return fail(reply, requested.code, requested.message);
      const taskId = requested.value;
      const caller = callerOf(request);
      const found = await context.tasks.get(caller.accountId, taskId);
      if (!found.ok) return fail(reply, found.code, found.message);

      reply.hijack();
      const response = reply.raw;
      // Headers set before the stream took the reply over: the request id, rate limit and CORS.
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) response.setHeader(name, value);
      }
      response.writeHead(200, {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        // nginx and similar proxies buffer responses unless told not to.
        "X-Accel-Buffering": "no",
      });
      // States only move forward, so a state at or before the last one sent is not news (a re-read
      // that lags an event, or a recovered task starting to generate again).
      let lastRank = -1;
      let closed = false;
      const timers: NodeJS.Timeout[] = [];
      let unsubscribe = (): void => {};
      const close = (): void => {
        if (closed) return;
        closed = true;
        unsubscribe();
        for (const timer of timers) clearInterval(timer);
        response.end();
      };
      const send = (task: Task): void => {
        const rank = stateRank(task.state);
        if (closed || rank <= lastRank) return;
        lastRank = rank;
        response.write(`event: state\ndata: ${JSON.stringify(toRecord(task))}\n\n`);
        if (isTerminal(task.state)) close();
      };
      // The event says that the task changed, in this process or another; the stream shows the
      // task as the database has it now.
      const reread = (): void => {
        context.tasks.get(caller.accountId, taskId).then(
          (latest) => {
            if (latest.ok) send(latest.value);
          },
          () => undefined,
        );
      };
      unsubscribe = context.taskEvents.subscribe((event) => {
        if (event.taskId === taskId && event.accountId === caller.accountId) reread();
      });
      response.on("close", close);
      send(found.value);
      timers.push(
        setInterval(() => {
          if (!closed) response.write(": heartbeat\n\n");
        }, HEARTBEAT_MS),
        setInterval(reread, RECHECK_MS),
      );
    },
  );
}
