"""Typing a seed's commands with `coffer` for `vault` and checking the output the seed shows.

A step is the command as the seed prints it (with `coffer` for `vault`), run by bash so that
`$(base64 <<< "...")` works as the seed has it, and the output the seed shows after it. The
expected text is matched line by line, in order, against the command's output, each line
allowed to be anywhere after the previous match (so rows Coffer prints in addition, such as
`Seal Type` or `Build Date`, do not fail a step), with:

- runs of spaces or tabs matching any run of whitespace, line breaks included (the seeds'
  tables lost their padding, and their prose wraps elsewhere);
- `{b64}`, `{token}`, `{id}`, `{uuid}`, `{any}` matching what differs from run to run;
- `...` matching any columns of one row, as the seeds elide them;
- `$NAME` standing for a value captured from an earlier step (a token, a mount's UUID);
- the product name: `Vault` in the seed's text also matches `Coffer`.

Where Coffer's output differs from the seed's for a reason, the step says so in `differs`
(shown on failure, and read by the reviewer): a newer Vault CLI's shape, a feature Coffer
does not have (the identity engine), or the test token (SoftHSM2 instead of the seed's HSM).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import leak_check

CLI_TIMEOUT_S = 60

PLACEHOLDERS = {
    "{b64}": r"[A-Za-z0-9+/=]+",
    "{token}": r"hvs\.[A-Za-z0-9]+",
    "{id}": r"[0-9a-f]+",
    "{uuid}": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "{any}": r".*",
}


@dataclass
class Step:
    command: str
    expect: str = ""
    # Variables to capture from the output: name -> regex with one group.
    capture: dict[str, str] = field(default_factory=dict)
    # Why Coffer's output legitimately differs from the seed's here, if it does.
    differs: str = ""
    exit_code: int = 0


def line_pattern(expected: str) -> re.Pattern[str]:
    """One expected line as a regex over the output (lines stripped and joined by newlines)."""
    out = []
    for token in re.split(r"(\{b64\}|\{token\}|\{id\}|\{uuid\}|\{any\}|\.\.\.|\s+)", expected.strip()):
        if not token:
            continue
        if token in PLACEHOLDERS:
            out.append(PLACEHOLDERS[token])
        elif token == "...":
            out.append(r"[^\n]*?")
        elif token.isspace():
            # Whitespace may also be a line break: the seeds wrap prose where Coffer does not.
            out.append(r"\s+")
        else:
            out.append(re.escape(token).replace("Vault", "(?:Vault|Coffer)"))
    return re.compile("".join(out))


def check_output(step: Step, output: str, variables: dict[str, str] | None = None) -> None:
    """Each non-empty line of `step.expect` (with `$NAME` replaced by captured variables) must
    be found in `output`, in order."""
    text = "\n".join(line.strip() for line in output.splitlines())
    at = 0
    for expected in step.expect.strip().splitlines():
        if not expected.strip():
            continue
        for name, value in (variables or {}).items():
            expected = expected.replace(f"${name}", value)
        found = line_pattern(expected).search(text, at)
        assert found, (
            f"`{step.command}`: the seed's line {expected.strip()!r} is not in the output "
            f"(at or after the previous match)\n--- output ---\n{output}"
            + (f"\n--- known difference ---\n{step.differs}" if step.differs else "")
        )
        at = found.end()


class Operator:
    """A shell session of the operator: VAULT_ADDR, a private HOME (the token helper's file),
    and variables captured from earlier output (`$ROOT_TOKEN`, ...)."""

    def __init__(self, coffer_bin: str, home: Path, addr: str):
        self.home = home
        self.bin_dir = home / "bin"
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        link = self.bin_dir / "coffer"
        if not link.exists():
            link.symlink_to(coffer_bin)
        self.vars: dict[str, str] = {"VAULT_ADDR": addr}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "COFFER_"))}
        env["HOME"] = str(self.home)
        env["PATH"] = f"{self.bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
        env.update(self.vars)
        return env

    def run(self, step: Step) -> str:
        proc = subprocess.run(
            ["bash", "-c", step.command],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
        output = proc.stdout + proc.stderr
        leak_check.remember_cli_output(output)
        assert proc.returncode == step.exit_code, (
            f"`{step.command}` exited {proc.returncode}, the seed's step expects {step.exit_code}\n{output}"
        )
        check_output(step, output, self.vars)
        for name, regex in step.capture.items():
            found = re.search(regex, output, re.MULTILINE)
            assert found, f"`{step.command}`: nothing matches {regex!r} to set ${name}\n{output}"
            self.vars[name] = found.group(1)
        return output

    def walk(self, steps: list[Step]) -> None:
        for step in steps:
            self.run(step)
