"""Managed keys through hvac: `sys/managed-keys/pkcs11/...` written, read (PIN redacted), listed,
tested on a key the server generates in the token, and a mount's `allowed_managed_keys`."""

from __future__ import annotations

import base64

import hvac
import pytest

from hsm_token import MODULE, Token

CONFIG = """seal "pkcs11" {
  lib = "%(lib)s"
  token_label = "%(label)s"
  key_label = "seal-key"
  generate_key = "true"
}
kms_library "pkcs11" {
  name = "hsm"
  library = "%(lib)s"
}
storage "file" {
  path = "{data_dir}"
}
listener "tcp" {
  address = "{address}"
  tls_disable = "true"
}
disable_mlock = true
"""


def test_managed_key_lifecycle_with_hvac(server_factory, tmp_path):
    token = Token(tmp_path / "hsm", "hvac-mk", "4321")
    server = server_factory(
        config_template=CONFIG % {"lib": MODULE, "label": token.label},
        env={**token.env(), "VAULT_HSM_PIN": "4321"},
    )
    client = server.client()
    init = client.sys.initialize(recovery_shares=1, recovery_threshold=1)
    client.token = init["root_token"]

    key = {
        "library": "hsm",
        "token_label": token.label,
        "pin": "4321",
        "key_label": "hvac-ec",
        "mechanism": "0x1041",
        "curve": "P256",
        "allow_generate_key": True,
    }
    client.adapter.post("/v1/sys/managed-keys/pkcs11/hvac-ec", json=key)
    read = client.adapter.get("/v1/sys/managed-keys/pkcs11/hvac-ec")["data"]
    assert read["pin"] == "redacted"
    assert read["mechanism"] == 0x1041
    assert read["curve"] == "P256"
    assert read["usages"] == ["sign", "verify"]
    assert client.adapter.list("/v1/sys/managed-keys/pkcs11")["data"]["keys"] == ["hvac-ec"]

    resp = client.adapter.post("/v1/sys/managed-keys/pkcs11/hvac-ec/test/sign", json={"hash_algorithm": "sha2-384"})
    assert resp.status_code == 204

    with pytest.raises(hvac.exceptions.InvalidRequest, match="hash_algorithm"):
        client.adapter.post("/v1/sys/managed-keys/pkcs11/hvac-ec/test/sign", json={"hash_algorithm": "md5"})

    client.sys.enable_secrets_engine("transit", path="mk-transit", config={"allowed_managed_keys": ["hvac-ec"]})
    tune = client.sys.read_mount_configuration("mk-transit")["data"]
    assert tune["allowed_managed_keys"] == ["hvac-ec"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="still allowed on mk-transit/"):
        client.adapter.delete("/v1/sys/managed-keys/pkcs11/hvac-ec")
    client.sys.tune_mount_configuration("mk-transit", allowed_managed_keys=[])
    client.adapter.delete("/v1/sys/managed-keys/pkcs11/hvac-ec")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.adapter.get("/v1/sys/managed-keys/pkcs11/hvac-ec")


def test_transit_managed_key_with_hvac(server_factory, tmp_path):
    token = Token(tmp_path / "hsm", "hvac-tmk", "4321")
    server = server_factory(
        config_template=CONFIG % {"lib": MODULE, "label": token.label},
        env={**token.env(), "VAULT_HSM_PIN": "4321"},
    )
    client = server.client()
    client.token = client.sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
    for name, extra in [
        ("hvac-aes", {"mechanism": "0x1087", "usages": "encrypt,decrypt"}),
        ("hvac-p384", {"mechanism": "0x1041", "curve": "P384"}),
    ]:
        client.adapter.post(
            f"/v1/sys/managed-keys/pkcs11/{name}",
            json={"library": "hsm", "token_label": token.label, "pin": "4321", "key_label": name,
                  "allow_generate_key": True, **extra},
        )
    client.sys.enable_secrets_engine(
        "transit", path="transit", config={"allowed_managed_keys": ["hvac-aes", "hvac-p384"]}
    )
    # hvac 2.4's create_key has no managed_key_name parameter: the same POST, by hand.
    client.adapter.post("/v1/transit/keys/orders", json={"type": "managed_key", "managed_key_name": "hvac-aes"})
    assert client.secrets.transit.read_key("orders")["data"]["type"] == "managed_key"
    plaintext = base64.b64encode(b"4111 1111 1111 1111").decode()
    ciphertext = client.secrets.transit.encrypt_data("orders", plaintext)["data"]["ciphertext"]
    assert ciphertext.startswith("vault:v1:")
    assert client.secrets.transit.decrypt_data("orders", ciphertext)["data"]["plaintext"] == plaintext

    client.adapter.post("/v1/transit/keys/signer", json={"type": "managed_key", "managed_key_name": "hvac-p384"})
    data = base64.b64encode(b"invoice 7").decode()
    signature = client.secrets.transit.sign_data("signer", hash_input=data, hash_algorithm="sha2-384")["data"][
        "signature"
    ]
    verified = client.secrets.transit.verify_signed_data(
        "signer", hash_input=data, signature=signature, hash_algorithm="sha2-384"
    )
    assert verified["data"]["valid"] is True
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not possible with a managed key"):
        client.secrets.transit.export_key("signer", key_type="signing-key")
