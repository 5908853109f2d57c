"""The built `coffer` CLI, driven like the `vault` CLI against a running server."""

import json
import os
import re
import subprocess

import leak_check
from conftest import resolve_coffer_bin

CLI_TIMEOUT_S = 60


def run_cli(addr, home, *args, token=None, check=True) -> subprocess.CompletedProcess:
    # A clean environment: no inherited VAULT_*/COFFER_* and a private HOME (no ~/.vault-token).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "COFFER_"))}
    env["HOME"] = str(home)
    env["VAULT_ADDR"] = addr
    if token is not None:
        env["VAULT_TOKEN"] = token
    proc = subprocess.run(
        [resolve_coffer_bin(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    leak_check.remember_cli_output(proc.stdout + proc.stderr)
    if check:
        assert proc.returncode == 0, (
            f"`coffer {' '.join(args)}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def test_cli_init_unseal_status_and_kv(server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()

    init = run_cli(server.addr, home, "operator", "init", "-key-shares=1", "-key-threshold=1")
    key_match = re.search(r"^Unseal Key 1: (\S+)\s*$", init.stdout, re.MULTILINE)
    token_match = re.search(r"^Initial Root Token: (\S+)\s*$", init.stdout, re.MULTILINE)
    assert key_match and token_match, f"unexpected `operator init` output:\n{init.stdout}"
    unseal_key, root_token = key_match.group(1), token_match.group(1)

    # Sealed: `status` exits 2 (and still prints the status table).
    sealed = run_cli(server.addr, home, "status", check=False)
    assert sealed.returncode == 2, f"status while sealed exited {sealed.returncode}\n{sealed.stdout}{sealed.stderr}"
    assert re.search(r"^Sealed\s+true\s*$", sealed.stdout, re.MULTILINE), sealed.stdout

    run_cli(server.addr, home, "operator", "unseal", unseal_key)

    unsealed = run_cli(server.addr, home, "status", check=False)
    assert unsealed.returncode == 0, f"status while unsealed exited {unsealed.returncode}\n{unsealed.stderr}"
    assert re.search(r"^Sealed\s+false\s*$", unsealed.stdout, re.MULTILINE), unsealed.stdout

    run_cli(server.addr, home, "secrets", "enable", "-path=morekv", "kv", token=root_token)
    run_cli(server.addr, home, "kv", "put", "morekv/foo", "bar=baz", token=root_token)

    # As seed 002 shows `vault kv get morekv/hello`: the data section's heading, then the table.
    table = run_cli(server.addr, home, "kv", "get", "morekv/foo", token=root_token)
    assert table.stdout.splitlines()[:3] == ["=== Data ===", "Key    Value", "---    -----"], table.stdout
    assert re.search(r"^bar\s+baz\s*$", table.stdout, re.MULTILINE), table.stdout

    got = run_cli(server.addr, home, "kv", "get", "-format=json", "morekv/foo", token=root_token)
    secret = json.loads(got.stdout)
    # `secrets enable kv` mounts KV version 1, whose read returns the map directly under data.
    assert secret["data"] == {"bar": "baz"}, secret

    listing = run_cli(server.addr, home, "secrets", "list", "-detailed", token=root_token)
    assert "morekv/" in listing.stdout, listing.stdout

    # The same secret is visible over the HTTP API.
    client = server.client(token=root_token)
    assert client.secrets.kv.v1.read_secret(path="foo", mount_point="morekv")["data"] == {"bar": "baz"}


def test_cli_kv_v2_get_headings_version_field_and_formats(unsealed, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    addr, root = unsealed.server.addr, unsealed.root_token
    run_cli(addr, home, "secrets", "enable", "-path=app", "-version=2", "kv", token=root)
    run_cli(addr, home, "kv", "put", "app/db", "password=one", token=root)
    run_cli(addr, home, "kv", "put", "app/db", "password=two", token=root)

    # vault's KV v2 table: the path section, then metadata, then data, each under its heading.
    table = run_cli(addr, home, "kv", "get", "app/db", token=root).stdout
    headings = [line for line in table.splitlines() if line.startswith("=")]
    titles = [h.strip("= ") for h in headings]
    assert titles == ["Secret Path", "Metadata", "Data"], table
    assert all(re.fullmatch(r"(=+) [A-Za-z ]+ \1", h) for h in headings), table
    assert "app/data/db" in table, table
    assert re.search(r"^version\s+2\s*$", table, re.MULTILINE), table
    assert re.search(r"^password\s+two\s*$", table, re.MULTILINE), table

    old = run_cli(addr, home, "kv", "get", "-version=1", "-field=password", "app/db", token=root)
    assert old.stdout == "one", old.stdout

    as_json = json.loads(run_cli(addr, home, "kv", "get", "-format=json", "app/db", token=root).stdout)
    assert as_json["data"]["data"] == {"password": "two"}, as_json
    as_yaml = run_cli(addr, home, "kv", "get", "-format=yaml", "app/db", token=root).stdout
    assert re.search(r"^data:\n  data:\n    password: two$", as_yaml, re.MULTILINE), as_yaml
    assert re.search(r"^    version: 2$", as_yaml, re.MULTILINE), as_yaml
    mounts = run_cli(addr, home, "-format=yaml", "secrets", "list", token=root).stdout
    assert re.search(r"^app/:$", mounts, re.MULTILINE), mounts


def test_cli_status_exits_1_when_server_unreachable(tmp_path):
    home = tmp_path / "home"
    home.mkdir()

    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    proc = run_cli("http://127.0.0.1:1", home, "status", check=False)
    assert proc.returncode == 1, f"expected exit 1, got {proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_cli_token_create_lookup_and_revoke(unsealed, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    addr, root = unsealed.server.addr, unsealed.root_token

    created = run_cli(addr, home, "token", "create", "-policy=default", "-ttl=1h", "-format=json", token=root)
    auth = json.loads(created.stdout)["auth"]
    assert auth["lease_duration"] == 3600 and auth["policies"] == ["default"], auth
    token = auth["client_token"]

    # The table vault prints for a lookup: sorted data keys, durations humanised.
    table = run_cli(addr, home, "token", "lookup", token, token=root).stdout
    assert re.search(r"^policies\s+\[default\]$", table, re.MULTILINE), table
    assert re.search(r"^creation_ttl\s+1h$", table, re.MULTILINE), table
    assert re.search(rf"^accessor\s+{re.escape(auth['accessor'])}$", table, re.MULTILINE), table

    # The same token, seen over the HTTP API.
    assert unsealed.client.auth.token.lookup(token)["data"]["accessor"] == auth["accessor"]

    revoked = run_cli(addr, home, "token", "revoke", token, token=root)
    assert revoked.stdout.strip() == "Success! Revoked token (if it existed)"
    gone = run_cli(addr, home, "token", "lookup", token, token=root, check=False)
    assert gone.returncode == 2, f"lookup of a revoked token exited {gone.returncode}\n{gone.stderr}"
    assert "Error looking up token" in gone.stderr, gone.stderr


def test_cli_policy_write_read_and_malformed_policy(unsealed, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    addr, root = unsealed.server.addr, unsealed.root_token
    policy = 'path "secret/*" {\n  capabilities = ["read", "list"]\n}\n'
    path = tmp_path / "ops.hcl"
    path.write_text(policy)

    written = run_cli(addr, home, "policy", "write", "ops", str(path), token=root)
    assert written.stdout.strip() == "Success! Uploaded policy: ops"
    assert run_cli(addr, home, "policy", "read", "ops", token=root).stdout == policy
    assert json.loads(run_cli(addr, home, "policy", "list", "-format=json", token=root).stdout) == [
        "default",
        "ops",
        "root",
    ]
    assert unsealed.client.sys.read_acl_policy("ops")["data"]["policy"] == policy

    path.write_text('path "secret/*" {\n  capabilities = ["read"\n}\n')
    bad = run_cli(addr, home, "policy", "write", "broken", str(path), token=root, check=False)
    assert bad.returncode == 2, bad.stderr
    # The server's message names the policy, line and column.
    assert "broken:3:1: syntax error" in bad.stderr, bad.stderr


def test_cli_audit_enable_list_and_disable(unsealed, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    addr, root = unsealed.server.addr, unsealed.root_token
    log = tmp_path / "audit.log"

    empty = run_cli(addr, home, "audit", "list", token=root, check=False)
    assert empty.returncode == 2 and empty.stdout.strip() == "No audit devices are enabled.", empty

    enabled = run_cli(addr, home, "audit", "enable", "-description=cli", "file", f"file_path={log}", token=root)
    assert enabled.stdout.strip() == "Success! Enabled the file audit device at: file/"
    listed = run_cli(addr, home, "audit", "list", "-detailed", token=root).stdout
    row = rf"^file/\s+file\s+cli\s+replicated\s+file_path={re.escape(str(log))}$"
    assert re.search(row, listed, re.MULTILINE), listed
    devices = json.loads(run_cli(addr, home, "audit", "list", "-format=json", token=root).stdout)
    assert devices["file/"]["options"] == {"file_path": str(log)}, devices
    assert "file/" in unsealed.client.sys.list_enabled_audit_devices()["data"]
    assert log.read_text().strip(), "the device records the CLI's requests"

    disabled = run_cli(addr, home, "audit", "disable", "file", token=root)
    assert disabled.stdout.strip() == "Success! Disabled audit device (if it was enabled) at: file/"
    assert run_cli(addr, home, "audit", "list", token=root, check=False).returncode == 2
