// The operator's callback deliveries: the list with filters, one delivery with its body and every
// attempt (#/admin/callbacks?delivery=msg_...), and sending one again.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, query } from "../api.ts";
import { CopyButton, ErrorNotice, Field, Loading, Notice, PageHeader, errorAbout, useLoad } from "../components/ui.tsx";
import { formatAgo, formatDuration, formatNumber, formatTime } from "../format.ts";
import { href, navigate, type Route } from "../router.ts";
import { DeliveryAttempts } from "../components/delivery-attempts.tsx";
import { DELIVERY_STATES, type DeliveryAttempt, type DeliveryDetails as AnyDeliveryDetails, type DeliveryState } from "../types.ts";
import { AccountSelect, type AdminAccount, type AdminDelivery, ConfirmButton, EmptyRow } from "./admin-common.tsx";

type Delivery = AdminDelivery;
type DeliveryDetails = AnyDeliveryDetails<AdminDelivery>;

const PAGE_SIZE = 50;

/** Attempts come seconds apart: their times show the seconds. */
const preciseTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
function formatPreciseTime(epochMs: number): string {
  return preciseTime.format(epochMs);
}
const MAX_LIMIT = 1000;

function DeliveryBadge({ state }: { state: DeliveryState }) {
  return <span class={`badge adm-badge-${state}`}>{state}</span>;
}

function lastOutcome(delivery: Pick<Delivery, "lastStatus" | "lastError">) {
  if (delivery.lastStatus !== null) {
    const good = delivery.lastStatus >= 200 && delivery.lastStatus < 300;
    return <span class={good ? undefined : "adm-error-text"}>HTTP {delivery.lastStatus}</span>;
  }
  if (delivery.lastError !== null) return <span class="adm-error-text">{delivery.lastError}</span>;
  return <span class="muted">—</span>;
}

function nextAttempt(delivery: Pick<Delivery, "state" | "nextAttemptAt">, now = Date.now()): string {
  if (delivery.state !== "pending" || delivery.nextAttemptAt === null) return "—";
  return delivery.nextAttemptAt <= now ? "due now" : formatPreciseTime(delivery.nextAttemptAt);
}

export function AdminCallbacksPage({ route }: { route: Route }) {
  const deliveryId = route.params.get("delivery");
  if (deliveryId !== null && deliveryId !== "") return <DeliveryPage deliveryId={deliveryId} route={route} />;
  return <DeliveriesList route={route} />;
}

function DeliveriesList({ route }: { route: Route }) {
  const stateParam = route.params.get("state") ?? "";
  const accountParam = route.params.get("account") ?? "";
  const taskParam = route.params.get("task") ?? "";
  const [limit, setLimit] = useState(PAGE_SIZE);
  const [task, setTask] = useState(taskParam);
  useEffect(() => setTask(taskParam), [taskParam]);
  useEffect(() => setLimit(PAGE_SIZE), [stateParam, accountParam, taskParam]);

  const accounts = useLoad((signal) => api<AdminAccount[]>("GET", "/admin/v1/accounts", { signal }), []);
  const deliveries = useLoad(
    (signal) => api<Delivery[]>("GET", `/admin/v1/callbacks${query({ state: stateParam, account: accountParam, task: taskParam, limit })}`, { signal }),
    [stateParam, accountParam, taskParam, limit],
  );

  const apply = (changes: Record<string, string>) => {
    navigate("/admin/callbacks", { state: stateParam, account: accountParam, task: taskParam, ...changes });
  };
  const filtered = stateParam !== "" || accountParam !== "" || taskParam !== "";
  const list = deliveries.data ?? [];
  const mayHaveMore = list.length >= limit && limit < MAX_LIMIT;
  const stateError = errorAbout(deliveries.error, "state");
  const taskError = errorAbout(deliveries.error, "task");
  const accountError = deliveries.error instanceof ApiError && deliveries.error.status === 404 ? deliveries.error.message : null;
  const otherError = stateError || taskError || accountError ? null : deliveries.error;

  return (
    <section>
      <PageHeader title="Callback deliveries">
        <button type="button" class="button-secondary" onClick={deliveries.reload} disabled={deliveries.loading}>
          {deliveries.loading && deliveries.data !== null ? "Refreshing…" : "Refresh"}
        </button>
      </PageHeader>
      <div class="card">
        <form
          class="adm-toolbar"
          aria-label="Filter deliveries"
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            apply({ task: task.trim() });
          }}
        >
          <Field label="State" error={stateError}>
            {(id, describedBy) => (
              <select id={id} value={stateParam} aria-describedby={describedBy} onChange={(event) => apply({ state: event.currentTarget.value })}>
                <option value="">Any state</option>
                {DELIVERY_STATES.map((state) => (
                  <option key={state} value={state}>
                    {state}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Account" error={accountError}>
            {(id, describedBy) => (
              <AccountSelect id={id} describedBy={describedBy} value={accountParam} accounts={accounts.data} onChange={(account) => apply({ account })} />
            )}
          </Field>
          <Field label="Task id" error={taskError}>
            {(id, describedBy) => (
              <input
                id={id}
                type="search"
                placeholder="task_…"
                spellcheck={false}
                autoComplete="off"
                value={task}
                aria-describedby={describedBy}
                onInput={(event) => setTask(event.currentTarget.value)}
              />
            )}
          </Field>
          <div class="adm-toolbar-buttons">
            <button type="submit" class="button-primary">
              Filter
            </button>
            {filtered ? (
              <a class="button-secondary adm-button-as-link" href={href("/admin/callbacks")}>
                Clear
              </a>
            ) : null}
          </div>
        </form>
        <ErrorNotice error={otherError} />
        {deliveries.data === null && deliveries.loading ? (
          <Loading label="Loading deliveries…" />
        ) : deliveries.data === null ? null : (
          <>
            <div class="table-wrap">
              <table class="adm-table adm-stack-table">
                <caption class="visually-hidden">Callback deliveries, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Task</th>
                    <th scope="col">Account</th>
                    <th scope="col">URL</th>
                    <th scope="col">State</th>
                    <th scope="col" class="num">
                      Attempts
                    </th>
                    <th scope="col">Last status</th>
                    <th scope="col">Next attempt</th>
                    <th scope="col">
                      <span class="visually-hidden">Details</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.length === 0 ? (
                    <EmptyRow columns={8}>
                      {filtered
                        ? "No delivery matches these filters. Clear them to see every delivery."
                        : "No callbacks yet. A task created with a callBackUrl gets one when it finishes."}
                    </EmptyRow>
                  ) : (
                    list.map((delivery) => (
                      <tr key={delivery.id}>
                        <td class="adm-task-cell">
                          <span class="mono small">{delivery.taskId}</span>
                          <div class="muted small" title={formatTime(delivery.createdAt)}>
                            settled {formatAgo(delivery.createdAt)}
                          </div>
                        </td>
                        <td data-label="Account">
                          {delivery.accountName !== null ? (
                            <a href={href(`/admin/accounts/${encodeURIComponent(delivery.accountName)}`)}>{delivery.accountName}</a>
                          ) : (
                            <span class="mono small">{delivery.accountId}</span>
                          )}
                        </td>
                        <td class="adm-url mono" data-label="URL">{delivery.url}</td>
                        <td data-label="State">
                          <DeliveryBadge state={delivery.state} />
                        </td>
                        <td class="num" data-label="Attempts">{formatNumber(delivery.attempts)}</td>
                        <td data-label="Last status">{lastOutcome(delivery)}</td>
                        <td class="adm-nowrap" data-label="Next attempt">{nextAttempt(delivery)}</td>
                        <td>
                          <a href={href("/admin/callbacks", { delivery: delivery.id })} aria-label={`Details of the delivery for ${delivery.taskId}`}>
                            Details
                          </a>
                        </td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            </div>
            {list.length > 0 ? (
              <p class="muted small adm-list-foot">
                {formatNumber(list.length)} {list.length === 1 ? "delivery" : "deliveries"}, newest first.
              </p>
            ) : null}
            {mayHaveMore ? (
              <div class="adm-more">
                <button type="button" class="button-secondary" onClick={() => setLimit(Math.min(MAX_LIMIT, limit + PAGE_SIZE))} disabled={deliveries.loading}>
                  {deliveries.loading ? "Loading…" : "Show more"}
                </button>
              </div>
            ) : null}
          </>
        )}
      </div>
    </section>
  );
}

interface Outcome {
  kind: "info" | "success" | "error";
  text: string;
}

/** What the attempts made after a redelivery came to. */
function outcomeOf(details: DeliveryDetails, attemptsBefore: number): Outcome | null {
  const latest: DeliveryAttempt | undefined = details.attempts.at(-1);
  if (details.attempts.length <= attemptsBefore || latest === undefined) return null;
  if (details.delivery.state === "delivered") {
    return { kind: "success", text: `Redelivered: the receiver answered HTTP ${latest.status ?? "?"} in ${formatDuration(latest.durationMs)}.` };
  }
  const why = latest.status !== null ? `HTTP ${latest.status}` : (latest.error ?? "no answer");
  return {
    kind: "error",
    text:
      details.delivery.state === "pending"
        ? `The new attempt failed (${why}); it is tried again at ${nextAttempt(details.delivery)}.`
        : `The new attempt failed (${why}).`,
  };
}

function DeliveryPage({ deliveryId, route }: { deliveryId: string; route: Route }) {
  const details = useLoad((signal) => api<DeliveryDetails>("GET", `/admin/v1/callbacks/${encodeURIComponent(deliveryId)}`, { signal }), [deliveryId]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [redeliverError, setRedeliverError] = useState<unknown>(null);
  const watching = useRef<AbortController | null>(null);
  useEffect(() => () => watching.current?.abort(), []);
  useEffect(() => {
    setOutcome(null);
    setRedeliverError(null);
  }, [deliveryId]);

  const back = { ...Object.fromEntries(route.params), delivery: null };
  const notFound = details.error instanceof ApiError && details.error.status === 404;

  const redeliver = async (attemptsBefore: number) => {
    setRedeliverError(null);
    setOutcome(null);
    watching.current?.abort();
    const controller = new AbortController();
    watching.current = controller;
    try {
      await api<Delivery>("POST", `/admin/v1/callbacks/${encodeURIComponent(deliveryId)}/redeliver`);
    } catch (caught) {
      setRedeliverError(caught);
      return;
    }
    setOutcome({ kind: "info", text: "Queued: sending it again now…" });
    details.reload();
    // Follow the delivery until its new attempt is recorded (the server sends it within a second or so).
    void (async () => {
      const until = Date.now() + 30_000;
      while (!controller.signal.aborted && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 700));
        if (controller.signal.aborted) return;
        try {
          const now = await api<DeliveryDetails>("GET", `/admin/v1/callbacks/${encodeURIComponent(deliveryId)}`, { signal: controller.signal });
          const result = outcomeOf(now, attemptsBefore);
          if (result !== null) {
            setOutcome(result);
            details.reload();
            return;
          }
        } catch {
          return;
        }
      }
      if (!controller.signal.aborted) setOutcome({ kind: "info", text: "Still waiting for the new attempt: refresh in a moment to see it." });
    })();
  };

  const data = details.data;
  const delivery = data?.delivery;
  let body = delivery?.payload ?? "";
  try {
    body = JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // Shown as sent.
  }
  return (
    <section class="adm-detail">
      <p class="adm-breadcrumb">
        <a href={href("/admin/callbacks", back)}>← All deliveries</a>
      </p>
      <PageHeader title="Callback delivery">
        <button type="button" class="button-secondary" onClick={details.reload} disabled={details.loading}>
          {details.loading && data !== null ? "Refreshing…" : "Refresh"}
        </button>
        {data !== null ? (
          <ConfirmButton
            kind="primary"
            label="Redeliver"
            question="Send this callback again now, with the same body and webhook-id?"
            confirmLabel="Send again"
            busyLabel="Sending…"
            onConfirm={() => redeliver(data.attempts.length)}
          />
        ) : null}
      </PageHeader>
      {notFound ? (
        <Notice kind="error">
          There is no delivery {deliveryId}. <a href={href("/admin/callbacks")}>See all deliveries</a>.
        </Notice>
      ) : (
        <ErrorNotice error={details.error} />
      )}
      <ErrorNotice error={redeliverError} />
      {outcome !== null ? <Notice kind={outcome.kind}>{outcome.text}</Notice> : null}
      {data === null || delivery === undefined ? (
        details.loading ? <Loading label="Loading the delivery…" /> : null
      ) : (
        <div class="stack">
          <div class="card">
            <dl class="facts">
              <dt>State</dt>
              <dd>
                <DeliveryBadge state={delivery.state} />
              </dd>
              <dt>Delivery id</dt>
              <dd class="mono">
                {delivery.id} <span class="muted small">(the webhook-id header)</span>
              </dd>
              <dt>Task</dt>
              <dd class="mono">{delivery.taskId}</dd>
              <dt>Account</dt>
              <dd>
                {delivery.accountName !== null ? (
                  <a href={href(`/admin/accounts/${encodeURIComponent(delivery.accountName)}`)}>{delivery.accountName}</a>
                ) : (
                  <span class="mono">{delivery.accountId}</span>
                )}
              </dd>
              <dt>URL</dt>
              <dd class="mono">{delivery.url}</dd>
              <dt>Task settled</dt>
              <dd>{formatTime(delivery.createdAt)}</dd>
              <dt>Delivered</dt>
              <dd>{delivery.deliveredAt === null ? "not yet" : formatPreciseTime(delivery.deliveredAt)}</dd>
              <dt>Next attempt</dt>
              <dd>{nextAttempt(delivery)}</dd>
            </dl>
          </div>
          <div class="card" role="region" aria-labelledby="attempts-heading">
            <h2 id="attempts-heading">Attempts ({formatNumber(data.attempts.length)})</h2>
            <DeliveryAttempts attempts={data.attempts} label="Attempts" empty="No attempt yet: the first is sent within a second or so." />
          </div>
          <div class="card" role="region" aria-labelledby="body-heading">
            <div class="adm-body-header">
              <h2 id="body-heading">Body</h2>
              <CopyButton text={delivery.payload} label="Copy body" />
            </div>
            <p class="muted small adm-form-intro">POSTed as JSON exactly as sent (indented here for reading).</p>
            <pre class="adm-body" tabIndex={0}>
              {body}
            </pre>
          </div>
        </div>
      )}
    </section>
  );
}
