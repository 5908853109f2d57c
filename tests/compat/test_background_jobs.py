"""Tidies and mount disables answer at once, as Vault's do, and the work goes on in the
background with its progress readable: `tidy-status`, the server log and `sys/metrics`."""

import time

import hvac
import pytest


def wait_for_status(client, path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.read(path)["data"]
        if status["state"] != "Running":
            return status
        time.sleep(0.05)
    pytest.fail(f"{path} still Running after {timeout} s")


def test_tidies_answer_202_and_report_through_tidy_status(unsealed):
    client = unsealed.client
    assert client.read("auth/token/tidy-status")["data"]["state"] == "Inactive"
    for _ in range(3):
        client.auth.token.create(policies=["default"], ttl="1h")

    answer = client.auth.token.tidy()
    assert answer.status_code == 202
    assert "Tidy operation successfully started" in answer.json()["warnings"][0]
    status = wait_for_status(client, "auth/token/tidy-status")
    assert status["state"] == "Finished", status
    assert status["message"].startswith("token tidy finished"), status
    assert status["time_started"] <= status["time_finished"]

    leases = client.adapter.post("/v1/sys/leases/tidy")
    assert leases.status_code == 202
    status = wait_for_status(client, "sys/leases/tidy-status")
    assert "examined 3 leases" in status["message"], status
    assert "lease tidy finished" in unsealed.server.logs()


def test_a_disabled_mount_answers_at_once_and_its_data_is_deleted_in_the_background(unsealed):
    client = unsealed.client
    client.sys.enable_secrets_engine("kv", path="big", options={"version": "1"})
    for i in range(300):
        client.secrets.kv.v1.create_or_update_secret(
            path=f"app/{i}", secret={"v": i}, mount_point="big"
        )
    client.sys.disable_secrets_engine("big")
    assert "big/" not in client.sys.list_mounted_secrets_engines()["data"]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = client.adapter.get("/v1/sys/metrics")
        pending = [g for g in metrics["Gauges"] if g["Name"] == "coffer.mounts.removals_pending"]
        if pending and pending[0]["Value"] == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the disabled mount's data was not deleted within 10 s")
    assert "deleted the 300 stored values of a disabled secrets engine" in unsealed.server.logs()

    client.sys.enable_secrets_engine("kv", path="big", options={"version": "1"})
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v1.list_secrets(path="app", mount_point="big")
