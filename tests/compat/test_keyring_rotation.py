"""Barrier keyring rotation through hvac and the coffer CLI: `sys/rotate`, `sys/key-status` and
the automatic rotation settings of `sys/rotate/config`, kept across a restart.

Written against HashiCorp Vault's documented behaviour (`vault operator rotate`,
`vault operator key-status`, `/sys/rotate/config`).
"""

import json

import hvac
import pytest

from test_cli import run_cli


def rotate_config(client: hvac.Client) -> dict:
    return client.read("sys/rotate/config")["data"]


def test_hvac_rotates_the_keyring_and_reads_and_sets_auto_rotation(unsealed):
    client = unsealed.client
    status = client.sys.get_encryption_key_status()["data"]
    assert status["term"] == 1
    assert status["encryptions"] > 0, "init and unseal wrote values"

    client.sys.rotate_encryption_key()
    rotated = client.sys.get_encryption_key_status()["data"]
    assert rotated["term"] == 2
    assert rotated["install_time"] >= status["install_time"]

    assert rotate_config(client) == {
        "max_operations": 3865470566,
        "interval": "0s",
        "enabled": True,
    }
    client.adapter.post(
        "/v1/sys/rotate/config", json={"max_operations": 2000000000, "interval": "4320h"}
    )
    assert rotate_config(client) == {
        "max_operations": 2000000000,
        "interval": "4320h0m0s",
        "enabled": True,
    }

    with pytest.raises(hvac.exceptions.InvalidRequest, match="between 1000000 and 3865470566"):
        client.adapter.post("/v1/sys/rotate/config", json={"max_operations": 5})
    with pytest.raises(hvac.exceptions.InvalidRequest, match="at least 24h"):
        client.adapter.post("/v1/sys/rotate/config", json={"interval": "1h"})
    assert rotate_config(client)["max_operations"] == 2000000000


def test_cli_rotate_key_status_and_settings_survive_a_restart(unsealed, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    addr, token = unsealed.server.addr, unsealed.root_token

    rotated = run_cli(addr, home, "operator", "rotate", token=token)
    assert rotated.stdout.startswith("Success! Rotated key"), rotated.stdout
    assert "Key Term" in rotated.stdout and "Encryption Count" in rotated.stdout

    run_cli(addr, home, "write", "sys/rotate/config", "interval=2160h", "enabled=false", token=token)
    for i in range(5):
        unsealed.client.secrets.kv.v1.create_or_update_secret(
            path=f"app{i}", secret={"v": i}, mount_point="cubbyhole"
        )
    before = json.loads(
        run_cli(addr, home, "operator", "key-status", "-format=json", token=token).stdout
    )
    assert before["term"] == 2

    unsealed.server.restart()
    assert unsealed.server.client().sys.submit_unseal_key(unsealed.keys[0])["sealed"] is False
    addr = unsealed.server.addr  # a restart may move to another port

    after = json.loads(
        run_cli(addr, home, "operator", "key-status", "-format=json", token=token).stdout
    )
    assert after["term"] == 2
    assert after["encryptions"] >= before["encryptions"], (before, after)
    settings = json.loads(
        run_cli(addr, home, "read", "-format=json", "sys/rotate/config", token=token).stdout
    )["data"]
    assert settings == {"max_operations": 3865470566, "interval": "2160h0m0s", "enabled": False}
