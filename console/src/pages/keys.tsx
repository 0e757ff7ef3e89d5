// Keys & webhooks: the account's API keys (make one, see it once, revoke one) and the webhook
// secret that signs its callbacks (reveal, copy, rotate). A test-mode key may only look.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api.ts";
import { useAccount } from "../app.tsx";
import { CopyButton, ErrorNotice, errorAbout, Field, Loading, Notice, PageHeader, useLoad } from "../components/ui.tsx";
import { formatAgo, formatTime } from "../format.ts";
import "./keys.css";

/** An item of GET /api/v1/keys. */
interface OwnKey {
  id: string;
  prefix: string;
  mode: "live" | "test";
  name: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  current: boolean;
}

/** POST /api/v1/keys answers the key's fields and, this once, the key itself. */
interface CreatedKey extends OwnKey {
  key: string;
}

const TEST_MODE_NOTE =
  "You are signed in with a test-mode key. It can list the account's keys, but only a live key (ig_live_...) can make or revoke keys, or read or rotate the webhook secret.";

export function KeysPage() {
  const { session } = useAccount();
  const testMode = session.mode === "test";
  return (
    <section class="keys-page">
      <PageHeader title="Keys & webhooks" />
      {testMode ? <Notice kind="info">{TEST_MODE_NOTE}</Notice> : null}
      <KeysCard testMode={testMode} />
      <WebhookSecretCard testMode={testMode} />
    </section>
  );
}

function KeysCard({ testMode }: { testMode: boolean }) {
  const keys = useLoad((signal) => api<OwnKey[]>("GET", "/api/v1/keys", { signal }), []);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [revoked, setRevoked] = useState<string | null>(null);

  const onRevoked = (key: OwnKey) => {
    setRevokeError(null);
    setRevoked(`Key ${describeKey(key)} is revoked: requests with it are now answered 401.`);
    if (created?.id === key.id) setCreated(null);
    // After revoking the key signed in, this reload is answered 401 and the console signs out.
    keys.reload();
  };

  return (
    <div class="card" aria-labelledby="keys-heading" role="region">
      <h2 id="keys-heading">API keys</h2>
      <p class="muted small keys-intro">
        Requests authenticate with <code>Authorization: Bearer &lt;key&gt;</code>. Live keys (<code>ig_live_…</code>) use credits and the
        real image provider; test keys (<code>ig_test_…</code>) get free sandbox images. The server keeps only a hash of each key and its
        first characters, so a new key is shown once.
      </p>
      {created !== null ? <NewKeyBox created={created} onDone={() => setCreated(null)} /> : null}
      <CreateKeyForm
        disabled={testMode}
        onCreated={(key) => {
          setRevoked(null);
          setCreated(key);
          keys.reload();
        }}
      />
      <h3 class="keys-subheading">Keys of this account</h3>
      {revoked !== null ? <Notice kind="success">{revoked}</Notice> : null}
      <ErrorNotice error={revokeError} />
      {keys.error !== null ? (
        <div class="stack">
          <ErrorNotice error={keys.error} />
          <button type="button" class="button-secondary" onClick={keys.reload}>
            Try again
          </button>
        </div>
      ) : null}
      {keys.data === null ? (
        keys.loading ? <Loading label="Loading keys…" /> : null
      ) : keys.data.length === 0 ? (
        <p class="muted">This account has no keys yet. Make one above.</p>
      ) : (
        <KeysTable keys={keys.data} testMode={testMode} onRevoked={onRevoked} onError={setRevokeError} />
      )}
    </div>
  );
}

function describeKey(key: Pick<OwnKey, "name" | "prefix">): string {
  return key.name === null ? `${key.prefix}…` : `“${key.name}” (${key.prefix}…)`;
}

function NewKeyBox({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => box.current?.focus(), [created.id]);
  return (
    <div class="new-key" ref={box} tabIndex={-1} role="region" aria-labelledby="new-key-heading">
      <h3 id="new-key-heading">{created.name === null ? "Your new key" : `Your new key “${created.name}”`}</h3>
      <p class="new-key-warning">
        <strong>Copy it now: it will not be shown again.</strong> Only its prefix is kept; if you lose it, make another key and revoke this
        one.
      </p>
      <div class="new-key-value">
        <code class="mono" data-testid="new-key">
          {created.key}
        </code>
        <CopyButton text={created.key} label="Copy key" />
      </div>
      <button type="button" class="button-link" onClick={onDone}>
        I have saved it: hide the key
      </button>
    </div>
  );
}

function CreateKeyForm({ disabled, onCreated }: { disabled: boolean; onCreated: (key: CreatedKey) => void }) {
  const [name, setName] = useState("");
  const [mode, setMode] = useState<"live" | "test">("live");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const given = name.trim();
      const key = await api<CreatedKey>("POST", "/api/v1/keys", { body: given === "" ? { mode } : { mode, name: given } });
      setName("");
      setMode("live");
      onCreated(key);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const nameError = errorAbout(error, "name");
  const modeError = errorAbout(error, "mode");
  const otherError = error !== null && nameError === null && modeError === null ? error : null;
  return (
    <form class="create-key" onSubmit={(event) => void submit(event)} noValidate aria-labelledby="create-key-heading">
      <h3 id="create-key-heading" class="keys-subheading">
        Make a key
      </h3>
      <fieldset disabled={disabled || busy}>
        <legend class="visually-hidden">New key</legend>
        <div class="row create-key-fields">
          <Field label="Key name" error={nameError} hint="What the key is for, such as ci or staging (optional, up to 64 characters).">
            {(id, describedBy) => (
              <input
                id={id}
                name="name"
                type="text"
                maxLength={64}
                autoComplete="off"
                value={name}
                onInput={(event) => setName(event.currentTarget.value)}
                aria-describedby={describedBy}
                aria-invalid={nameError !== null}
              />
            )}
          </Field>
          <Field label="Mode" error={modeError} hint={mode === "live" ? "Real images; tasks use credits." : "Sandbox images; tasks are free."}>
            {(id, describedBy) => (
              <select
                id={id}
                name="mode"
                value={mode}
                onChange={(event) => setMode(event.currentTarget.value === "test" ? "test" : "live")}
                aria-describedby={describedBy}
                aria-invalid={modeError !== null}
              >
                <option value="live">Live</option>
                <option value="test">Test</option>
              </select>
            )}
          </Field>
          <div class="create-key-submit">
            <button type="submit" class="button-primary">
              {busy ? "Making…" : "Make key"}
            </button>
          </div>
        </div>
      </fieldset>
      {disabled ? <p class="muted small">A test-mode key cannot make keys: sign in with a live key to make one.</p> : null}
      <ErrorNotice error={otherError} />
    </form>
  );
}

function KeysTable(props: { keys: OwnKey[]; testMode: boolean; onRevoked: (key: OwnKey) => void; onError: (error: unknown) => void }) {
  return (
    <div class="table-wrap">
      <table class="keys-table">
        <caption class="visually-hidden">The account's API keys, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Mode</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.keys.map((key) => (
            <KeyRow key={key.id} item={key} testMode={props.testMode} onRevoked={props.onRevoked} onError={props.onError} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function When({ at }: { at: number | null }) {
  if (at === null) return <span class="muted">never</span>;
  return (
    <time dateTime={new Date(at).toISOString()} title={formatTime(at)}>
      {formatAgo(at)}
    </time>
  );
}

function KeyRow(props: { item: OwnKey; testMode: boolean; onRevoked: (key: OwnKey) => void; onError: (error: unknown) => void }) {
  const { item } = props;
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const revokeButton = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);
  useEffect(() => {
    if (confirming) cancelButton.current?.focus();
    else if (wasConfirming.current) revokeButton.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const revoke = async () => {
    setBusy(true);
    try {
      const answer = await api<OwnKey>("POST", `/api/v1/keys/${encodeURIComponent(item.id)}/revoke`);
      setConfirming(false);
      props.onRevoked(answer);
    } catch (caught) {
      setConfirming(false);
      props.onError(caught);
    } finally {
      setBusy(false);
    }
  };

  const label = item.name ?? "unnamed key";
  return (
    <tr class={item.revokedAt !== null ? "key-revoked" : undefined} data-key-id={item.id}>
      <td>
        <span class={item.name === null ? "muted" : "key-name"}>{item.name ?? "Unnamed"}</span>
        {item.current ? <span class="badge badge-current">this key</span> : null}
      </td>
      <td>
        <code class="mono key-prefix">{item.prefix}…</code>
      </td>
      <td>{item.mode === "test" ? <span class="badge badge-test">test</span> : <span class="key-mode">live</span>}</td>
      <td>
        <When at={item.createdAt} />
      </td>
      <td>
        <When at={item.lastUsedAt} />
      </td>
      <td>
        {item.revokedAt === null ? (
          <span class="badge badge-success">active</span>
        ) : (
          <span class="key-state-revoked">
            revoked <When at={item.revokedAt} />
          </span>
        )}
      </td>
      <td class="key-actions">
        {item.revokedAt !== null ? null : confirming ? (
          <div class="inline-confirm" role="group" aria-label={`Confirm revoking ${label}`}>
            <span class="inline-confirm-question">
              {item.current ? (
                <>
                  <strong>This is the key you are signed in with.</strong> Revoking it signs you out. Revoke?
                </>
              ) : (
                "Revoke? Requests with it will fail."
              )}
            </span>
            <span class="inline-confirm-buttons">
              <button type="button" class="button-danger" disabled={busy} onClick={() => void revoke()}>
                {busy ? "Revoking…" : "Yes, revoke"}
              </button>
              <button type="button" class="button-secondary" ref={cancelButton} disabled={busy} onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </span>
          </div>
        ) : (
          <button
            type="button"
            class="button-danger"
            ref={revokeButton}
            disabled={props.testMode}
            title={props.testMode ? "A test-mode key cannot revoke keys" : undefined}
            aria-label={`Revoke ${label} (${item.prefix}…)`}
            onClick={() => setConfirming(true)}
          >
            Revoke
          </button>
        )}
      </td>
    </tr>
  );
}

function WebhookSecretCard({ testMode }: { testMode: boolean }) {
  const secret = useLoad((signal) => api<{ secret: string }>("GET", "/api/v1/webhook-secret", { signal }), []);
  const [shown, setShown] = useState<string | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [rotateError, setRotateError] = useState<unknown>(null);
  const [rotated, setRotated] = useState(false);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const rotateButton = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);
  useEffect(() => {
    if (confirming) cancelButton.current?.focus();
    else if (wasConfirming.current) rotateButton.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const value = shown ?? secret.data?.secret ?? null;
  const forbidden = secret.error instanceof ApiError && secret.error.status === 403;

  const rotate = async () => {
    setBusy(true);
    setRotateError(null);
    try {
      const answer = await api<{ secret: string }>("POST", "/api/v1/webhook-secret/rotate");
      setShown(answer.secret);
      setRevealed(true);
      setRotated(true);
    } catch (caught) {
      setRotateError(caught);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  return (
    <div class="card" role="region" aria-labelledby="webhook-heading">
      <h2 id="webhook-heading">Webhook secret</h2>
      <p class="muted small">
        Callbacks to a task's <code>callBackUrl</code> are signed with this secret, the{" "}
        <a href="https://www.standardwebhooks.com/" target="_blank" rel="noopener noreferrer">
          Standard Webhooks
        </a>{" "}
        way: <code>webhook-signature</code> is <code>v1,</code> + base64 HMAC-SHA256 of <code>webhook-id.webhook-timestamp.body</code>, keyed
        with the base64-decoded bytes after <code>whsec_</code>. Verify the raw body and reject old timestamps.
      </p>
      {forbidden ? (
        <Notice kind="info">{(secret.error as ApiError).message}</Notice>
      ) : secret.error !== null ? (
        <div class="stack">
          <ErrorNotice error={secret.error} />
          <button type="button" class="button-secondary" onClick={secret.reload}>
            Try again
          </button>
        </div>
      ) : null}
      {rotated ? (
        <Notice kind="success">The secret is rotated. Callbacks from now on are signed with the new secret below: update your receiver now.</Notice>
      ) : null}
      <ErrorNotice error={rotateError} />
      {value === null && secret.loading ? <Loading label="Loading the secret…" /> : null}
      <div class="secret-row">
        <span class="label">Secret</span>
        <code class="mono secret-value" data-testid="webhook-secret">
          {value === null ? (
            <span class="muted">{testMode || forbidden ? "hidden from test-mode keys" : "—"}</span>
          ) : revealed ? (
            value
          ) : (
            <>
              <span aria-hidden="true">whsec_••••••••••••••••••••</span>
              <span class="visually-hidden">hidden; use Reveal to show it</span>
            </>
          )}
        </code>
        <div class="secret-actions">
          <button type="button" class="button-secondary" disabled={value === null} aria-pressed={revealed} onClick={() => setRevealed(!revealed)}>
            {revealed ? "Hide" : "Reveal"}
          </button>
          {value !== null ? <CopyButton text={value} label="Copy secret" /> : null}
          {!confirming ? (
            <button
              type="button"
              class="button-danger"
              ref={rotateButton}
              disabled={testMode || forbidden || value === null}
              onClick={() => setConfirming(true)}
            >
              Rotate…
            </button>
          ) : null}
        </div>
      </div>
      {confirming ? (
        <div class="rotate-confirm" role="group" aria-labelledby="rotate-question">
          <p id="rotate-question">
            <strong>Rotate the webhook secret?</strong> Every callback from now on, retries and redeliveries of earlier tasks included, is
            signed with the new secret only: your receiver rejects them until it has the new one.
          </p>
          <div class="row">
            <button type="button" class="button-danger" disabled={busy} onClick={() => void rotate()}>
              {busy ? "Rotating…" : "Yes, rotate"}
            </button>
            <button type="button" class="button-secondary" ref={cancelButton} disabled={busy} onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
