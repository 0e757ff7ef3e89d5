// Who is signed in, kept in this tab's session storage only: never in a URL, a cookie or the
// local storage that other tabs and later visits would share.

export type Session =
  | { kind: "account"; key: string; mode: "live" | "test" }
  | { kind: "admin"; key: string };

const STORAGE_KEY = "imagegate.session";

export function loadSession(): Session | null {
  try {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored === null) return null;
    const session = JSON.parse(stored) as Session;
    return typeof session.key === "string" && (session.kind === "account" || session.kind === "admin") ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** An account key's mode from its prefix (ig_live_... or ig_test_...); null when it is not one. */
export function accountKeyMode(key: string): "live" | "test" | null {
  if (key.startsWith("ig_live_")) return "live";
  if (key.startsWith("ig_test_")) return "test";
  return null;
}
