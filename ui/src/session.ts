// The login session: the token lives in sessionStorage (gone when the tab closes, never in a
// URL or a cookie) and is removed on logout.

const KEY = "coffer.token";
/** Set when the UI itself made the token (a userpass login): sign-out then revokes it. */
const MINTED = "coffer.token.minted";

/** Listeners told when the session starts or ends. */
const listeners = new Set<() => void>();

export function currentToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function startSession(token: string, minted = false): void {
  sessionStorage.setItem(KEY, token);
  if (minted) sessionStorage.setItem(MINTED, "1");
  else sessionStorage.removeItem(MINTED);
  listeners.forEach((l) => l());
}

/** Whether the UI made the current token by logging in (so it is the UI's to revoke). */
export function tokenWasMinted(): boolean {
  return sessionStorage.getItem(MINTED) === "1";
}

/** Ends the session; `reason` is shown on the login screen. */
export function endSession(reason?: string): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(MINTED);
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
