import Fastify from "fastify";

/**
 * The yardstick: a bare Fastify route answering a constant envelope, with no authentication,
 * database or logging. Run as its own process (bench/baseline-process.ts); prints its URL.
 */
const ENVELOPE = { code: 200, msg: "success", data: { taskId: "task_01jdw3q0c5m4v7w8x9y0z1a2b3" } };

/** An answer to repeat verbatim: the headers and body imagegate gave to one real request. */
export interface RecordedAnswer {
  headers: Record<string, string>;
  body: string;
}

/** Headers Node sets on every answer by itself; the rest are copied. */
const SET_BY_NODE = new Set(["content-length", "date", "connection", "keep-alive", "transfer-encoding"]);

const app = Fastify({ logger: false });
app.get("/api/v1/baseline", async () => ENVELOPE);
// With BASELINE_REPLAY, a second route answers a recorded imagegate answer, doing no other work:
// the most a server giving that answer to the same requests could reach on this machine with
// this load generator. A POST's JSON body is read and parsed first, as any server of it must.
const replay = process.env.BASELINE_REPLAY;
if (replay !== undefined) {
  const recorded = JSON.parse(replay) as RecordedAnswer;
  const headers = Object.entries(recorded.headers).filter(([name]) => !SET_BY_NODE.has(name.toLowerCase()));
  app.route({
    method: ["GET", "POST"],
    url: "/api/v1/replay",
    handler: (_request, reply) => {
      for (const [name, value] of headers) reply.header(name, value);
      reply.send(recorded.body);
    },
  });
}
const address = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`baseline listening on ${address}\n`);

const stop = (): void => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
