import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "../schema.ts";

/**
 * Connections per process. A request holds one for a statement or a short transaction, so ten
 * serve a busy API process; several processes share the server's max_connections (100 by default).
 */
export const DEFAULT_POOL_SIZE = 10;

/** How long a request waits for a connection before failing: an unreachable server answers 500, not a hang. */
const CONNECT_TIMEOUT_MS = 5_000;

/** PostgreSQL's type ids of bigint and of numeric. */
const INT8 = 20;
const NUMERIC = 1700;

/**
 * bigint columns hold epoch milliseconds and credits, all far below 2^53: read as numbers, as the
 * domain uses them. Set on this pool's clients only, never on the pg module for everyone.
 */
const TYPES = {
  getTypeParser: ((id: number, format?: "text" | "binary") =>
    id === INT8 || id === NUMERIC ? Number : pg.types.getTypeParser(id, format)) as typeof pg.types.getTypeParser,
};

/**
 * The database could not be reached, or the connection was lost mid-statement (the server
 * restarted, the network failed). A request meeting it ends in a 500 envelope; the pool opens a
 * new connection for the next one, so service resumes by itself once the server is back.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`PostgreSQL is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "DatabaseUnavailableError";
  }
}

const NETWORK_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/**
 * True for an error that says nothing about the statement and everything about the connection:
 * a network error, pg's own "Connection terminated" and connect timeout, SQLSTATE class 08
 * (connection exception), 57P01-57P03 (the server shutting down or starting) and 53300 (too many
 * connections).
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (NETWORK_ERRORS.has(code) || code.startsWith("08") || code === "53300") return true;
    if (code === "57P01" || code === "57P02" || code === "57P03") return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed/i.test(error.message);
}

/** A connection's error as DatabaseUnavailableError; any other error as it is. */
export function mapError(error: unknown): unknown {
  return isConnectionError(error) && !(error instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(error) : error;
}

/** What runs statements: the pool itself, or the client of one transaction. */
export interface Queryable {
  query<Row extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<Row>>;
}

/** A statement named once per connection: PostgreSQL parses and plans it once, not at each call. */
export interface NamedStatement {
  name: string;
  text: string;
}

export interface PostgresOptions {
  /** Connections kept at most: DEFAULT_POOL_SIZE unless given. */
  poolSize?: number;
  /** Shown in pg_stat_activity, to tell processes apart. */
  applicationName?: string;
  /** Hears of errors of idle connections (the server went away between requests). */
  onIdleError?: (error: Error) => void;
}

/**
 * One PostgreSQL database behind a pool, and the one place its errors are mapped: every adapter
 * runs its statements and transactions through here, so a lost connection is always a
 * DatabaseUnavailableError, never an unhandled 'error' event that would end the process.
 */
export class PostgresDatabase implements Queryable {
  /** Kysely over the same pool, for the queries whose filters vary (reports). */
  readonly kysely: Kysely<Database>;

  constructor(readonly pool: pg.Pool) {
    this.kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }

  async query<Row extends object = Record<string, unknown>>(
    text: string | NamedStatement,
    values: readonly unknown[] = [],
  ): Promise<pg.QueryResult<Row>> {
    try {
      const config = typeof text === "string" ? { text } : text;
      return await this.pool.query<Row>({ ...config, values: values as unknown[] });
    } catch (error) {
      throw mapError(error);
    }
  }

  /** The rows as arrays, in the statement's column order: for reads that map columns by position. */
  async queryArrays<Row extends unknown[]>(statement: NamedStatement, values: readonly unknown[]): Promise<Row[]> {
    try {
      const result = await this.pool.query<Row>({ ...statement, values: values as unknown[], rowMode: "array" });
      return result.rows;
    } catch (error) {
      throw mapError(error);
    }
  }

  /**
   * Runs `work` in one transaction on one connection: committed when it resolves, rolled back
   * when it throws. A connection that failed is destroyed rather than handed to the next caller.
   */
  async transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    return onOwnConnection(this.pool, async (client, markBroken) => {
      try {
        await client.query("BEGIN");
        const value = await work(client);
        await client.query("COMMIT");
        return value;
      } catch (error) {
        if (isConnectionError(error)) {
          markBroken(error as Error);
        } else {
          await client.query("ROLLBACK").catch(markBroken);
        }
        throw mapError(error);
      }
    });
  }

  async close(): Promise<void> {
    // Kysely ends the pool only if it ever ran a query on it: a process that used the pool alone
    // (migrate, a short command) would otherwise wait for its idle connections to time out.
    await this.kysely.destroy();
    if (!this.pool.ended) await this.pool.end();
  }
}

/**
 * Runs `work` on a connection checked out of `pool` for it alone, and hands the connection back
 * after; one that `work` marks broken is destroyed rather than handed to the next caller. A
 * checked-out client has no listener of the pool's: without the one added here, a connection lost
 * between two statements would be an unhandled 'error' event. The failing query reports it.
 */
export async function onOwnConnection<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, markBroken: (error: Error) => void) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapError(error);
  }
  const ignore = (): void => undefined;
  client.on("error", ignore);
  let broken: Error | undefined;
  try {
    return await work(client, (error) => {
      broken = error;
    });
  } finally {
    client.off("error", ignore);
    client.release(broken);
  }
}

/**
 * Opens a pool on `databaseUrl` (postgres://user:password@host:5432/database). Nothing connects
 * until the first statement.
 */
export function openPostgres(databaseUrl: string, options: PostgresOptions = {}): PostgresDatabase {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    // A connection whose peer vanished (a lost machine) is noticed instead of waited on forever.
    keepAlive: true,
    application_name: options.applicationName ?? "imagegate",
    types: TYPES,
  });
  // An idle connection's error (the server restarted) must not end the process: the pool drops
  // that connection and opens another when next asked.
  pool.on("error", (error) => options.onIdleError?.(error));
  return new PostgresDatabase(pool);
}
