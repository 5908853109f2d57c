"""hvac pointed at an HA standby: two coffer nodes on one real PostgreSQL (`ha_enabled`),
Shamir-sealed. The standby forwards to the active node, so hvac works against either; it
reports itself as a standby in sys/health and sys/leader."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import hvac
import pytest

from conftest import CofferServer, _free_port

PG_READY_TIMEOUT_S = 30.0


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run ./scripts/setup (Debian's postgresql)", pytrace=False)
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the tests run as root on CI.
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
    return argv


@pytest.fixture
def postgres():
    """A private PostgreSQL on 127.0.0.1 (trust auth), removed at teardown. Its directory is
    directly under /tmp: the postgres user cannot reach into pytest's root-only tmp_path."""
    root = Path(tempfile.mkdtemp(prefix="coffer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    bin_dir = _pg_bin()
    made = subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres"]),
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{made.stdout}{made.stderr}", pytrace=False)
    port = _free_port()
    log = open(root / "postgres.log", "wb")
    proc = subprocess.Popen(
        _as_postgres(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(root / "data"),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={port}",
                "-c",
                f"unix_socket_directories={root}",
            ]
        ),
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + PG_READY_TIMEOUT_S
    pid_file = root / "data" / "postmaster.pid"
    while True:
        lines = pid_file.read_text().splitlines() if pid_file.exists() else []
        if len(lines) > 7 and lines[7].strip() == "ready":
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"PostgreSQL did not start:\n{(root / 'postgres.log').read_text()}", pytrace=False)
        time.sleep(0.1)
    yield f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(root, ignore_errors=True)


HA_CONFIG = """
storage "postgresql" {
  connection_url = "%(url)s"
  ha_enabled     = "true"
}
listener "tcp" {
  address     = "{address}"
  tls_disable = "true"
}
api_addr      = "http://{address}"
cluster_addr  = "https://127.0.0.1:%(cluster_port)d"
disable_mlock = true
"""


def test_hvac_works_against_a_standby_that_forwards_to_the_active(coffer_bin, postgres, tmp_path, request):
    servers = []
    request.node.coffer_servers = servers
    for i in range(2):
        workdir = tmp_path / f"node{i}"
        workdir.mkdir()
        config = HA_CONFIG % {"url": postgres, "cluster_port": _free_port()}
        server = CofferServer(coffer_bin, workdir, config_template=config)
        servers.append(server)
        server.start()
    try:
        init = servers[0].client().sys.initialize(secret_shares=1, secret_threshold=1)
        for s in servers:
            s.client().sys.submit_unseal_key(init["keys"][0])
        deadline = time.monotonic() + 30
        while True:
            leaders = [s.client().sys.read_leader_status() for s in servers]
            active = [i for i, l in enumerate(leaders) if l["is_self"]]
            if len(active) == 1 and all(l["leader_address"] for l in leaders):
                break
            assert time.monotonic() < deadline, leaders
            time.sleep(0.2)
        standby = servers[1 - active[0]]
        leader = standby.client().sys.read_leader_status()
        assert leader["ha_enabled"] is True and leader["is_self"] is False, leader
        assert leader["leader_address"] == servers[active[0]].addr, leader
        health = standby.client().sys.read_health_status(method="GET")
        assert health.status_code == 429 and health.json()["standby"] is True, health.text

        client = hvac.Client(url=standby.addr, token=init["root_token"], timeout=30)
        # The active node's cluster listener starts within a moment of its election.
        deadline = time.monotonic() + 15
        while True:
            try:
                client.sys.enable_secrets_engine("kv", path="app", options={"version": "2"})
                break
            except hvac.exceptions.VaultError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        client.secrets.kv.v2.create_or_update_secret(path="db", secret={"password": "via-standby"}, mount_point="app")
        read = client.secrets.kv.v2.read_secret_version(path="db", mount_point="app", raise_on_deleted_version=True)
        assert read["data"]["data"] == {"password": "via-standby"}
        direct = servers[active[0]].client(token=init["root_token"])
        assert direct.secrets.kv.v2.read_secret_version(
            path="db", mount_point="app", raise_on_deleted_version=True
        )["data"]["data"] == {"password": "via-standby"}
    finally:
        for s in servers:
            s.stop()
