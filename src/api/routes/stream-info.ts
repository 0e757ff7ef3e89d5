import type { FastifyInstance } from "fastify";
import { isTerminal, toRecord, type Task } from "../../domain/tasks/task.ts";
import type { ApiContext } from "../context.ts";
import { errorEnvelopeSchema, fail } from "../envelope.ts";
import { callerOf, taskIdFromQuery } from "../request-fields.ts";

const HEARTBEAT_MS = 15_000;
/** Changes made by another process reach this stream through this re-read. */
const RECHECK_MS = 2_000;

export function registerStreamInfo(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/jobs/streamInfo",
    {
      schema: {
        summary: "Follow a task live (server-sent events)",
        description:
          "text/event-stream: one `event: state` whose data is the recordInfo data as JSON now and at every later change; the stream ends after the terminal state. Comment lines are heartbeats.",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        querystring: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
        produces: ["text/event-stream"],
        response: { 400: errorEnvelopeSchema, 401: errorEnvelopeSchema, 404: errorEnvelopeSchema, 429: errorEnvelopeSchema },
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
      response.writeHead(200, {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        // nginx and similar proxies buffer responses unless told not to.
        "X-Accel-Buffering": "no",
        "X-Request-Id": request.id,
      });
      let lastSent = "";
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
        if (closed) return;
        const record = toRecord(task);
        // States only move forward: a re-read that lags an event already sent is not news.
        const key = `${record.state}:${record.updateTime}`;
        if (key === lastSent || (lastSent !== "" && isTerminal(lastSent.split(":")[0] as Task["state"]))) return;
        lastSent = key;
        response.write(`event: state\ndata: ${JSON.stringify(record)}\n\n`);
        if (isTerminal(task.state)) close();
      };
      unsubscribe = context.tasks.onChange((task) => {
        if (task.id === taskId && task.accountId === caller.accountId) send(task);
      });
      response.on("close", close);
      send(found.value);
      timers.push(
        setInterval(() => {
          if (!closed) response.write(": heartbeat\n\n");
        }, HEARTBEAT_MS),
        setInterval(() => {
          context.tasks.get(caller.accountId, taskId).then(
            (latest) => {
              if (latest.ok && latest.value.updateTime >= Number(lastSent.split(":")[1] ?? 0)) send(latest.value);
            },
            () => undefined,
          );
        }, RECHECK_MS),
      );
    },
  );
}
