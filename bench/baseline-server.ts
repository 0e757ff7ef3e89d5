import Fastify from "fastify";

/**
 * The yardstick: a bare Fastify route answering a constant envelope, with no authentication,
 * database or logging. Run as its own process (bench/baseline-process.ts); prints its URL.
 */
const ENVELOPE = { code: 200, msg: "success", data: { taskId: "task_01jdw3q0c5m4v7w8x9y0z1a2b3" } };

const app = Fastify({ logger: false });
app.get("/api/v1/baseline", async () => ENVELOPE);
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
