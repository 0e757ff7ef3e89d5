import { ConfigError, loadConfig } from "./config.ts";
import { createServer, type Server } from "./server.ts";

/** On the first start with an empty database: an account `demo` with one key, printed once. */
async function bootstrapDemo(server: Server): Promise<string | null> {
  if (!(await server.accounts.isEmpty())) return null;
  const account = await server.accounts.createAccount("demo");
  if (!account.ok) return null;
  if (server.config.demoCredits > 0) {
    await server.accounts.grantCredits("demo", server.config.demoCredits, "credits of the demo account", "system");
  }
  const key = await server.accounts.createKey("demo", "live");
  return key.ok ? key.value.key : null;
}

/** The upstream ids in use, each with the public models it serves: "gemini-3-pro-image for nano-banana-pro, ...". */
function geminiModels(config: Server["config"]): string {
  const byUpstream = new Map<string, string[]>();
  for (const [publicModel, route] of Object.entries(config.gemini?.models ?? {})) {
    byUpstream.set(route.upstream, [...(byUpstream.get(route.upstream) ?? []), publicModel]);
  }
  return [...byUpstream].map(([upstream, publicModels]) => `${upstream} for ${publicModels.join(", ")}`).join("; ");
}

/** Where a URL points, without its credentials: "host:5432/imagegate". */
function placeOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
}

/** Where state, files and rate limits live, as configured. */
function backends(config: Server["config"]): string[] {
  return [
    config.databaseUrl === null ? `database: SQLite in ${config.dataDir}` : `database: PostgreSQL at ${placeOf(config.databaseUrl)}`,
    config.s3 === null
      ? `files: ${config.dataDir}/results`
      : `files: S3 bucket ${config.s3.bucket}${config.s3.endpoint === undefined ? "" : ` at ${placeOf(config.s3.endpoint)}`}${config.s3.resultUrls === "presigned" ? ", results downloaded from it at presigned URLs" : ""}`,
    ...(config.redis === null
      ? []
      : [`queue, task changes and rate limits: Redis at ${placeOf(config.redis.url)} (prefix ${config.redis.prefix})`]),
  ];
}

const ROLE_NOTES: Record<Server["config"]["role"], string> = {
  all: "",
  api: "; role api: answers the API, runs no tasks",
  worker: "; role worker: runs tasks, callbacks and sweeps; serves /healthz, /readyz and /metrics only",
};

function banner(server: Server, address: string, demoKey: string | null): string {
  const { config } = server;
  const lines = [
    `imagegate listening on ${address} (public URL ${config.publicBaseUrl})${ROLE_NOTES[config.role]}`,
    ...backends(config),
    config.imageProvider === "sandbox"
      ? "image provider: sandbox. No upstream is configured, so every task gets a generated placeholder image. Set GEMINI_API_KEY to use Gemini."
      : config.upstreams !== null
        ? `image provider: the upstreams of ${config.upstreams.file} (${config.upstreams.upstreams.map((upstream) => `${upstream.name}: ${upstream.kind}`).join(", ")})`
        : `image provider: gemini (${geminiModels(config)}${config.gemini?.baseUrl ? ` at ${config.gemini.baseUrl}` : ""})`,
    ...(config.role === "worker" ? [] : [`API docs: ${config.publicBaseUrl}/docs`]),
  ];
  if (demoKey !== null) {
    lines.push(
      "",
      "Created account 'demo' with this API key. It is shown only now; keep it:",
      `  ${demoKey}`,
      "Try it:",
      `  curl -s -X POST ${config.publicBaseUrl}/api/v1/jobs/createTask -H "Authorization: Bearer ${demoKey}" -H "Content-Type: application/json" -d '{"model":"nano-banana-text-to-image","input":{"prompt":"a banana in space"}}'`,
    );
  }
  return lines.join("\n");
}

/** `imagegate serve` / `npm start`: runs until SIGTERM or SIGINT. */
export async function runServe(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let server: Server;
  try {
    server = await createServer(loadConfig(env));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`imagegate: invalid configuration: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  let address: string;
  try {
    address = await server.start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      const { host, port } = server.config;
      process.stderr.write(
        `imagegate: cannot listen on ${host}:${port} (${code === "EADDRINUSE" ? "the port is in use" : "permission denied"}); set PORT (and HOST) to another address\n`,
      );
      await server.stop();
      process.exit(2);
    }
    throw error;
  }
  // Only once listening: a key printed by a server that then failed to start would be lost.
  const demoKey = server.config.role === "worker" ? null : await bootstrapDemo(server);
  process.stdout.write(`${banner(server, address, demoKey)}\n`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      process.stderr.write("imagegate: second signal, exiting now; unfinished tasks resume at the next start\n");
      process.exit(1);
    }
    stopping = true;
    server.logger.info({ signal }, "shutting down: no new requests, waiting for running tasks");
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        server.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}
