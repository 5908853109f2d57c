"""Root token generation with `pgp_key`, as Vault does it: the new root token comes back
encrypted to the operator's OpenPGP key, and the operator decrypts it with GnuPG
(`base64 -d | gpg -d`). Keys are made by a real `gpg` in a private GNUPGHOME.
"""

import base64
import json
import os
import re
import subprocess

import hvac
import pytest
import requests

from test_cli import run_cli


def gpg(home, *args, data=None):
    proc = subprocess.run(
        ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args],
        env={**os.environ, "GNUPGHOME": str(home)},
        input=data,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture
def operator_key(tmp_path):
    """(GNUPGHOME, fingerprint, binary public key) of a fresh ed25519/cv25519 key."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg(home, "--quick-gen-key", "Operator <op@example.com>", "ed25519", "sign", "never")
    listing = gpg(home, "--list-keys", "--with-colons").decode()
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    gpg(home, "--quick-add-key", fpr, "cv25519", "encr", "never")
    return home, fpr, gpg(home, "--export", fpr)


def test_hvac_generates_a_root_token_encrypted_to_the_operators_key(unsealed, operator_key):
    home, fpr, public = operator_key
    sys = unsealed.client.sys
    started = sys.start_root_token_generation(pgp_key=base64.b64encode(public).decode())
    assert started["pgp_fingerprint"] == fpr.lower()
    assert started["otp"] == ""
    assert sys.read_root_generation_progress()["pgp_fingerprint"] == fpr.lower()
    done = sys.generate_root(key=unsealed.keys[0], nonce=started["nonce"])
    assert done["complete"] is True
    token = gpg(home, "--decrypt", data=base64.b64decode(done["encoded_root_token"])).decode()
    assert token.startswith("hvs.")
    me = hvac.Client(url=unsealed.server.addr, token=token).auth.token.lookup_self()["data"]
    assert me["policies"] == ["root"]


def test_bad_pgp_keys_and_both_protections_are_refused(unsealed, operator_key):
    _, _, public = operator_key
    sys = unsealed.client.sys
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        sys.start_root_token_generation(pgp_key="bm90IGEga2V5")
    assert "not an OpenPGP public key" in str(e.value)
    # hvac refuses both itself; the server must too.
    r = requests.put(
        f"{unsealed.server.addr}/v1/sys/generate-root/attempt",
        json={"otp": "x" * 28, "pgp_key": base64.b64encode(public).decode()},
        timeout=10,
    )
    assert r.status_code == 400 and "either otp or pgp_key" in r.json()["errors"][0], r.text
    assert sys.read_root_generation_progress()["started"] is False


def test_the_cli_takes_a_pgp_key_file(unsealed, operator_key, tmp_path):
    home, fpr, public = operator_key
    key_file = tmp_path / "operator.gpg"
    key_file.write_bytes(public)
    cli_home = tmp_path / "home"
    cli_home.mkdir()
    addr, root = unsealed.server.addr, unsealed.root_token
    init = run_cli(addr, cli_home, "operator", "generate-root", "-init", f"-pgp-key={key_file}", token=root)
    assert re.search(rf"^PGP Fingerprint\s+{fpr.lower()}\s*$", init.stdout, re.MULTILINE), init.stdout
    nonce = re.search(r"^Nonce\s+(\S+)\s*$", init.stdout, re.MULTILINE).group(1)
    done = run_cli(
        addr, cli_home, "operator", "generate-root", "-format=json", f"-nonce={nonce}", unsealed.keys[0],
        token=root,
    )
    encoded = json.loads(done.stdout)["encoded_root_token"]
    token = gpg(home, "--decrypt", data=base64.b64decode(encoded)).decode()
    assert hvac.Client(url=addr, token=token).auth.token.lookup_self()["data"]["policies"] == ["root"]
