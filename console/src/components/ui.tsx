// Small parts every page uses: a labelled field with its error, state badges, a copy button,
// notices, loading data, and a "more" pager.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { ApiError } from "../api.ts";
import type { TaskState } from "../types.ts";

/** A label, a control and, under it, a hint or the server's error about this field. */
export function Field(props: {
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
}) {
  const id = useId();
  const noteId = `${id}-note`;
  const hasNote = props.error !== null && props.error !== undefined ? true : props.hint !== undefined;
  return (
    <div class={`field${props.error ? " field-invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, hasNote ? noteId : undefined)}
      {props.error ? (
        <p class="field-error" id={noteId} role="alert">
          {props.error}
        </p>
      ) : props.hint !== undefined ? (
        <p class="field-hint" id={noteId}>
          {props.hint}
        </p>
      ) : null}
    </div>
  );
}

/** The server's message for `field` when `error` is about it. */
export function errorAbout(error: unknown, field: string): string | null {
  return error instanceof ApiError && error.isAbout(field) ? error.message : null;
}

export function StateBadge({ state }: { state: TaskState | string }) {
  return <span class={`badge badge-${state}`}>{state}</span>;
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without clipboard access (plain HTTP on another host): select the text for the user instead.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <button type="button" class="button-secondary" onClick={copy} aria-live="polite">
      {copied ? "Copied" : label}
    </button>
  );
}

/** A message box: errors are announced to screen readers as they appear. */
export function Notice({ kind = "info", children }: { kind?: "info" | "error" | "success"; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function ErrorNotice({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return <Notice kind="error">{error instanceof Error ? error.message : String(error)}</Notice>;
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads data when the page opens and whenever `deps` change; `reload` loads it again. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true, error: null }));
    latest.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false });
      },
      (error: unknown) => {
        if (!controller.signal.aborted) setState((previous) => ({ data: previous.data, error, loading: false }));
      },
    );
    return () => controller.abort();
  }, [...deps, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return { ...state, reload };
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1 tabIndex={-1}>{title}</h1>
      {children !== undefined ? <div class="page-actions">{children}</div> : null}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p class="loading" role="status">
      {label}
    </p>
  );
}
