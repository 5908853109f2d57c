// Secrets engines: what is mounted where, with the HSM-related settings (Seal Wrap, External
// Entropy Access) in plain sight; enabling (seed 004's "Seal wrap" tick box) and disabling.

import { useEffect, useState } from "preact/hooks";
import { ApiError, call, callData, seg } from "../api";
import { ErrorBanner, Loading, Section } from "../components";
import { navigate } from "../router";
import type { Envelope, Mount } from "../types";

export function Engines() {
  const [mounts, setMounts] = useState<[string, Mount][] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [partial, setPartial] = useState(false);

  const load = async () => {
    setError(null);
    let found: Record<string, Mount>;
    try {
      found = (await callData<Envelope<Record<string, Mount>>>("GET", "sys/mounts")).data;
      setPartial(false);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 403)) {
        setError(err);
        return;
      }
      // Not allowed to list every engine: show the ones this token may use, and why.
      setError(err);
      try {
        found = (await callData<Envelope<{ secret: Record<string, Mount> }>>("GET", "sys/internal/ui/mounts")).data.secret;
        setPartial(true);
      } catch {
        return;
      }
    }
    setMounts(Object.entries(found).sort(([a], [b]) => a.localeCompare(b)));
  };
  useEffect(() => void load(), []);

  const disable = async (path: string) => {
    if (!window.confirm(`Disable the secrets engine at ${path}? Every secret stored in it is deleted.`)) return;
    setError(null);
    try {
      await call("DELETE", `sys/mounts/${seg(path.replace(/\/$/, ""))}`);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <main>
      <h1>Secrets engines</h1>
      <ErrorBanner error={error} />
      {partial && (
        <p class="muted" id="mounts-partial">
          Your policies do not allow listing every secrets engine (sys/mounts); these are the ones your token can use.
        </p>
      )}
      {mounts === null && error === null ? (
        <Loading />
      ) : (
        <table id="mounts">
          <thead>
            <tr>
              <th>Path</th><th>Type</th><th>Version</th><th>Seal Wrap</th><th>External Entropy Access</th>
              <th>Description</th><th />
            </tr>
          </thead>
          <tbody>
            {(mounts ?? []).map(([path, m]) => (
              <tr data-mount={path}>
                <td>
                  {m.type === "kv" || m.type === "transit" ? (
                    <a href={m.type === "kv" ? `#/secrets/${encodeURIComponent(path.replace(/\/$/, ""))}` : `#/transit/${encodeURIComponent(path.replace(/\/$/, ""))}`}>{path}</a>
                  ) : (
                    path
                  )}
                </td>
                <td>{m.type}</td>
                <td>{m.options?.version ?? ""}</td>
                <td data-col="seal_wrap">{String(m.seal_wrap)}</td>
                <td data-col="external_entropy_access">{String(m.external_entropy_access)}</td>
                <td>{m.description}</td>
                <td>
                  {!["sys/", "cubbyhole/", "identity/"].includes(path) && (
                    <button type="button" class="small danger" onClick={() => void disable(path)}>Disable</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <EnableForm onEnabled={load} />
    </main>
  );
}

function EnableForm({ onEnabled }: { onEnabled: () => Promise<void> }) {
  const [type, setType] = useState("kv");
  const [path, setPath] = useState("");
  const [version, setVersion] = useState("2");
  const [sealWrap, setSealWrap] = useState(false);
  const [entropy, setEntropy] = useState(false);
  const [description, setDescription] = useState("");
  const [maxTtl, setMaxTtl] = useState("");
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const mountPath = (path.trim() || type).replace(/^\/+|\/+$/g, "");
    const body: Record<string, unknown> = {
      type,
      description,
      seal_wrap: sealWrap,
      external_entropy_access: entropy,
    };
    if (type === "kv") body.options = { version };
    if (maxTtl.trim() !== "") body.config = { max_lease_ttl: maxTtl.trim() };
    try {
      await call("POST", `sys/mounts/${seg(mountPath)}`, body);
      setPath("");
      setDescription("");
      setMaxTtl("");
      await onEnabled();
      if (type === "kv") navigate("secrets", mountPath);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Section title="Enable a secrets engine">
      <form id="enable-form" onSubmit={submit}>
        <label>
          Type
          <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="kv">KV</option>
            <option value="transit">Transit</option>
          </select>
        </label>
        <label>
          Path
          <input name="path" placeholder={type} value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        </label>
        {type === "kv" && (
          <label>
            KV version
            <select name="version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
              <option value="2">2 (versioned)</option>
              <option value="1">1</option>
            </select>
          </label>
        )}
        <label class="check">
          <input type="checkbox" name="seal_wrap" checked={sealWrap} onChange={(e) => setSealWrap(e.currentTarget.checked)} />
          Seal wrap (every value also encrypted by the HSM seal)
        </label>
        <label class="check">
          <input type="checkbox" name="external_entropy_access" checked={entropy}
            onChange={(e) => setEntropy(e.currentTarget.checked)} />
          External entropy access (keys drawn from the HSM's random number generator)
        </label>
        <label>
          Description
          <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <label>
          Max lease TTL (e.g. 768h; empty for the system default)
          <input name="max_lease_ttl" value={maxTtl} onInput={(e) => setMaxTtl(e.currentTarget.value)} />
        </label>
        <ErrorBanner error={error} />
        <button type="submit">Enable engine</button>
      </form>
    </Section>
  );
}
