"""The leak check itself must be able to fail: an audit device with `log_raw=true` writes
secrets in the clear by design, and the check has to find them there."""

from pathlib import Path

import requests


def test_the_leak_check_finds_secrets_in_a_raw_audit_log(unsealed, tmp_path, no_secret_leaks):
    raw_log = tmp_path / "raw-audit.log"
    unsealed.client.sys.enable_audit_device(
        "file", path="raw", options={"file_path": str(raw_log), "log_raw": True}
    )
    unsealed.client.secrets.kv.v1.create_or_update_secret(
        path="leaky", secret={"password": "correct-horse-battery"}, mount_point="cubbyhole"
    )
    findings = no_secret_leaks.findings([])
    assert any(str(raw_log) in f and "corr..." in f for f in findings), findings
    assert any("hvs." in f for f in findings), "the root token is in the raw log too"

    # The same traffic through an HMAC-ing device and the trace-level server log: clean.
    no_secret_leaks.audit_files.clear()
    server_logs: list[Path] = unsealed.server.log_files()
    assert no_secret_leaks.findings(server_logs) == []
    assert requests.get(unsealed.server.url("sys/health"), timeout=10).ok
