"""Takes the screenshots in docs/ui/ from a real server (SoftHSM2 seal with entropy
augmentation, file storage) and a real browser. Not a test; run it after a UI change:

    scripts/build-ui && cargo build -p coffer-cli --bin coffer
    COFFER_BIN=target/debug/coffer .venv/bin/python tests/compat/ui_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import hvac
import requests

sys.path.insert(0, str(Path(__file__).parent))
from browser import Browser  # noqa: E402
from conftest import CofferServer  # noqa: E402
from hsm_token import MODULE, Token  # noqa: E402
from test_seed_walks import SEED_004_CONFIG  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "docs" / "ui"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        token = Token(tmp_path / "hsm", "coffer", "1234")
        config = SEED_004_CONFIG % {"lib": MODULE, "label": token.label}
        server = CofferServer(os.environ["COFFER_BIN"], tmp_path / "server", config_template=config,
                              env={**token.env(), "VAULT_HSM_PIN": "1234"})
        server.workdir.mkdir()
        server.start()
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(server.addr)
            browser.find("#init-form")
            browser.driver.save_screenshot(str(OUT / "init.png"))
            init = requests.put(server.url("sys/init"), json={"recovery_shares": 3, "recovery_threshold": 2},
                                timeout=30).json()
            root = hvac.Client(url=server.addr, token=init["root_token"])
            root.sys.enable_secrets_engine("kv", path="kv-seal-wrapped", options={"version": "2"},
                                           seal_wrap=True, description="seed 004")
            root.sys.enable_secrets_engine("transit", external_entropy_access=True, description="keys from the HSM")
            root.secrets.kv.v2.create_or_update_secret("app/db", {"user": "app", "password": "s3cret"},
                                                       mount_point="kv-seal-wrapped")
            root.secrets.transit.create_key("orders")
            browser.driver.refresh()
            browser.fill("#login-form input[name=token]", init["root_token"])
            browser.driver.save_screenshot(str(OUT / "login.png"))
            browser.press("Sign in")
            browser.find('#mounts tr[data-mount="kv-seal-wrapped/"]')
            browser.driver.save_screenshot(str(OUT / "engines.png"))
            browser.go("secrets/kv-seal-wrapped/app%2Fdb")
            browser.press("Reveal", within='#kv-data tr[data-key="user"]')
            browser.find("#kv-versions")
            browser.driver.save_screenshot(str(OUT / "kv.png"))
            browser.go("transit/transit/orders")
            browser.fill("#transit-encrypt textarea[name=plaintext]", "order 4711")
            browser.press("Encrypt")
            browser.wait_text("#transit-result", "vault:v1:")
            browser.driver.save_screenshot(str(OUT / "transit.png"))
            browser.go("status")
            browser.wait_text("#status-hsm", "SoftHSM")
            browser.driver.save_screenshot(str(OUT / "status.png"))
        finally:
            browser.quit()
            server.stop()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
