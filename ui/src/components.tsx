// Small pieces every screen uses: the error banner, a masked secret value, a loading line.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "./api";

/** The server's error text, as it said it (permission denied, sealed, CKR_* from the HSM). */
export function ErrorBanner({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const messages = error instanceof ApiError ? error.errors : [];
  const status = error instanceof ApiError && error.status > 0 ? ` (HTTP ${error.status})` : "";
  return (
    <div class="error" role="alert">
      <strong>Error{status}</strong>
      {messages.length > 0 ? (
        <ul>
          {messages.map((m) => (
            <li>{m}</li>
          ))}
        </ul>
      ) : (
        <p>{error instanceof Error ? error.message : String(error)}</p>
      )}
    </div>
  );
}

/** A secret value, hidden until revealed, with a copy button. */
export function Masked({ value, name }: { value: string; name: string }) {
  const [shown, setShown] = useState(false);
  const [copied, setCopied] = useState(false);
  const [copyError, setCopyError] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch (e) {
      // Browsers allow the clipboard only over HTTPS or on localhost.
      setCopyError(`copy failed: ${String(e)}`);
    }
  };
  return (
    <span class="masked">
      <code data-secret={name}>{shown ? value : "••••••••"}</code>
      <button type="button" class="small" onClick={() => setShown(!shown)} aria-label={`reveal ${name}`}>
        {shown ? "Hide" : "Reveal"}
      </button>
      <button type="button" class="small" onClick={copy} aria-label={`copy ${name}`}>
        {copied ? "Copied" : "Copy"}
      </button>
      {copyError && <span class="muted"> {copyError}</span>}
    </span>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Loading() {
  return <p class="muted">Loading…</p>;
}
