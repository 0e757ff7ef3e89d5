// History: the account's tasks, newest first, a page at a time, filtered by state and model. The
// filters and the page live in the fragment, so reload and Back keep them; while a task on the
// page is still running the page reads the list again every few seconds, until none is.
import { useEffect, useRef } from "preact/hooks";
import { api, query as apiQuery } from "../api.ts";
import { errorAbout, ErrorNotice, Field, Loading, Notice, PageHeader, StateBadge, useLoad } from "../components/ui.tsx";
import { formatAgo, formatCredits, formatDuration, formatTime } from "../format.ts";
import { href, navigate, type Route } from "../router.ts";
import { type ModelInfo, type Page, resultUrls, TASK_STATES, type TaskRecord, taskInput } from "../types.ts";
import {
  type HistoryQuery,
  historyParams,
  isActive,
  listParams,
  newerPage,
  olderPage,
  pageNumber,
  readHistoryQuery,
  REFRESH_INTERVAL_MS,
  withFilters,
} from "./history-query.ts";
import "./history.css";

/** The prompt of a task, from its createTask body. */
export function promptOf(task: Pick<TaskRecord, "param">): string {
  const prompt = taskInput(task).prompt;
  return typeof prompt === "string" ? prompt : "";
}

/** `text` cut at about `length` characters, on a word boundary when one is near. */
export function truncate(text: string, length: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= length) return flat;
  const cut = flat.slice(0, length);
  const space = cut.lastIndexOf(" ");
  return `${(space > length * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

function go(query: HistoryQuery): void {
  navigate("/history", historyParams(query));
}

interface Listed {
  /** The query this page answers, so a page still loading is not shown as the new one. */
  key: string;
  page: Page<TaskRecord>;
}

export function HistoryPage({ route }: { route: Route }) {
  const query = readHistoryQuery(route.params);
  const key = apiQuery(listParams(query));
  const models = useLoad((signal) => api<ModelInfo[]>("GET", "/api/v1/models", { signal }), []);
  const list = useLoad<Listed>(
    async (signal) => ({ key, page: await api<Page<TaskRecord>>("GET", `/api/v1/jobs${key}`, { signal }) }),
    [key],
  );
  const current = list.data !== null && list.data.key === key ? list.data.page : null;
  const running = current?.items.filter((task) => isActive(task.state)).length ?? 0;

  // While a task shown has not ended, read the page again every few seconds; stop when none is running.
  const { reload, loading } = list;
  useEffect(() => {
    if (running === 0 || loading) return;
    const timer = setTimeout(reload, REFRESH_INTERVAL_MS);
    return () => clearTimeout(timer);
  }, [running, loading, reload, list.data]);

  // A new page starts at the top.
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) firstRender.current = false;
    else scrollTo({ top: 0 });
  }, [query.cursor]);

  const filtered = query.state !== "" || query.model !== "";
  const stateError = errorAbout(list.error, "state");
  const modelError = errorAbout(list.error, "model");
  const cursorError = errorAbout(list.error, "cursor");
  const otherError = list.error !== null && stateError === null && modelError === null && cursorError === null ? list.error : null;
  const modelIds = models.data?.map((model) => model.id) ?? [];
  if (query.model !== "" && !modelIds.includes(query.model)) modelIds.push(query.model);

  return (
    <section class="history">
      <PageHeader title="History">
        <a class="button-primary button-like" href={href("/playground")}>
          New image
        </a>
      </PageHeader>

      <form class="history-filters" aria-label="Filter tasks" onSubmit={(event) => event.preventDefault()}>
        <Field label="State" error={stateError}>
          {(id, describedBy) => (
            <select id={id} aria-describedby={describedBy} value={query.state} onChange={(event) => go(withFilters(query, { state: event.currentTarget.value }))}>
              <option value="">All states</option>
              {TASK_STATES.map((state) => (
                <option key={state} value={state}>
                  {state}
                </option>
              ))}
              {query.state !== "" && !(TASK_STATES as readonly string[]).includes(query.state) ? <option value={query.state}>{query.state}</option> : null}
            </select>
          )}
        </Field>
        <Field label="Model" error={modelError ?? (models.error instanceof Error ? `The models could not be read: ${models.error.message}` : null)}>
          {(id, describedBy) => (
            <select id={id} aria-describedby={describedBy} value={query.model} onChange={(event) => go(withFilters(query, { model: event.currentTarget.value }))}>
              <option value="">All models</option>
              {modelIds.map((model) => (
                <option key={model} value={model}>
                  {model}
                </option>
              ))}
            </select>
          )}
        </Field>
        {filtered ? (
          <button type="button" class="button-secondary history-clear" onClick={() => go(withFilters(query, { state: "", model: "" }))}>
            Clear filters
          </button>
        ) : null}
      </form>

      {cursorError !== null ? (
        <Notice kind="error">
          This page of the list cannot be opened: its link holds a position the server did not give out.{" "}
          <a href={href("/history", historyParams(withFilters(query, {})))}>Go to the newest tasks</a>
        </Notice>
      ) : null}
      {otherError !== null ? (
        <div class="history-error">
          <ErrorNotice error={otherError} />
          <button type="button" class="button-secondary" onClick={list.reload}>
            Try again
          </button>
        </div>
      ) : null}

      {current === null ? (
        list.loading ? (
          <Loading label="Loading your tasks…" />
        ) : null
      ) : current.items.length === 0 ? (
        <EmptyHistory query={query} filtered={filtered} />
      ) : (
        <>
          <p class="history-summary muted small" role="status">
            {running > 0
              ? `${running} ${running === 1 ? "task is" : "tasks are"} still running; this page updates by itself.`
              : `Page ${pageNumber(query)} · ${current.items.length} ${current.items.length === 1 ? "task" : "tasks"}, newest first`}
          </p>
          <ul class="history-list" aria-label="Tasks, newest first" aria-busy={list.loading ? "true" : "false"}>
            {current.items.map((task) => (
              <HistoryItem key={task.taskId} task={task} />
            ))}
          </ul>
        </>
      )}
      {list.data !== null && list.data.key !== key && list.loading ? <Loading label="Loading…" /> : null}

      {current !== null && (query.cursor !== "" || current.nextCursor !== null) ? (
        <nav class="history-pager" aria-label="Pages">
          <button type="button" class="button-secondary" disabled={query.cursor === ""} onClick={() => go(newerPage(query))}>
            <span aria-hidden="true">← </span>Newer
          </button>
          <span class="muted small">Page {pageNumber(query)}</span>
          <button
            type="button"
            class="button-secondary"
            disabled={current.nextCursor === null}
            onClick={() => current.nextCursor !== null && go(olderPage(query, current.nextCursor))}
          >
            Older<span aria-hidden="true"> →</span>
          </button>
        </nav>
      ) : null}
    </section>
  );
}

function EmptyHistory({ query, filtered }: { query: HistoryQuery; filtered: boolean }) {
  if (filtered) {
    return (
      <div class="card history-empty">
        <h2>No tasks match these filters</h2>
        <p class="muted">
          {query.cursor !== "" ? "This page is empty now. " : ""}
          Try another state or model, or{" "}
          <a href={href("/history")}>show all tasks</a>. New tasks start in the <a href={href("/playground")}>Playground</a>.
        </p>
      </div>
    );
  }
  return (
    <div class="card history-empty">
      <h2>No tasks yet</h2>
      <p class="muted">Every image you generate, in the console or through the API, is listed here with its result, state and cost.</p>
      <a class="button-primary button-like" href={href("/playground")}>
        Create an image in the Playground
      </a>
    </div>
  );
}

function HistoryItem({ task }: { task: TaskRecord }) {
  const prompt = promptOf(task);
  const [image] = resultUrls(task);
  const active = isActive(task.state);
  return (
    <li class={`history-item history-item-${task.state}`}>
      <div class="history-thumb">
        {image !== undefined ? (
          <img src={image} alt={truncate(prompt, 120) || `Result of ${task.taskId}`} width={240} height={180} loading="lazy" decoding="async" />
        ) : (
          <span class={`history-placeholder${active ? " history-placeholder-active" : ""}`} aria-hidden="true">
            {active ? "…" : task.state === "fail" ? "✕" : ""}
          </span>
        )}
      </div>
      <div class="history-body">
        <a class="history-link" href={href(`/tasks/${task.taskId}`)}>
          {truncate(prompt, 160) || task.taskId}
        </a>
        <div class="history-tags">
          <StateBadge state={task.state} />
          <span class="history-model mono">{task.model}</span>
        </div>
        {task.state === "fail" && task.failCode !== null ? <p class="history-fail small">{task.failCode}</p> : null}
        <p class="history-meta small muted">
          <span>{active ? "running" : formatCredits(task.creditsConsumed)}</span>
          <span>
            <time dateTime={new Date(task.createTime).toISOString()} title={formatTime(task.createTime)}>
              {formatAgo(task.createTime)}
            </time>
          </span>
          {task.costTime !== null ? <span>took {formatDuration(task.costTime)}</span> : null}
        </p>
      </div>
    </li>
  );
}
