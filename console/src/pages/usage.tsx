// Usage: the balance, tasks and credits per day by model over a chosen period (an SVG stacked
// bar chart with the same numbers in a table), and the ledger of every movement of the balance.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, query } from "../api.ts";
import { useAccount } from "../app.tsx";
import { ErrorNotice, Loading, PageHeader, useLoad } from "../components/ui.tsx";
import { formatAgo, formatCredits, formatNumber, formatTime } from "../format.ts";
import { href } from "../router.ts";
import type { LedgerEntry, Page, TaskState } from "../types.ts";
import "./usage.css";

/** A day of GET /api/v1/usage. */
interface UsageDay {
  day: string;
  tasks: Record<TaskState, number>;
  creditsSpent: number;
  models: Record<string, { tasks: number; creditsSpent: number }>;
}

interface Usage {
  from: number;
  to: number;
  days: UsageDay[];
}


type Metric = "tasks" | "credits";

const DAY_MS = 86_400_000;
const PERIODS = [7, 30, 90] as const;
type Period = (typeof PERIODS)[number];
const LEDGER_PAGE = 20;
/** Series colours, in the order models are listed (the busiest first); see usage.css. */
const SERIES_COLOURS = 8;

/** The window of the last `days` UTC days, today included: from its first midnight to tomorrow's. */
function windowOf(days: number, now = Date.now()): { from: number; to: number } {
  const tomorrow = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
  return { from: tomorrow - days * DAY_MS, to: tomorrow };
}

function dayOf(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

const shortDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
const longDay = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

function dayLabel(day: string, format = shortDay): string {
  return format.format(Date.parse(`${day}T00:00:00Z`));
}

/** Every day of the window, the days without tasks filled in with zeros. */
function fillDays(usage: Usage): UsageDay[] {
  const byDay = new Map(usage.days.map((day) => [day.day, day]));
  const days: UsageDay[] = [];
  for (let at = Math.floor(usage.from / DAY_MS) * DAY_MS; at < usage.to; at += DAY_MS) {
    const day = dayOf(at);
    days.push(byDay.get(day) ?? { day, tasks: { waiting: 0, queuing: 0, generating: 0, success: 0, fail: 0 }, creditsSpent: 0, models: {} });
  }
  return days;
}

/** The models of the period, the one with the most tasks first (so its colour stays put when the metric changes). */
function modelsOf(days: UsageDay[]): string[] {
  const totals = new Map<string, { tasks: number; credits: number }>();
  for (const day of days) {
    for (const [model, usage] of Object.entries(day.models)) {
      const total = totals.get(model) ?? { tasks: 0, credits: 0 };
      total.tasks += usage.tasks;
      total.credits += usage.creditsSpent;
      totals.set(model, total);
    }
  }
  return [...totals.entries()]
    .sort(([a, x], [b, y]) => y.tasks - x.tasks || y.credits - x.credits || a.localeCompare(b))
    .map(([model]) => model);
}

function valueOf(day: UsageDay, model: string, metric: Metric): number {
  const usage = day.models[model];
  if (usage === undefined) return 0;
  return metric === "tasks" ? usage.tasks : usage.creditsSpent;
}

function dayTotal(day: UsageDay, metric: Metric): number {
  return metric === "tasks" ? Object.values(day.tasks).reduce((sum, count) => sum + count, 0) : day.creditsSpent;
}

export function UsagePage() {
  const { credits, refreshCredits, session } = useAccount();
  const [period, setPeriod] = useState<Period>(30);
  const [metric, setMetric] = useState<Metric>("tasks");
  const [round, setRound] = useState(0);
  useEffect(refreshCredits, [refreshCredits]);

  const usage = useLoad(
    (signal) => {
      const { from, to } = windowOf(period);
      return api<Usage>("GET", `/api/v1/usage${query({ from, to })}`, { signal });
    },
    [period, round],
  );
  const days = usage.data === null ? [] : fillDays(usage.data);
  const totals = days.reduce(
    (sum, day) => ({
      tasks: sum.tasks + dayTotal(day, "tasks"),
      success: sum.success + day.tasks.success,
      fail: sum.fail + day.tasks.fail,
      credits: sum.credits + day.creditsSpent,
    }),
    { tasks: 0, success: 0, fail: 0, credits: 0 },
  );
  const running = totals.tasks - totals.success - totals.fail;

  const refresh = () => {
    refreshCredits();
    setRound((value) => value + 1);
  };

  return (
    <section class="usage-page">
      <PageHeader title="Usage">
        <button type="button" class="button-secondary" onClick={refresh}>
          Refresh
        </button>
      </PageHeader>

      <dl class="usage-stats">
        <div class="usage-stat">
          <dt>Balance</dt>
          <dd class="usage-stat-value" data-testid="balance">
            {formatCredits(credits)}
          </dd>
          {session.mode === "test" ? <dd class="muted small">Test-mode tasks are free.</dd> : null}
        </div>
        <div class="usage-stat">
          <dt>Tasks, last {period} days</dt>
          <dd class="usage-stat-value">{usage.data === null ? "—" : formatNumber(totals.tasks)}</dd>
          {usage.data !== null && totals.tasks > 0 ? (
            <dd class="muted small">
              {formatNumber(totals.success)} succeeded, {formatNumber(totals.fail)} failed
              {running > 0 ? `, ${formatNumber(running)} running` : ""}
            </dd>
          ) : null}
        </div>
        <div class="usage-stat">
          <dt>Credits spent, last {period} days</dt>
          <dd class="usage-stat-value">{usage.data === null ? "—" : formatCredits(totals.credits)}</dd>
        </div>
      </dl>

      <div class="card" role="region" aria-labelledby="usage-chart-heading">
        <div class="usage-chart-header">
          <h2 id="usage-chart-heading">{metric === "tasks" ? "Tasks per day" : "Credits spent per day"}</h2>
          <div class="usage-controls">
            <Segmented
              legend="Show"
              name="usage-metric"
              value={metric}
              options={[
                { value: "tasks", label: "Tasks" },
                { value: "credits", label: "Credits" },
              ]}
              onChange={setMetric}
            />
            <Segmented
              legend="Period"
              name="usage-period"
              value={String(period)}
              options={PERIODS.map((days) => ({ value: String(days), label: `${days} days` }))}
              onChange={(value) => setPeriod(Number(value) as Period)}
            />
          </div>
        </div>
        <ErrorNotice error={usage.error} />
        {usage.data === null ? (
          usage.loading ? (
            <Loading label="Loading usage…" />
          ) : null
        ) : totals.tasks === 0 ? (
          <div class="usage-empty">
            <p>No tasks in the last {period} days.</p>
            <p class="muted small">
              Tasks appear here by the UTC day they were created. Make one in the <a href={href("/playground")}>Playground</a> or with{" "}
              <code>POST /api/v1/jobs/createTask</code>.
            </p>
          </div>
        ) : (
          <UsageChart days={days} metric={metric} period={period} />
        )}
      </div>

      <LedgerCard key={round} />
    </section>
  );
}

function Segmented<T extends string>(props: { legend: string; name: string; value: T; options: { value: T; label: string }[]; onChange: (value: T) => void }) {
  return (
    <fieldset class="segmented">
      <legend>{props.legend}</legend>
      <div class="segmented-options">
        {props.options.map((option) => (
          <label key={option.value}>
            <input
              type="radio"
              name={props.name}
              value={option.value}
              checked={props.value === option.value}
              onChange={() => props.onChange(option.value)}
            />
            <span>{option.label}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** Round steps for the value axis: 1, 2, 5 times a power of ten, about four of them. */
function axisTicks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw) ?? 10 * power);
  const ticks: number[] = [];
  for (let tick = 0; tick < max + step; tick += step) ticks.push(tick);
  return ticks;
}

function useWidth(): [preact.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const element = ref.current;
    if (element === null) return undefined;
    setWidth(element.clientWidth);
    const observer = new ResizeObserver(() => setWidth(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

const CHART_HEIGHT = 260;
const MARGIN = { top: 28, right: 8, bottom: 44, left: 44 };

function UsageChart({ days, metric, period }: { days: UsageDay[]; metric: Metric; period: Period }) {
  const [box, width] = useWidth();
  const models = modelsOf(days);
  const unit = metric === "tasks" ? "tasks" : "credits";
  const totals = days.map((day) => dayTotal(day, metric));
  const max = Math.max(0, ...totals);
  const ticks = axisTicks(max);
  const top = ticks.at(-1) ?? 1;
  const sum = totals.reduce((all, value) => all + value, 0);
  const busiest = days[totals.indexOf(max)];

  const plotWidth = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotHeight = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = days.length === 0 ? 0 : plotWidth / days.length;
  const barWidth = Math.max(1, Math.min(40, slot * 0.72));
  const y = (value: number) => MARGIN.top + plotHeight - (value / top) * plotHeight;
  // A label every few days so they do not overlap, always ending on today.
  const every = Math.max(1, Math.ceil(52 / Math.max(slot, 1)));

  const summary =
    `${metric === "tasks" ? "Tasks" : "Credits spent"} per day over the last ${period} days, stacked by model: ` +
    `${formatNumber(sum)} ${unit} in all` +
    (busiest !== undefined && max > 0 ? `, the most on ${dayLabel(busiest.day, longDay)} (${formatNumber(max)})` : "") +
    `. Models: ${models.join(", ")}. The table under the chart has every number.`;

  return (
    <div class="usage-chart">
      <div class="usage-chart-box" ref={box}>
        {width > 0 ? (
          <svg width={width} height={CHART_HEIGHT} viewBox={`0 0 ${width} ${CHART_HEIGHT}`} role="img" aria-label={summary} class="usage-svg">
            <text x={MARGIN.left} y={14} class="axis-title">
              {unit}
            </text>
            {ticks.map((tick) => (
              <g key={tick} class="axis-y">
                <line x1={MARGIN.left} x2={width - MARGIN.right} y1={y(tick)} y2={y(tick)} class={tick === 0 ? "axis-line" : "grid-line"} />
                <text x={MARGIN.left - 6} y={y(tick)} dy="0.32em" text-anchor="end">
                  {formatNumber(tick)}
                </text>
              </g>
            ))}
            {days.map((day, index) => {
              const x = MARGIN.left + slot * index + (slot - barWidth) / 2;
              let base = 0;
              const labelled = (days.length - 1 - index) % every === 0;
              return (
                <g key={day.day} class="usage-day" data-day={day.day}>
                  {models.map((model, series) => {
                    const value = valueOf(day, model, metric);
                    if (value === 0) return null;
                    const y0 = y(base);
                    base += value;
                    const y1 = y(base);
                    return (
                      <rect key={model} x={x} y={y1} width={barWidth} height={Math.max(1, y0 - y1)} class={`series series-${series % SERIES_COLOURS}`}>
                        <title>{`${dayLabel(day.day, longDay)}: ${model}, ${formatNumber(value)} ${unit}`}</title>
                      </rect>
                    );
                  })}
                  {labelled ? (
                    <text x={MARGIN.left + slot * index + slot / 2} y={MARGIN.top + plotHeight + 16} text-anchor="middle" class="axis-x">
                      {dayLabel(day.day)}
                    </text>
                  ) : null}
                </g>
              );
            })}
            <text x={MARGIN.left + plotWidth / 2} y={CHART_HEIGHT - 6} text-anchor="middle" class="axis-title">
              day (UTC)
            </text>
          </svg>
        ) : null}
      </div>
      <ul class="usage-legend" aria-label="Models">
        {models.map((model, series) => (
          <li key={model}>
            <span class={`swatch series-${series % SERIES_COLOURS}`} aria-hidden="true" />
            {model}
          </li>
        ))}
      </ul>
      <details class="usage-table">
        <summary>The numbers as a table</summary>
        <div class="table-wrap">
          <table>
            <caption>
              {metric === "tasks" ? "Tasks" : "Credits spent"} per UTC day and model; days without tasks are left out.
            </caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                {models.map((model) => (
                  <th scope="col" class="num" key={model}>
                    {model}
                  </th>
                ))}
                <th scope="col" class="num">
                  Total
                </th>
              </tr>
            </thead>
            <tbody>
              {days
                .filter((day) => dayTotal(day, "tasks") > 0)
                .map((day) => (
                  <tr key={day.day} data-day={day.day}>
                    <th scope="row">
                      <time dateTime={day.day}>{day.day}</time>
                    </th>
                    {models.map((model) => (
                      <td class="num" key={model}>
                        {formatNumber(valueOf(day, model, metric))}
                      </td>
                    ))}
                    <td class="num">{formatNumber(dayTotal(day, metric))}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

const KIND_TEXT: Record<LedgerEntry["kind"], string> = {
  grant: "Credits granted",
  deduct: "Credits deducted",
  hold: "Price held for a task",
  capture: "Task succeeded: charge final",
  release: "Task failed: hold given back",
};

function signedAmount(amount: number): string {
  if (amount > 0) return `+${formatNumber(amount)}`;
  if (amount < 0) return `−${formatNumber(-amount)}`;
  return "0";
}

function LedgerCard() {
  // The cursor of each page read so far: the first page has none; "Older" adds one, "Newer" drops it.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors.at(-1) ?? null;
  const ledger = useLoad(
    (signal) => api<Page<LedgerEntry>>("GET", `/api/v1/ledger${query({ limit: LEDGER_PAGE, cursor })}`, { signal }),
    [cursor],
  );
  const heading = useRef<HTMLHeadingElement>(null);
  const turn = (next: (string | null)[]) => {
    setCursors(next);
    heading.current?.focus();
  };

  const pageNumber = cursors.length;
  return (
    <div class="card" role="region" aria-labelledby="ledger-heading">
      <h2 id="ledger-heading" ref={heading} tabIndex={-1}>
        Ledger
      </h2>
      <p class="muted small ledger-intro">
        Every movement of the balance, newest first: credits granted or deducted by the operator, and for each task the price held when it
        is made, made final when it succeeds (moving nothing more) or given back when it fails.
      </p>
      <ErrorNotice error={ledger.error} />
      {ledger.data === null ? (
        ledger.loading ? (
          <Loading label="Loading the ledger…" />
        ) : null
      ) : ledger.data.items.length === 0 ? (
        <p class="muted">Nothing yet: credits granted to the account and the charges of its tasks are listed here.</p>
      ) : (
        <div class="table-wrap">
          <table class="ledger-table" aria-busy={ledger.loading}>
            <caption class="visually-hidden">Ledger, page {pageNumber}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Entry</th>
                <th scope="col">Task</th>
                <th scope="col" class="num">
                  Amount
                </th>
                <th scope="col" class="num">
                  Balance after
                </th>
              </tr>
            </thead>
            <tbody>
              {ledger.data.items.map((entry) => (
                <tr key={entry.id} data-kind={entry.kind}>
                  <td>
                    <time dateTime={new Date(entry.createdAt).toISOString()} title={formatTime(entry.createdAt)}>
                      {formatAgo(entry.createdAt)}
                    </time>
                  </td>
                  <td>
                    <span class={`badge ledger-kind ledger-kind-${entry.kind}`}>{entry.kind}</span>{" "}
                    <span class="ledger-what">{entry.reason ?? KIND_TEXT[entry.kind]}</span>
                    {entry.kind === "grant" || entry.kind === "deduct" ? (
                      <span class="muted small ledger-actor"> by {entry.actor ?? "the operator"}</span>
                    ) : null}
                  </td>
                  <td>
                    {entry.taskId === null ? (
                      <span class="muted">—</span>
                    ) : (
                      <a class="mono" href={href(`/tasks/${entry.taskId}`)}>
                        {entry.taskId}
                      </a>
                    )}
                  </td>
                  <td class={`num amount ${entry.amount > 0 ? "amount-in" : entry.amount < 0 ? "amount-out" : "amount-none"}`}>
                    {signedAmount(entry.amount)}
                  </td>
                  <td class="num">{formatNumber(entry.balanceAfter)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {ledger.data !== null && (pageNumber > 1 || ledger.data.nextCursor !== null) ? (
        <nav class="ledger-pager" aria-label="Ledger pages">
          <button type="button" class="button-secondary" disabled={pageNumber === 1 || ledger.loading} onClick={() => turn(cursors.slice(0, -1))}>
            ← Newer
          </button>
          <span class="muted small" aria-live="polite">
            Page {pageNumber}
          </span>
          <button
            type="button"
            class="button-secondary"
            disabled={ledger.data.nextCursor === null || ledger.loading}
            onClick={() => turn([...cursors, ledger.data?.nextCursor ?? null])}
          >
            Older →
          </button>
        </nav>
      ) : null}
    </div>
  );
}
