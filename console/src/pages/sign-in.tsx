import { useState } from "preact/hooks";
import { api, ApiError } from "../api.ts";
import { Field, Notice } from "../components/ui.tsx";
import { accountKeyMode, type Session } from "../session.ts";

/**
 * One field for either key: an account key (ig_live_... or ig_test_...) opens the account's pages,
 * anything else is tried as the admin key. The key is checked with the server before it is kept.
 */
export function SignInPage({ onSignIn, reason }: { onSignIn: (session: Session) => void; reason: string | null }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const given = key.trim();
    if (given === "") {
      setError("Paste an API key (ig_live_... or ig_test_...) or the admin key.");
      return;
    }
    setChecking(true);
    setError(null);
    const mode = accountKeyMode(given);
    try {
      if (mode !== null) {
        await api<number>("GET", "/api/v1/chat/credit", { key: given });
        onSignIn({ kind: "account", key: given, mode });
      } else {
        await api<unknown>("GET", "/admin/v1/accounts?limit=1", { key: given });
        onSignIn({ kind: "admin", key: given });
      }
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 401
          ? mode !== null
            ? "This API key is unknown or revoked."
            : "This is neither an API key (ig_live_... or ig_test_...) nor the server's admin key."
          : caught instanceof ApiError && caught.status === 404 && mode === null
            ? "The admin API is off on this server: set ADMIN_API_KEY to use the admin view."
            : caught instanceof Error
              ? caught.message
              : String(caught),
      );
    } finally {
      setChecking(false);
    }
  };

  return (
    <main id="main" class="sign-in">
      <div class="sign-in-card">
        <p class="brand brand-large">
          <span class="brand-mark" aria-hidden="true" />
          imagegate
        </p>
        <h1>Sign in to the console</h1>
        {reason !== null ? <Notice kind="error">{reason}</Notice> : null}
        <form onSubmit={submit} noValidate>
          <Field
            label="API key or admin key"
            error={error}
            hint={
              <>
                The first start of the server printed a key for the <code>demo</code> account. The key stays in this tab only and is
                forgotten when the tab closes.
              </>
            }
          >
            {(id, describedBy) => (
              <input
                id={id}
                name="key"
                type="password"
                autoComplete="off"
                spellcheck={false}
                value={key}
                onInput={(event) => setKey(event.currentTarget.value)}
                aria-describedby={describedBy}
                aria-invalid={error !== null}
                required
              />
            )}
          </Field>
          <button type="submit" class="button-primary" disabled={checking}>
            {checking ? "Checking…" : "Sign in"}
          </button>
        </form>
        <p class="sign-in-footer">
          New here? The API is documented at <a href="/docs">/docs</a>.
        </p>
      </div>
    </main>
  );
}
