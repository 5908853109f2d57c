"""hvac drives response wrapping against a real `coffer server`: X-Vault-Wrap-TTL on reads,
token creation and AppRole secret ids, sys/wrapping/wrap|unwrap|lookup|rewrap, single use,
and an audit log that records the wrapping without the wrapped secret.

Written against Vault's documented wrapping API, so the same calls hold against `vault server`.
"""

import base64
import json
import re

import hvac
import pytest
import requests


@pytest.fixture
def vault(unsealed):
    c = unsealed.client
    c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    c.secrets.kv.v2.create_or_update_secret(path="app", secret={"pw": "s3cret"}, mount_point="secret")
    return unsealed


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_wrapped_read_unwraps_once_with_the_wrapping_token(vault):
    wrapped = vault.client.read("secret/data/app", wrap_ttl="90s")
    info = wrapped["wrap_info"]
    assert wrapped["data"] is None
    assert info["ttl"] == 90
    assert info["creation_path"] == "secret/data/app"
    assert info["creation_time"].endswith("Z")
    header = json.loads(base64.urlsafe_b64decode(info["token"].split(".")[0] + "=="))
    assert header["alg"] == "ES512"
    assert jwt_claims(info["token"])["type"] == "wrapping"

    holder = vault.server.client(token=info["token"])
    looked = requests.post(
        f"{vault.server.addr}/v1/sys/wrapping/lookup", headers={"X-Vault-Token": info["token"]}, timeout=10
    ).json()
    assert looked["data"]["creation_path"] == "secret/data/app"
    unwrapped = holder.sys.unwrap()
    assert unwrapped["data"]["data"] == {"pw": "s3cret"}
    # A spent wrapping token is a 400 "not valid", as Vault answers it.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        holder.sys.unwrap()
    assert "not valid or does not exist" in str(e.value)


def test_wrap_and_unwrap_arbitrary_data_by_token_parameter(vault):
    c = vault.client
    wrapped = c.sys.wrap(payload={"launch": "code"}, ttl=120)
    token = wrapped["wrap_info"]["token"]
    # Lookup needs no token, as in Vault (hvac has no method for it).
    looked = requests.post(
        f"{vault.server.addr}/v1/sys/wrapping/lookup", json={"token": token}, timeout=10
    ).json()
    assert looked["data"]["creation_path"] == "sys/wrapping/wrap"
    assert looked["data"]["creation_ttl"] == 120
    assert c.sys.unwrap(token=token)["data"] == {"launch": "code"}
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        c.sys.unwrap(token=token)
    assert "not valid or does not exist" in str(e.value)


def test_rewrap_issues_a_new_token_and_spends_the_old(vault):
    c = vault.client
    old = c.sys.wrap(payload={"k": "v"}, ttl=300)["wrap_info"]["token"]
    r = requests.post(
        f"{vault.server.addr}/v1/sys/wrapping/rewrap",
        headers=vault.headers(),
        json={"token": old},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    new = r.json()["wrap_info"]
    assert new["token"] != old and new["ttl"] == 300
    with pytest.raises(hvac.exceptions.InvalidRequest):
        c.sys.unwrap(token=old)
    assert c.sys.unwrap(token=new["token"])["data"] == {"k": "v"}


def test_a_wrapped_approle_secret_id_is_delivered_once(vault):
    c = vault.client
    c.sys.enable_auth_method("approle")
    c.auth.approle.create_or_update_approle("app", token_policies=["default"])
    role_id = c.auth.approle.read_role_id("app")["data"]["role_id"]
    wrapped = c.auth.approle.generate_secret_id("app", wrap_ttl="60s")
    info = wrapped["wrap_info"]
    assert info["creation_path"] == "auth/approle/role/app/secret-id"
    secret_id = vault.server.client(token=info["token"]).sys.unwrap()["data"]["secret_id"]
    login = vault.server.client().auth.approle.login(role_id=role_id, secret_id=secret_id)
    assert login["auth"]["client_token"].startswith("hvs.")


def test_a_wrapped_token_creation_names_the_wrapped_accessor(vault):
    c = vault.client
    wrapped = c.auth.token.create(policies=["default"], ttl="1h", wrap_ttl="60s")
    info = wrapped["wrap_info"]
    inner = c.sys.unwrap(token=info["token"])["auth"]
    assert inner["accessor"] == info["wrapped_accessor"]
    assert vault.server.client(token=inner["client_token"]).auth.token.lookup_self()["data"]["ttl"] > 0


def test_bad_wrap_headers_and_forged_tokens_are_refused(vault):
    base = f"{vault.server.addr}/v1/secret/data/app"
    for bad in ["soon", "-5s", "800h"]:
        r = requests.get(base, headers={**vault.headers(), "X-Vault-Wrap-TTL": bad}, timeout=10)
        assert r.status_code == 400, (bad, r.text)
        assert "X-Vault-Wrap-TTL" in r.json()["errors"][0]
    # 0 asks for no wrapping, as in Vault.
    r = requests.get(base, headers={**vault.headers(), "X-Vault-Wrap-TTL": "0"}, timeout=10)
    assert r.status_code == 200 and r.json()["data"]["data"] == {"pw": "s3cret"}
    token = vault.client.sys.wrap(payload={"k": "v"})["wrap_info"]["token"]
    head, claims, sig = token.split(".")
    forged_claims = dict(jwt_claims(token), exp=4102444800)
    forged = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("="), sig]
    )
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.server.client(token=forged).sys.unwrap()
    assert vault.client.sys.unwrap(token=token)["data"] == {"k": "v"}


def test_the_audit_log_records_the_wrapping_not_the_secret(vault, tmp_path):
    log = tmp_path / "audit.log"
    vault.client.sys.enable_audit_device("file", options={"file_path": str(log)})
    info = vault.client.read("secret/data/app", wrap_ttl="60s")["wrap_info"]
    vault.client.sys.unwrap(token=info["token"])
    # Presented again, the spent JWT is refused at the token check; that refusal is audited
    # under the same hash too, as it is when a request is refused later, at the ACL.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.server.client(token=info["token"]).sys.unwrap()
    text = log.read_text()
    assert "s3cret" not in text
    assert info["token"] not in text
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    wrapped = [
        e for e in entries
        if e["type"] == "response" and (e.get("response") or {}).get("wrap_info")
    ]
    assert len(wrapped) == 1
    assert wrapped[0]["request"]["wrap_ttl"] == 60
    assert wrapped[0]["response"]["wrap_info"]["token"].startswith("hmac-sha256:")
    assert wrapped[0]["response"]["wrap_info"]["creation_path"] == "secret/data/app"
    # The unwrap is audited under the same hash as the wrap (the token inside the JWT), so
    # an operator can tell whether, and by whom, a wrapping token was used.
    unwraps = [
        e for e in entries
        if e["type"] == "request" and e["request"]["path"] == "sys/wrapping/unwrap"
    ]
    assert unwraps and unwraps[0]["request"]["data"]["token"] == wrapped[0]["response"]["wrap_info"]["token"]
    refused = [
        e for e in entries
        if e["type"] == "request" and e["request"]["path"] == "sys/wrapping/unwrap" and e.get("error")
    ]
    assert refused, [e["request"]["path"] for e in entries]
    assert refused[-1]["request"]["client_token"] == wrapped[0]["response"]["wrap_info"]["token"]


def test_the_cli_wraps_with_wrap_ttl_and_unwraps_once(vault, tmp_path):
    from test_cli import run_cli

    home = tmp_path / "home"
    home.mkdir()
    addr, root = vault.server.addr, vault.root_token
    table = run_cli(addr, home, "write", "-wrap-ttl=2m", "sys/wrapping/wrap", "code=1234", token=root)
    assert re.search(r"^wrapping_token_ttl:\s+2m\s*$", table.stdout, re.MULTILINE), table.stdout
    assert re.search(r"^wrapping_token_creation_path:\s+sys/wrapping/wrap\s*$", table.stdout, re.MULTILINE)
    token = run_cli(
        addr, home, "kv", "get", "-wrap-ttl=60s", "-field=wrapping_token", "secret/app", token=root
    ).stdout.strip()
    assert token.count(".") == 2, token
    got = run_cli(addr, home, "unwrap", "-format=json", token, token=root)
    assert json.loads(got.stdout)["data"]["data"] == {"pw": "s3cret"}
    again = run_cli(addr, home, "unwrap", token, token=root, check=False)
    assert again.returncode != 0
    assert "not valid or does not exist" in again.stderr, again.stderr
    # Without a current token, the wrapping token makes the call itself.
    default_wrapped = run_cli(addr, home, "write", "-field=wrapping_token", "sys/wrapping/wrap", "a=b", token=root)
    plain = run_cli(addr, home, "unwrap", "-field=a", default_wrapped.stdout.strip())
    assert plain.stdout.strip() == "b"
