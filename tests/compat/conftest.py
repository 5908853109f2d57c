"""Fixtures that run the real `coffer` server for the hvac compatibility tests.

Every test gets its own server process (own temp dir, own port, `file` storage) so tests
never share state. The binary comes from $COFFER_BIN; when it is missing the tests FAIL
(never skip): CI must not go green without having talked to a real server.

Everything here is written against HashiCorp Vault's documented behaviour, so the same
tests pass against a real `vault server -config=...` given the same config.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import hvac
import pytest
import requests

import leak_check

STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_GRACE_S = 10.0
HTTP_TIMEOUT_S = 10.0

# Hermetic: no inherited Vault settings may point hvac elsewhere, and loopback traffic must
# never go through an HTTP proxy from the environment.
for _name in [n for n in os.environ if n.startswith("VAULT_")]:
    del os.environ[_name]
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1", "localhost"]))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve_coffer_bin() -> str:
    """Absolute path of the coffer binary from $COFFER_BIN, or fail the test with a clear message."""
    raw = os.environ.get("COFFER_BIN")
    if not raw:
        pytest.fail(
            "COFFER_BIN is not set: build the server with `cargo build -p coffer-cli --bin coffer` "
            "and run `COFFER_BIN=target/debug/coffer .venv/bin/pytest -q tests/compat` "
            "(scripts/test does both)",
            pytrace=False,
        )
    path = shutil.which(raw) or raw
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"COFFER_BIN={raw!r} is not an executable file (did `cargo build -p coffer-cli --bin coffer` fail?)",
            pytrace=False,
        )
    return os.path.abspath(path)


class CofferServer:
    """One `coffer server -config=...` process over a data dir that survives restarts."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        listener_extra: dict[str, object] | None = None,
        config_template: str | None = None,
        env: dict[str, str] | None = None,
        trace_logs: bool = True,
    ):
        """`config_template`, when given, is the whole config with `{address}` and `{data_dir}`
        to fill in (a seed's config, say); `env` is added to the server's environment.
        `trace_logs` adds `log_level = "trace"` to a template that sets no level."""
        self.trace_logs = trace_logs
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config_path = workdir / "config.hcl"
        self.listener_extra = dict(listener_extra or {})
        self.config_template = config_template
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.addr = ""
        self.starts = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Start on a fresh port (so a restart never races TIME_WAIT) and wait for sys/health."""
        assert self.proc is None, "server already running"
        port = _free_port()
        self.addr = f"http://127.0.0.1:{port}"
        self._write_config(port)
        self.starts += 1
        self.stdout_path = self.workdir / f"server-{self.starts}.stdout"
        self.stderr_path = self.workdir / f"server-{self.starts}.stderr"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "COFFER_"))}
        env.update(self.extra_env)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [self.binary, "server", f"-config={self.config_path}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.workdir,
                env=env,
            )
        self._wait_until_answering()
        return self.addr

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=SHUTDOWN_GRACE_S)

    def restart(self) -> str:
        self.stop()
        return self.start()

    # -- helpers for tests -----------------------------------------------------------------

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.addr, token=token, timeout=HTTP_TIMEOUT_S)

    def url(self, path: str) -> str:
        return f"{self.addr}/v1/{path.lstrip('/')}"

    def log_files(self) -> list[Path]:
        return [
            self.workdir / f"server-{n}.{stream}"
            for n in range(1, self.starts + 1)
            for stream in ("stderr", "stdout")
        ]

    def logs(self) -> str:
        parts = []
        for n in range(1, self.starts + 1):
            for stream in ("stderr", "stdout"):
                p = self.workdir / f"server-{n}.{stream}"
                if p.exists():
                    text = p.read_text(errors="replace").strip()
                    if text:
                        parts.append(f"--- coffer server run {n} {stream} ({p}) ---\n{text[-20000:]}")
        return "\n".join(parts) or "(server printed nothing)"

    # -- internals -------------------------------------------------------------------------

    def _write_config(self, port: int) -> None:
        if self.config_template is not None:
            config = self.config_template.replace("{address}", f"127.0.0.1:{port}").replace(
                "{data_dir}", str(self.data_dir)
            )
            if self.trace_logs and "log_level" not in config:
                # The leak check (leak_check.py) reads these logs at the most talkative level.
                config += '\nlog_level = "trace"\n'
            self.config_path.write_text(config)
            return
        # One attribute per line: HCL2 rejects several attributes on a single line.
        listener_lines = [
            f"  address     = {_hcl_string(f'127.0.0.1:{port}')}",
            '  tls_disable = "true"',
        ]
        for key, value in self.listener_extra.items():
            rendered = _hcl_string(value) if isinstance(value, str) else str(value).lower()
            listener_lines.append(f"  {key} = {rendered}")
        config = "\n".join(
            [
                'storage "file" {',
                f"  path = {_hcl_string(str(self.data_dir))}",
                "}",
                "",
                'listener "tcp" {',
                *listener_lines,
                "}",
                "",
                "disable_mlock = true",
                # The most talkative level: the leak check (leak_check.py) reads these logs.
                'log_level = "trace"',
                "",
            ]
        )
        self.config_path.write_text(config)

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                pytest.fail(
                    f"coffer server exited with code {code} before answering sys/health\n{self.logs()}",
                    pytrace=False,
                )
            try:
                # Any status counts: 501 (uninitialised) and 503 (sealed) are normal here.
                requests.get(self.url("sys/health"), timeout=1.0)
                return
            except requests.RequestException as e:
                last_error = e
                time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"coffer server did not answer GET /v1/sys/health within {STARTUP_TIMEOUT_S:.0f}s "
            f"(last error: {last_error})\n{self.logs()}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def coffer_bin() -> str:
    return resolve_coffer_bin()


@pytest.fixture
def server_factory(coffer_bin, tmp_path, request):
    """Start servers with `server_factory(listener_extra={...})`, or on a whole config with
    `server_factory(config_template=..., env=...)` (see CofferServer); all are stopped at
    teardown."""
    servers: list[CofferServer] = []
    request.node.coffer_servers = servers

    def make(
        listener_extra: dict[str, object] | None = None,
        config_template: str | None = None,
        env: dict[str, str] | None = None,
    ) -> CofferServer:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        server = CofferServer(coffer_bin, workdir, listener_extra, config_template, env)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory) -> CofferServer:
    """A fresh, uninitialised server; `server.addr` is its http://127.0.0.1:PORT address."""
    return server_factory()


@pytest.fixture(autouse=True)
def no_secret_leaks(request, monkeypatch):
    """After every test: no secret its HTTP traffic carried is in its servers' logs or in the
    audit files it enabled, and no error body echoed one (see leak_check.py)."""
    watch = leak_check.install(monkeypatch)
    yield watch
    files = [f for s in getattr(request.node, "coffer_servers", []) for f in s.log_files()]
    findings = watch.findings(files)
    assert not findings, "secrets leaked:\n" + "\n".join(findings[:20])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server's stderr/stdout to the report of any failing test phase."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, server in enumerate(getattr(item, "coffer_servers", [])):
            report.sections.append((f"coffer server {i} logs", server.logs()))


class Unsealed:
    """An initialised (1 share, threshold 1), unsealed server and a root-token hvac client."""

    def __init__(self, server: CofferServer, keys: list[str], root_token: str):
        self.server = server
        self.keys = keys
        self.root_token = root_token
        self.client = server.client(token=root_token)

    def headers(self) -> dict[str, str]:
        return {"X-Vault-Token": self.root_token}


def init_and_unseal(server: CofferServer) -> Unsealed:
    client = server.client()
    result = client.sys.initialize(secret_shares=1, secret_threshold=1)
    status = client.sys.submit_unseal_key(result["keys"][0])
    assert status["sealed"] is False, status
    return Unsealed(server, result["keys"], result["root_token"])


@pytest.fixture
def unsealed(server) -> Unsealed:
    return init_and_unseal(server)
