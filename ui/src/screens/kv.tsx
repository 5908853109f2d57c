// The KV browser: folders, secrets (values masked until revealed), create and update with
// key/value rows or JSON, and for KV v2 the versions with delete, undelete and destroy.

import { useEffect, useState } from "preact/hooks";
import { ApiError, call, callData, seg } from "../api";
import { ErrorBanner, Loading, Masked, Section } from "../components";
import { navigate } from "../router";
import type { Envelope, Mount } from "../types";


type Data = Record<string, unknown>;

interface VersionMeta {
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

/** `#/secrets/<mount>/<path>`: a folder when the path is empty or ends with a slash. */
export function KvBrowser({ mount, path }: { mount: string; path: string }) {
  const [version, setVersion] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    // The mount as the token may see it (sys/mounts would need a policy on sys/).
    callData<Envelope<Mount>>("GET", `sys/internal/ui/mounts/${seg(mount)}`)
      .then((answer) => {
        if (answer.data.type !== "kv") throw new Error(`no KV secrets engine is mounted at ${mount}/`);
        setVersion(answer.data.options?.version === "2" ? 2 : 1);
      })
      .catch(setError);
  }, [mount]);

  const crumbs = path.split("/").filter((p) => p !== "");
  return (
    <main>
      <nav class="crumbs" aria-label="path">
        <a href="#/secrets">Secrets engines</a> / <a href={`#/secrets/${encodeURIComponent(mount)}`}>{mount}</a>
        {crumbs.map((c, i) => {
          const upTo = crumbs.slice(0, i + 1).join("/") + (i < crumbs.length - 1 || path.endsWith("/") ? "/" : "");
          return (
            <>
              {" / "}
              <a href={`#/secrets/${encodeURIComponent(mount)}/${encodeURIComponent(upTo)}`}>{c}</a>
            </>
          );
        })}
      </nav>
      <ErrorBanner error={error} />
      {version === null ? (
        error === null && <Loading />
      ) : path === "" || path.endsWith("/") ? (
        <Folder mount={mount} path={path} version={version} />
      ) : (
        <Secret mount={mount} path={path} version={version} />
      )}
    </main>
  );
}

function Folder({ mount, path, version }: { mount: string; path: string; version: number }) {
  const [keys, setKeys] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setKeys(null);
    const listPath = version === 2 ? `${seg(mount)}/metadata/${seg(path)}` : `${seg(mount)}/${seg(path)}`;
    call<Envelope<{ keys: string[] }>>("LIST", listPath)
      .then((answer) => setKeys(answer?.data.keys ?? []))
      .catch((err) => (err instanceof ApiError && err.status === 404 ? setKeys([]) : setError(err)));
  }, [mount, path, version]);
  return (
    <>
      <h1>{mount}/{path}</h1>
      <ErrorBanner error={error} />
      {keys === null ? (
        error === null && <Loading />
      ) : keys.length === 0 ? (
        <p class="muted">No secrets here yet.</p>
      ) : (
        <ul class="keys" id="kv-keys">
          {keys.map((k) => (
            <li>
              <a href={`#/secrets/${encodeURIComponent(mount)}/${encodeURIComponent(path + k)}`}>{k}</a>
            </li>
          ))}
        </ul>
      )}
      <Section title="Create a secret">
        <Editor mount={mount} version={version} folder={path} initial={{}} />
      </Section>
    </>
  );
}

function dataPath(mount: string, path: string, version: number): string {
  return version === 2 ? `${seg(mount)}/data/${seg(path)}` : `${seg(mount)}/${seg(path)}`;
}

function Secret({ mount, path, version }: { mount: string; path: string; version: number }) {
  const [data, setData] = useState<Data | null>(null);
  const [current, setCurrent] = useState<number | null>(null);
  const [shownVersion, setShownVersion] = useState<number | null>(null);
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    setError(null);
    setData(null);
    const query = version === 2 && shownVersion !== null ? `?version=${shownVersion}` : "";
    callData<Envelope<Data>>("GET", dataPath(mount, path, version) + query)
      .then((answer) => {
        if (version === 2) {
          const inner = answer.data as { data: Data | null; metadata: { version: number } };
          setData(inner.data ?? {});
          setCurrent(inner.metadata?.version ?? null);
        } else {
          setData(answer.data);
        }
      })
      .catch(setError);
  }, [mount, path, version, shownVersion, reload]);

  return (
    <>
      <h1>
        {mount}/{path}
        {version === 2 && current !== null && <span class="muted"> version {current}</span>}
      </h1>
      <ErrorBanner error={error} />
      {data !== null &&
        (editing ? (
          <Editor mount={mount} version={version} folder={null} path={path} initial={data} cas={current ?? undefined}
            onSaved={() => { setEditing(false); setShownVersion(null); setReload(reload + 1); }} />
        ) : (
          <>
            <table id="kv-data">
              <thead><tr><th>Key</th><th>Value</th></tr></thead>
              <tbody>
                {Object.entries(data).map(([k, v]) => (
                  <tr data-key={k} key={`${shownVersion ?? "latest"}:${k}`}>
                    <td>{k}</td>
                    <td><Masked name={k} value={typeof v === "string" ? v : JSON.stringify(v)} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
            <button type="button" id="kv-edit" onClick={() => setEditing(true)}>Create new version</button>
          </>
        ))}
      {version === 2 && (
        <Versions mount={mount} path={path} reload={reload} onShow={setShownVersion}
          onChanged={() => setReload(reload + 1)} />
      )}
    </>
  );
}

function Versions({ mount, path, reload, onShow, onChanged }: {
  mount: string;
  path: string;
  reload: number;
  onShow: (v: number) => void;
  onChanged: () => void;
}) {
  const [versions, setVersions] = useState<[number, VersionMeta][]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    callData<Envelope<{ versions: Record<string, VersionMeta> }>>("GET", `${seg(mount)}/metadata/${seg(path)}`)
      .then((answer) =>
        setVersions(
          Object.entries(answer.data.versions)
            .map(([n, m]) => [Number(n), m] as [number, VersionMeta])
            .sort(([a], [b]) => b - a),
        ),
      )
      .catch(setError);
  }, [mount, path, reload]);

  const act = async (action: "delete" | "undelete" | "destroy", v: number) => {
    if (action === "destroy" && !window.confirm(`Destroy version ${v} for good? It cannot be undeleted.`)) return;
    setError(null);
    try {
      await call(action === "destroy" ? "PUT" : "POST", `${seg(mount)}/${action}/${seg(path)}`, { versions: [v] });
      onChanged();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Section title="Versions">
      <ErrorBanner error={error} />
      <table id="kv-versions">
        <thead><tr><th>Version</th><th>Created</th><th>State</th><th /></tr></thead>
        <tbody>
          {versions.map(([n, m]) => {
            const state = m.destroyed ? "destroyed" : m.deletion_time ? "deleted" : "live";
            return (
              <tr data-version={n}>
                <td>{n}</td>
                <td>{m.created_time}</td>
                <td>{state}</td>
                <td>
                  {state === "live" && <button type="button" class="small" onClick={() => onShow(n)}>View</button>}
                  {state === "live" && <button type="button" class="small" onClick={() => void act("delete", n)}>Delete</button>}
                  {state === "deleted" && <button type="button" class="small" onClick={() => void act("undelete", n)}>Undelete</button>}
                  {state !== "destroyed" && <button type="button" class="small danger" onClick={() => void act("destroy", n)}>Destroy</button>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Section>
  );
}

/**
 * Key/value rows, or the same data as JSON; saves a new secret (in `folder`) or a new version.
 * On KV v2 the write is check-and-set: a new secret only if none exists at that path, a new
 * version only on top of the version shown (`cas`), so nobody's newer write is overwritten.
 */
function Editor({ mount, version, folder, path, initial, cas, onSaved }: {
  mount: string;
  version: number;
  folder: string | null;
  path?: string;
  initial: Data;
  cas?: number;
  onSaved?: () => void;
}) {
  const asRows = (d: Data) => {
    const rows = Object.entries(d).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)] as [string, string]);
    return rows.length > 0 ? rows : [["", ""] as [string, string]];
  };
  const [name, setName] = useState("");
  const [rows, setRows] = useState<[string, string][]>(asRows(initial));
  // Values that are not strings (numbers, lists, objects) keep their type only as JSON.
  const [json, setJson] = useState<string | null>(
    Object.values(initial).some((v) => typeof v !== "string") ? JSON.stringify(initial, null, 2) : null,
  );
  const [error, setError] = useState<unknown>(null);

  const collect = (): Data => {
    if (json !== null) {
      const parsed: unknown = JSON.parse(json);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new Error("the JSON must be an object of keys and values");
      }
      return parsed as Data;
    }
    const out: Data = {};
    for (const [k, v] of rows) if (k.trim() !== "") out[k.trim()] = v;
    return out;
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const data = collect();
      const target = folder === null ? path! : folder + name.trim().replace(/^\/+/, "");
      if (target === "" || target.endsWith("/")) throw new Error("give the secret a name (a path inside this folder)");
      const options = { cas: folder === null ? cas : 0 };
      await call("POST", dataPath(mount, target, version), version === 2 ? { data, options } : data);
      if (onSaved) onSaved();
      else navigate("secrets", mount, target);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <form id="kv-editor" onSubmit={save}>
      {folder !== null && (
        <label>
          Path of the secret
          <input name="secret_path" value={name} placeholder="app/config" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
      )}
      <label class="check">
        <input type="checkbox" name="as_json" checked={json !== null}
          onChange={(e) => {
            try {
              setJson(e.currentTarget.checked ? JSON.stringify(collect(), null, 2) : null);
              if (!e.currentTarget.checked && json !== null) setRows(asRows(JSON.parse(json) as Data));
            } catch (err) {
              setError(err);
            }
          }} />
        Edit as JSON
      </label>
      {json !== null ? (
        <textarea name="json" rows={8} value={json} onInput={(e) => setJson(e.currentTarget.value)} />
      ) : (
        <>
          {rows.map(([k, v], i) => (
            <div class="row">
              <input name={`key-${i}`} placeholder="key" value={k}
                onInput={(e) => setRows(rows.map((r, j) => (j === i ? [e.currentTarget.value, r[1]] : r)))} />
              <input name={`value-${i}`} type="password" autocomplete="off" placeholder="value" value={v}
                onInput={(e) => setRows(rows.map((r, j) => (j === i ? [r[0], e.currentTarget.value] : r)))} />
              <button type="button" class="small secondary" onClick={() => setRows(rows.filter((_, j) => j !== i))}>Remove</button>
            </div>
          ))}
          <button type="button" class="small secondary" id="kv-add-row" onClick={() => setRows([...rows, ["", ""]])}>Add row</button>
        </>
      )}
      <ErrorBanner error={error} />
      <button type="submit">Save</button>
    </form>
  );
}
