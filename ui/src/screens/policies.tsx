// ACL policies: the list, one policy's text, and writing one. A policy the server cannot parse
// is refused with its error, and the line the error names is shown beside it.

import { useEffect, useState } from "preact/hooks";
import { ApiError, call, callData, seg } from "../api";
import { ErrorBanner, Loading, Section } from "../components";
import { navigate } from "../router";
import type { Envelope } from "../types";

export function Policies({ name }: { name: string | null }) {
  return (
    <main>
      <nav class="crumbs" aria-label="path">
        <a href="#/policies">ACL policies</a>
        {name && <> / {name}</>}
      </nav>
      {name ? <PolicyView name={name} /> : <PolicyList />}
    </main>
  );
}

function PolicyList() {
  const [names, setNames] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    callData<Envelope<{ keys: string[] }>>("LIST", "sys/policies/acl")
      .then((answer) => setNames(answer.data.keys))
      .catch(setError);
  }, []);
  return (
    <>
      <h1>ACL policies</h1>
      <ErrorBanner error={error} />
      {names === null ? (
        error === null && <Loading />
      ) : (
        <ul class="keys" id="policies">
          {names.map((n) => (
            <li><a href={`#/policies/${encodeURIComponent(n)}`}>{n}</a></li>
          ))}
        </ul>
      )}
      <Section title="Create a policy">
        <PolicyEditor name={null} initial={'path "secret/data/*" {\n  capabilities = ["read"]\n}\n'} />
      </Section>
    </>
  );
}

function PolicyView({ name }: { name: string }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setText(null);
    callData<Envelope<{ policy: string }>>("GET", `sys/policies/acl/${seg(name)}`)
      .then((answer) => setText(answer.data.policy))
      .catch(setError);
  }, [name]);
  return (
    <>
      <h1>Policy {name}</h1>
      <ErrorBanner error={error} />
      {text !== null && (name === "root" ? <pre>{text || "(the root policy grants everything)"}</pre> : <PolicyEditor name={name} initial={text} />)}
    </>
  );
}

/** The line a policy parse error names (`name:LINE:COL: ...` or `name:LINE: ...`). */
function errorLine(error: unknown, name: string): number | null {
  if (!(error instanceof ApiError)) return null;
  for (const message of error.errors) {
    const at = message.indexOf(`${name}:`);
    if (at < 0) continue;
    const line = /^(\d+)/.exec(message.slice(at + name.length + 1));
    if (line) return Number(line[1]);
  }
  return null;
}

function PolicyEditor({ name, initial }: { name: string | null; initial: string }) {
  const [newName, setNewName] = useState("");
  const [text, setText] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const target = name ?? newName.trim();

  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      if (target === "") throw new Error("give the policy a name");
      await call("PUT", `sys/policies/acl/${seg(target)}`, { policy: text });
      setSaved(true);
      if (name === null) navigate("policies", target);
    } catch (err) {
      setError(err);
    }
  };

  const line = errorLine(error, target);
  const lines = text.split("\n");
  return (
    <form id="policy-editor" onSubmit={save}>
      {name === null && (
        <label>
          Name
          <input name="policy_name" value={newName} onInput={(e) => setNewName(e.currentTarget.value)} />
        </label>
      )}
      <label>
        Policy (HCL or JSON)
        <textarea name="policy" rows={14} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <ErrorBanner error={error} />
      {line !== null && line >= 1 && line <= lines.length && (
        <p class="warning" id="policy-error-line">
          Line {line}: <code>{lines[line - 1]}</code>
        </p>
      )}
      {saved && <p class="muted" id="policy-saved">Saved.</p>}
      <button type="submit">Save policy</button>
    </form>
  );
}
