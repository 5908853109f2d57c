"""A private PKCS#11 test token for one test: a token store of its own and the variable that
points the module at it. The module is COFFER_TEST_PKCS11_MODULE, or Debian's SoftHSM2; a
module whose file name says kryoptic is set up the kryoptic way (scripts/build-kryoptic builds
it). Mirrors crates/testkit/src/token.rs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MODULE = os.environ.get("COFFER_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
KRYOPTIC = "kryoptic" in Path(MODULE).name.lower()
TOOL_ENV = {"PATH": "/usr/bin:/bin"}
# What the server's banner says about the token (`HSM Manufacturer ID`).
MANUFACTURER = "Kryoptic" if KRYOPTIC else "SoftHSM"
# The RSA-OAEP hash the token does: SoftHSM2 2.6 only SHA-1, kryoptic the seeds' SHA-256.
OAEP_HASH = "sha256" if KRYOPTIC else "sha1"


class Token:
    """A token of its own, labelled `label`, with `pin` as user and SO PIN."""

    def __init__(self, root: Path, label: str, pin: str):
        assert Path(MODULE).is_file(), f"PKCS#11 module {MODULE} not found: run scripts/setup"
        self.label = label
        self.pin = pin
        root.mkdir(parents=True)
        if KRYOPTIC:
            self.conf = root / "kryoptic.toml"
            self.conf.write_text(f'[[slots]]\nslot = 1\ndbtype = "sqlite"\ndbargs = "{root / "token.sql"}"\n')
            self._run(["pkcs11-tool", "--module", MODULE, "--init-token", "--slot", "1", "--label", label,
                       "--so-pin", pin])
            self._run(["pkcs11-tool", "--module", MODULE, "--slot", "1", "--login", "--login-type", "so",
                       "--so-pin", pin, "--init-pin", "--pin", pin])
        else:
            tokens = root / "tokens"
            tokens.mkdir()
            self.conf = root / "softhsm2.conf"
            self.conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
            self._run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin])

    def _run(self, argv: list[str]) -> None:
        subprocess.run(argv, env={**TOOL_ENV, **self.env()}, check=True, capture_output=True)

    def env(self) -> dict[str, str]:
        return {("KRYOPTIC_CONF" if KRYOPTIC else "SOFTHSM2_CONF"): str(self.conf)}
