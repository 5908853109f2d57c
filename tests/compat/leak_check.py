"""Secrets never leak: every HTTP exchange a test makes (hvac and plain `requests` alike) is
watched, each secret it carries is remembered — tokens, unseal and recovery keys, passwords,
secret ids, KV values, transit plaintexts, wrapping tokens — and when the test ends, the logs
of its servers (which run at log_level "trace") and the audit files it enabled must contain
none of them. Error bodies must not echo a secret the request sent.

Short strings (under MIN_LEN characters) are not tracked: "1" or "on" in a log proves nothing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import requests

MIN_LEN = 8

# Request body fields whose string values (at any depth) are secret: KV values and wrapped
# data, transit plaintexts, passwords, secret ids, tokens, unseal/recovery key shares, PINs.
SECRET_REQUEST_FIELDS = {"data", "password", "plaintext", "secret_id", "token", "key", "pin", "otp"}
# Response fields that are secret wherever they appear.
SECRET_RESPONSE_FIELDS = {
    "client_token",
    "root_token",
    "secret_id",
    "plaintext",
    "token",
    "encoded_token",
    "encoded_root_token",
    "otp",
}
# Key shares are secret in the answers of init and rekey; elsewhere `keys` lists names.
KEY_SHARE_FIELDS = {"keys", "keys_base64", "recovery_keys", "recovery_keys_base64"}
KEY_SHARE_PATHS = ("/v1/sys/init", "/v1/sys/rekey/update", "/v1/sys/rekey-recovery-key/update")


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _secret_values(body, fields: set[str]) -> list[str]:
    found: list[str] = []
    if isinstance(body, dict):
        for k, v in body.items():
            if k in fields:
                found.extend(_strings(v))
            else:
                found.extend(_secret_values(v, fields))
    elif isinstance(body, list):
        for v in body:
            found.extend(_secret_values(v, fields))
    return found


# What the `coffer` CLI prints that is secret: tokens, key shares, the root token.
CLI_SECRET_PATTERNS = (
    re.compile(r"\b(hvs\.[A-Za-z0-9_-]+)"),
    re.compile(r"^(?:Unseal|Recovery) Key \d+: (\S+)\s*$", re.MULTILINE),
    re.compile(r"^Initial Root Token: (\S+)\s*$", re.MULTILINE),
)

# The watch of the running test, for helpers that run the CLI as a subprocess.
CURRENT: "LeakWatch | None" = None


def remember_cli_output(text: str) -> None:
    """Tracks the secrets a `coffer` CLI run printed (its requests are not watched)."""
    if CURRENT is not None:
        CURRENT._remember([m for p in CLI_SECRET_PATTERNS for m in p.findall(text)])


def _mask(secret: str) -> str:
    return f"{secret[:4]}... ({len(secret)} chars)"


class LeakWatch:
    """Records the secrets and audit files of one test's HTTP traffic."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.audit_files: set[Path] = set()
        self.echoes: list[str] = []

    def _remember(self, values: list[str]) -> None:
        self.secrets.update(v for v in values if len(v) >= MIN_LEN)

    def observe(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        token = request.headers.get("X-Vault-Token")
        if token:
            self._remember([token])
        sent: list[str] = []
        if request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, TypeError, UnicodeDecodeError):
                body = None
            if isinstance(body, dict):
                sent = [v for v in _secret_values(body, SECRET_REQUEST_FIELDS) if len(v) >= MIN_LEN]
                self._remember(sent)
                options = body.get("options")
                if isinstance(options, dict) and isinstance(options.get("file_path"), str):
                    if options["file_path"] not in ("stdout", "discard"):
                        self.audit_files.add(Path(options["file_path"]))
        if response.status_code >= 400:
            text = response.text
            self.echoes.extend(
                f"{request.method} {request.url} answered {response.status_code} with {_mask(s)}"
                for s in sent
                if s in text
            )
        url = request.url or ""
        fields = SECRET_RESPONSE_FIELDS
        if any(p in url for p in KEY_SHARE_PATHS):
            fields = fields | KEY_SHARE_FIELDS
        try:
            answer = response.json()
        except ValueError:
            return
        self._remember(_secret_values(answer, fields))
        wrap = answer.get("wrap_info") if isinstance(answer, dict) else None
        if isinstance(wrap, dict) and isinstance(wrap.get("token"), str):
            self._remember([wrap["token"]])

    def findings(self, files: list[Path]) -> list[str]:
        found = list(self.echoes)
        for f in [*files, *sorted(self.audit_files)]:
            if not f.exists():
                continue
            text = f.read_text(errors="replace")
            found.extend(f"{f}: contains {_mask(s)}" for s in sorted(self.secrets) if s in text)
        return found


def install(monkeypatch) -> LeakWatch:
    """Watches every `requests` exchange of the current test."""
    watch = LeakWatch()
    send = requests.Session.send

    def watched_send(session, request, **kwargs):
        response = send(session, request, **kwargs)
        watch.observe(request, response)
        return response

    monkeypatch.setattr(requests.Session, "send", watched_send)
    monkeypatch.setattr(sys.modules[__name__], "CURRENT", watch)
    return watch
