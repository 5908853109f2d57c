// Screens are addressed by the URL fragment (#/secrets/kv/app), so that the server serves one
// page for the whole UI. Fragments name mounts and paths, never secrets or tokens.

import { useEffect, useState } from "preact/hooks";

export function currentRoute(): string[] {
  const hash = window.location.hash.replace(/^#\/?/, "");
  try {
    return hash === "" ? [] : hash.split("/").map((p) => decodeURIComponent(p));
  } catch {
    // A fragment that is not valid percent-encoding: the start page.
    return [];
  }
}

export function navigate(...parts: string[]): void {
  window.location.hash = "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

/** The route's segments, kept current as the fragment changes. */
export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
