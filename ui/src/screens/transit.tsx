// Transit: the keys of a transit mount, creating and rotating them, and encrypting and
// decrypting a text with one (the text is base64-encoded for the API, as Vault expects).

import { useEffect, useState } from "preact/hooks";
import { ApiError, call, callData, seg } from "../api";
import { ErrorBanner, Loading, Section } from "../components";
import type { Envelope } from "../types";

const KEY_TYPES = ["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-4096"];

interface KeyInfo {
  type: string;
  latest_version: number;
  min_decryption_version: number;
  supports_encryption: boolean;
  exportable: boolean;
  deletion_allowed: boolean;
}

export function Transit({ mount, name }: { mount: string; name: string | null }) {
  return (
    <main>
      <nav class="crumbs" aria-label="path">
        <a href="#/secrets">Secrets engines</a> / <a href={`#/transit/${encodeURIComponent(mount)}`}>{mount}</a>
        {name && <> / {name}</>}
      </nav>
      {name ? <KeyView mount={mount} name={name} /> : <KeyList mount={mount} />}
    </main>
  );
}

function KeyList({ mount }: { mount: string }) {
  const [keys, setKeys] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState("");
  const [type, setType] = useState(KEY_TYPES[0]);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    call<Envelope<{ keys: string[] }>>("LIST", `${seg(mount)}/keys`)
      .then((answer) => setKeys(answer?.data.keys ?? []))
      .catch((err) => (err instanceof ApiError && err.status === 404 ? setKeys([]) : setError(err)));
  }, [mount, reload]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await call("POST", `${seg(mount)}/keys/${seg(name.trim())}`, { type });
      setName("");
      setReload(reload + 1);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <h1>Transit keys in {mount}/</h1>
      <ErrorBanner error={error} />
      {keys === null ? (
        error === null && <Loading />
      ) : keys.length === 0 ? (
        <p class="muted">No keys yet.</p>
      ) : (
        <ul class="keys" id="transit-keys">
          {keys.map((k) => (
            <li><a href={`#/transit/${encodeURIComponent(mount)}/${encodeURIComponent(k)}`}>{k}</a></li>
          ))}
        </ul>
      )}
      <Section title="Create a key">
        <form id="transit-create" onSubmit={create}>
          <label>
            Name
            <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Type
            <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
              {KEY_TYPES.map((t) => <option value={t}>{t}</option>)}
            </select>
          </label>
          <button type="submit">Create key</button>
        </form>
      </Section>
    </>
  );
}

function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  bytes.forEach((b) => (binary += String.fromCharCode(b)));
  return btoa(binary);
}

function fromBase64(b64: string): string {
  const binary = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function KeyView({ mount, name }: { mount: string; name: string }) {
  const [info, setInfo] = useState<KeyInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  const [plaintext, setPlaintext] = useState("");
  const [ciphertext, setCiphertext] = useState("");
  const [result, setResult] = useState<string | null>(null);

  useEffect(() => {
    callData<Envelope<KeyInfo>>("GET", `${seg(mount)}/keys/${seg(name)}`)
      .then((answer) => setInfo(answer.data))
      .catch(setError);
  }, [mount, name, reload]);

  const run = async (what: () => Promise<void>) => {
    setError(null);
    setResult(null);
    try {
      await what();
    } catch (err) {
      setError(err);
    }
  };
  const rotate = () =>
    run(async () => {
      await call("POST", `${seg(mount)}/keys/${seg(name)}/rotate`);
      setReload(reload + 1);
    });
  const encrypt = (e: Event) => {
    e.preventDefault();
    return run(async () => {
      const answer = await callData<Envelope<{ ciphertext: string }>>("POST", `${seg(mount)}/encrypt/${seg(name)}`, {
        plaintext: toBase64(plaintext),
      });
      setResult(answer.data.ciphertext);
      setCiphertext(answer.data.ciphertext);
    });
  };
  const decrypt = (e: Event) => {
    e.preventDefault();
    return run(async () => {
      const answer = await callData<Envelope<{ plaintext: string }>>("POST", `${seg(mount)}/decrypt/${seg(name)}`, {
        ciphertext: ciphertext.trim(),
      });
      setResult(fromBase64(answer.data.plaintext));
    });
  };

  return (
    <>
      <h1>Transit key {name}</h1>
      <ErrorBanner error={error} />
      {info && (
        <table id="transit-key">
          <tbody>
            <tr><th>Type</th><td>{info.type}</td></tr>
            <tr><th>Latest version</th><td data-field="latest_version">{info.latest_version}</td></tr>
            <tr><th>Min decryption version</th><td>{info.min_decryption_version}</td></tr>
            <tr><th>Exportable</th><td>{String(info.exportable)}</td></tr>
          </tbody>
        </table>
      )}
      <button type="button" id="transit-rotate" onClick={() => void rotate()}>Rotate key</button>
      {info?.supports_encryption !== false && (
        <>
          <Section title="Encrypt">
            <form id="transit-encrypt" onSubmit={encrypt}>
              <label>
                Text
                <textarea name="plaintext" rows={3} value={plaintext} onInput={(e) => setPlaintext(e.currentTarget.value)} />
              </label>
              <button type="submit">Encrypt</button>
            </form>
          </Section>
          <Section title="Decrypt">
            <form id="transit-decrypt" onSubmit={decrypt}>
              <label>
                Ciphertext (vault:v1:...)
                <textarea name="ciphertext" rows={3} value={ciphertext} onInput={(e) => setCiphertext(e.currentTarget.value)} />
              </label>
              <button type="submit">Decrypt</button>
            </form>
          </Section>
        </>
      )}
      {result !== null && (
        <Section title="Result">
          <pre id="transit-result">{result}</pre>
        </Section>
      )}
    </>
  );
}
