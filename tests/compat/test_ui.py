"""The web UI in a real browser (headless Chromium) against a real `coffer server`: seed 004's
steps 8.7 and 8.8 (method 2) on a SoftHSM2 seal, init and unseal of a Shamir server, a user
whose policy lets them see little, and a token revoked under an open session.

Screens are found by the ids and names the UI gives its forms and tables; every value checked
is read back from the page, the CLI or the API."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import hvac
import pytest
import requests

from browser import browser  # noqa: F401  (the fixture)
from browser import Browser
from conftest import CofferServer
from hsm_token import MODULE, Token
from test_seed_walks import SEED_004_CONFIG, column

SHAMIR_UI_CONFIG = """
storage "file" {
  path = "{data_dir}"
}
listener "tcp" {
  address     = "{address}"
  tls_disable = "true"
}
ui = true
disable_mlock = true
"""


@pytest.fixture
def ui_server(server_factory):
    """`ui_server(config, env)` starts a server on a whole config (with `ui = true`)."""
    return lambda config, env=None: server_factory(config_template=config, env=env)


def csp_violations(b: Browser) -> list[str]:
    return [m for m in b.console_errors() if "Content Security Policy" in m or "Refused to" in m]


def test_the_ui_is_served_with_a_strict_content_security_policy(ui_server):
    server = ui_server(SHAMIR_UI_CONFIG)
    page = requests.get(f"{server.addr}/ui/", timeout=10)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" in page.text and "src=\"/ui/app.js\"" in page.text
    assert requests.get(f"{server.addr}/ui/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{server.addr}/", allow_redirects=False, timeout=10).headers["Location"] == "/ui/"
    posted = requests.post(f"{server.addr}/ui/app.js", timeout=10)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"
    assert requests.get(f"{server.addr}/ui/missing.js", timeout=10).status_code == 404
    # Any other path is the app's page (its screens live in the fragment).
    assert requests.get(f"{server.addr}/ui/secrets/x", timeout=10).text == page.text


def test_seed_004_enable_a_seal_wrapped_kv_engine_in_the_browser(ui_server, browser, coffer_bin, tmp_path):
    token = Token(tmp_path / "hsm", "seed004", "safest")
    config = SEED_004_CONFIG % {"lib": MODULE, "label": token.label}
    server = ui_server(config, env={**token.env(), "VAULT_HSM_PIN": "safest"})
    init = requests.put(server.url("sys/init"), json={"recovery_shares": 1, "recovery_threshold": 1}, timeout=30)
    assert init.status_code == 200, init.text
    root = init.json()["root_token"]
    hvac.Client(url=server.addr, token=root).sys.read_health_status(method="GET")

    # 8.7: open the UI and sign in with the root token.
    browser.open(server.addr)
    browser.fill("#login-form input[name=token]", root)
    browser.press("Sign in")
    browser.find("#mounts")

    # 8.8, method 2: enable a KV engine at kv-seal-wrapped with "Seal wrap" ticked.
    browser.fill("#enable-form input[name=path]", "kv-seal-wrapped")
    browser.find("#enable-form input[name=seal_wrap]").click()
    browser.press("Enable engine")
    browser.find("#kv-editor")

    # A secret written and read back through the UI; the value stays masked until revealed.
    browser.fill("#kv-editor input[name=secret_path]", "mysecret")
    browser.fill("#kv-editor input[name=key-0]", "password")
    browser.fill("#kv-editor input[name=value-0]", "s3cret-from-the-ui")
    browser.press("Save")
    value = browser.find('#kv-data tr[data-key="password"] code')
    assert value.text == "••••••••"
    browser.press("Reveal", within='#kv-data tr[data-key="password"]')
    browser.wait_text('#kv-data tr[data-key="password"] code', "s3cret-from-the-ui")
    read = hvac.Client(url=server.addr, token=root).secrets.kv.v2.read_secret_version(
        path="mysecret", mount_point="kv-seal-wrapped", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "s3cret-from-the-ui"}

    # Listed with Seal Wrap true, in the UI and by the CLI.
    browser.go("secrets")
    browser.wait_text('#mounts tr[data-mount="kv-seal-wrapped/"] td[data-col=seal_wrap]', "true")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    cli = subprocess.run(
        [coffer_bin, "secrets", "list", "-detailed"],
        env={**env, "VAULT_ADDR": server.addr, "VAULT_TOKEN": root},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode == 0, cli.stderr
    assert column(cli.stdout, "kv-seal-wrapped/", "Seal Wrap") == "true", cli.stdout

    # The status panel: what the HSM said about itself, and the entropy it supplied.
    browser.go("status")
    hsm = browser.wait_text("#status-hsm", "SoftHSM").text
    assert "hsm_demo" in hsm and "hsm_hmac_demo" in hsm, hsm
    assert 'HSM Token "seed004" in slot' in hsm and "CKM_AES_GCM (0x1087)" in hsm, hsm
    health = browser.wait_text("#status-health", "Entropy source healthy yes").text
    draws = next(line for line in health.splitlines() if line.startswith("Entropy draws from the HSM"))
    assert int(draws.rsplit(" ", 1)[1]) > 0, health
    assert "Seal answers yes" in health, health
    assert csp_violations(browser) == []


def test_a_shamir_server_is_initialised_and_unsealed_from_the_browser(ui_server, browser):
    server = ui_server(SHAMIR_UI_CONFIG)
    browser.open(server.addr)
    browser.fill("#init-form input[name=shares]", "3")
    browser.fill("#init-form input[name=threshold]", "2")
    browser.press("Initialise")
    keys = [k.text for k in browser.find("#init-keys").find_elements("css selector", "code")]
    root = browser.find("#root-token").text
    assert len(keys) == 3 and root
    browser.press("Continue")

    browser.wait_text("#unseal-progress", "0/2")
    browser.fill("#unseal-form input[name=key]", keys[0])
    browser.press("Unseal")
    browser.wait_text("#unseal-progress", "1/2")
    browser.fill("#unseal-form input[name=key]", "not-a-key")
    browser.press("Unseal")
    browser.find(".error")
    browser.fill("#unseal-form input[name=key]", keys[2])
    browser.press("Unseal")

    browser.fill("#login-form input[name=token]", root)
    browser.press("Sign in")
    browser.find('#mounts tr[data-mount="sys/"]')
    status = requests.get(server.url("sys/seal-status"), timeout=10).json()
    assert status["initialized"] and not status["sealed"] and status["n"] == 3
    assert csp_violations(browser) == []


def sign_in_with_userpass(browser: Browser, username: str, password: str) -> None:
    browser.choose("#login-form select[name=method]", "userpass")
    browser.fill("#login-form input[name=username]", username)
    browser.fill("#login-form input[name=password]", password)
    browser.press("Sign in")


def test_a_limited_user_sees_permission_denied_and_a_revoked_token_ends_the_session(ui_server, browser):
    server = ui_server(SHAMIR_UI_CONFIG)
    init = requests.put(server.url("sys/init"), json={"secret_shares": 1, "secret_threshold": 1}, timeout=30).json()
    requests.put(server.url("sys/unseal"), json={"key": init["keys_base64"][0]}, timeout=30).raise_for_status()
    root = hvac.Client(url=server.addr, token=init["root_token"])
    root.sys.enable_auth_method("userpass")
    root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret("app", {"greeting": "hello alice"}, mount_point="secret")
    root.sys.create_or_update_policy("reader", 'path "secret/*" { capabilities = ["read", "list"] }')
    root.write("auth/userpass/users/alice", password="alice-pw", policies="reader")

    browser.open(server.addr)
    sign_in_with_userpass(browser, "alice", "wrong")
    browser.wait_text(".error", "invalid")
    sign_in_with_userpass(browser, "alice", "alice-pw")
    # Listing every engine needs sys/mounts, which the reader policy does not grant: the UI
    # says so and lists the engines the token can use, whose secrets alice can read.
    browser.wait_text(".error", "permission denied")
    browser.find("#mounts-partial")
    browser.find('#mounts tr[data-mount="secret/"] a').click()
    browser.find('#kv-keys a[href$="/app"]').click()
    browser.press("Reveal", within='#kv-data tr[data-key="greeting"]')
    browser.wait_text('#kv-data tr[data-key="greeting"] code', "hello alice")
    browser.go("secrets")
    token = browser.session_token()
    assert token and token not in browser.driver.current_url

    root.auth.token.revoke(token)
    browser.driver.refresh()
    browser.wait_text("#login-reason", "no longer valid")
    assert browser.session_token() is None

    # Signing out forgets the token, and revokes one the UI made by logging in.
    sign_in_with_userpass(browser, "alice", "alice-pw")
    browser.find("#mounts-partial")
    second = browser.session_token()
    browser.press("Sign out")
    browser.find("#login-form")
    assert browser.session_token() is None
    lookup = requests.get(server.url("auth/token/lookup-self"), headers={"X-Vault-Token": second}, timeout=10)
    assert lookup.status_code == 403, lookup.text
    assert csp_violations(browser) == []


def signed_in_shamir_server(ui_server, browser: Browser) -> tuple[CofferServer, hvac.Client]:
    """A Shamir server initialised and unsealed through the API, the browser signed in as root."""
    server = ui_server(SHAMIR_UI_CONFIG)
    init = requests.put(server.url("sys/init"), json={"secret_shares": 1, "secret_threshold": 1}, timeout=30).json()
    requests.put(server.url("sys/unseal"), json={"key": init["keys_base64"][0]}, timeout=30).raise_for_status()
    browser.open(server.addr)
    browser.fill("#login-form input[name=token]", init["root_token"])
    browser.press("Sign in")
    browser.find("#mounts")
    return server, hvac.Client(url=server.addr, token=init["root_token"])


def test_transit_encrypts_and_decrypts_a_text_in_the_browser(ui_server, browser):
    server, root = signed_in_shamir_server(ui_server, browser)
    browser.choose("#enable-form select[name=type]", "transit")
    browser.press("Enable engine")
    browser.find('#mounts tr[data-mount="transit/"] a').click()
    browser.fill("#transit-create input[name=name]", "ui-key")
    browser.press("Create key")
    browser.find('#transit-keys a[href$="/ui-key"]').click()
    browser.wait_text('#transit-key td[data-field="latest_version"]', "1")

    browser.fill("#transit-encrypt textarea[name=plaintext]", "hello from the browser ✓")
    browser.press("Encrypt")
    ciphertext = browser.wait_text("#transit-result", "vault:v1:").text
    # The same ciphertext decrypts through the API, so the UI sent the text as Vault expects.
    plain = root.secrets.transit.decrypt_data(name="ui-key", ciphertext=ciphertext)["data"]["plaintext"]
    assert base64.b64decode(plain).decode() == "hello from the browser ✓"

    browser.press("Decrypt")
    browser.wait_text("#transit-result", "hello from the browser ✓")
    browser.press("Rotate key")
    browser.wait_text('#transit-key td[data-field="latest_version"]', "2")

    browser.go("status")
    browser.wait_text("#status-hsm", "shamir (no HSM)")
    # What the HSM is, only for a token allowed to read sys/hsm/status.
    assert requests.get(server.url("sys/hsm/status"), timeout=10).status_code == 403
    browser.wait_text("#status-health", "Entropy augmentation off")
    assert csp_violations(browser) == []


def test_a_policy_that_does_not_parse_shows_the_servers_error_at_its_line(ui_server, browser):
    server, root = signed_in_shamir_server(ui_server, browser)
    browser.go("policies")
    browser.find('#policies a[href$="/default"]')
    browser.fill("#policy-editor input[name=policy_name]", "ops")
    broken = 'path "secret/*" {\n  capabilities = ["reed"]\n}\n'
    browser.fill("#policy-editor textarea[name=policy]", broken)
    browser.press("Save policy")
    browser.wait_text(".error", 'unknown capability "reed"')
    browser.wait_text("#policy-error-line", 'Line 2: capabilities = ["reed"]')
    assert "ops" not in root.sys.list_policies()["data"]["policies"]

    browser.fill("#policy-editor textarea[name=policy]", broken.replace("reed", "read"))
    browser.press("Save policy")
    browser.wait_text("h1", "Policy ops")
    shown = browser.find("#policy-editor textarea[name=policy]").get_attribute("value")
    assert 'capabilities = ["read"]' in shown
    assert 'capabilities = ["read"]' in root.sys.read_policy("ops")["data"]["rules"]
    assert csp_violations(browser) == []


def test_kv_versions_json_editing_and_disabling_an_engine_in_the_browser(ui_server, browser):
    server, root = signed_in_shamir_server(ui_server, browser)
    browser.fill("#enable-form input[name=path]", "team")
    browser.press("Enable engine")
    # A secret written as JSON, then a second version with key/value rows.
    browser.fill("#kv-editor input[name=secret_path]", "db/creds")
    browser.find("#kv-editor input[name=as_json]").click()
    browser.fill("#kv-editor textarea[name=json]", '{"user": "app", "port": 5432}')
    browser.press("Save")
    browser.wait_text("h1", "version 1")
    browser.press("Create new version")
    # A number keeps its type: the editor opens on the JSON.
    shown = json.loads(browser.find("#kv-editor textarea[name=json]").get_attribute("value"))
    assert shown == {"user": "app", "port": 5432}
    browser.fill("#kv-editor textarea[name=json]", '{"user": "app2", "port": 5432}')
    browser.press("Save")
    browser.wait_text("h1", "version 2")
    data = root.secrets.kv.v2.read_secret_version(path="db/creds", mount_point="team", raise_on_deleted_version=True)
    assert data["data"]["data"] == {"user": "app2", "port": 5432}, data

    # A third version with key/value rows, values masked as they are typed.
    browser.press("Create new version")
    browser.find("#kv-editor input[name=as_json]").click()
    rows = {browser.find(f"#kv-editor input[name=key-{i}]").get_attribute("value"): i for i in range(2)}
    browser.fill(f"#kv-editor input[name=value-{rows['user']}]", "app3")
    assert browser.find(f"#kv-editor input[name=value-{rows['user']}]").get_attribute("type") == "password"
    browser.press("Save")
    browser.wait_text("h1", "version 3")
    data = root.secrets.kv.v2.read_secret_version(path="db/creds", mount_point="team", raise_on_deleted_version=True)
    assert data["data"]["data"] == {"user": "app3", "port": "5432"}, data

    # Delete version 2, undelete it, destroy version 1 (after a confirmation).
    browser.press("Delete", within='#kv-versions tr[data-version="2"]')
    browser.wait_text('#kv-versions tr[data-version="2"]', "deleted")
    browser.press("Undelete", within='#kv-versions tr[data-version="2"]')
    browser.wait_text('#kv-versions tr[data-version="2"]', "live")
    browser.press("Destroy", within='#kv-versions tr[data-version="1"]')
    browser.driver.switch_to.alert.accept()
    browser.wait_text('#kv-versions tr[data-version="1"]', "destroyed")
    versions = root.secrets.kv.v2.read_secret_metadata(path="db/creds", mount_point="team")["data"]["versions"]
    assert versions["1"]["destroyed"] and not versions["2"]["deletion_time"], versions

    # The folder lists the secret; disabling the engine asks first, and a "no" keeps it.
    browser.go("secrets/team/db%2F")
    browser.wait_text("#kv-keys", "creds")
    browser.go("secrets")
    browser.press("Disable", within='#mounts tr[data-mount="team/"]')
    browser.driver.switch_to.alert.dismiss()
    assert "team/" in root.sys.list_mounted_secrets_engines()["data"]
    browser.press("Disable", within='#mounts tr[data-mount="team/"]')
    browser.driver.switch_to.alert.accept()
    browser.gone('#mounts tr[data-mount="team/"]')
    assert "team/" not in root.sys.list_mounted_secrets_engines()["data"]
    assert csp_violations(browser) == []


def test_an_hsm_sealed_server_is_initialised_with_recovery_keys_from_the_browser(ui_server, browser, tmp_path):
    token = Token(tmp_path / "hsm", "uiinit", "safest")
    config = SEED_004_CONFIG % {"lib": MODULE, "label": token.label}
    server = ui_server(config, env={**token.env(), "VAULT_HSM_PIN": "safest"})
    browser.open(server.addr)
    browser.wait_text("main", "recovery keys")
    browser.fill("#init-form input[name=shares]", "2")
    browser.fill("#init-form input[name=threshold]", "1")
    browser.press("Initialise")
    # The server's own refusal, shown as it said it.
    browser.wait_text(".error", "threshold must be greater than one for multiple shares")
    browser.fill("#init-form input[name=threshold]", "2")
    browser.press("Initialise")
    browser.wait_text("main", "Hand each recovery key")
    keys = [k.text for k in browser.find("#init-keys").find_elements("css selector", "code")]
    root = browser.find("#root-token").text
    assert len(keys) == 2
    browser.press("Continue")
    # The HSM unseals it: no unseal form, straight to signing in.
    browser.fill("#login-form input[name=token]", root)
    browser.press("Sign in")
    browser.find("#mounts")
    status = requests.get(server.url("sys/seal-status"), timeout=10).json()
    assert status["type"] == "pkcs11" and status["recovery_seal"] and status["n"] == 2 and not status["sealed"]
    assert csp_violations(browser) == []


def test_a_kv_write_never_overwrites_a_newer_version_or_an_existing_secret(ui_server, browser):
    server, root = signed_in_shamir_server(ui_server, browser)
    browser.fill("#enable-form input[name=path]", "shared")
    browser.press("Enable engine")
    browser.fill("#kv-editor input[name=secret_path]", "cfg")
    browser.fill("#kv-editor input[name=key-0]", "mode")
    browser.fill("#kv-editor input[name=value-0]", "blue")
    browser.press("Save")
    browser.wait_text("h1", "version 1")
    browser.press("Create new version")
    # Someone else writes version 2 while this editor is open on version 1.
    root.secrets.kv.v2.create_or_update_secret("cfg", {"mode": "green"}, mount_point="shared")
    browser.fill("#kv-editor input[name=value-0]", "red")
    browser.press("Save")
    browser.wait_text(".error", "check-and-set")
    latest = root.secrets.kv.v2.read_secret_version(path="cfg", mount_point="shared", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"mode": "green"}, latest

    # Creating a secret under a name that exists is refused too.
    browser.go("secrets/shared")
    browser.fill("#kv-editor input[name=secret_path]", "cfg")
    browser.fill("#kv-editor input[name=key-0]", "mode")
    browser.fill("#kv-editor input[name=value-0]", "black")
    browser.press("Save")
    browser.wait_text(".error", "check-and-set")
    latest = root.secrets.kv.v2.read_secret_version(path="cfg", mount_point="shared", raise_on_deleted_version=True)
    assert latest["data"]["metadata"]["version"] == 2
