#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/.

Seeds are small, meaningful inputs (valid configs, policies, scripts,
records); libFuzzer grows the corpus from them. Run from anywhere:
`python3 fuzz/seeds/make_seeds.py`. Files are named seed-<name> so they are
told apart from what fuzzing added (hash names).
"""
import base64
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")
REPO = os.path.join(HERE, "..", "..")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- server_config: first byte even = HCL, odd = JSON; "#env" lines after.
HCL = " "
JSON = "!"
with open(os.path.join(REPO, "config", "example.hcl")) as f:
    # Without its comment lines: the settings are what matters, and small
    # seeds keep the corpus (and every mutation) small.
    lines = [l for l in f.read().splitlines() if l.strip() and not l.lstrip().startswith("#")]
    put("server_config", "example-hcl", HCL + "\n".join(lines) + "\n")
put("server_config", "pkcs11-full", HCL + '''seal "pkcs11" {
  lib = "/usr/lib/softhsm/libsofthsm2.so"
  slot = "0"
  token_label = "coffer"
  pin = "1234"
  key_label = "root"
  key_id = "0x3333"
  hmac_key_label = "hmac"
  hmac_key_id = "0x3334"
  mechanism = "0x1085"
  hmac_mechanism = "0x0251"
  generate_key = true
  force_rw_session = "false"
  rsa_encrypt_local = "false"
  rsa_oaep_hash = "sha256"
  max_parallel = 4
  default_key_label = ""
  disabled = "false"
}
entropy "seal" {
  mode = "augmentation"
}
kms_library "pkcs11" {
  name = "hsm1"
  library = "/usr/lib/softhsm/libsofthsm2.so"
}
storage "embedded" {
  path = "/var/lib/coffer/coffer.db"
}
listener "tcp" {
  address = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_cert_file = "/etc/coffer/tls/coffer.crt"
  tls_key_file = "/etc/coffer/tls/coffer.key"
  tls_min_version = "tls13"
  max_request_size = 33554432
  x_forwarded_for_authorized_addrs = ["10.0.0.0/8", "127.0.0.1"]
  x_forwarded_for_hop_skips = 1
  x_forwarded_for_reject_not_authorized = true
  x_forwarded_for_reject_not_present = false
}
ui = true
disable_mlock = false
raw_storage_endpoint = true
api_addr = "https://coffer.example:8200"
cluster_addr = "https://coffer.example:8201"
cluster_name = "prod"
log_level = "debug"
default_lease_ttl = "1h30m"
max_lease_ttl = 86400
''')
put("server_config", "postgres-ha", HCL + '''storage "postgresql" {
  connection_url = "postgres://coffer@db.example:5432/coffer?sslmode=verify-full"
  table = "vault_kv_store"
  ha_enabled = "true"
  ha_table = "vault_ha_locks"
  ha_lock_ttl = "15s"
  max_parallel = 16
  max_connect_retries = 1
}
listener "tcp" {
  address = "0.0.0.0:8200"
  tls_disable = "true"
}
api_addr = "http://10.0.0.1:8200"
disable_clustering = true
''')
put("server_config", "migration", HCL + '''seal "pkcs11" {
  lib = "/x.so"
  key_label = "old"
  disabled = "true"
}
seal "pkcs11" {
  lib = "/x.so"
  key_label = "new"
  mechanism = 0x1087
}
storage "inmem" {}
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = 1
}
''')
put("server_config", "heredoc-and-lists", HCL + '''listener "tcp" { address = "127.0.0.1:8200" tls_disable = true }
storage "file" {
  path = <<EOF
/var/lib/coffer
EOF
}
api_addr = "${env.X}"
max_lease_ttl = -5
default_lease_ttl = 1.5
''')
put("server_config", "env-overrides", HCL + '''seal "pkcs11" {
  lib = "/x.so"
}
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = "true"
}
#env
VAULT_HSM_PIN=1234
VAULT_HSM_KEY_LABEL=root
VAULT_HSM_SLOT=0x1
VAULT_HSM_MECHANISM=CKM_AES_GCM
VAULT_HSM_GENERATE_KEY=true
VAULT_HSM_MAX_PARALLEL=2
VAULT_HSM_RSA_OAEP_HASH=sha1
VAULT_API_ADDR=http://127.0.0.1:8200
VAULT_SEAL_TYPE=pkcs11
VAULT_PG_CONNECTION_URL=postgres://x@y/z
''')
put("server_config", "json", JSON + json.dumps({
    "seal": {"pkcs11": {"lib": "/x.so", "slot": 0, "key_label": "k", "generate_key": True}},
    "listener": [{"tcp": {"address": "127.0.0.1:8200", "tls_disable": "true"}},
                 {"tcp": {"address": "127.0.0.1:8300", "tls_disable": True}}],
    "storage": {"file": {"path": "/tmp/x"}},
    "entropy": {"seal": {"mode": "augmentation"}},
    "ui": True,
    "log_level": "err",
    "max_lease_ttl": "48h",
}, indent=1) + "\n#env\nVAULT_HSM_PIN=p\n")
put("server_config", "json-list-shape", JSON + '{"listener": {"tcp": [{"address": "127.0.0.1:1"}, {"address": "[::1]:2", "tls_disable": "true"}]}, "seal": [{"pkcs11": {"lib": "/l", "key_label": "k", "pin": "p"}}]}')

# --- policy
put("policy", "hcl-basic", '''# Dev team
path "secret/data/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
path "secret/data/+/config" {
  capabilities = ["read"]
  required_parameters = ["version"]
  allowed_parameters = {
    "version" = ["1", "2*"]
    "*" = []
  }
  denied_parameters = {
    "admin" = []
  }
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "1h"
}
path "sys/policies/acl/*" {
  capabilities = ["sudo", "read", "list"]
}
path "secret/metadata/private" {
  capabilities = ["deny"]
}
''')
put("policy", "hcl-legacy", '''name = "legacy"
path "secret/*" {
  policy = "write"
}
path "auth/token/create" {
  policy = "sudo"
  comment = "root-ish"
  subscribe_event_types = ["kv*"]
}
path "sys/*" { policy = "deny" }
''')
put("policy", "json", json.dumps({
    "path": {
        "secret/data/*": {"capabilities": ["read", "list"]},
        "transit/encrypt/+": {"capabilities": ["update"],
                              "allowed_parameters": {"plaintext": [], "context": ["Y3R4"]},
                              "max_wrapping_ttl": 3600},
        "sys/": {"capabilities": ["deny"]},
    }
}, indent=2))
put("policy", "json-list-shape", '{"path": [{"a/*": {"capabilities": ["read"]}}, {"b/+/c": {"policy": "read", "min_wrapping_ttl": "30s"}}]}')
put("policy", "hcl-nested-values", '''path "x/*" {
  capabilities = ["read"]
  allowed_parameters = {
    "n" = [1, -2, 1.5, true, null, "s", ["nested"]]
  }
}
path "y" {
  capabilities = ("read")
  max_wrapping_ttl = 90
}
''')

# --- KV scripts (op path / json body)
def script(*pairs):
    return "".join(f"{op}\n{json.dumps(body) if body is not None else ''}\n" for op, body in pairs)

put("kv_request", "v2-write-read", script(
    ("update secret/data/app", {"data": {"password": "hunter2", "n": 1}, "options": {"cas": 0}}),
    ("read secret/data/app", None),
    ("update secret/data/app", {"data": {"password": "x"}, "options": {"cas": 1}}),
    ("read secret/data/app?version=1", None),
    ("list secret/metadata/", None),
))
put("kv_request", "v2-patch-versions", script(
    ("update secret/data/a/b", {"data": {"k": "v", "obj": {"x": [1, 2]}}}),
    ("patch secret/data/a/b", {"data": {"k": None, "new": "n"}, "options": {"cas": 1}}),
    ("update secret/delete/a/b", {"versions": [1, 2, 99]}),
    ("update secret/undelete/a/b", {"versions": [1]}),
    ("update secret/destroy/a/b", {"versions": [2]}),
    ("read secret/subkeys/a/b", {"depth": 2}),
))
put("kv_request", "v2-metadata-config", script(
    ("update secret/config", {"max_versions": 3, "cas_required": True, "delete_version_after": "1h"}),
    ("update secret/metadata/m", {"max_versions": 2, "cas_required": False, "delete_version_after": "10m",
                                   "custom_metadata": {"owner": "ops"}}),
    ("patch secret/metadata/m", {"custom_metadata": {"owner": None, "team": "x"}}),
    ("read secret/metadata/m", None),
    ("delete secret/metadata/m", None),
    ("read secret/config", None),
))
put("kv_request", "v1-and-cubbyhole", script(
    ("update kv/app/db", {"user": "u", "password": "p", "ttl": "1h"}),
    ("read kv/app/db", None),
    ("list kv/app/", None),
    ("update cubbyhole/mine", {"k": "v"}),
    ("read cubbyhole/mine", None),
    ("delete kv/app/db", None),
))
put("kv_request", "odd-bodies", script(
    ("update secret/data/x", {"data": "not an object"}),
    ("update secret/data/x", {"data": {}, "options": {"cas": -1}}),
    ("update secret/data/x", [1, 2]),
    ("update secret/delete/x", {"versions": "1,2"}),
    ("update secret/metadata/x", {"delete_version_after": "-1s", "max_versions": 4294967296}),
))

# --- transit scripts
put("transit_request", "encrypt-decrypt", script(
    ("update transit/encrypt/aes", {"plaintext": "aGVsbG8=", "associated_data": "YWQ="}),
    ("update transit/decrypt/aes", {"ciphertext": "$prev.ciphertext", "associated_data": "YWQ="}),
    ("update transit/encrypt/derived", {"plaintext": "aGVsbG8=", "context": "Y3R4"}),
    ("update transit/decrypt/derived", {"ciphertext": "$prev.ciphertext", "context": "Y3R4"}),
    ("update transit/encrypt/conv", {"plaintext": "aGVsbG8=", "context": "Y3R4"}),
    ("update transit/rewrap/conv", {"ciphertext": "$prev.ciphertext", "context": "Y3R4"}),
))
put("transit_request", "batch", script(
    ("update transit/encrypt/chacha", {"batch_input": [{"plaintext": "YQ==", "reference": "1"},
                                                      {"plaintext": "not base64"}]}),
    ("update transit/decrypt/chacha", {"batch_input": "$prev.batch_results"}),
    ("update transit/encrypt/aes128", {"batch_input": [], "partial_failure_response_code": 207}),
    ("update transit/hmac/hmac", {"batch_input": [{"input": "YQ=="}], "algorithm": "sha2-512"}),
    ("update transit/sign/ed", {"batch_input": [{"input": "YQ=="}, {"input": "Yg=="}]}),
))
put("transit_request", "sign-verify", script(
    ("update transit/sign/ec/sha2-384", {"input": "aGVsbG8=", "marshaling_algorithm": "jws"}),
    ("update transit/verify/ec/sha2-384", {"input": "aGVsbG8=", "signature": "$prev.signature", "marshaling_algorithm": "jws"}),
    ("update transit/sign/rsa", {"input": "aGVsbG8=", "signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-512"}),
    ("update transit/verify/rsa", {"input": "aGVsbG8=", "signature": "$prev.signature", "signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-512"}),
    ("update transit/sign/ec384", {"input": "aGVsbG8=", "prehashed": True, "hash_algorithm": "sha2-384"}),
    ("update transit/hmac/hmac", {"input": "aGVsbG8=", "key_version": 1}),
    ("update transit/verify/hmac", {"input": "aGVsbG8=", "hmac": "$prev.hmac"}),
))
put("transit_request", "keys-lifecycle", script(
    ("update transit/keys/k1", {"type": "ecdsa-p256", "exportable": True, "allow_plaintext_backup": True}),
    ("update transit/keys/k1/rotate", None),
    ("update transit/keys/k1/config", {"min_decryption_version": 2, "min_encryption_version": 0, "deletion_allowed": True, "auto_rotate_period": "0"}),
    ("read transit/export/signing-key/k1/latest", None),
    ("read transit/backup/k1", None),
    ("update transit/restore/k2", {"backup": "$prev.backup"}),
    ("update transit/keys/k2/trim", {"min_available_version": 2}),
    ("list transit/keys", None),
))
put("transit_request", "misc", script(
    ("update transit/datakey/plaintext/aes", {"bits": 512, "context": "Y3R4"}),
    ("update transit/datakey/wrapped/derived", {"context": "Y3R4", "nonce": "AAAAAAAAAAAAAAAA"}),
    ("update transit/hash/sha2-512", {"input": "aGVsbG8=", "format": "base64"}),
    ("update transit/random/all/64", {"format": "hex"}),
    ("update transit/random", {"bytes": 131073}),
    ("read transit/keys/exp", None),
    ("read transit/export/public-key/exp", None),
    ("read transit/backup/exp", None),
    ("update transit/restore", {"backup": "$prev.backup", "name": "exp2"}),
))

# Restores of real backup documents (throwaway test keys), written as
# readable JSON that "$b64:" encodes, so mutations edit the document.
for line in open(os.path.join(HERE, "transit_backups.txt")):
    name, doc = line.split(" ", 1)
    put("transit_request", f"restore-{name}", script(
        (f"update transit/restore/r{name}", {"backup": "$b64:" + doc.strip()}),
        (f"read transit/keys/r{name}", None),
        (f"update transit/encrypt/r{name}", {"plaintext": "aGk="}),
        (f"update transit/sign/r{name}", {"input": "aGk="}),
    ))

# --- transit_ciphertext: selector byte picks key (x % 6) and mode ((x/8) % 8).
# Keys: 0 aes, 1 chacha, 2 derived, 3 ed, 4 ec, 5 hmac.
for key in range(6):
    put("transit_ciphertext", f"raw-{key}", bytes([key]) + b"vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")
    put("transit_ciphertext", f"version-{key}", bytes([key + 4 * 8]) + b"18446744073709551616")
    put("transit_ciphertext", f"body-{key}", bytes([key + 5 * 8]) + b"Zm9vYmFy")
    put("transit_ciphertext", f"truncate-{key}", bytes([key + 6 * 8]) + b"\x10")
    put("transit_ciphertext", f"flip-{key}", bytes([key + 7 * 8]) + b"\x0cB")
    put("transit_ciphertext", f"batch-{key}", bytes([key + 0x40]) + b"vault:v2:")
put("transit_ciphertext", "rewrap", bytes([0x80]) + b"vault:v0:AAAA")
put("transit_ciphertext", "no-prefix", bytes([1]) + b"v1:abc")
put("transit_ciphertext", "jws", bytes([4]) + b"vault:v1:eyJhbGciOiJFUzI1NiJ9")

# --- seal_blob: version 1 blobs of each mechanism
def u16(b):
    return struct.pack(">H", len(b)) + b

def blob(mech, param, label, key_id, hlabel, hid, iv, wrapped, ct, mac):
    return (bytes([1]) + struct.pack(">Q", mech) + bytes([param]) + u16(label) + u16(key_id)
            + u16(hlabel) + u16(hid) + u16(iv) + u16(wrapped) + struct.pack(">I", len(ct)) + ct + u16(mac))

put("seal_blob", "gcm", blob(0x1087, 0, b"coffer-root", b"", b"", b"", b"\x01" * 12, b"", b"\xaa" * 48, b""))
put("seal_blob", "cbc-hmac", blob(0x1085, 0, b"root-2026", b"\x33\x33", b"hmac-2026", b"\x34", b"\x07" * 16, b"", b"\xbb" * 48, b"\x09" * 32))
put("seal_blob", "cbc", blob(0x1082, 0, b"k", b"", b"h", b"", b"\x07" * 16, b"", b"\xbb" * 32, b"\x09" * 32))
put("seal_blob", "rsa-oaep", blob(0x0009, 3, b"rsa", b"\x01", b"", b"", b"", b"\x05" * 256, b"\xcc" * 40, b""))
put("seal_blob", "truncated", blob(0x1087, 0, b"k", b"", b"", b"", b"\x01" * 12, b"", b"\xaa" * 16, b"")[:30])

# --- seal_wrap_record: even selector = stored record, odd = value to wrap.
put("seal_wrap_record", "record-soft", b"\x00CSW\x01\x06pkcs11soft-seal:\x05key-1" + b"\x01" + b"\x00" * 16 + b"\xab" * 32)
put("seal_wrap_record", "record-other-seal", b"\x02CSW\x01\x06awskms" + b"\x00" * 20)
put("seal_wrap_record", "record-bad-version", b"\x04CSW\x02\x00")
put("seal_wrap_record", "record-short-type", b"\x06CSW\x01\xffpk")
put("seal_wrap_record", "value", b"\x01\x05\x40barrier ciphertext")
put("seal_wrap_record", "value-empty", b"\x03")

# --- barrier_record: selector % 6
env = bytes([1]) + struct.pack(">I", 1) + b"\x00" * 12 + b"\x11" * 5 + b"\x22" * 16
put("barrier_record", "envelope", b"\x00" + env)
put("barrier_record", "envelope-bad-version", b"\x00" + b"\x09" + env[1:])
put("barrier_record", "stored-envelope", b"\x01" + env)
put("barrier_record", "stored-wrapped", b"\x07CSW\x01\x06pkcs11soft-seal:\x05key-1" + env)
put("barrier_record", "roundtrip", b"\x02\x03\x01plaintext")
keyring = {
    "active_term": 2,
    "root_key": base64.b64encode(b"\x07" * 32).decode(),
    "path_key": base64.b64encode(b"\x05" * 32).decode(),
    "terms": [
        {"term": 1, "key": base64.b64encode(b"\x01" * 32).decode(), "install_time": "2024-01-01T00:00:00Z"},
        {"term": 2, "key": base64.b64encode(b"\x02" * 32).decode(), "install_time": "2025-06-30T12:34:56.789Z"},
    ],
}
put("barrier_record", "keyring", b"\x03" + json.dumps(keyring).encode())
bad = dict(keyring, active_term=9)
put("barrier_record", "keyring-no-active", b"\x03" + json.dumps(bad).encode())
put("barrier_record", "segment", b"\x04logical/abc/\nZm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eA")
put("barrier_record", "segment-name", b"\x0alogical/\npayroll-db")
put("barrier_record", "put-get", b"\x05abc/payroll/password\ncorrect horse")

# --- storage_file scripts
put("storage_file", "basic", "put a/b/c\tv1\nput a/b/d\tv2\nput top\tx\nlist a/b/\nlist \nget a/b/c\ndelete a/b/c\nlist a/\nget a/b/c\n")
put("storage_file", "underscores", "put _u/_v\tx\nput u\ty\nlist \nlist _u/\nget _u/_v\ndelete u\nlist \n")
put("storage_file", "raw-entries", 'raw k\t{"Value":"aGkA"}\nraw k2\tnot json\nraw a/k3\t{"Value":"%%%"}\nraw k4\t{"Value":"aGk=","Extra":1}\nlist \n')
put("storage_file", "invalid-keys", "put /a\tx\nput a/\tx\nput a//b\tx\nput a/../b\tx\nput .\tx\nlist a\nget \nlist \n")
put("storage_file", "folder-vs-leaf", "put a\t1\nput a/b\t2\nput _a/c\t3\nlist \nlist a/\ndelete a/b\nlist \n")

# --- wrapping_jwt: selector % 5
put("wrapping_jwt", "raw-jwt-shape", b"\x00eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.e30.AAAA")
put("wrapping_jwt", "raw-service-token", b"\x00hvs.notarealtoken")
put("wrapping_jwt", "header", b"\x01eyJhbGciOiJub25lIn0")
put("wrapping_jwt", "claims", b'\x02{"accessor":"","addr":"","exp":99999999999,"iat":0,"jti":"x","nbf":0,"type":"wrapping"}')
put("wrapping_jwt", "signature", b"\x03")
put("wrapping_jwt", "flip", b"\x04\x50B")
