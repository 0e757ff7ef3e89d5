// The operator's usage: tasks by state and credits spent per UTC day and account, with totals and
// a bar chart of credits per day.
import { useMemo, useState } from "preact/hooks";
import { api, query } from "../api.ts";
import { ErrorNotice, Field, Loading, PageHeader, errorAbout, useLoad } from "../components/ui.tsx";
import { formatCredits, formatNumber } from "../format.ts";
import { href } from "../router.ts";
import { TASK_STATES, type TaskState } from "../types.ts";
import { AccountSelect, type AdminAccount, EmptyRow, type UsageRow, utcDay } from "./admin-common.tsx";

const DAY_MS = 86_400_000;

interface Filter {
  /** YYYY-MM-DD, inclusive; "" for no bound. */
  from: string;
  /** YYYY-MM-DD, inclusive; "" for no bound. */
  to: string;
  account: string;
}

function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
}

/** Every day from `first` to `last`, both included (at most a few years' worth). */
function daysBetween(first: string, last: string): string[] {
  const days: string[] = [];
  for (let time = Date.parse(`${first}T00:00:00Z`), end = Date.parse(`${last}T00:00:00Z`); time <= end && days.length < 1100; time += DAY_MS) {
    days.push(new Date(time).toISOString().slice(0, 10));
  }
  return days;
}

function totalTasks(tasks: Record<TaskState, number>): number {
  return TASK_STATES.reduce((sum, state) => sum + (tasks[state] ?? 0), 0);
}

export function AdminUsagePage() {
  const [form, setForm] = useState<Filter>(() => ({ from: utcDay(-29), to: utcDay(), account: "" }));
  const [filter, setFilter] = useState<Filter>(form);
  const accounts = useLoad((signal) => api<AdminAccount[]>("GET", "/admin/v1/accounts", { signal }), []);
  const usage = useLoad(
    (signal) =>
      api<UsageRow[]>(
        "GET",
        `/admin/v1/usage${query({ account: filter.account, since: filter.from, until: filter.to === "" ? "" : nextDay(filter.to) })}`,
        { signal },
      ),
    [filter.from, filter.to, filter.account],
  );

  const rows = useMemo(
    () => [...(usage.data ?? [])].sort((a, b) => b.day.localeCompare(a.day) || a.accountName.localeCompare(b.accountName)),
    [usage.data],
  );
  const [byAccount, setByAccount] = useState(true);
  const dayRows = useMemo(() => {
    const days = new Map<string, UsageRow>();
    for (const row of rows) {
      const day = days.get(row.day) ?? { ...row, accountId: "", accountName: "", tasks: { ...row.tasks }, models: {} };
      if (days.has(row.day)) {
        for (const state of TASK_STATES) day.tasks[state] += row.tasks[state] ?? 0;
        day.creditsSpent += row.creditsSpent;
      }
      for (const [model, spent] of Object.entries(row.models)) {
        const sum = (day.models[model] ??= { tasks: 0, creditsSpent: 0 });
        sum.tasks += spent.tasks;
        sum.creditsSpent += spent.creditsSpent;
      }
      days.set(row.day, day);
    }
    return [...days.values()];
  }, [rows]);
  const totals = useMemo(() => {
    const tasks = Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
    let credits = 0;
    for (const row of rows) {
      for (const state of TASK_STATES) tasks[state] += row.tasks[state] ?? 0;
      credits += row.creditsSpent;
    }
    return { tasks, credits };
  }, [rows]);

  const submit = (event: Event) => {
    event.preventDefault();
    setFilter({ ...form });
  };
  const range = (days: number) => {
    const next = { ...form, from: utcDay(-(days - 1)), to: utcDay() };
    setForm(next);
    setFilter(next);
  };

  const chartDays = useMemo(() => {
    const first = filter.from !== "" ? filter.from : rows.at(-1)?.day;
    const last = filter.to !== "" ? filter.to : (rows[0]?.day ?? utcDay());
    return first === undefined ? [] : daysBetween(first, last);
  }, [filter, rows]);
  const perDay = useMemo(() => {
    const credits = new Map<string, number>();
    for (const row of rows) credits.set(row.day, (credits.get(row.day) ?? 0) + row.creditsSpent);
    return chartDays.map((day) => ({ day, credits: credits.get(day) ?? 0 }));
  }, [rows, chartDays]);

  const emptyText = `No tasks were created in this range${filter.account === "" ? "" : ` by ${filter.account}`}. Pick a longer range or another account.`;
  const fromError = errorAbout(usage.error, "since");
  const toError = errorAbout(usage.error, "until");
  const accountError = usage.error !== null && !fromError && !toError && /account/i.test((usage.error as Error).message) ? (usage.error as Error).message : null;
  const otherError = fromError || toError || accountError ? null : usage.error;

  return (
    <section>
      <PageHeader title="Usage" />
      <form class="card" onSubmit={submit} noValidate aria-label="Usage filter">
        <div class="adm-toolbar">
          <Field label="From (UTC day)" error={fromError}>
            {(id, describedBy) => (
              <input id={id} type="date" value={form.from} aria-describedby={describedBy} onInput={(event) => setForm({ ...form, from: event.currentTarget.value })} />
            )}
          </Field>
          <Field label="To (UTC day, included)" error={toError}>
            {(id, describedBy) => (
              <input id={id} type="date" value={form.to} aria-describedby={describedBy} onInput={(event) => setForm({ ...form, to: event.currentTarget.value })} />
            )}
          </Field>
          <Field label="Account" error={accountError}>
            {(id, describedBy) => (
              <AccountSelect id={id} describedBy={describedBy} value={form.account} accounts={accounts.data} onChange={(account) => setForm({ ...form, account })} />
            )}
          </Field>
          <div class="adm-toolbar-buttons">
            <button type="submit" class="button-primary">
              Show
            </button>
            <button type="button" class="button-secondary" onClick={() => range(7)}>
              7 days
            </button>
            <button type="button" class="button-secondary" onClick={() => range(30)}>
              30 days
            </button>
            <button type="button" class="button-secondary" onClick={() => range(90)}>
              90 days
            </button>
          </div>
        </div>
        <p class="muted small adm-form-intro">Days are UTC days of the tasks' creation; credits are those captured by successful tasks.</p>
      </form>
      <ErrorNotice error={otherError} />
      {usage.data === null && usage.loading ? <Loading label="Loading usage…" /> : null}
      {usage.data === null ? null : (
        <div class="stack adm-usage">
          <dl class="adm-stats">
            <div class="adm-stat">
              <dt>Tasks</dt>
              <dd>{formatNumber(totalTasks(totals.tasks))}</dd>
            </div>
            <div class="adm-stat">
              <dt>Succeeded</dt>
              <dd>{formatNumber(totals.tasks.success)}</dd>
            </div>
            <div class="adm-stat">
              <dt>Failed</dt>
              <dd>{formatNumber(totals.tasks.fail)}</dd>
            </div>
            <div class="adm-stat">
              <dt>Credits spent</dt>
              <dd>{formatNumber(totals.credits)}</dd>
            </div>
          </dl>
          {perDay.length > 0 ? (
            <div class="card" role="region" aria-labelledby="chart-heading">
              <h2 id="chart-heading">Credits spent per day</h2>
              <CreditsChart days={perDay} />
            </div>
          ) : null}
          <div class="card" role="region" aria-labelledby="table-heading">
            <div class="adm-card-header">
              <h2 id="table-heading">{byAccount ? "Per day and account" : "Per day"}</h2>
              <fieldset class="adm-segmented adm-segmented-compact">
                <legend class="visually-hidden">Rows</legend>
                <label>
                  <input type="radio" name="usage-rows" checked={byAccount} onChange={() => setByAccount(true)} />
                  Per day and account
                </label>
                <label>
                  <input type="radio" name="usage-rows" checked={!byAccount} onChange={() => setByAccount(false)} />
                  Per day
                </label>
              </fieldset>
            </div>
            <UsageTable rows={byAccount ? rows : dayRows} byAccount={byAccount} totals={totals} empty={emptyText} />
          </div>
        </div>
      )}
    </section>
  );
}

type Totals = { tasks: Record<TaskState, number>; credits: number };

/** The rows, newest day first; with accounts, a day's first row names the day for all of its rows. */
function UsageTable({ rows, byAccount, totals, empty }: { rows: UsageRow[]; byAccount: boolean; totals: Totals; empty: string }) {
  const columns = TASK_STATES.length + (byAccount ? 5 : 4);
  const span = (index: number): number => {
    let count = 1;
    while (rows[index + count]?.day === rows[index]?.day) count++;
    return count;
  };
  return (
    <div class="table-wrap">
      <table class="adm-table adm-scroll-table adm-usage-table">
        <thead>
          <tr>
            <th scope="col">Day</th>
            {byAccount ? <th scope="col">Account</th> : null}
            {TASK_STATES.map((state) => (
              <th scope="col" class="num" key={state}>
                {state}
              </th>
            ))}
            <th scope="col" class="num">
              Tasks
            </th>
            <th scope="col" class="num">
              Credits
            </th>
            <th scope="col">By model: tasks / credits</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <EmptyRow columns={columns}>{empty}</EmptyRow>
          ) : (
            rows.map((row, index) => {
              const firstOfDay = rows[index - 1]?.day !== row.day;
              return (
                <tr key={`${row.day} ${row.accountId}`} class={firstOfDay && index > 0 ? "adm-day-first" : undefined}>
                  {!byAccount || firstOfDay ? (
                    <th scope="row" class="adm-day" rowSpan={byAccount ? span(index) : undefined}>
                      {row.day}
                    </th>
                  ) : null}
                  {byAccount ? (
                    <td>
                      <a href={href(`/admin/accounts/${encodeURIComponent(row.accountName)}`)}>{row.accountName}</a>
                    </td>
                  ) : null}
                  {TASK_STATES.map((state) => (
                    <td class={`num${(row.tasks[state] ?? 0) === 0 ? " muted" : ""}`} key={state}>
                      {formatNumber(row.tasks[state] ?? 0)}
                    </td>
                  ))}
                  <td class="num">{formatNumber(totalTasks(row.tasks))}</td>
                  <td class="num">{formatNumber(row.creditsSpent)}</td>
                  <td class="adm-models">
                    {Object.entries(row.models)
                      .sort(([a], [b]) => a.localeCompare(b))
                      .map(([model, spent]) => (
                        <div key={model}>
                          {model} {formatNumber(spent.tasks)} / {formatNumber(spent.creditsSpent)}
                        </div>
                      ))}
                  </td>
                </tr>
              );
            })
          )}
        </tbody>
        {rows.length > 0 ? (
          <tfoot>
            <tr>
              <th scope="row" colSpan={byAccount ? 2 : 1}>
                Total
              </th>
              {TASK_STATES.map((state) => (
                <td class="num" key={state}>
                  {formatNumber(totals.tasks[state])}
                </td>
              ))}
              <td class="num">{formatNumber(totalTasks(totals.tasks))}</td>
              <td class="num">{formatNumber(totals.credits)}</td>
              <td />
            </tr>
          </tfoot>
        ) : null}
      </table>
    </div>
  );
}

/** Bars of credits per day; the numbers are in the table too, and summed up in the label. */
function CreditsChart({ days }: { days: { day: string; credits: number }[] }) {
  const highest = Math.max(0, ...days.map((entry) => entry.credits));
  const scale = highest === 0 ? 1 : highest;
  const total = days.reduce((sum, entry) => sum + entry.credits, 0);
  const busiest = days.reduce<{ day: string; credits: number } | null>((best, entry) => (best === null || entry.credits > best.credits ? entry : best), null);
  const first = days[0]?.day ?? "";
  const last = days.at(-1)?.day ?? "";
  const label =
    total === 0
      ? `Credits spent per UTC day from ${first} to ${last}: none.`
      : `Credits spent per UTC day from ${first} to ${last}: ${formatCredits(total)} in all, most on ${busiest?.day ?? ""} (${formatCredits(busiest?.credits ?? 0)}).`;
  // One unit of width per day; the bar takes 70% of it. The SVG stretches to the card's width.
  const width = days.length * 10;
  return (
    <figure class="adm-chart">
      <div class="adm-chart-body">
        <div class="adm-chart-y" aria-hidden="true">
          <span>{formatNumber(highest)}</span>
          <span>{formatNumber(Math.round(highest / 2))}</span>
          <span>0</span>
        </div>
        <svg role="img" aria-label={label} viewBox={`0 0 ${width} 100`} preserveAspectRatio="none">
          {[0, 50, 100].map((y) => (
            <line key={y} class="adm-chart-grid" x1={0} x2={width} y1={y} y2={y} vector-effect="non-scaling-stroke" />
          ))}
          {days.map((entry, index) => {
            const height = (entry.credits / scale) * 100;
            return entry.credits === 0 ? null : (
              <rect key={entry.day} class="adm-chart-bar" x={index * 10 + 1.5} y={100 - height} width={7} height={height}>
                <title>
                  {entry.day}: {formatCredits(entry.credits)}
                </title>
              </rect>
            );
          })}
        </svg>
        <span />
        <div class="adm-chart-x" aria-hidden="true">
          <span>{first}</span>
          {days.length > 2 ? <span>{days[Math.floor(days.length / 2)]?.day}</span> : null}
          <span>{last}</span>
        </div>
      </div>
      <figcaption class="muted small">
        {total === 0 ? "No credits were spent in this range." : `${formatCredits(total)} in all; hover a bar for its day. The table below has every number.`}
      </figcaption>
    </figure>
  );
}
