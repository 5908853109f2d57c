"""A private SoftHSM2 token for one test: its own token directory and SOFTHSM2_CONF."""

from __future__ import annotations

import subprocess
from pathlib import Path

SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"


class Token:
    """A SoftHSM2 token of its own (a private token directory and SOFTHSM2_CONF)."""

    def __init__(self, root: Path, label: str, pin: str):
        self.label = label
        self.pin = pin
        tokens = root / "tokens"
        tokens.mkdir(parents=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin],
            env={"SOFTHSM2_CONF": str(self.conf), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}
