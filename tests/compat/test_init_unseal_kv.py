"""hvac drives init, Shamir unseal, mounts, KV v1/v2 and seal; data survives a restart."""

import hvac
import pytest
import requests


def test_init_unseal_kv_roundtrip(server):
    client = server.client()

    # -- init: 3 shares, threshold 2 -----------------------------------------------------
    assert client.sys.is_initialized() is False
    init = client.sys.initialize(secret_shares=3, secret_threshold=2)
    assert len(init["keys"]) == 3
    assert len(init["keys_base64"]) == 3
    assert isinstance(init["root_token"], str) and init["root_token"]
    keys, keys_b64, root_token = init["keys"], init["keys_base64"], init["root_token"]
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is True

    # -- unseal: progress after one share, unsealed after two (second one base64) --------
    status = client.sys.submit_unseal_key(keys[0])
    assert status["sealed"] is True
    assert status["progress"] == 1
    assert status["t"] == 2
    assert status["n"] == 3
    status = client.sys.submit_unseal_key(keys_b64[1])
    assert status["sealed"] is False
    assert client.sys.is_sealed() is False

    client.token = root_token

    # -- mounts ----------------------------------------------------------------------------
    client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    client.sys.enable_secrets_engine("kv", path="kv2", options={"version": "2"})
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    for path in ("kv1/", "kv2/", "sys/", "cubbyhole/"):
        assert path in mounts, f"{path} missing from sys/mounts: {sorted(mounts)}"
    assert mounts["kv1/"]["type"] == "kv"
    assert mounts["kv2/"]["type"] == "kv"
    assert mounts["kv2/"]["options"]["version"] == "2"

    # -- KV v1 -----------------------------------------------------------------------------
    client.secrets.kv.v1.create_or_update_secret(path="app", secret={"user": "alice"}, mount_point="kv1")
    assert client.secrets.kv.v1.read_secret(path="app", mount_point="kv1")["data"] == {"user": "alice"}

    # -- KV v2: two versions ---------------------------------------------------------------
    kv2 = client.secrets.kv.v2
    first = kv2.create_or_update_secret(path="app", secret={"pw": "s3cret"}, mount_point="kv2")
    assert first["data"]["version"] == 1
    second = kv2.create_or_update_secret(path="app", secret={"pw": "s3cret-v2"}, mount_point="kv2")
    assert second["data"]["version"] == 2

    latest = kv2.read_secret_version(path="app", mount_point="kv2", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"pw": "s3cret-v2"}
    assert latest["data"]["metadata"]["version"] == 2
    assert latest["data"]["metadata"]["destroyed"] is False
    assert latest["data"]["metadata"]["deletion_time"] == ""

    v1 = kv2.read_secret_version(path="app", version=1, mount_point="kv2", raise_on_deleted_version=True)
    assert v1["data"]["data"] == {"pw": "s3cret"}
    assert v1["data"]["metadata"]["version"] == 1

    # -- soft delete latest: 404, but hvac can still see the deletion metadata -------------
    kv2.delete_latest_version_of_secret(path="app", mount_point="kv2")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2.read_secret_version(path="app", mount_point="kv2", raise_on_deleted_version=True)
    deleted = kv2.read_secret_version(path="app", mount_point="kv2", raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["version"] == 2
    assert deleted["data"]["metadata"]["deletion_time"] != ""

    # -- undelete brings it back -----------------------------------------------------------
    kv2.undelete_secret_versions(path="app", versions=[2], mount_point="kv2")
    restored = kv2.read_secret_version(path="app", mount_point="kv2", raise_on_deleted_version=True)
    assert restored["data"]["data"] == {"pw": "s3cret-v2"}

    # -- destroy version 1 for good --------------------------------------------------------
    kv2.destroy_secret_versions(path="app", versions=[1], mount_point="kv2")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2.read_secret_version(path="app", version=1, mount_point="kv2", raise_on_deleted_version=True)

    metadata = kv2.read_secret_metadata(path="app", mount_point="kv2")["data"]
    assert metadata["current_version"] == 2
    assert set(metadata["versions"]) == {"1", "2"}
    assert metadata["versions"]["1"]["destroyed"] is True
    assert metadata["versions"]["2"]["destroyed"] is False
    assert metadata["versions"]["2"]["deletion_time"] == ""

    assert kv2.list_secrets(path="", mount_point="kv2")["data"]["keys"] == ["app"]

    # -- seal ------------------------------------------------------------------------------
    client.sys.seal()
    assert client.sys.is_sealed() is True

    # -- restart on the same data dir: still initialised, sealed, and the data is there ----
    server.restart()
    client = server.client()
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is True
    # Any two of the three shares will do; use a different pair than before.
    assert client.sys.submit_unseal_key(keys[2])["progress"] == 1
    assert client.sys.submit_unseal_key(keys[1])["sealed"] is False
    client.token = root_token

    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert "kv1/" in mounts and "kv2/" in mounts
    assert client.secrets.kv.v1.read_secret(path="app", mount_point="kv1")["data"] == {"user": "alice"}
    after = client.secrets.kv.v2.read_secret_version(path="app", mount_point="kv2", raise_on_deleted_version=True)
    assert after["data"]["data"] == {"pw": "s3cret-v2"}
    assert after["data"]["metadata"]["version"] == 2
    assert client.secrets.kv.v2.read_secret_metadata(path="app", mount_point="kv2")["data"]["versions"]["1"][
        "destroyed"
    ] is True


def test_sealed_requests_get_503(unsealed):
    client = unsealed.client
    client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    client.secrets.kv.v1.create_or_update_secret(path="app", secret={"user": "alice"}, mount_point="kv1")
    client.sys.seal()

    resp = requests.get(unsealed.server.url("kv1/app"), headers=unsealed.headers(), timeout=10)
    assert resp.status_code == 503, resp.text
    errors = resp.json()["errors"]
    assert any("Vault is sealed" in e for e in errors), errors

    # hvac maps 503 to VaultDown.
    with pytest.raises(hvac.exceptions.VaultDown):
        client.secrets.kv.v1.read_secret(path="app", mount_point="kv1")
