"""hvac drives the transit secrets engine: keys, encrypt/decrypt, rotation, rewrap, signatures,
batches, HMAC and data keys, the way applications use Vault's "encryption as a service".

Written against Vault's documented transit API, so the same tests pass against a real Vault.
"""

import base64

import hvac
import pytest
import requests


MOUNT = "transit"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def transit(unsealed):
    unsealed.client.sys.enable_secrets_engine("transit", path=MOUNT)
    return unsealed


def test_create_encrypt_decrypt_rotate_and_rewrap(transit):
    t = transit.client.secrets.transit
    t.create_key(name="orders", mount_point=MOUNT)
    key = t.read_key(name="orders", mount_point=MOUNT)["data"]
    assert key["type"] == "aes256-gcm96"
    assert key["latest_version"] == 1
    assert key["supports_encryption"] is True
    assert "orders" in t.list_keys(mount_point=MOUNT)["data"]["keys"]

    ct1 = t.encrypt_data(name="orders", plaintext=b64(b"card 4111"), mount_point=MOUNT)["data"]
    assert ct1["ciphertext"].startswith("vault:v1:")
    assert ct1["key_version"] == 1
    plain = t.decrypt_data(name="orders", ciphertext=ct1["ciphertext"], mount_point=MOUNT)
    assert unb64(plain["data"]["plaintext"]) == b"card 4111"

    t.rotate_key(name="orders", mount_point=MOUNT)
    assert t.read_key(name="orders", mount_point=MOUNT)["data"]["latest_version"] == 2
    ct2 = t.encrypt_data(name="orders", plaintext=b64(b"new"), mount_point=MOUNT)["data"]["ciphertext"]
    assert ct2.startswith("vault:v2:")
    # The old version still decrypts until policy forbids it.
    plain = t.decrypt_data(name="orders", ciphertext=ct1["ciphertext"], mount_point=MOUNT)
    assert unb64(plain["data"]["plaintext"]) == b"card 4111"

    rewrapped = t.rewrap_data(name="orders", ciphertext=ct1["ciphertext"], mount_point=MOUNT)["data"]
    assert rewrapped["ciphertext"].startswith("vault:v2:")
    assert "plaintext" not in rewrapped

    t.update_key_configuration(name="orders", min_decryption_version=2, mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="too old"):
        t.decrypt_data(name="orders", ciphertext=ct1["ciphertext"], mount_point=MOUNT)
    plain = t.decrypt_data(name="orders", ciphertext=rewrapped["ciphertext"], mount_point=MOUNT)
    assert unb64(plain["data"]["plaintext"]) == b"card 4111"


def test_encrypt_creates_a_missing_key_and_keys_survive_a_restart(transit):
    t = transit.client.secrets.transit
    ct = t.encrypt_data(name="upserted", plaintext=b64(b"kept"), mount_point=MOUNT)["data"]["ciphertext"]
    assert t.read_key(name="upserted", mount_point=MOUNT)["data"]["type"] == "aes256-gcm96"

    server = transit.server
    server.restart()
    client = server.client()
    client.sys.submit_unseal_key(transit.keys[0])
    client.token = transit.root_token
    plain = client.secrets.transit.decrypt_data(name="upserted", ciphertext=ct, mount_point=MOUNT)
    assert unb64(plain["data"]["plaintext"]) == b"kept"


@pytest.mark.parametrize(
    "key_type,extra",
    [
        ("ecdsa-p256", {}),
        ("ecdsa-p384", {"marshaling_algorithm": "jws"}),
        ("ed25519", {}),
        ("rsa-2048", {"signature_algorithm": "pkcs1v15"}),
        ("rsa-2048", {}),
    ],
)
def test_sign_and_verify(transit, key_type, extra):
    t = transit.client.secrets.transit
    name = f"signer-{key_type}"
    t.create_key(name=name, key_type=key_type, mount_point=MOUNT)
    key = t.read_key(name=name, mount_point=MOUNT)["data"]
    assert key["supports_signing"] is True
    assert key["keys"]["1"]["public_key"]

    message = b64(b"release-1.2.3.tar.gz")
    signed = t.sign_data(name=name, hash_input=message, mount_point=MOUNT, **extra)["data"]
    assert signed["signature"].startswith("vault:v1:")
    ok = t.verify_signed_data(
        name=name, hash_input=message, signature=signed["signature"], mount_point=MOUNT, **extra
    )
    assert ok["data"]["valid"] is True
    bad = t.verify_signed_data(
        name=name, hash_input=b64(b"tampered"), signature=signed["signature"], mount_point=MOUNT, **extra
    )
    assert bad["data"]["valid"] is False


def test_batch_encrypt_and_decrypt_with_a_bad_item(transit):
    t = transit.client.secrets.transit
    t.create_key(name="batch", mount_point=MOUNT)
    items = [{"plaintext": b64(f"row {i}".encode()), "reference": str(i)} for i in range(10)]
    results = t.encrypt_data(name="batch", batch_input=items, mount_point=MOUNT)["data"]["batch_results"]
    assert [r["reference"] for r in results] == [str(i) for i in range(10)]
    decrypted = t.decrypt_data(
        name="batch",
        batch_input=[{"ciphertext": r["ciphertext"]} for r in results],
        mount_point=MOUNT,
    )["data"]["batch_results"]
    assert [unb64(r["plaintext"]) for r in decrypted] == [f"row {i}".encode() for i in range(10)]

    # One bad item: 400 for the whole request (as Vault), with every item's outcome in the body.
    body = {"batch_input": [{"ciphertext": results[0]["ciphertext"]}, {"ciphertext": "vault:v1:!!"}]}
    url = transit.server.url(f"{MOUNT}/decrypt/batch")
    resp = requests.post(url, json=body, headers=transit.headers(), timeout=10)
    assert resp.status_code == 400
    out = resp.json()["data"]["batch_results"]
    assert unb64(out[0]["plaintext"]) == b"row 0"
    assert "base64" in out[1]["error"]
    body["partial_failure_response_code"] = 207
    resp = requests.post(url, json=body, headers=transit.headers(), timeout=10)
    assert resp.status_code == 207
    with pytest.raises(hvac.exceptions.InvalidRequest):
        t.decrypt_data(name="batch", batch_input=body["batch_input"], mount_point=MOUNT)


def test_hmac_datakey_hash_and_random(transit):
    t = transit.client.secrets.transit
    t.create_key(name="mac", mount_point=MOUNT)
    mac = t.generate_hmac(name="mac", hash_input=b64(b"payload"), mount_point=MOUNT)["data"]["hmac"]
    assert mac.startswith("vault:v1:")
    ok = t.verify_signed_data(name="mac", hash_input=b64(b"payload"), hmac=mac, mount_point=MOUNT)
    assert ok["data"]["valid"] is True
    mac512 = t.generate_hmac(name="mac", hash_input=b64(b"payload"), algorithm="sha2-512", mount_point=MOUNT)
    assert len(unb64(mac512["data"]["hmac"].split(":", 2)[2])) == 64

    dk = t.generate_data_key(name="mac", key_type="plaintext", bits=256, mount_point=MOUNT)["data"]
    assert len(unb64(dk["plaintext"])) == 32
    unwrapped = t.decrypt_data(name="mac", ciphertext=dk["ciphertext"], mount_point=MOUNT)["data"]["plaintext"]
    assert unwrapped == dk["plaintext"]
    wrapped = t.generate_data_key(name="mac", key_type="wrapped", mount_point=MOUNT)["data"]
    assert "plaintext" not in wrapped and wrapped["ciphertext"].startswith("vault:v1:")

    digest = t.hash_data(hash_input=b64(b"abc"), algorithm="sha2-256", mount_point=MOUNT)["data"]["sum"]
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    rnd = t.generate_random_bytes(n_bytes=48, mount_point=MOUNT)["data"]["random_bytes"]
    assert len(unb64(rnd)) == 48


def test_export_backup_restore_and_delete(transit):
    t = transit.client.secrets.transit
    t.create_key(name="movable", exportable=True, allow_plaintext_backup=True, mount_point=MOUNT)
    exported = t.export_key(name="movable", key_type="encryption-key", mount_point=MOUNT)["data"]
    assert len(unb64(exported["keys"]["1"])) == 32
    ct = t.encrypt_data(name="movable", plaintext=b64(b"x"), mount_point=MOUNT)["data"]["ciphertext"]
    backup = t.backup_key(name="movable", mount_point=MOUNT)["data"]["backup"]

    with pytest.raises(hvac.exceptions.InvalidRequest, match="deletion is not allowed"):
        t.delete_key(name="movable", mount_point=MOUNT)
    t.update_key_configuration(name="movable", deletion_allowed=True, mount_point=MOUNT)
    t.delete_key(name="movable", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidPath):
        t.read_key(name="movable", mount_point=MOUNT)

    t.restore_key(backup=backup, name="movable", mount_point=MOUNT)
    plain = t.decrypt_data(name="movable", ciphertext=ct, mount_point=MOUNT)["data"]["plaintext"]
    assert unb64(plain) == b"x"


def test_bad_input_gets_vault_status_codes(transit):
    t = transit.client.secrets.transit
    t.create_key(name="k", mount_point=MOUNT)
    ct = t.encrypt_data(name="k", plaintext=b64(b"x"), mount_point=MOUNT)["data"]["ciphertext"]
    raw = bytearray(unb64(ct.split(":", 2)[2]))
    raw[-1] ^= 1
    with pytest.raises(hvac.exceptions.InvalidRequest, match="message authentication failed"):
        t.decrypt_data(name="k", ciphertext="vault:v1:" + b64(bytes(raw)), mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="no prefix"):
        t.decrypt_data(name="k", ciphertext="garbage", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="encryption key not found"):
        t.decrypt_data(name="missing", ciphertext=ct, mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="does not support signing"):
        t.sign_data(name="k", hash_input=b64(b"m"), mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown key type"):
        transit.client.write_data(f"{MOUNT}/keys/odd", data={"type": "des"})
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not supported"):
        t.create_key(name="rotating", auto_rotate_period="24h", mount_point=MOUNT)
    resp = requests.get(transit.server.url(f"{MOUNT}/keys/missing"), headers=transit.headers(), timeout=10)
    assert resp.status_code == 404
    assert resp.json() == {"errors": []}
