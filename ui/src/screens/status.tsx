// The server at a glance: seal (type, state), version, storage, HA role.

import { useEffect, useState } from "preact/hooks";
import { callData } from "../api";
import { ErrorBanner, Loading } from "../components";
import type { SealStatus } from "../types";

interface Leader {
  ha_enabled: boolean;
  is_self: boolean;
  leader_address: string;
}

export function Status() {
  const [seal, setSeal] = useState<SealStatus | null>(null);
  const [leader, setLeader] = useState<Leader | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    Promise.all([callData<SealStatus>("GET", "sys/seal-status"), callData<Leader>("GET", "sys/leader")])
      .then(([s, l]) => {
        setSeal(s);
        setLeader(l);
      })
      .catch(setError);
  }, []);
  if (error) return <main><ErrorBanner error={error} /></main>;
  if (!seal || !leader) return <main><Loading /></main>;
  const rows: [string, string][] = [
    ["Seal type", seal.type],
    ["Sealed", String(seal.sealed)],
    [seal.recovery_seal ? "Recovery keys (threshold/shares)" : "Unseal keys (threshold/shares)", `${seal.t}/${seal.n}`],
    ["Version", seal.version],
    ["Build date", seal.build_date || "n/a"],
    ["Storage", seal.storage_type ?? "n/a"],
    ["Cluster name", seal.cluster_name ?? "n/a"],
    ["HA enabled", String(leader.ha_enabled)],
  ];
  if (leader.ha_enabled) {
    rows.push(["HA mode", leader.is_self ? "active" : "standby"]);
    rows.push(["Active node address", leader.leader_address || "none known"]);
  }
  return (
    <main>
      <h1>Status</h1>
      <table id="status">
        <tbody>
          {rows.map(([k, v]) => (
            <tr><th>{k}</th><td>{v}</td></tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
