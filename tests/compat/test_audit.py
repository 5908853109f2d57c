"""hvac drives audit devices against a real `coffer server`: enable, list, calculate_hash,
disable; the file never holds a secret or a token, its hashes are what calculate_hash
answers, and a device that cannot write fails requests closed (500) until it can again.

Written against Vault's documented audit API, so the same tests pass against a real Vault.
"""

import json
import os
import signal
import time

import hvac
import pytest


SECRET = "hunter2"


def read_entries(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def audited(unsealed, tmp_path):
    logs = tmp_path / "audit-logs"
    logs.mkdir()
    path = logs / "audit.log"
    unsealed.client.sys.enable_audit_device(
        "file", description="main log", options={"file_path": str(path)}
    )
    unsealed.audit_file = path
    return unsealed


def test_enable_list_calculate_hash_and_disable(audited):
    sys = audited.client.sys
    sys.enable_audit_device(
        "file",
        path="team/discard",
        description="nowhere",
        options={"file_path": "discard", "log_raw": False},
        local=False,
    )
    listed = sys.list_enabled_audit_devices()
    for view in (listed["data"], listed):
        assert view["file/"] == {
            "type": "file",
            "description": "main log",
            "options": {"file_path": str(audited.audit_file)},
            "local": False,
            "path": "file/",
        }
    assert listed["data"]["team/discard/"]["options"] == {"file_path": "discard", "log_raw": "false"}

    hashed = sys.calculate_hash("file", SECRET)
    assert hashed["data"]["hash"].startswith("hmac-sha256:")
    assert hashed["hash"] == hashed["data"]["hash"]
    assert sys.calculate_hash("team/discard", SECRET)["data"]["hash"] != hashed["data"]["hash"]

    sys.disable_audit_device("team/discard")
    sys.disable_audit_device("file")
    assert sys.list_enabled_audit_devices()["data"] == {}
    with pytest.raises(hvac.exceptions.InvalidRequest):
        sys.calculate_hash("file", SECRET)


def test_the_file_holds_hashes_not_secrets(audited):
    client = audited.client
    client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(
        path="app", secret={"password": SECRET}, mount_point="secret"
    )
    read = client.secrets.kv.v2.read_secret_version(
        path="app", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"]["password"] == SECRET

    text = audited.audit_file.read_text()
    assert SECRET not in text
    assert audited.root_token not in text

    secret_hash = client.sys.calculate_hash("file", SECRET)["data"]["hash"]
    entries = read_entries(audited.audit_file)
    writes = [
        e
        for e in entries
        if e["request"]["path"] == "secret/data/app" and e["request"]["operation"] == "create"
    ]
    assert [e["type"] for e in writes] == ["request", "response"]
    for e in writes:
        assert e["request"]["data"]["data"]["password"] == secret_hash
        assert e["request"]["remote_address"] == "127.0.0.1"
        assert e["auth"]["policies"] == ["root"]
    reads = [
        e
        for e in entries
        if e["type"] == "response"
        and e["request"]["path"] == "secret/data/app"
        and e["request"]["operation"] == "read"
    ]
    assert reads and reads[0]["response"]["data"]["data"]["password"] == secret_hash


def test_bad_options_are_400_and_audit_needs_sudo(audited):
    sys = audited.client.sys
    with pytest.raises(hvac.exceptions.InvalidRequest, match="mode"):
        sys.enable_audit_device("file", path="bad", options={"file_path": "stdout", "mode": "0755"})
    with pytest.raises(hvac.exceptions.InvalidRequest, match="already in use"):
        sys.enable_audit_device("file", options={"file_path": "discard"})
    with pytest.raises(hvac.exceptions.InvalidRequest):
        sys.enable_audit_device("socket", options={"address": "127.0.0.1:9090"})

    sys.create_or_update_policy(
        name="auditor", policy='path "sys/audit*" { capabilities = ["read", "update", "delete"] }'
    )
    token = audited.client.auth.token.create(policies=["auditor"])["auth"]["client_token"]
    weak = audited.server.client(token=token)
    with pytest.raises(hvac.exceptions.Forbidden):
        weak.sys.list_enabled_audit_devices()
    with pytest.raises(hvac.exceptions.Forbidden):
        weak.sys.disable_audit_device("file")


def test_a_device_that_cannot_write_fails_requests_closed(audited):
    client = audited.client
    logs = audited.audit_file.parent
    # logrotate-style: the directory goes away, SIGHUP makes the server reopen the file.
    audited.audit_file.unlink()
    os.rmdir(logs)
    audited.server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.sys.list_mounted_secrets_engines()
        except hvac.exceptions.InternalServerError as e:
            assert "audit" in str(e)
            break
        assert time.monotonic() < deadline, "requests kept working without an audit device"
        time.sleep(0.1)
    with pytest.raises(hvac.exceptions.InternalServerError):
        client.sys.create_or_update_policy(name="p", policy='path "x" { capabilities = ["read"] }')
    # Unaudited endpoints keep answering.
    assert client.sys.read_health_status(method="GET")["sealed"] is False

    logs.mkdir()
    assert "p" not in client.sys.list_acl_policies()["data"]["keys"]
    assert audited.audit_file.exists()
    client.sys.disable_audit_device("file")
    assert client.sys.list_enabled_audit_devices()["data"] == {}
