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
