// One task: its state and times, what was asked, the result, and its callback deliveries with a
// way to send one again. A task still running is followed live through streamInfo.
import { Fragment } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, followEvents } from "../api.ts";
import { DeliveryAttempts } from "../components/delivery-attempts.tsx";
import { CopyButton, ErrorNotice, Loading, Notice, PageHeader, StateBadge, useLoad } from "../components/ui.tsx";
import { formatCredits, formatDuration } from "../format.ts";
import { href } from "../router.ts";
import { type DeliveryDetails, resultUrls, type TaskRecord, taskInput } from "../types.ts";
import { isActive } from "./history-query.ts";
import "./task.css";


/** How long after a redelivery the page waits for its attempt to be recorded. */
const REDELIVERY_WAIT_MS = 10_000;
/** How often the deliveries are read again while one is about to be attempted. */
const DELIVERY_POLL_MS = 2000;

function parsedParam(task: TaskRecord): Record<string, unknown> {
  try {
    const parsed = JSON.parse(task.param) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function callBackUrlOf(task: TaskRecord): string | null {
  const url = parsedParam(task).callBackUrl;
  return typeof url === "string" && url !== "" ? url : null;
}

/** The newer of two readings of the same task. */
function newer(a: TaskRecord | null, b: TaskRecord | null): TaskRecord | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.updateTime > a.updateTime || (b.updateTime === a.updateTime && !isActive(b.state)) ? b : a;
}

// Times to the second: a task and its attempts are often seconds apart.
const preciseTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
function formatTime(epochMs: number | null): string {
  return epochMs === null ? "—" : preciseTime.format(epochMs);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function TaskPage({ taskId }: { taskId: string }) {
  const loaded = useLoad((signal) => api<TaskRecord>("GET", `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`, { signal }), [taskId]);
  const [live, setLive] = useState<TaskRecord | null>(null);
  const [streamRound, setStreamRound] = useState(0);
  const task = newer(loaded.data?.taskId === taskId ? loaded.data : null, live?.taskId === taskId ? live : null);
  const active = task !== null && isActive(task.state);

  // Follow a running task live: every change of state arrives as an event "state".
  const { reload } = loaded;
  useEffect(() => {
    if (!active) return;
    const controller = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const again = () => {
      if (controller.signal.aborted) return;
      // The stream ended or broke before the task did: read it once more, then follow it again.
      reload();
      retry = setTimeout(() => setStreamRound((round) => round + 1), 2000);
    };
    followEvents(
      `/api/v1/jobs/streamInfo?taskId=${encodeURIComponent(taskId)}`,
      (event, data) => {
        if (event === "state" && typeof data === "object" && data !== null) setLive(data as TaskRecord);
      },
      controller.signal,
    ).then(again, again);
    return () => {
      controller.abort();
      clearTimeout(retry);
    };
  }, [taskId, active, streamRound, reload]);

  const backLink = (
    <a class="task-back" href={href("/history")}>
      <span aria-hidden="true">← </span>History
    </a>
  );

  if (task === null) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404) {
      return (
        <section class="task">
          <PageHeader title="Task not found">{backLink}</PageHeader>
          <div class="card task-missing">
            <p>
              There is no task <code>{taskId}</code> on this account. Check the ID, or find the task in your{" "}
              <a href={href("/history")}>History</a>.
            </p>
          </div>
        </section>
      );
    }
    return (
      <section class="task">
        <PageHeader title="Task">{backLink}</PageHeader>
        {loaded.error !== null ? (
          <div class="task-load-error">
            <ErrorNotice error={loaded.error} />
            <button type="button" class="button-secondary" onClick={loaded.reload}>
              Try again
            </button>
          </div>
        ) : (
          <Loading label="Loading the task…" />
        )}
      </section>
    );
  }

  return (
    <section class="task">
      <PageHeader title="Task">{backLink}</PageHeader>
      <p class="task-id">
        <code>{task.taskId}</code>
        <CopyButton text={task.taskId} label="Copy ID" />
      </p>
      {/* Keyed by task: another task's page starts afresh, its redelivery outcome included. */}
      <div class="task-layout" key={task.taskId}>
        <div class="task-main">
          <TaskResult task={task} />
          <CallbackDeliveries task={task} />
        </div>
        <div class="task-side">
          <TaskFacts task={task} />
          <TaskParameters task={task} />
        </div>
      </div>
    </section>
  );
}

function TaskResult({ task }: { task: TaskRecord }) {
  const urls = resultUrls(task);
  const prompt = taskInput(task).prompt;
  const ratio = /^(\d+):(\d+)$/.exec(String(taskInput(task).aspect_ratio ?? taskInput(task).image_size ?? ""));
  return (
    <section class="card task-result" aria-labelledby="task-result-title">
      <h2 id="task-result-title">{urls.length > 1 ? "Results" : "Result"}</h2>
      {isActive(task.state) ? (
        <div class="task-pending" role="status">
          <span class="task-spinner" aria-hidden="true" />
          <p>
            <strong>{task.state === "generating" ? "Generating…" : task.state === "queuing" ? "Queued…" : "Waiting…"}</strong>
            <br />
            <span class="muted small">This page follows the task and shows the image as soon as it is ready.</span>
          </p>
        </div>
      ) : task.state === "fail" ? (
        <Notice kind="error">
          <strong>The task failed{task.failCode !== null ? `: ${task.failCode}` : ""}.</strong>
          {task.failMsg !== null ? <span class="task-fail-message">{task.failMsg}</span> : null}
        </Notice>
      ) : urls.length === 0 ? (
        <p class="muted">The task succeeded but answered no image.</p>
      ) : (
        urls.map((url, index) => (
          <ResultImage
            key={url}
            url={url}
            taskId={task.taskId}
            alt={`${urls.length > 1 ? `Result ${index + 1}: ` : ""}${typeof prompt === "string" && prompt !== "" ? prompt.slice(0, 300) : "generated image"}`}
            ratio={ratio === null ? null : `${ratio[1]} / ${ratio[2]}`}
            index={urls.length > 1 ? index + 1 : null}
          />
        ))
      )}
    </section>
  );
}

function ResultImage(props: { url: string; taskId: string; alt: string; ratio: string | null; index: number | null }) {
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const [broken, setBroken] = useState(false);
  const extension = /\.(png|jpe?g|webp)(?:$|\?)/i.exec(new URL(props.url, location.href).pathname)?.[1] ?? "png";
  const fileName = `${props.taskId}${props.index === null ? "" : `-${props.index}`}.${extension}`;
  return (
    <figure class="task-figure">
      <div class="task-image-box" style={props.ratio !== null && size === null ? { aspectRatio: props.ratio } : undefined}>
        {broken ? (
          <p class="muted">The image could not be loaded: it may have passed the server's retention time.</p>
        ) : (
          <img
            src={props.url}
            alt={props.alt}
            decoding="async"
            onLoad={(event) => setSize({ width: event.currentTarget.naturalWidth, height: event.currentTarget.naturalHeight })}
            onError={() => setBroken(true)}
          />
        )}
      </div>
      <figcaption class="task-figure-caption">
        <span class="muted small" aria-live="polite">
          {size !== null ? `${size.width} × ${size.height} px · ${extension.toUpperCase()}` : broken ? "" : "Loading the image…"}
        </span>
        <span class="task-figure-actions">
          <a class="button-secondary button-like" href={props.url} target="_blank" rel="noopener">
            Open full size
          </a>
          <a class="button-primary button-like" href={props.url} download={fileName}>
            Download{props.index !== null ? ` image ${props.index}` : ""}
          </a>
        </span>
      </figcaption>
    </figure>
  );
}

function TaskFacts({ task }: { task: TaskRecord }) {
  const active = isActive(task.state);
  return (
    <section class="card" aria-labelledby="task-facts-title">
      <h2 id="task-facts-title">Details</h2>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <StateBadge state={task.state} />
        </dd>
        <dt>Model</dt>
        <dd class="mono">{task.model}</dd>
        <dt>Created</dt>
        <dd>{formatTime(task.createTime)}</dd>
        <dt>{task.state === "fail" ? "Ended" : "Completed"}</dt>
        <dd>{active ? "not yet" : formatTime(task.completeTime)}</dd>
        <dt>Duration</dt>
        <dd>{active ? "running" : formatDuration(task.costTime)}</dd>
        <dt>Cost</dt>
        <dd>{active ? "charged when it succeeds" : formatCredits(task.creditsConsumed)}</dd>
        {task.failCode !== null ? (
          <>
            <dt>Failure</dt>
            <dd class="mono">{task.failCode}</dd>
          </>
        ) : null}
      </dl>
    </section>
  );
}

function formatValue(value: unknown) {
  if (Array.isArray(value)) {
    if (value.length === 0) return <span class="muted">none</span>;
    return (
      <ol class="task-value-list">
        {value.map((item, index) => (
          <li key={index}>{typeof item === "string" && /^https?:\/\//.test(item) ? <a href={item} target="_blank" rel="noopener noreferrer">{item}</a> : formatValue(item)}</li>
        ))}
      </ol>
    );
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return <code>{String(value)}</code>;
  return <code>{JSON.stringify(value)}</code>;
}

function TaskParameters({ task }: { task: TaskRecord }) {
  const param = parsedParam(task);
  const input = taskInput(task);
  const { prompt, ...rest } = input;
  const callBackUrl = callBackUrlOf(task);
  let raw = task.param;
  try {
    raw = JSON.stringify(JSON.parse(task.param), null, 2);
  } catch {
    // shown as sent
  }
  return (
    <section class="card" aria-labelledby="task-params-title">
      <h2 id="task-params-title">Parameters</h2>
      <h3 class="task-subtitle">Prompt</h3>
      <blockquote class="task-prompt">{typeof prompt === "string" && prompt !== "" ? prompt : <span class="muted">none</span>}</blockquote>
      <h3 class="task-subtitle">Input</h3>
      {Object.keys(rest).length === 0 ? (
        <p class="muted small">No other fields: the model's defaults apply.</p>
      ) : (
        <dl class="facts task-input">
          {Object.entries(rest).map(([name, value]) => (
            <Fragment key={name}>
              <dt class="mono">{name}</dt>
              <dd>{formatValue(value)}</dd>
            </Fragment>
          ))}
        </dl>
      )}
      <p class="small task-callback-url">
        <span class="muted">callBackUrl: </span>
        {callBackUrl !== null ? <span class="mono">{callBackUrl}</span> : <span class="muted">none</span>}
      </p>
      <details class="task-raw">
        <summary>The request as sent (JSON)</summary>
        <pre>{raw}</pre>
      </details>
      {typeof param.model === "string" && param.model !== task.model ? <p class="muted small">Requested as {param.model}.</p> : null}
    </section>
  );
}

function CallbackDeliveries({ task }: { task: TaskRecord }) {
  const callBackUrl = callBackUrlOf(task);
  const ended = !isActive(task.state);
  const taskId = task.taskId;
  const deliveries = useLoad(
    (signal) =>
      callBackUrl !== null && ended ? api<DeliveryDetails[]>("GET", `/api/v1/jobs/callbacks?taskId=${encodeURIComponent(taskId)}`, { signal }) : Promise.resolve([]),
    [taskId, callBackUrl, ended],
  );
  const [outcome, setOutcome] = useState<{ kind: "info" | "error" | "success"; text: string } | null>(null);
  const [shown, setShown] = useState<DeliveryDetails[] | null>(null);
  const list = shown ?? deliveries.data;

  useEffect(() => setShown(null), [deliveries.data]);

  // Right after the task ends its delivery is being sent: read the list again until it settles.
  const polls = useRef(0);
  const { reload, loading } = deliveries;
  const settling =
    callBackUrl !== null &&
    ended &&
    list !== null &&
    (list.length === 0 || list.some((item) => item.delivery.state === "pending" && (item.delivery.nextAttemptAt ?? 0) < Date.now() + 10_000));
  useEffect(() => {
    if (!settling || loading || polls.current >= 15) return;
    const timer = setTimeout(() => {
      polls.current += 1;
      reload();
    }, DELIVERY_POLL_MS);
    return () => clearTimeout(timer);
  }, [settling, loading, reload, list]);

  const redeliver = async (details: DeliveryDetails) => {
    setOutcome(null);
    try {
      await api("POST", "/api/v1/jobs/callbacks/redeliver", { body: { taskId } });
    } catch (error) {
      setOutcome({ kind: "error", text: `The callback was not sent again: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const before = details.attempts.length;
    const until = Date.now() + REDELIVERY_WAIT_MS;
    let latest: DeliveryDetails | undefined;
    while (Date.now() < until) {
      await sleep(400);
      try {
        const answered = await api<DeliveryDetails[]>("GET", `/api/v1/jobs/callbacks?taskId=${encodeURIComponent(taskId)}`);
        setShown(answered);
        latest = answered.find((item) => item.delivery.id === details.delivery.id);
        if (latest !== undefined && latest.attempts.length > before) break;
      } catch {
        // keep waiting; the list is read again below
      }
    }
    polls.current = 0;
    const attempt = latest !== undefined && latest.attempts.length > before ? latest.attempts.at(-1) : undefined;
    if (attempt === undefined) {
      setOutcome({ kind: "info", text: "The callback is queued to be sent again; its attempt will show in the list below." });
    } else if (attempt.status !== null && attempt.status >= 200 && attempt.status < 300) {
      setOutcome({ kind: "success", text: `Sent again: the receiver answered ${attempt.status} in ${formatDuration(attempt.durationMs)}.` });
    } else {
      setOutcome({
        kind: "error",
        text: `Sent again, but it did not arrive: ${attempt.error ?? `the receiver answered ${attempt.status ?? "nothing"}`}. It is retried on the usual schedule.`,
      });
    }
    deliveries.reload();
  };

  return (
    <section class="card task-callbacks" aria-labelledby="task-callbacks-title">
      <h2 id="task-callbacks-title">Callback deliveries</h2>
      {callBackUrl === null ? (
        <p class="muted">
          This task was created without a <code>callBackUrl</code>, so no callback is sent for it. Give one to createTask to be called when a task ends.
        </p>
      ) : !ended ? (
        <p class="muted">
          The callback is sent to <span class="mono">{callBackUrl}</span> when the task ends.
        </p>
      ) : (
        <>
          {outcome !== null ? <Notice kind={outcome.kind}>{outcome.text}</Notice> : null}
          {deliveries.error !== null ? <ErrorNotice error={deliveries.error} /> : null}
          {list === null ? (
            <Loading label="Loading the deliveries…" />
          ) : list.length === 0 ? (
            <p class="muted" role="status">
              No delivery is recorded yet: the callback to <span class="mono">{callBackUrl}</span> is being prepared.
            </p>
          ) : (
            list.map((details) => <DeliveryView key={details.delivery.id} details={details} onRedeliver={() => redeliver(details)} />)
          )}
        </>
      )}
    </section>
  );
}

function DeliveryView({ details, onRedeliver }: { details: DeliveryDetails; onRedeliver: () => Promise<void> }) {
  const { delivery, attempts } = details;
  const [confirming, setConfirming] = useState(false);
  const [sending, setSending] = useState(false);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const openButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);

  const cancel = () => {
    setConfirming(false);
    setTimeout(() => openButton.current?.focus());
  };
  const send = async () => {
    setSending(true);
    try {
      await onRedeliver();
    } finally {
      setSending(false);
      setConfirming(false);
      setTimeout(() => openButton.current?.focus());
    }
  };

  return (
    <article class="task-delivery" aria-label={`Delivery ${delivery.id}`}>
      <dl class="facts">
        <dt>Delivery</dt>
        <dd>
          <code>{delivery.id}</code> <span class="muted small">(the webhook-id header)</span>
        </dd>
        <dt>State</dt>
        <dd>
          <span class={`badge task-delivery-${delivery.state}`}>{delivery.state}</span>
        </dd>
        <dt>URL</dt>
        <dd class="mono">{delivery.url}</dd>
        {delivery.deliveredAt !== null ? (
          <>
            <dt>Delivered</dt>
            <dd>{formatTime(delivery.deliveredAt)}</dd>
          </>
        ) : null}
        {delivery.state === "pending" && delivery.nextAttemptAt !== null ? (
          <>
            <dt>Next attempt</dt>
            <dd>{delivery.nextAttemptAt <= Date.now() ? "now" : formatTime(delivery.nextAttemptAt)}</dd>
          </>
        ) : null}
      </dl>

      <h3 class="task-subtitle">
        Attempts <span class="muted">({attempts.length})</span>
      </h3>
      <DeliveryAttempts attempts={attempts} label={`Attempts of delivery ${delivery.id}`} empty="No attempt yet." />

      <details class="task-raw">
        <summary>The body sent</summary>
        <pre>{prettyJson(delivery.payload)}</pre>
      </details>

      {confirming ? (
        <div
          class="task-confirm"
          role="group"
          aria-label="Confirm the redelivery"
          onKeyDown={(event) => {
            if (event.key === "Escape") cancel();
          }}
        >
          <p>
            Send this callback to <span class="mono">{delivery.url}</span> again now? The receiver gets the same body and webhook-id, signed with your
            current webhook secret.
          </p>
          <div class="task-confirm-actions">
            <button type="button" class="button-primary" ref={confirmButton} disabled={sending} onClick={() => void send()}>
              {sending ? "Sending…" : "Send again"}
            </button>
            <button type="button" class="button-secondary" disabled={sending} onClick={cancel}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <button type="button" class="button-secondary" ref={openButton} onClick={() => setConfirming(true)}>
          Redeliver
        </button>
      )}
    </article>
  );
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
