// The console: sign in with an API key (an account's pages) or the admin key (the operator's),
// then pages chosen by the URL's fragment.
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useMemo, useState } from "preact/hooks";
import { api, useKey, whenUnauthorized } from "./api.ts";
import { formatCredits } from "./format.ts";
import { AdminAccountPage, AdminAccountsPage } from "./pages/admin-accounts.tsx";
import { AdminCallbacksPage } from "./pages/admin-callbacks.tsx";
import { AdminUpstreamsPage } from "./pages/admin-upstreams.tsx";
import { AdminUsagePage } from "./pages/admin-usage.tsx";
import { HistoryPage } from "./pages/history.tsx";
import { KeysPage } from "./pages/keys.tsx";
import { NotFoundPage } from "./pages/placeholder.tsx";
import { PlaygroundPage } from "./pages/playground.tsx";
import { SignInPage } from "./pages/sign-in.tsx";
import { TaskPage } from "./pages/task.tsx";
import { UsagePage } from "./pages/usage.tsx";
import { href, type Route, useRoute } from "./router.ts";
import { clearSession, loadSession, type Session, saveSession } from "./session.ts";

interface AccountState {
  session: Extract<Session, { kind: "account" }>;
  /** The balance as last read; null until then. */
  credits: number | null;
  /** Reads the balance again (after a task, a grant). */
  refreshCredits: () => void;
}

const AccountContext = createContext<AccountState | null>(null);

/** The signed-in account's session and balance; only under an account's pages. */
export function useAccount(): AccountState {
  const account = useContext(AccountContext);
  if (account === null) throw new Error("useAccount outside an account's pages");
  return account;
}

interface NavItem {
  path: string;
  label: string;
}

const ACCOUNT_NAV: NavItem[] = [
  { path: "/playground", label: "Playground" },
  { path: "/history", label: "History" },
  { path: "/keys", label: "Keys & webhooks" },
  { path: "/usage", label: "Usage" },
];

const ADMIN_NAV: NavItem[] = [
  { path: "/admin/accounts", label: "Accounts" },
  { path: "/admin/usage", label: "Usage" },
  { path: "/admin/callbacks", label: "Callbacks" },
  { path: "/admin/upstreams", label: "Upstreams" },
];

function accountPage(route: Route) {
  const [first = "playground", second] = route.parts;
  if (first === "playground") return <PlaygroundPage />;
  if (first === "history") return <HistoryPage route={route} />;
  if (first === "tasks" && second !== undefined) return <TaskPage taskId={second} />;
  if (first === "keys") return <KeysPage />;
  if (first === "usage") return <UsagePage />;
  return <NotFoundPage path={route.path} />;
}

function adminPage(route: Route) {
  const [first, second = "accounts", third] = route.parts;
  if (first !== "admin") return <AdminAccountsPage />;
  if (second === "accounts" && third !== undefined) return <AdminAccountPage account={third} />;
  if (second === "accounts") return <AdminAccountsPage />;
  if (second === "usage") return <AdminUsagePage />;
  if (second === "callbacks") return <AdminCallbacksPage route={route} />;
  if (second === "upstreams") return <AdminUpstreamsPage />;
  return <NotFoundPage path={route.path} />;
}

export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const stored = loadSession();
    useKey(stored?.key ?? null);
    return stored;
  });
  const [signedOutBecause, setSignedOutBecause] = useState<string | null>(null);
  const route = useRoute();

  const signOut = useCallback((reason: string | null = null) => {
    clearSession();
    useKey(null);
    setSession(null);
    setSignedOutBecause(reason);
  }, []);
  const signIn = useCallback((next: Session) => {
    saveSession(next);
    useKey(next.key);
    setSignedOutBecause(null);
    setSession(next);
  }, []);
  useEffect(() => whenUnauthorized((message) => signOut(`Signed out: ${message}`)), [signOut]);

  // Each page's heading gets the focus when the page changes, so a screen reader announces it.
  useEffect(() => {
    document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
  }, [route.path]);

  if (session === null) return <SignInPage onSignIn={signIn} reason={signedOutBecause} />;
  return session.kind === "admin" ? (
    <Shell nav={ADMIN_NAV} route={route} badge={<span class="badge badge-admin">admin</span>} onSignOut={() => signOut()}>
      {adminPage(route)}
    </Shell>
  ) : (
    <AccountShell session={session} route={route} onSignOut={() => signOut()} />
  );
}

function AccountShell({ session, route, onSignOut }: { session: AccountState["session"]; route: Route; onSignOut: () => void }) {
  const [credits, setCredits] = useState<number | null>(null);
  const refreshCredits = useCallback(() => {
    api<number>("GET", "/api/v1/chat/credit").then(setCredits, () => {});
  }, []);
  useEffect(refreshCredits, [refreshCredits]);
  const account = useMemo(() => ({ session, credits, refreshCredits }), [session, credits, refreshCredits]);
  const badge = (
    <>
      {session.mode === "test" ? (
        <span class="badge badge-test" title="Test-mode key: tasks are free and always use the sandbox images">
          test mode
        </span>
      ) : null}
      <span class="credits" aria-label={`Balance: ${formatCredits(credits)}`}>
        {formatCredits(credits)}
      </span>
    </>
  );
  return (
    <AccountContext.Provider value={account}>
      <Shell nav={ACCOUNT_NAV} route={route} badge={badge} onSignOut={onSignOut}>
        {accountPage(route)}
      </Shell>
    </AccountContext.Provider>
  );
}

function Shell(props: { nav: NavItem[]; route: Route; badge: preact.ComponentChildren; onSignOut: () => void; children: preact.ComponentChildren }) {
  const current = `/${props.route.parts.slice(0, props.nav[0]?.path.startsWith("/admin") ? 2 : 1).join("/")}`;
  const active = (item: NavItem) => current === item.path || (item.path === "/history" && current === "/tasks") || (current === "/" && item === props.nav[0]) || (current === "/admin" && item === props.nav[0]);
  return (
    <>
      <a class="skip-link" href="#main" onClick={(event) => { event.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href(props.nav[0]?.path ?? "/")}>
          <span class="brand-mark" aria-hidden="true" />
          imagegate
        </a>
        <nav aria-label="Console">
          <ul>
            {props.nav.map((item) => (
              <li key={item.path}>
                <a href={href(item.path)} aria-current={active(item) ? "page" : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="topbar-end">
          {props.badge}
          <a class="docs-link" href="/docs" target="_blank" rel="noopener">
            API docs
          </a>
          <button type="button" class="button-secondary" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
