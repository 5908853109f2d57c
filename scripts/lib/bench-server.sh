# Shared by the bench-* scripts (sourced, not run): starting and filling a
# throwaway `coffer server` on loopback.

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listening BIN: waits (at most 10 s) until the server at $VAULT_ADDR
# answers `status`, initialised or not.
wait_listening() {
  local code
  for _ in $(seq 100); do
    code=0
    "$1" status >/dev/null 2>&1 || code=$?
    [[ $code -eq 2 || $code -eq 0 ]] && return 0
    sleep 0.1
  done
  echo "the server at $VAULT_ADDR did not start within 10 s" >&2
  return 1
}

# init_shamir BIN: initialises the server at $VAULT_ADDR with one Shamir key
# share, unseals it, and prints the root token.
init_shamir() {
  local init key
  init="$("$1" operator init -key-shares=1 -key-threshold=1 -format=json)"
  key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["unseal_keys_b64"][0])' <<<"$init")"
  "$1" operator unseal "$key" >/dev/null
  python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' <<<"$init"
}

# fill_kv TOKEN VALUE: writes VALUE to secret/data/key-000 ... key-999 (a KV
# v2 mount at secret/) on the server at $VAULT_ADDR.
fill_kv() {
  for i in $(seq -w 0 999); do
    curl -sf -H "X-Vault-Token: $1" -X POST -d "{\"data\":{\"v\":\"$2\"}}" \
      "$VAULT_ADDR/v1/secret/data/key-$i" >/dev/null
  done
}

# oha_run LABEL SCENARIO CLIENTS URL [oha args...]: one oha run of $seconds
# seconds; prints a line (responses/s, p50, p99, share of non-2xx) and, when
# $OHA_RESULTS names a file, appends the same figures to it as a JSON line.
oha_run() {
  local label="$1" scenario="$2" c="$3" url="$4"
  shift 4
  oha --no-tui --output-format json -z "${seconds}s" -c "$c" "$@" --rand-regex-url "$url" \
    | python3 -c '
import json, sys
label, scenario, clients, results = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
total = sum(codes.values()) or 1
bad = sum(v for k, v in codes.items() if not k.startswith("2")) / total
p = r["latencyPercentiles"]
row = {"label": label, "scenario": scenario, "clients": clients,
       "rps": r["summary"]["requestsPerSec"], "p50_ms": p["p50"] * 1000,
       "p99_ms": p["p99"] * 1000, "non_2xx": bad}
rps, p50, p99 = row["rps"], row["p50_ms"], row["p99_ms"]
print(f"{label:<8} {scenario:<16} clients={clients:<4} responses/s={rps:>9,.0f}"
      f"  p50={p50:6.2f} ms  p99={p99:6.2f} ms  non-2xx={bad:.1%}")
if results:
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")
' "$label" "$scenario" "$c" "${OHA_RESULTS:-}"
}

# wait_active: waits (at most 30 s) until sys/health at $VAULT_ADDR answers
# 200, that is initialised, unsealed and active.
wait_active() {
  for _ in $(seq 300); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$VAULT_ADDR/v1/sys/health")" == 200 ]] && return 0
    sleep 0.1
  done
  echo "the server at $VAULT_ADDR did not become active within 30 s" >&2
  return 1
}
