import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import pg from "pg";
import { newAccountThroughAdmin, type AdminMadeAccount } from "./admin-api.ts";
import { createTestDatabase, type TestDatabase } from "./postgres.ts";
import { deleteKeys, REDIS_URL, uniquePrefix } from "./redis.ts";
import { S3TestServer } from "./s3-server.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";
import { TcpProxy } from "./tcp-proxy.ts";
import { freePort, temporaryDirectory } from "./test-server.ts";

export type ClusterRole = "api" | "worker";

/** One `imagegate serve --role ...` process of the cluster, restartable on its port. */
export interface ClusterMember {
  role: ClusterRole;
  port: number;
  baseUrl: string;
  dataDir: string;
  process: ServerProcess;
  /** False once killed, until restarted. */
  alive: boolean;
}

export interface ClusterOptions {
  apis?: number;
  workers?: number;
  /** Settings of every process beside the backends' (a latency, a timeout). */
  env?: Record<string, string>;
}

const ADMIN_KEY = `admin-${randomBytes(16).toString("hex")}`;

/**
 * API and worker processes of the real program sharing one PostgreSQL database, one Redis prefix
 * and one S3 bucket (s3rver), all of the test's own, behind a load balancer that spreads
 * connections over the living API processes (PUBLIC_BASE_URL of every process). Every process
 * reaches PostgreSQL and Redis through a TCP proxy the test can cut, so an outage touches the
 * cluster and nothing else.
 */
export class TestCluster {
  readonly members: ClusterMember[] = [];
  readonly adminKey = ADMIN_KEY;
  private readonly env: Record<string, string>;
  private nextApi = 0;
  private balancer: TcpProxy | null = null;

  private constructor(
    readonly database: TestDatabase,
    /** Direct to the database, past the proxy: what the test checks the cluster's work with. */
    readonly sql: pg.Pool,
    readonly redisPrefix: string,
    readonly postgresProxy: TcpProxy,
    readonly redisProxy: TcpProxy,
    private readonly s3: S3TestServer,
    private readonly bucket: string,
    env: Record<string, string>,
  ) {
    this.env = env;
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const database = await createTestDatabase();
    const redisPrefix = uniquePrefix();
    const postgres = await TcpProxy.before(database.url, 5432);
    const redis = await TcpProxy.before(REDIS_URL, 6379);
    const s3 = await S3TestServer.start();
    const bucket = await s3.createBucket();
    const env: Record<string, string> = {
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redisPrefix,
      ...s3.settings(bucket),
      URL_SIGNING_SECRET: randomBytes(32).toString("base64"),
      ADMIN_API_KEY: ADMIN_KEY,
      SANDBOX_LATENCY_MS: "50",
      CALLBACK_ALLOW_PRIVATE: "true",
      // A dead worker's tasks are taken over within seconds, not the default 45.
      QUEUE_LOCK_MS: "2000",
      QUEUE_RECONCILE_MS: "500",
      SHUTDOWN_GRACE_MS: "500",
      ...options.env,
    };
    const sql = new pg.Pool({ connectionString: database.url, max: 2 });
    const cluster = new TestCluster(database, sql, redisPrefix, postgres.proxy, redis.proxy, s3, bucket, env);
    try {
      cluster.balancer = await TcpProxy.spread(() => cluster.living("api").map((member) => member.port));
      env.PUBLIC_BASE_URL = cluster.baseUrl;
      // The first process migrates the schema; the others find it done (they would wait on its lock).
      await cluster.add("api");
      const rest: ClusterRole[] = [
        ...Array<ClusterRole>(Math.max(0, (options.apis ?? 2) - 1)).fill("api"),
        ...Array<ClusterRole>(options.workers ?? 2).fill("worker"),
      ];
      await Promise.all(rest.map((role) => cluster.add(role)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The load balancer's URL: what clients use. */
  get baseUrl(): string {
    if (this.balancer === null) throw new Error("the cluster has not started");
    return `http://127.0.0.1:${this.balancer.port}`;
  }

  /** Starts one more process of `role`. */
  async add(role: ClusterRole): Promise<ClusterMember> {
    const port = await freePort();
    const dataDir = await temporaryDirectory("imagegate-cluster-");
    const member: ClusterMember = {
      role,
      port,
      baseUrl: `http://127.0.0.1:${port}`,
      dataDir,
      process: await startServerProcess({ ...this.env, ROLE: role, DATA_DIR: dataDir }, port),
      alive: true,
    };
    this.members.push(member);
    return member;
  }

  /** The living processes of a role. */
  living(role: ClusterRole): ClusterMember[] {
    return this.members.filter((member) => member.role === role && member.alive);
  }

  /** The next living API process's URL, in turn: requests spread over every API process. */
  apiUrl(): string {
    const apis = this.living("api");
    if (apis.length === 0) throw new Error("no API process is running");
    this.nextApi = (this.nextApi + 1) % apis.length;
    return (apis[this.nextApi] as ClusterMember).baseUrl;
  }

  /** kill -9: no shutdown, no cleanup, whatever it was doing. */
  async kill(member: ClusterMember): Promise<void> {
    member.alive = false;
    member.process.child.kill("SIGKILL");
    await member.process.exited;
  }

  /** Starts a killed process again on its port. */
  async restart(member: ClusterMember): Promise<void> {
    member.process = await startServerProcess({ ...this.env, ROLE: member.role, DATA_DIR: member.dataDir }, member.port);
    member.alive = true;
  }

  /** An account with `credits` and one live key, made through the admin API. */
  async newAccount(name: string, credits = 1_000_000): Promise<AdminMadeAccount> {
    return newAccountThroughAdmin(this.apiUrl(), this.adminKey, name, credits);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (member) => {
        if (member.alive) {
          member.alive = false;
          member.process.child.kill("SIGKILL");
          await member.process.exited;
        }
        await rm(member.dataDir, { recursive: true, force: true });
      }),
    );
    await this.sql.end();
    await Promise.all([this.postgresProxy.close(), this.redisProxy.close(), this.balancer?.close()]);
    await this.database.drop();
    await deleteKeys(this.redisPrefix);
    await this.s3.deleteBucket(this.bucket);
    await this.s3.stop();
  }
}
