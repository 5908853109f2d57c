// The server at a glance, for the operator who looks after its HSM: the seal and what the HSM
// said about itself, whether the seal and the entropy source answer, how many draws entropy
// augmentation made, a seal re-wrap's progress, and the HA role.

import { useEffect, useState } from "preact/hooks";
import { ApiError, callData } from "../api";
import { ErrorBanner, Loading, Section } from "../components";
import type { Envelope, SealStatus } from "../types";

interface Leader {
  ha_enabled: boolean;
  is_self: boolean;
  leader_address: string;
}

interface HsmStatus {
  seal_type: string;
  details: { name: string; value: string }[];
}

interface Metrics {
  Gauges: { Name: string; Value: number }[];
  Counters: { Name: string; Sum: number }[];
}

/** A panel's rows, or why they could not be had (a policy without that path, say). */
type Rows = [string, string][] | ApiError | Error;

async function rowsOf(load: () => Promise<[string, string][]>): Promise<Rows> {
  try {
    return await load();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function metric(m: Metrics, name: string): number | undefined {
  return m.Gauges.find((g) => g.Name === name)?.Value ?? m.Counters.find((c) => c.Name === name)?.Sum;
}

function yesNo(v: number | undefined, yes: string, no: string): string {
  return v === undefined ? "n/a" : v === 1 ? yes : no;
}

export function Status() {
  const [panels, setPanels] = useState<Record<string, Rows> | null>(null);
  useEffect(() => {
    const server = rowsOf(async () => {
      const [s, l] = await Promise.all([
        callData<SealStatus>("GET", "sys/seal-status"),
        callData<Leader>("GET", "sys/leader"),
      ]);
      const rows: [string, string][] = [
        ["Seal type", s.type],
        ["Sealed", String(s.sealed)],
        [s.recovery_seal ? "Recovery keys (threshold/shares)" : "Unseal keys (threshold/shares)", `${s.t}/${s.n}`],
        ["Version", s.version],
        ["Build date", s.build_date || "n/a"],
        ["Storage", s.storage_type ?? "n/a"],
        ["HA enabled", String(l.ha_enabled)],
      ];
      if (l.ha_enabled) {
        rows.push(["HA mode", l.is_self ? "active" : "standby"]);
        rows.push(["Active node address", l.leader_address || "none known"]);
      }
      return rows;
    });
    const hsm = rowsOf(async () => {
      const h = await callData<Envelope<HsmStatus>>("GET", "sys/hsm/status");
      if (h.data.details.length === 0) return [["Seal", `${h.data.seal_type} (no HSM)`]];
      return h.data.details.map((d) => [d.name, d.value] as [string, string]);
    });
    const health = rowsOf(async () => {
      const m = await callData<Metrics>("GET", "sys/metrics");
      const rows: [string, string][] = [["Seal answers", yesNo(metric(m, "coffer.seal.healthy"), "yes", "NO: check the HSM")]];
      const entropy = metric(m, "coffer.entropy.seal.healthy");
      if (entropy === undefined) {
        rows.push(["Entropy augmentation", "off"]);
      } else {
        rows.push(["Entropy source healthy", yesNo(entropy, "yes", "NO: keys are not being made")]);
        rows.push(["Entropy draws from the HSM", String(metric(m, "coffer.entropy.seal.draws") ?? "n/a")]);
      }
      rows.push(["Seal re-wrap running", yesNo(metric(m, "coffer.sealwrap.rewrap.running"), "yes", "no")]);
      rows.push([
        "Seal re-wrap (examined / re-wrapped / failed)",
        ["processed", "rewritten", "failed"].map((k) => String(metric(m, `coffer.sealwrap.rewrap.${k}`) ?? 0)).join(" / "),
      ]);
      return rows;
    });
    Promise.all([server, hsm, health]).then(([s, h, m]) => setPanels({ Server: s, HSM: h, Health: m }));
  }, []);

  if (panels === null) return <main><Loading /></main>;
  return (
    <main>
      <h1>Status</h1>
      {Object.entries(panels).map(([title, rows]) => (
        <Section title={title}>
          {rows instanceof Error ? (
            <ErrorBanner error={rows} />
          ) : (
            <table id={`status-${title.toLowerCase()}`}>
              <tbody>
                {rows.map(([k, v]) => (
                  <tr><th>{k}</th><td>{v}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      ))}
    </main>
  );
}
