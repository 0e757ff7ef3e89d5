import type { Command } from "commander";
import type { UpstreamReport } from "../../providers/routing/upstream-routing.ts";
import type { Terminal } from "../generate.ts";
import { CliFailure, formatTable } from "./cli-support.ts";

interface UpstreamsAnswer {
  process: { host: string; pid: number; role: string; runsTasks: boolean };
  source: string;
  upstreams: UpstreamReport[];
}

interface UpstreamsOptions {
  baseUrl?: string;
  adminKey?: string;
  json?: boolean;
}

const FAILURE_OUTCOMES = ["retryable_error", "timeout", "operator_error"] as const;

function circuitCell(upstream: UpstreamReport, now: number): string {
  const circuit = upstream.circuit;
  if (circuit === null) return "-";
  if (circuit.state === "open" && circuit.nextProbeAt !== null) return `open (probe in ${Math.max(0, Math.ceil((circuit.nextProbeAt - now) / 1000))}s)`;
  return circuit.state === "half-open" && circuit.probing ? "half-open (probing)" : circuit.state;
}

function failuresCell(upstream: UpstreamReport): string {
  const parts = Object.entries(upstream.outcomes)
    .filter(([outcome, count]) => outcome !== "success" && count !== undefined && count > 0)
    .sort(([a], [b]) => Number(FAILURE_OUTCOMES.includes(b as never)) - Number(FAILURE_OUTCOMES.includes(a as never)) || a.localeCompare(b))
    .map(([outcome, count]) => `${outcome} ${count}`);
  return parts.length === 0 ? "-" : parts.join(", ");
}

/** The admin API's answer as a table, one row per upstream. */
export function upstreamsTable(answer: UpstreamsAnswer, now: number): string[] {
  const header = ["NAME", "KIND", "CIRCUIT", "IN FLIGHT", "SERVED", "FAILED", "SKIPPED", "ATTEMPTS", "P50 MS", "P99 MS", "PRICE", "NOT SUCCESS"];
  const rows = answer.upstreams.map((upstream) => [
    upstream.name,
    upstream.kind,
    circuitCell(upstream, now),
    `${upstream.inFlight}/${upstream.maxConcurrency}`,
    String(upstream.tasksServed),
    String(upstream.tasksFailed),
    String(upstream.tasksSkipped),
    String(upstream.attempts),
    upstream.latencyMs === null ? "-" : String(upstream.latencyMs.p50),
    upstream.latencyMs === null ? "-" : String(upstream.latencyMs.p99),
    upstream.price === null ? "-" : `$${upstream.price}`,
    failuresCell(upstream),
  ]);
  const where = `figures of ${answer.process.host} pid ${answer.process.pid} (role ${answer.process.role}), since it started; upstreams from ${answer.source}`;
  if (rows.length === 0) return [where, "no upstreams: the sandbox makes every image"];
  return [...formatTable(header, rows, [3, 4, 5, 6, 7, 8, 9]), "", where];
}

/**
 * `imagegate upstreams`: the figures live in the memory of the running server, so this asks its
 * admin API (GET /admin/v1/upstreams) rather than the database the other commands open.
 */
export function registerUpstreamsCommand(program: Command, env: Readonly<Record<string, string | undefined>>, terminal: Terminal): void {
  program
    .command("upstreams")
    .description("each upstream's circuit, tasks, attempts, latency and price, from a running server's admin API")
    .option("--base-url <url>", "the server's URL (default IMAGEGATE_BASE_URL or http://localhost:8080)")
    .option("--admin-key <key>", "the server's ADMIN_API_KEY (default ADMIN_API_KEY)")
    .option("--json", "print the admin API's answer as JSON")
    .action(async (options: UpstreamsOptions) => {
      const baseUrl = (options.baseUrl ?? env.IMAGEGATE_BASE_URL ?? "http://localhost:8080").replace(/\/+$/, "");
      const adminKey = options.adminKey ?? env.ADMIN_API_KEY;
      if (adminKey === undefined || adminKey === "") throw new CliFailure("give the server's admin key with --admin-key or ADMIN_API_KEY");
      let response: Response;
      try {
        response = await fetch(`${baseUrl}/admin/v1/upstreams`, { headers: { Authorization: `Bearer ${adminKey}` } });
      } catch (error) {
        throw new CliFailure(`could not reach ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`);
      }
      const body = (await response.json().catch(() => null)) as { msg?: string; data?: UpstreamsAnswer } | null;
      if (!response.ok || body?.data === undefined) {
        throw new CliFailure(`${baseUrl} answered ${response.status}${body?.msg === undefined ? "" : `: ${body.msg}`}`);
      }
      if (options.json === true) {
        terminal.out(JSON.stringify(body.data));
        return;
      }
      for (const line of upstreamsTable(body.data, Date.now())) terminal.out(line);
    });
}
