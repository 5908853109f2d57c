"""The built `coffer` CLI, driven like the `vault` CLI against a running server."""

import json
import os
import re
import subprocess

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

    got = run_cli(server.addr, home, "kv", "get", "-format=json", "morekv/foo", token=root_token)
    secret = json.loads(got.stdout)
    # `secrets enable kv` mounts KV version 1, whose read returns the map directly under data.
    assert secret["data"] == {"bar": "baz"}, secret

    listing = run_cli(server.addr, home, "secrets", "list", "-detailed", token=root_token)
    assert "morekv/" in listing.stdout, listing.stdout

    # The same secret is visible over the HTTP API.
    client = server.client(token=root_token)
    assert client.secrets.kv.v1.read_secret(path="foo", mount_point="morekv")["data"] == {"bar": "baz"}


def test_cli_status_exits_1_when_server_unreachable(tmp_path):
    home = tmp_path / "home"
    home.mkdir()

    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    proc = run_cli("http://127.0.0.1:1", home, "status", check=False)
    assert proc.returncode == 1, f"expected exit 1, got {proc.returncode}\n{proc.stdout}{proc.stderr}"
