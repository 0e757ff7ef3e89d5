import { randomBytes } from "node:crypto";
import type { ClosedLoopOptions } from "../closed-loop.ts";
import { REPOSITORY_ROOT } from "../imagegate-process.ts";
import { baseEnvironment, ManagedProcess } from "../processes.ts";
import { authorizationHeaders, createTaskBody } from "../requests.ts";

export type PeerKind = "fastify-pg" | "fastify-bullmq";

export interface PeerSettings {
  /** For fastify-pg. */
  databaseUrl?: string;
  /** For fastify-bullmq. */
  redisUrl?: string;
  /** Its tables' (or keys') prefix; "peer" unless given. */
  prefix?: string;
}

type Load = Omit<ClosedLoopOptions, "durationSeconds">;

/** One of the do-it-yourself peers (bench/peers/<kind>.ts) in its own process, with a key of its own. */
export class PeerProcess {
  private constructor(
    readonly kind: PeerKind,
    readonly process: ManagedProcess,
    readonly url: string,
    readonly apiKey: string,
  ) {}

  static async start(kind: PeerKind, settings: PeerSettings): Promise<PeerProcess> {
    const apiKey = `peer_${randomBytes(24).toString("base64url")}`;
    const environment: Record<string, string> = { ...baseEnvironment(), PEER_API_KEY: apiKey, PEER_PREFIX: settings.prefix ?? "peer" };
    if (settings.databaseUrl !== undefined) environment.DATABASE_URL = settings.databaseUrl;
    if (settings.redisUrl !== undefined) environment.REDIS_URL = settings.redisUrl;
    const child = new ManagedProcess({
      name: kind,
      command: process.execPath,
      arguments: ["--import", "tsx", `bench/peers/${kind}.ts`],
      cwd: REPOSITORY_ROOT,
      environment,
    });
    try {
      const listening = await child.waitForLine(new RegExp(`${kind} listening on (http://\\S+)`), 30_000);
      return new PeerProcess(kind, child, listening[1] ?? "", apiKey);
    } catch (error) {
      await child.stop();
      throw error;
    }
  }

  /** createTask with a random valid body per request, as imagegate's createTask scenario sends. */
  createTaskLoad(connections: number): Load {
    return createTaskLoad(this.url, this.apiKey, connections);
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/** POST createTask with a random valid body per request, to any server speaking imagegate's API. */
export function createTaskLoad(origin: string, apiKey: string, connections: number): Load {
  return {
    origin,
    headers: authorizationHeaders(apiKey),
    nextRequest: () => ({ method: "POST", path: "/api/v1/jobs/createTask", body: createTaskBody() }),
    connections,
  };
}

/** GET recordInfo of a random one of `taskIds`. */
export function recordInfoLoad(origin: string, apiKey: string, taskIds: readonly string[], connections: number): Load {
  if (taskIds.length === 0) throw new Error("recordInfo needs tasks to read");
  return {
    origin,
    headers: authorizationHeaders(apiKey),
    nextRequest: () => ({ method: "GET", path: `/api/v1/jobs/recordInfo?taskId=${taskIds[Math.floor(Math.random() * taskIds.length)] ?? ""}` }),
    connections,
  };
}
