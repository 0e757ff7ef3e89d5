// What the operator's pages share: the shapes of the admin API's answers, how limits read, a
// two-step confirm button for changes that cannot be undone, and reading a typed number.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Delivery, LedgerEntry, TaskState } from "../types.ts";
import "./admin.css";

export interface AccountLimits {
  activeTasks: number | null;
  createTask: string | null;
  other: string | null;
}

/** An item of GET /admin/v1/accounts. */
export interface AdminAccount {
  id: string;
  name: string;
  createdAt: number;
  credits: number;
  limits: AccountLimits;
}

export interface AdminKey {
  id: string;
  accountId: string;
  mode: "live" | "test";
  hint: string;
  createdAt: number;
  revokedAt: number | null;
  name: string | null;
  lastUsedAt: number | null;
}

/** POST /admin/v1/accounts/{account}/keys: the key itself is in this answer only. */
export interface CreatedKey extends AdminKey {
  key: string;
}


/** GET /admin/v1/accounts/{account}. */
export interface AccountDetails extends AdminAccount {
  keys: AdminKey[];
  ledger: LedgerEntry[];
}

/** An item of GET /admin/v1/usage: one UTC day of one account. */
export interface UsageRow {
  day: string;
  accountId: string;
  accountName: string;
  tasks: Record<TaskState, number>;
  creditsSpent: number;
  models: Record<string, { tasks: number; creditsSpent: number }>;
}

/** An item of GET /admin/v1/callbacks: a delivery with its account. */
export interface AdminDelivery extends Delivery {
  accountId: string;
  accountName: string | null;
}

export const LIMIT_LABELS: Record<keyof AccountLimits, string> = {
  activeTasks: "Active tasks",
  createTask: "createTask rate",
  other: "Other requests",
};

/** The account's limits in one line; a limit not set is the server's default. */
export function limitsText(limits: AccountLimits): string {
  if (limits.activeTasks === null && limits.createTask === null && limits.other === null) return "Server defaults";
  return (Object.keys(LIMIT_LABELS) as (keyof AccountLimits)[])
    .map((name) => `${LIMIT_LABELS[name]} ${limits[name] === null ? "default" : String(limits[name])}`)
    .join(" · ");
}

/**
 * What a number field sends: a number when the text is one, else the text itself (so the server
 * names the field in its answer), and null when empty.
 */
export function numberOrText(text: string): number | string | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return /^[+-]?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * A button for a change that cannot be undone: the first press asks (`question`), with the
 * confirming button and Cancel, which has the focus; only the second press acts.
 */
export function ConfirmButton(props: {
  label: string;
  question: ComponentChildren;
  confirmLabel: string;
  busyLabel?: string;
  onConfirm: () => Promise<void> | void;
  kind?: "danger" | "secondary" | "primary";
  disabled?: boolean;
}) {
  const [step, setStep] = useState<"idle" | "asking" | "busy">("idle");
  const cancelRef = useRef<HTMLButtonElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  useEffect(() => {
    if (step === "asking") cancelRef.current?.focus();
    if (step === "idle" && returnFocus.current) {
      returnFocus.current = false;
      openRef.current?.focus();
    }
  }, [step]);
  const kind = props.kind ?? "danger";
  if (step === "idle") {
    return (
      <button type="button" ref={openRef} class={`button-${kind}`} disabled={props.disabled} onClick={() => setStep("asking")}>
        {props.label}
      </button>
    );
  }
  const confirm = async () => {
    setStep("busy");
    try {
      await props.onConfirm();
    } finally {
      setStep("idle");
    }
  };
  return (
    <span class="adm-confirm" role="group" aria-label={props.label}>
      <span class="adm-confirm-question">{props.question}</span>
      <button type="button" class={kind === "danger" ? "button-danger adm-button-danger-solid" : `button-${kind}`} disabled={step === "busy"} onClick={confirm}>
        {step === "busy" ? (props.busyLabel ?? "Working…") : props.confirmLabel}
      </button>
      <button
        type="button"
        ref={cancelRef}
        class="button-secondary"
        disabled={step === "busy"}
        onClick={() => {
          returnFocus.current = true;
          setStep("idle");
        }}
      >
        Cancel
      </button>
    </span>
  );
}

/** A row of a table that says there is nothing to show, and what to do. */
export function EmptyRow({ columns, children }: { columns: number; children: ComponentChildren }) {
  return (
    <tr>
      <td colSpan={columns} class="adm-empty-cell">
        {children}
      </td>
    </tr>
  );
}

/** Today's UTC day, and `days` before it, as YYYY-MM-DD. */
export function utcDay(offsetDays = 0, now = Date.now()): string {
  return new Date(now + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

/** The accounts to filter by, sorted by name; `value` stays listed even when no account has that name. */
export function AccountSelect(props: { id: string; describedBy: string | undefined; value: string; accounts: AdminAccount[] | null; onChange: (name: string) => void }) {
  const names = (props.accounts ?? []).map((account) => account.name).sort((a, b) => a.localeCompare(b));
  if (props.value !== "" && !names.includes(props.value)) names.unshift(props.value);
  return (
    <select id={props.id} value={props.value} aria-describedby={props.describedBy} onChange={(event) => props.onChange(event.currentTarget.value)}>
      <option value="">All accounts</option>
      {names.map((name) => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
    </select>
  );
}
