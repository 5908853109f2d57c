// The login session: the token lives in sessionStorage (gone when the tab closes, never in a
// URL or a cookie) and is removed on logout.

const KEY = "coffer.token";

/** Listeners told when the session starts or ends. */
const listeners = new Set<() => void>();

export function currentToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function startSession(token: string): void {
  sessionStorage.setItem(KEY, token);
  listeners.forEach((l) => l());
}

/** Ends the session; `reason` is shown on the login screen. */
export function endSession(reason?: string): void {
  sessionStorage.removeItem(KEY);
  lastReason = reason ?? null;
  listeners.forEach((l) => l());
}

let lastReason: string | null = null;

/** Why the last session ended, once. */
export function takeEndReason(): string | null {
  const r = lastReason;
  lastReason = null;
  return r;
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
