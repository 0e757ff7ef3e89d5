// The operator's accounts: the list with balances and limits, a new account (and its first key),
// and one account's balance, credits, limits, keys and ledger.
import { useEffect, useId, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api.ts";
import { CopyButton, ErrorNotice, Field, Loading, Notice, PageHeader, errorAbout, useLoad } from "../components/ui.tsx";
import { formatAgo, formatCredits, formatNumber, formatTime } from "../format.ts";
import { href } from "../router.ts";
import {
  type AccountDetails,
  type AccountLimits,
  type AdminAccount,
  type AdminKey,
  ConfirmButton,
  type CreatedKey,
  EmptyRow,
  LIMIT_LABELS,
  limitsText,
  numberOrText,
} from "./admin-common.tsx";
import type { LedgerEntry } from "../types.ts";

const PAGE_SIZE = 100;

type SortKey = "name" | "credits" | "createdAt";

function accountHref(account: Pick<AdminAccount, "name">): string {
  return href(`/admin/accounts/${encodeURIComponent(account.name)}`);
}

/** The server's message when it is about `field`; a conflict (a name taken) is about `conflictField`. */
function fieldError(error: unknown, field: string, conflictField?: string): string | null {
  if (conflictField === field && error instanceof ApiError && error.status === 409) return error.message;
  return errorAbout(error, field);
}

/** The error for the form as a whole: one that no field of the form shows. */
function formError(error: unknown, fields: string[], conflictField?: string): unknown {
  if (error === null) return null;
  return fields.some((field) => fieldError(error, field, conflictField) !== null) ? null : error;
}

export function AdminAccountsPage() {
  const accounts = useLoad((signal) => api<AdminAccount[]>("GET", "/admin/v1/accounts", { signal }), []);
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: "name", descending: false });
  const [shown, setShown] = useState(PAGE_SIZE);
  const [creating, setCreating] = useState(false);

  const rows = useMemo(() => {
    const wanted = filter.trim().toLowerCase();
    const matching = (accounts.data ?? []).filter((account) => wanted === "" || account.name.toLowerCase().includes(wanted) || account.id.toLowerCase().includes(wanted));
    const direction = sort.descending ? -1 : 1;
    return matching.sort((a, b) => {
      const order = sort.key === "name" ? a.name.localeCompare(b.name) : a[sort.key] - b[sort.key];
      return order * direction;
    });
  }, [accounts.data, filter, sort]);

  const sortButton = (key: SortKey, label: string, numeric = false) => {
    const active = sort.key === key;
    return (
      <th class={numeric ? "num" : undefined} aria-sort={active ? (sort.descending ? "descending" : "ascending") : undefined} scope="col">
        <button
          type="button"
          class="adm-sort-button"
          onClick={() => setSort({ key, descending: active ? !sort.descending : key !== "name" })}
        >
          {label}
          <span aria-hidden="true" class="adm-sort-mark">
            {active ? (sort.descending ? "▼" : "▲") : ""}
          </span>
        </button>
      </th>
    );
  };

  const total = accounts.data?.length ?? 0;
  return (
    <section>
      <PageHeader title="Accounts">
        <button type="button" class="button-secondary" onClick={accounts.reload} disabled={accounts.loading}>
          {accounts.loading && accounts.data !== null ? "Refreshing…" : "Refresh"}
        </button>
        <button type="button" class="button-primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {creating ? "Close form" : "New account"}
        </button>
      </PageHeader>
      {creating ? (
        <NewAccountForm
          onCreated={() => accounts.reload()}
          onClose={() => setCreating(false)}
        />
      ) : null}
      <div class="card">
        <div class="adm-toolbar">
          <Field label="Filter accounts" hint={accounts.data === null ? undefined : `${formatNumber(rows.length)} of ${formatNumber(total)} shown`}>
            {(id, describedBy) => (
              <input
                id={id}
                type="search"
                placeholder="Name or id"
                value={filter}
                aria-describedby={describedBy}
                onInput={(event) => {
                  setFilter(event.currentTarget.value);
                  setShown(PAGE_SIZE);
                }}
              />
            )}
          </Field>
        </div>
        <ErrorNotice error={accounts.error} />
        {accounts.data === null && accounts.loading ? (
          <Loading label="Loading accounts…" />
        ) : accounts.data === null ? null : (
          <>
            <div class="table-wrap">
              <table class="adm-table adm-stack-table">
                <caption class="visually-hidden">Accounts, sorted by {sort.key === "createdAt" ? "creation time" : sort.key === "credits" ? "balance" : "name"}</caption>
                <thead>
                  <tr>
                    {sortButton("name", "Name")}
                    {sortButton("credits", "Balance", true)}
                    <th scope="col">Limits</th>
                    {sortButton("createdAt", "Created")}
                  </tr>
                </thead>
                <tbody>
                  {rows.length === 0 ? (
                    <EmptyRow columns={4}>
                      {total === 0 ? (
                        <>No accounts yet. Create the first with <strong>New account</strong>.</>
                      ) : (
                        <>No account's name or id contains “{filter.trim()}”.</>
                      )}
                    </EmptyRow>
                  ) : (
                    rows.slice(0, shown).map((account) => (
                      <tr key={account.id}>
                        <td>
                          <a href={accountHref(account)} class="adm-strong-link">
                            {account.name}
                          </a>
                          <div class="muted small mono">{account.id}</div>
                        </td>
                        <td class="num" data-label="Balance">{formatCredits(account.credits)}</td>
                        <td data-label="Limits" class={`small${limitsText(account.limits) === "Server defaults" ? " muted" : ""}`}>{limitsText(account.limits)}</td>
                        <td class="adm-nowrap" data-label="Created">
                          {formatTime(account.createdAt)}
                        </td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            </div>
            {rows.length > shown ? (
              <div class="adm-more">
                <button type="button" class="button-secondary" onClick={() => setShown(shown + PAGE_SIZE)}>
                  Show {formatNumber(Math.min(PAGE_SIZE, rows.length - shown))} more
                </button>
              </div>
            ) : null}
          </>
        )}
      </div>
    </section>
  );
}

function NewAccountForm({ onCreated, onClose }: { onCreated: () => void; onClose: () => void }) {
  const [name, setName] = useState("");
  const [withKey, setWithKey] = useState(true);
  const [mode, setMode] = useState<"live" | "test">("live");
  const [keyName, setKeyName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [keyError, setKeyError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ account: AdminAccount; key: CreatedKey | null } | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setKeyError(null);
    let account: AdminAccount;
    try {
      account = await api<AdminAccount>("POST", "/admin/v1/accounts", { body: { name: name.trim() } });
    } catch (caught) {
      setError(caught);
      setBusy(false);
      return;
    }
    onCreated();
    let key: CreatedKey | null = null;
    if (withKey) {
      try {
        key = await api<CreatedKey>("POST", `/admin/v1/accounts/${encodeURIComponent(account.name)}/keys`, {
          body: { mode, ...(keyName.trim() === "" ? {} : { name: keyName.trim() }) },
        });
      } catch (caught) {
        setKeyError(caught);
      }
    }
    setCreated({ account, key });
    setName("");
    setKeyName("");
    setBusy(false);
  };

  if (created !== null) {
    return (
      <div class="card stack adm-created-card" aria-labelledby="created-heading">
        <h2 id="created-heading">Account {created.account.name} created</h2>
        {created.key !== null ? <ShownOnce createdKey={created.key} /> : null}
        {keyError !== null ? (
          <Notice kind="error">
            The account was created, but its key was not: {keyError instanceof Error ? keyError.message : String(keyError)} Create one on the
            account's page.
          </Notice>
        ) : null}
        <div class="row">
          <a class="button-primary adm-button-as-link" href={accountHref(created.account)}>
            Open {created.account.name}
          </a>
          <button type="button" class="button-secondary" onClick={() => setCreated(null)}>
            Create another
          </button>
          <button type="button" class="button-secondary" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    );
  }

  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="new-account-heading">
      <h2 id="new-account-heading">New account</h2>
      <ErrorNotice error={formError(error, ["name"], "name")} />
      <div class="row">
        <Field label="Name" error={fieldError(error, "name", "name")} hint="1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.">
          {(id, describedBy) => (
            <input
              id={id}
              name="name"
              autoComplete="off"
              spellcheck={false}
              value={name}
              aria-describedby={describedBy}
              aria-invalid={fieldError(error, "name", "name") !== null}
              onInput={(event) => setName(event.currentTarget.value)}
              autoFocus
              required
            />
          )}
        </Field>
      </div>
      <label class="checkbox">
        <input type="checkbox" checked={withKey} onChange={(event) => setWithKey(event.currentTarget.checked)} />
        Also create its first API key
      </label>
      {withKey ? (
        <div class="row adm-indent">
          <Field label="Key mode" hint="Test keys get sandbox images and spend no credits.">
            {(id, describedBy) => (
              <select id={id} value={mode} aria-describedby={describedBy} onChange={(event) => setMode(event.currentTarget.value as "live" | "test")}>
                <option value="live">live</option>
                <option value="test">test</option>
              </select>
            )}
          </Field>
          <Field label="Key name (optional)" hint="What the key is for, shown in key lists.">
            {(id, describedBy) => (
              <input id={id} value={keyName} autoComplete="off" aria-describedby={describedBy} onInput={(event) => setKeyName(event.currentTarget.value)} />
            )}
          </Field>
        </div>
      ) : null}
      <div class="row adm-form-actions">
        <button type="submit" class="button-primary" disabled={busy}>
          {busy ? "Creating…" : "Create account"}
        </button>
        <button type="button" class="button-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A new key, shown this once, with a copy button. */
function ShownOnce({ createdKey, onDismiss }: { createdKey: CreatedKey; onDismiss?: () => void }) {
  const id = useId();
  return (
    <div class="notice notice-success adm-shown-once" role="status">
      <p class="adm-shown-once-title">
        New {createdKey.mode} key{createdKey.name === null ? "" : ` “${createdKey.name}”`}. Copy it now: it is not shown again.
      </p>
      <div class="adm-secret-row">
        <label for={id} class="visually-hidden">
          New API key
        </label>
        <input id={id} type="text" class="adm-secret mono" readOnly value={createdKey.key} spellcheck={false} onFocus={(event) => event.currentTarget.select()} />
        <CopyButton text={createdKey.key} label="Copy key" />
        {onDismiss !== undefined ? (
          <button type="button" class="button-secondary" onClick={onDismiss}>
            Done
          </button>
        ) : null}
      </div>
    </div>
  );
}

export function AdminAccountPage({ account }: { account: string }) {
  const details = useLoad((signal) => api<AccountDetails>("GET", `/admin/v1/accounts/${encodeURIComponent(account)}`, { signal }), [account]);
  const data = details.data;
  const notFound = details.error instanceof ApiError && details.error.status === 404;

  return (
    <section>
      <p class="adm-breadcrumb">
        <a href={href("/admin/accounts")}>← Accounts</a>
      </p>
      <PageHeader title={data?.name ?? account}>
        <button type="button" class="button-secondary" onClick={details.reload} disabled={details.loading}>
          {details.loading && data !== null ? "Refreshing…" : "Refresh"}
        </button>
      </PageHeader>
      {notFound ? (
        <Notice kind="error">
          There is no account named {account}. <a href={href("/admin/accounts")}>See all accounts</a>.
        </Notice>
      ) : (
        <ErrorNotice error={details.error} />
      )}
      {data === null ? (
        details.loading ? <Loading label="Loading the account…" /> : null
      ) : (
        <div class="stack" key={data.id}>
          <div class="card adm-account-summary">
            <div class="adm-balance">
              <span class="muted small">Balance</span>
              <strong class="adm-balance-value" data-testid="balance">
                {formatCredits(data.credits)}
              </strong>
            </div>
            <dl class="facts">
              <dt>Id</dt>
              <dd class="mono">{data.id}</dd>
              <dt>Created</dt>
              <dd>{formatTime(data.createdAt)}</dd>
              <dt>Limits</dt>
              <dd>{limitsText(data.limits)}</dd>
              <dt>Active keys</dt>
              <dd>{data.keys.filter((key) => key.revokedAt === null).length}</dd>
            </dl>
          </div>
          <div class="grid-2 adm-grid">
            <CreditsForm account={data} onChanged={details.reload} />
            <LimitsForm account={data} onChanged={details.reload} />
          </div>
          <KeysCard account={data} onChanged={details.reload} />
          <LedgerCard entries={data.ledger} />
        </div>
      )}
    </section>
  );
}

function CreditsForm({ account, onChanged }: { account: AccountDetails; onChanged: () => void }) {
  const [kind, setKind] = useState<"grant" | "deduct">("grant");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A deduction asks once more before it is sent.
  const [confirming, setConfirming] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) cancelRef.current?.focus();
  }, [confirming]);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (kind === "deduct" && !confirming) {
      setConfirming(true);
      return;
    }
    setConfirming(false);
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const answer = await api<{ amount: number; balance: number }>("POST", `/admin/v1/accounts/${encodeURIComponent(account.id)}/credits/${kind}`, {
        body: { amount: numberOrText(amount), reason },
      });
      setDone(`${kind === "grant" ? "Granted" : "Deducted"} ${formatCredits(answer.amount)}. The balance is now ${formatCredits(answer.balance)}.`);
      setAmount("");
      setReason("");
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  // A deduction below zero is a conflict about the amount.
  const amountError = fieldError(error, "amount", "amount");
  const reasonError = errorAbout(error, "reason");
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="credits-heading">
      <h2 id="credits-heading">Credits</h2>
      {done !== null ? <Notice kind="success">{done}</Notice> : null}
      <ErrorNotice error={formError(error, ["amount", "reason"], "amount")} />
      <fieldset class="adm-segmented">
        <legend class="label">Change</legend>
        <label>
          <input type="radio" name="credit-kind" value="grant" checked={kind === "grant"} onChange={() => {
              setKind("grant");
              setConfirming(false);
            }} />
          Grant (add)
        </label>
        <label>
          <input type="radio" name="credit-kind" value="deduct" checked={kind === "deduct"} onChange={() => setKind("deduct")} />
          Deduct (take away)
        </label>
      </fieldset>
      <Field label="Amount" error={amountError} hint={kind === "grant" ? "Whole credits, 1 to 1,000,000,000." : `Whole credits; at most the balance, ${formatCredits(account.credits)}.`}>
        {(id, describedBy) => (
          <input
            id={id}
            name="amount"
            inputMode="numeric"
            autoComplete="off"
            value={amount}
            aria-describedby={describedBy}
            aria-invalid={amountError !== null}
            onInput={(event) => {
              setAmount(event.currentTarget.value);
              setConfirming(false);
            }}
          />
        )}
      </Field>
      <Field label="Reason" error={reasonError} hint="Written to the ledger and the audit trail, e.g. an invoice number.">
        {(id, describedBy) => (
          <input
            id={id}
            name="reason"
            autoComplete="off"
            value={reason}
            aria-describedby={describedBy}
            aria-invalid={reasonError !== null}
            onInput={(event) => setReason(event.currentTarget.value)}
          />
        )}
      </Field>
      {confirming ? (
        <div class="adm-confirm adm-confirm-left" role="group" aria-label="Confirm the deduction">
          <span class="adm-confirm-question">
            Take {amount.trim() === "" ? "these" : amount.trim()} credits away from {account.name}?
          </span>
          <button type="submit" class="button-danger adm-button-danger-solid">
            Yes, deduct
          </button>
          <button type="button" ref={cancelRef} class="button-secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <button type="submit" class={kind === "grant" ? "button-primary" : "button-danger"} disabled={busy}>
          {busy ? "Saving…" : kind === "grant" ? "Grant credits" : "Deduct credits"}
        </button>
      )}
    </form>
  );
}

const LIMIT_HINTS: Record<keyof AccountLimits, string> = {
  activeTasks: "Most unfinished tasks at once: a whole number from 1 to 1,000,000.",
  createTask: "Task creations per key, as a count per window in s, m or h: 60/1m, 20/10s, 1000/1h.",
  other: "Every other request per key, in the same form: 10/1s, 600/1m.",
};

function LimitsForm({ account, onChanged }: { account: AccountDetails; onChanged: () => void }) {
  const initial = (limits: AccountLimits) => ({
    activeTasks: limits.activeTasks === null ? "" : String(limits.activeTasks),
    createTask: limits.createTask ?? "",
    other: limits.other ?? "",
  });
  const [values, setValues] = useState(() => initial(account.limits));
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const names = Object.keys(LIMIT_LABELS) as (keyof AccountLimits)[];

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const updated = await api<AdminAccount>("PUT", `/admin/v1/accounts/${encodeURIComponent(account.id)}/limits`, {
        body: {
          activeTasks: numberOrText(values.activeTasks),
          createTask: values.createTask.trim() === "" ? null : values.createTask.trim(),
          other: values.other.trim() === "" ? null : values.other.trim(),
        },
      });
      setValues(initial(updated.limits));
      setDone(`Limits saved: ${limitsText(updated.limits)}. They apply from the next request.`);
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} noValidate aria-labelledby="limits-heading">
      <h2 id="limits-heading">Limits</h2>
      <p class="muted small adm-form-intro">Leave a field empty to use the server's default.</p>
      {done !== null ? <Notice kind="success">{done}</Notice> : null}
      <ErrorNotice error={formError(error, names)} />
      {names.map((name) => {
        const message = errorAbout(error, name);
        return (
          <Field key={name} label={LIMIT_LABELS[name]} error={message} hint={LIMIT_HINTS[name]}>
            {(id, describedBy) => (
              <input
                id={id}
                name={name}
                inputMode={name === "activeTasks" ? "numeric" : "text"}
                autoComplete="off"
                spellcheck={false}
                placeholder="server default"
                value={values[name]}
                aria-describedby={describedBy}
                aria-invalid={message !== null}
                onInput={(event) => setValues({ ...values, [name]: event.currentTarget.value })}
              />
            )}
          </Field>
        );
      })}
      <button type="submit" class="button-primary" disabled={busy}>
        {busy ? "Saving…" : "Save limits"}
      </button>
    </form>
  );
}

function KeysCard({ account, onChanged }: { account: AccountDetails; onChanged: () => void }) {
  const [mode, setMode] = useState<"live" | "test">("live");
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [busy, setBusy] = useState(false);
  const [showRevoked, setShowRevoked] = useState(false);

  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await api<CreatedKey>("POST", `/admin/v1/accounts/${encodeURIComponent(account.id)}/keys`, {
        body: { mode, ...(name.trim() === "" ? {} : { name: name.trim() }) },
      });
      setCreated(key);
      setName("");
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (key: AdminKey) => {
    setRevokeError(null);
    try {
      await api<AdminKey>("POST", `/admin/v1/keys/${encodeURIComponent(key.id)}/revoke`);
      onChanged();
    } catch (caught) {
      setRevokeError(caught);
    }
  };
  const revokedCount = account.keys.filter((key) => key.revokedAt !== null).length;
  const keys = account.keys.filter((key) => showRevoked || key.revokedAt === null);
  const nameError = errorAbout(error, "name");
  return (
    <div class="card" aria-labelledby="keys-heading" role="region">
      <div class="adm-card-header">
        <h2 id="keys-heading">API keys</h2>
        {revokedCount > 0 ? (
          <label class="checkbox small">
            <input type="checkbox" checked={showRevoked} onChange={(event) => setShowRevoked(event.currentTarget.checked)} />
            Show {revokedCount} revoked
          </label>
        ) : null}
      </div>
      {created !== null ? <ShownOnce createdKey={created} onDismiss={() => setCreated(null)} /> : null}
      <ErrorNotice error={revokeError} />
      <div class="table-wrap">
        <table class="adm-table adm-stack-table">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Mode</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.length === 0 ? (
              <EmptyRow columns={6}>This account has no active key. Create one below to let it use the API.</EmptyRow>
            ) : (
              keys.map((key) => (
                <tr key={key.id} class={key.revokedAt !== null ? "adm-revoked" : undefined}>
                  <td>
                    <code>{key.hint}</code>
                    <div class="muted small mono">{key.id}</div>
                  </td>
                  <td data-label="Name">{key.name ?? <span class="muted">—</span>}</td>
                  <td data-label="Mode">
                    <span class={`badge${key.mode === "test" ? " badge-test" : ""}`}>{key.mode}</span>
                  </td>
                  <td class="adm-nowrap" data-label="Created">{formatTime(key.createdAt)}</td>
                  <td class="adm-nowrap" data-label="Last used">{formatAgo(key.lastUsedAt)}</td>
                  <td class="adm-actions">
                    {key.revokedAt !== null ? (
                      <span class="badge badge-fail">revoked {formatAgo(key.revokedAt)}</span>
                    ) : (
                      <ConfirmButton
                        label={`Revoke`}
                        question={<>Revoke {key.hint}? It stops working at once.</>}
                        confirmLabel="Revoke key"
                        busyLabel="Revoking…"
                        onConfirm={() => revoke(key)}
                      />
                    )}
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <form class="adm-inline-form" onSubmit={create} noValidate aria-labelledby="new-key-heading">
        <h3 id="new-key-heading">Create a key</h3>
        <ErrorNotice error={formError(error, ["name", "mode"])} />
        <div class="row">
          <Field label="Mode" hint="Test: sandbox images, no credits." error={errorAbout(error, "mode")}>
            {(id, describedBy) => (
              <select id={id} value={mode} aria-describedby={describedBy} onChange={(event) => setMode(event.currentTarget.value as "live" | "test")}>
                <option value="live">live</option>
                <option value="test">test</option>
              </select>
            )}
          </Field>
          <Field label="Name (optional)" hint="What the key is for." error={nameError}>
            {(id, describedBy) => (
              <input
                id={id}
                value={name}
                autoComplete="off"
                aria-describedby={describedBy}
                aria-invalid={nameError !== null}
                onInput={(event) => setName(event.currentTarget.value)}
              />
            )}
          </Field>
          <div class="field adm-field-button">
            <button type="submit" class="button-primary" disabled={busy}>
              {busy ? "Creating…" : "Create key"}
            </button>
          </div>
        </div>
      </form>
    </div>
  );
}

const KIND_LABELS: Record<LedgerEntry["kind"], string> = {
  grant: "grant",
  deduct: "deduct",
  hold: "hold",
  capture: "capture",
  release: "release",
};

function LedgerCard({ entries }: { entries: LedgerEntry[] }) {
  return (
    <div class="card" role="region" aria-labelledby="ledger-heading">
      <h2 id="ledger-heading">Recent ledger entries</h2>
      <p class="muted small adm-form-intro">The latest {entries.length === 20 ? "20 " : ""}credit movements, newest first. Holds are taken when a task starts and captured or released when it ends.</p>
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Ledger entries, scrollable">
        <table class="adm-table adm-scroll-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Kind</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col" class="num">
                Balance after
              </th>
              <th scope="col">Reason</th>
              <th scope="col">By</th>
            </tr>
          </thead>
          <tbody>
            {entries.length === 0 ? (
              <EmptyRow columns={6}>No credit movements yet. Grant credits above to let the account run live tasks.</EmptyRow>
            ) : (
              entries.map((entry) => (
                <tr key={entry.id}>
                  <td class="adm-nowrap">{formatTime(entry.createdAt)}</td>
                  <td>
                    <span class={`badge adm-ledger-${entry.kind}`}>{KIND_LABELS[entry.kind]}</span>
                  </td>
                  <td class={`num ${entry.amount < 0 ? "adm-negative" : entry.amount > 0 ? "adm-positive" : ""}`}>
                    {entry.amount > 0 ? "+" : ""}
                    {formatNumber(entry.amount)}
                  </td>
                  <td class="num">{formatNumber(entry.balanceAfter)}</td>
                  <td>
                    {entry.reason ?? (entry.taskId !== null ? <span class="mono small">{entry.taskId}</span> : <span class="muted">—</span>)}
                  </td>
                  <td class="small">{entry.actor ?? <span class="muted">—</span>}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
