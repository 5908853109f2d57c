// The only way the UI talks to the server: the same /v1/ HTTP API as every other client, with
// the token in the X-Vault-Token header (never in a URL). Errors carry the server's own text.

import { currentToken } from "./session";

/** A refused or failed API call, with the server's error messages. */
export class ApiError extends Error {
  readonly status: number;
  readonly errors: string[];

  constructor(status: number, errors: string[]) {
    super(errors.length > 0 ? errors.join("; ") : `the server answered ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

type Method = "GET" | "POST" | "PUT" | "DELETE" | "LIST";

/** Calls `/v1/<path>`; resolves to the JSON answer, or null for an empty one (204). */
export async function call<T = Record<string, unknown>>(
  method: Method,
  path: string,
  body?: unknown,
): Promise<T | null> {
  const headers: Record<string, string> = {};
  const token = currentToken();
  if (token) headers["X-Vault-Token"] = token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // LIST is sent as Vault's clients send it from a browser: GET with list=true.
  const url = `/v1/${path}${method === "LIST" ? "?list=true" : ""}`;
  let resp: Response;
  try {
    resp = await fetch(url, {
      method: method === "LIST" ? "GET" : method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      // A standby without forwarding redirects clients to the active node: another origin,
      // which the page may not call. Say so instead of following.
      redirect: "manual",
    });
  } catch (e) {
    throw new ApiError(0, [`the server could not be reached: ${String(e)}`]);
  }
  if (resp.type === "opaqueredirect") {
    throw new ApiError(307, [
      "this node is an HA standby that redirects clients to the active node (clustering is " +
        "disabled): open the UI on the active node's address",
    ]);
  }
  const text = await resp.text();
  let json: unknown = null;
  if (text.trim() !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(resp.status, [`the server answered ${resp.status} with something that is not JSON`]);
    }
  }
  if (!resp.ok) {
    const errors = (json as { errors?: unknown } | null)?.errors;
    throw new ApiError(resp.status, Array.isArray(errors) ? errors.map(String) : []);
  }
  return json as T | null;
}

/** Like `call`, but a missing answer is an error (for calls that always answer). */
export async function callData<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const out = await call<T>(method, path, body);
  if (out === null) throw new ApiError(204, [`${path} answered with nothing`]);
  return out;
}

/**
 * A path as the API expects it in a URL, each segment encoded. `.` and `..` are refused: the
 * browser would resolve them (even encoded) and the call would reach another path than the one
 * on screen.
 */
export function seg(path: string): string {
  return path
    .split("/")
    .map((p) => {
      if (p === "." || p === "..") throw new ApiError(400, [`"${p}" is not allowed as a path segment: ${path}`]);
      return encodeURIComponent(p);
    })
    .join("/");
}
