"""hvac's lease calls and the `coffer lease` CLI against a real `coffer server`.

Every lease here is a token's, as on a Vault server without dynamic secrets engines: Vault
names it `<creation path>/<salted token hash>`, lets the default policy look it up, keeps
listing and prefix revocation behind `sudo`, and refuses to renew it through `sys/leases`
("tokens cannot be renewed through this endpoint").
"""

import json
import time

import hvac
import pytest

from conftest import init_and_unseal
from test_cli import run_cli

SWEEP_DEADLINE_S = 15.0


def lease_keys(client, prefix):
    try:
        return client.sys.list_leases(prefix)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return []


def create_leased(client, prefix="auth/token/create/", orphan=False, **create):
    """Creates a token; returns it and the id of the lease it got."""
    before = set(lease_keys(client, prefix))
    if orphan:
        auth = client.auth.token.create_orphan(**create)["auth"]
    else:
        auth = client.auth.token.create(**create)["auth"]
    new = set(lease_keys(client, prefix)) - before
    assert len(new) == 1, new
    return auth["client_token"], prefix + new.pop()


def token_works(server, token):
    try:
        server.client(token=token).auth.token.lookup_self()
        return True
    except hvac.exceptions.Forbidden:
        return False


def test_read_and_list_token_leases(unsealed):
    root = unsealed.client
    _, lease_id = create_leased(root, ttl="1h")
    lease = root.sys.read_lease(lease_id)["data"]
    assert lease["id"] == lease_id
    assert lease["renewable"] is True
    assert 3500 < lease["ttl"] <= 3600
    assert lease["last_renewal"] is None
    assert lease["issue_time"] < lease["expire_time"]
    assert root.sys.list_leases("auth/token/")["data"]["keys"] == ["create/"]

    # The default policy may look up a lease whose id it knows, not list them.
    plain = unsealed.server.client(token=root.auth.token.create(policies=["default"])["auth"]["client_token"])
    assert plain.sys.read_lease(lease_id)["data"]["id"] == lease_id
    with pytest.raises(hvac.exceptions.Forbidden):
        plain.sys.list_leases("auth/token/")

    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid lease"):
        root.sys.read_lease("auth/token/create/nope")


def test_renew_lease_is_refused_for_token_leases(unsealed):
    root = unsealed.client
    token, lease_id = create_leased(root, ttl="1h")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="tokens cannot be renewed through this endpoint"):
        root.sys.renew_lease(lease_id, increment=60)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="lease not found"):
        root.sys.renew_lease("auth/token/create/nope")
    # Tokens are renewed through the token store instead.
    assert unsealed.server.client(token=token).auth.token.renew_self(increment="2h")["auth"]["lease_duration"] == 7200


def test_revoke_lease_revokes_the_token(unsealed):
    root = unsealed.client
    token, lease_id = create_leased(root, ttl="1h")
    assert token_works(unsealed.server, token)
    root.sys.revoke_lease(lease_id)
    assert not token_works(unsealed.server, token)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid lease"):
        root.sys.read_lease(lease_id)


def test_revoke_prefix_and_revoke_force(unsealed):
    root = unsealed.client
    first, _ = create_leased(root, ttl="1h")
    second, _ = create_leased(root, ttl="1h")
    orphan, _ = create_leased(root, prefix="auth/token/create-orphan/", orphan=True, ttl="1h")
    root.sys.revoke_prefix("auth/token/create")
    assert not token_works(unsealed.server, first)
    assert not token_works(unsealed.server, second)
    assert token_works(unsealed.server, orphan)
    root.sys.revoke_force("auth/token")
    assert not token_works(unsealed.server, orphan)
    assert lease_keys(root, "auth/") == []

    # Both need sudo, which the default policy does not give.
    plain = unsealed.server.client(token=root.auth.token.create(policies=["default"])["auth"]["client_token"])
    with pytest.raises(hvac.exceptions.Forbidden):
        plain.sys.revoke_prefix("auth/token/create")
    with pytest.raises(hvac.exceptions.Forbidden):
        plain.sys.revoke_force("auth/token/create")


def test_leases_survive_a_restart(unsealed):
    root = unsealed.client
    _, lease_id = create_leased(root, ttl="1h")
    unsealed.server.restart()
    again = init_again(unsealed)
    assert again.sys.read_lease(lease_id)["data"]["id"] == lease_id


def init_again(unsealed):
    status = unsealed.server.client().sys.submit_unseal_key(unsealed.keys[0])
    assert status["sealed"] is False, status
    return unsealed.server.client(token=unsealed.root_token)


def test_the_background_sweep_revokes_an_expired_token_nobody_presents(unsealed):
    root = unsealed.client
    auth = root.auth.token.create(ttl="2s")["auth"]
    deadline = time.monotonic() + SWEEP_DEADLINE_S
    while auth["accessor"] in root.auth.token.list_accessors()["data"]["keys"]:
        assert time.monotonic() < deadline, "the expired token is still stored"
        time.sleep(0.2)
    assert lease_keys(root, "auth/token/create/") == []


def test_cli_lease_lookup_renew_and_revoke(server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    vault = init_and_unseal(server)
    root = vault.client
    token, lease_id = create_leased(root, ttl="1h")

    looked_up = run_cli(server.addr, home, "lease", "lookup", lease_id, token=vault.root_token)
    assert f"id              {lease_id}" in looked_up.stdout, looked_up.stdout
    assert "renewable       true" in looked_up.stdout, looked_up.stdout
    assert "last_renewal    <nil>" in looked_up.stdout, looked_up.stdout
    as_json = run_cli(server.addr, home, "lease", "lookup", "-format=json", lease_id, token=vault.root_token)
    assert json.loads(as_json.stdout)["data"]["id"] == lease_id

    renewed = run_cli(server.addr, home, "lease", "renew", lease_id, token=vault.root_token, check=False)
    assert renewed.returncode == 2, renewed
    assert f"Error renewing {lease_id}" in renewed.stderr
    assert "tokens cannot be renewed through this endpoint" in renewed.stderr

    forced = run_cli(server.addr, home, "lease", "revoke", "-force", lease_id, token=vault.root_token, check=False)
    assert forced.returncode == 1
    assert "Specifying -force requires also specifying -prefix" in forced.stderr

    revoked = run_cli(server.addr, home, "lease", "revoke", "-sync", lease_id, token=vault.root_token)
    assert revoked.stdout.strip() == f"Success! Revoked lease: {lease_id}"
    assert not token_works(server, token)
    gone = run_cli(server.addr, home, "lease", "lookup", lease_id, token=vault.root_token, check=False)
    assert gone.returncode == 2
    assert f"error looking up lease id {lease_id}" in gone.stderr
    assert "invalid lease" in gone.stderr

    # Without -sync the server queues the revocations and its sweep carries them out.
    queued_token, _ = create_leased(root, ttl="1h")
    queued = run_cli(server.addr, home, "lease", "revoke", "-prefix", "auth/token/create", token=vault.root_token)
    assert queued.stdout.strip() == "All revocation operations queued successfully!"
    deadline = time.monotonic() + SWEEP_DEADLINE_S
    while token_works(server, queued_token) or lease_keys(root, "auth/token/create/"):
        assert time.monotonic() < deadline, "queued revocation not carried out"
        time.sleep(0.2)
