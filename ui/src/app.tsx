// The whole UI: what the server's seal state allows (initialise, unseal, sign in), then the
// screens of a signed-in operator. A call refused because the token died ends the session
// with the reason.

import { useEffect, useState } from "preact/hooks";
import { ApiError, call, callData } from "./api";
import { ErrorBanner, Loading } from "./components";
import { useRoute } from "./router";
import { Engines } from "./screens/engines";
import { KvBrowser } from "./screens/kv";
import { Login } from "./screens/login";
import { Policies } from "./screens/policies";
import { Init, Unseal } from "./screens/seal";
import { Status } from "./screens/status";
import { Transit } from "./screens/transit";
import { currentToken, endSession, onSessionChange, takeEndReason, tokenWasMinted } from "./session";
import type { SealStatus } from "./types";

export function App() {
  const [status, setStatus] = useState<SealStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [token, setToken] = useState(currentToken());
  const [reason, setReason] = useState<string | null>(null);

  const refresh = async () => {
    try {
      setStatus(await callData<SealStatus>("GET", "sys/seal-status"));
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    void refresh();
    // A server sealed meanwhile, or unsealed by its HSM, shows the right screen within 5 s.
    const timer = setInterval(() => void refresh(), 5_000);
    const unsubscribe = onSessionChange(() => {
      setToken(currentToken());
      setReason(takeEndReason());
    });
    return () => {
      clearInterval(timer);
      unsubscribe();
    };
  }, []);

  if (status === null) return <main class="narrow">{error ? <ErrorBanner error={error} /> : <Loading />}</main>;
  if (!status.initialized) return <Init status={status} onDone={refresh} />;
  if (status.sealed) return <Unseal status={status} onChange={setStatus} />;
  if (!token) return <Login reason={reason} />;
  return <Shell />;
}

function Shell() {
  const route = useRoute();
  useTokenWatch();
  const [screen, ...rest] = route;
  let body;
  switch (screen) {
    case "secrets":
      body =
        rest.length === 0 ? <Engines /> : <KvBrowser key={rest.join("/")} mount={rest[0]} path={rest.slice(1).join("/")} />;
      break;
    case "transit":
      body = rest.length === 0 ? <Engines /> : <Transit key={rest.join("/")} mount={rest[0]} name={rest[1] ?? null} />;
      break;
    case "policies":
      body = <Policies key={rest.join("/")} name={rest[0] ?? null} />;
      break;
    case "status":
      body = <Status />;
      break;
    default:
      body = <Engines />;
  }
  return (
    <>
      <header>
        <span class="brand">Coffer</span>
        <nav>
          <a href="#/secrets">Secrets engines</a>
          <a href="#/policies">Policies</a>
          <a href="#/status">Status</a>
        </nav>
        <button type="button" class="secondary" id="logout" onClick={() => void signOut()}>Sign out</button>
      </header>
      {body}
    </>
  );
}

/** Forgets the token; one the UI made by logging in is revoked first. */
async function signOut() {
  if (tokenWasMinted()) {
    try {
      await call("POST", "auth/token/revoke-self");
    } catch {
      // Signed out all the same; the token runs out at its TTL.
    }
  }
  endSession();
}

/** Checks the token every half minute: one that expired or was revoked ends the session. */
function useTokenWatch() {
  useEffect(() => {
    const check = async () => {
      try {
        await callData("GET", "auth/token/lookup-self");
      } catch (err) {
        if (err instanceof ApiError && err.status === 403) {
          endSession(`Your session ended: the token is no longer valid (${err.message}). Sign in again.`);
        }
      }
    };
    void check();
    const timer = setInterval(check, 30_000);
    return () => clearInterval(timer);
  }, []);
}
