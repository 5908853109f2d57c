// Logging in: with a token (checked with lookup-self), or a userpass username and password.

import { useState } from "preact/hooks";
import { ApiError, callData, seg } from "../api";
import { ErrorBanner } from "../components";
import { startSession } from "../session";
import type { AuthAnswer } from "../types";

type Method = "token" | "userpass";

export function Login({ reason }: { reason: string | null }) {
  const [method, setMethod] = useState<Method>("token");
  const [token, setToken] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [mount, setMount] = useState("userpass");
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      if (method === "token") {
        // Checked before it is kept: a wrong token fails here, not on the next screen.
        await checkToken(token.trim());
        startSession(token.trim());
      } else {
        const answer = await callData<AuthAnswer>("POST", `auth/${seg(mount)}/login/${seg(username)}`, { password });
        startSession(answer.auth.client_token, true);
      }
    } catch (err) {
      setError(err);
    }
  };

  return (
    <main class="narrow">
      <h1>Sign in to Coffer</h1>
      {reason && <p class="warning" id="login-reason">{reason}</p>}
      <form id="login-form" onSubmit={submit}>
        <label>
          Method
          <select name="method" value={method} onChange={(e) => setMethod(e.currentTarget.value as Method)}>
            <option value="token">Token</option>
            <option value="userpass">Username</option>
          </select>
        </label>
        {method === "token" ? (
          <label>
            Token
            <input type="password" name="token" autocomplete="off" value={token}
              onInput={(e) => setToken(e.currentTarget.value)} />
          </label>
        ) : (
          <>
            <label>
              Username
              <input name="username" autocomplete="username" value={username}
                onInput={(e) => setUsername(e.currentTarget.value)} />
            </label>
            <label>
              Password
              <input type="password" name="password" autocomplete="current-password" value={password}
                onInput={(e) => setPassword(e.currentTarget.value)} />
            </label>
            <label>
              Mount path
              <input name="mount" value={mount} onInput={(e) => setMount(e.currentTarget.value)} />
            </label>
          </>
        )}
        <ErrorBanner error={error} />
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

/** Whether `token` is valid: lookup-self answers for any live token, whatever its policies. */
async function checkToken(token: string): Promise<void> {
  const resp = await fetch("/v1/auth/token/lookup-self", {
    headers: { "X-Vault-Token": token },
    credentials: "omit",
    cache: "no-store",
  });
  if (!resp.ok) {
    const body = (await resp.json().catch(() => null)) as { errors?: string[] } | null;
    throw new ApiError(resp.status, body?.errors ?? []);
  }
}
