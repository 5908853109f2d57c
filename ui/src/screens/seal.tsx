// Before anyone can log in: initialise a new server (the keys are shown once), or unseal it
// with a threshold of key shares.

import { useState } from "preact/hooks";
import { callData } from "../api";
import { ErrorBanner } from "../components";
import type { InitAnswer, SealStatus } from "../types";

/** Whether the server keeps its root key with a seal (an HSM) and hands out recovery keys. */
function autoSealed(status: SealStatus): boolean {
  return status.recovery_seal === true || status.type !== "shamir";
}

export function Init({ status, onDone }: { status: SealStatus; onDone: () => void }) {
  const recovery = autoSealed(status);
  const [shares, setShares] = useState(5);
  const [threshold, setThreshold] = useState(3);
  const [answer, setAnswer] = useState<InitAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body = recovery
      ? { recovery_shares: shares, recovery_threshold: threshold }
      : { secret_shares: shares, secret_threshold: threshold };
    try {
      setAnswer(await callData<InitAnswer>("PUT", "sys/init", body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (answer) return <InitKeys answer={answer} recovery={recovery} onDone={onDone} />;
  const kind = recovery ? "recovery" : "unseal";
  return (
    <main class="narrow">
      <h1>Initialise Coffer</h1>
      <p>
        This server has not been initialised. {recovery
          ? `Its root key will be protected by the ${status.type} seal; you get recovery keys for operations that need a quorum of operators.`
          : "Its root key will be split into unseal keys; a threshold of them opens the server after every restart."}
      </p>
      <form onSubmit={submit} id="init-form">
        <label>
          Key shares ({kind} keys to make)
          <input type="number" name="shares" min={1} max={255} value={shares}
            onInput={(e) => setShares(Number(e.currentTarget.value))} />
        </label>
        <label>
          Key threshold ({kind} keys needed)
          <input type="number" name="threshold" min={1} max={255} value={threshold}
            onInput={(e) => setThreshold(Number(e.currentTarget.value))} />
        </label>
        <ErrorBanner error={error} />
        <button type="submit" disabled={busy}>Initialise</button>
      </form>
    </main>
  );
}

function InitKeys({ answer, recovery, onDone }: { answer: InitAnswer; recovery: boolean; onDone: () => void }) {
  const keys = (recovery ? answer.recovery_keys_base64 : answer.keys_base64) ?? [];
  const download = () => {
    const blob = new Blob([JSON.stringify(answer, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = "coffer-init.json";
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <main class="narrow">
      <h1>Keep these keys</h1>
      <p class="warning">
        They are shown this once and Coffer does not keep them. Hand each {recovery ? "recovery" : "unseal"} key
        to a different person, and store the root token safely (revoke it once you have other ways in).
      </p>
      <ol id="init-keys">
        {keys.map((k) => (
          <li><code>{k}</code></li>
        ))}
      </ol>
      <p>
        Initial root token: <code id="root-token">{answer.root_token}</code>
      </p>
      <button type="button" onClick={download}>Download keys (JSON)</button>{" "}
      <button type="button" id="init-continue" onClick={onDone}>Continue</button>
    </main>
  );
}

export function Unseal({ status, onChange }: { status: SealStatus; onChange: (s: SealStatus) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const send = async (body: Record<string, unknown>) => {
    setError(null);
    try {
      onChange(await callData<SealStatus>("PUT", "sys/unseal", body));
      setKey("");
    } catch (err) {
      setError(err);
    }
  };
  if (autoSealed(status)) {
    return (
      <main class="narrow">
        <h1>Sealed</h1>
        <p>
          This server unseals itself through its {status.type} seal and has not managed to yet. Its log says why
          (for an HSM: the module, the token, the PIN, the key label).
        </p>
      </main>
    );
  }
  return (
    <main class="narrow">
      <h1>Unseal Coffer</h1>
      <p>
        The server is sealed. Enter {status.t} of the {status.n} unseal keys, one at a time.
      </p>
      <p id="unseal-progress">
        Keys given: {status.progress}/{status.t}
      </p>
      <form id="unseal-form" onSubmit={(e) => { e.preventDefault(); void send({ key }); }}>
        <label>
          Unseal key
          <input type="password" name="key" autocomplete="off" value={key}
            onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
        <ErrorBanner error={error} />
        <button type="submit">Unseal</button>{" "}
        <button type="button" class="secondary" onClick={() => void send({ reset: true })}>Start over</button>
      </form>
    </main>
  );
}
