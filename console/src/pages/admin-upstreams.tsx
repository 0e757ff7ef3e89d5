// The upstreams this server calls: each one's circuit, tasks, failures and latency, and the route
// of each model, from GET /admin/v1/upstreams. The figures are the answering process's own.
import { useEffect } from "preact/hooks";
import { api } from "../api.ts";
import { ErrorNotice, Loading, Notice, PageHeader, useLoad } from "../components/ui.tsx";
import { formatNumber, formatTime, formatUntil } from "../format.ts";
import { EmptyRow } from "./admin-common.tsx";

type CircuitState = "closed" | "open" | "half-open";

interface UpstreamReport {
  name: string;
  kind: string;
  models: Record<string, string>;
  circuit: { state: CircuitState; since: number; nextProbeAt: number | null; probing: boolean; consecutiveFailures: number } | null;
  health: { ok: boolean; reason?: string };
  maxConcurrency: number;
  weight: number | null;
  price: number | null;
  tasksServed: number;
  tasksFailed: number;
  tasksSkipped: number;
  attempts: number;
  outcomes: Record<string, number>;
  latencyMs: { p50: number; p99: number } | null;
  inFlight: number;
}

interface UpstreamsAnswer {
  process: { host: string; pid: number; role: string; runsTasks: boolean; uptimeSeconds: number };
  source: "UPSTREAMS_FILE" | "GEMINI_*" | "sandbox";
  upstreams: UpstreamReport[];
  routes: { model: string; policy: string; upstreams: string[] }[];
}

/** How often the figures are read again while the page is open. */
const REFRESH_MS = 5_000;

const SOURCES: Record<UpstreamsAnswer["source"], string> = {
  UPSTREAMS_FILE: "Routes and upstreams from UPSTREAMS_FILE.",
  "GEMINI_*": "One Gemini upstream (and its fallback) from the GEMINI_* variables; no routes or circuit breakers.",
  sandbox: "No upstream is configured: every task gets a sandbox image.",
};

function CircuitBadge({ circuit }: { circuit: UpstreamReport["circuit"] }) {
  if (circuit === null) return <span class="muted">no breaker</span>;
  const kind = circuit.state === "closed" ? "success" : circuit.state === "open" ? "fail" : "generating";
  return (
    <span class={`badge badge-${kind}`} title={`since ${formatTime(circuit.since)}`}>
      {circuit.state}
    </span>
  );
}

/** The attempts that did not succeed, by outcome: "retryable_error 3, timeout 1". */
function failureText(outcomes: Record<string, number>): string {
  const failures = Object.entries(outcomes).filter(([outcome, count]) => outcome !== "success" && count > 0);
  return failures.length === 0 ? "none" : failures.map(([outcome, count]) => `${outcome.replace(/_/g, " ")} ${formatNumber(count)}`).join(", ");
}

export function AdminUpstreamsPage() {
  const answer = useLoad((signal) => api<UpstreamsAnswer>("GET", "/admin/v1/upstreams", { signal }), []);
  // The figures move while tasks run: read them again now and then, quietly.
  useRefresh(answer.reload);
  const data = answer.data;
  return (
    <section>
      <PageHeader title="Upstreams">
        <button type="button" class="button-secondary" onClick={answer.reload}>
          Refresh
        </button>
      </PageHeader>
      {answer.error !== null ? <ErrorNotice error={answer.error} /> : null}
      {data === null ? (
        answer.error === null ? <Loading /> : null
      ) : (
        <div class="stack">
          <Notice>
            {SOURCES[data.source]} Figures since this process started (process {data.process.pid} on {data.process.host}, role {data.process.role}, up{" "}
            {formatNumber(Math.round(data.process.uptimeSeconds / 60))} min)
            {data.process.runsTasks ? "." : ": it runs no tasks, so they stay at zero; read each worker's /metrics."}
          </Notice>
          <div class="card" role="region" aria-labelledby="upstreams-heading">
            <h2 id="upstreams-heading">Upstreams</h2>
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Upstreams, scrollable">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Upstream</th>
                    <th scope="col">Circuit</th>
                    <th scope="col" class="num">
                      Served
                    </th>
                    <th scope="col" class="num">
                      Failed
                    </th>
                    <th scope="col" class="num">
                      Skipped
                    </th>
                    <th scope="col" class="num">
                      Attempts
                    </th>
                    <th scope="col">Failed attempts</th>
                    <th scope="col" class="num">
                      p50 / p99
                    </th>
                    <th scope="col" class="num">
                      In flight
                    </th>
                    <th scope="col">Health</th>
                  </tr>
                </thead>
                <tbody>
                  {data.upstreams.length === 0 ? (
                    <EmptyRow columns={10}>No upstream: tasks are served by the sandbox.</EmptyRow>
                  ) : (
                    data.upstreams.map((upstream) => (
                      <tr key={upstream.name}>
                        <th scope="row">
                          <span class="mono">{upstream.name}</span>
                          <span class="muted small"> {upstream.kind}</span>
                          {upstream.price !== null ? <span class="muted small"> · ${upstream.price} an image</span> : null}
                        </th>
                        <td>
                          <CircuitBadge circuit={upstream.circuit} />
                          {upstream.circuit?.nextProbeAt !== null && upstream.circuit?.nextProbeAt !== undefined ? (
                            <div class="muted small">next probe {formatUntil(upstream.circuit.nextProbeAt)}</div>
                          ) : null}
                        </td>
                        <td class="num">{formatNumber(upstream.tasksServed)}</td>
                        <td class="num">{formatNumber(upstream.tasksFailed)}</td>
                        <td class="num">{formatNumber(upstream.tasksSkipped)}</td>
                        <td class="num">{formatNumber(upstream.attempts)}</td>
                        <td class="small">{failureText(upstream.outcomes)}</td>
                        <td class="num nowrap">{upstream.latencyMs === null ? "—" : `${formatNumber(upstream.latencyMs.p50)} / ${formatNumber(upstream.latencyMs.p99)} ms`}</td>
                        <td class="num">
                          {formatNumber(upstream.inFlight)} / {formatNumber(upstream.maxConcurrency)}
                        </td>
                        <td class="small">{upstream.health.ok ? <span class="status-ok">ok</span> : <span class="status-bad">{upstream.health.reason ?? "unhealthy"}</span>}</td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            </div>
          </div>
          {data.routes.length > 0 ? (
            <div class="card" role="region" aria-labelledby="routes-heading">
              <h2 id="routes-heading">Routes</h2>
              <div class="table-wrap" tabIndex={0} role="region" aria-label="Routes, scrollable">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Model</th>
                      <th scope="col">Policy</th>
                      <th scope="col">Upstreams, in order</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.routes.map((route) => (
                      <tr key={route.model}>
                        <th scope="row" class="mono">
                          {route.model}
                        </th>
                        <td>{route.policy}</td>
                        <td class="mono">{route.upstreams.join(" → ")}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </div>
          ) : null}
        </div>
      )}
    </section>
  );
}

function useRefresh(reload: () => void): void {
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
}
