"""A listener behind a reverse proxy (`x_forwarded_for_*`, as Vault's tcp listener): the
client's address comes from X-Forwarded-For when the proxy is trusted, and everything that
looks at the address uses it: the audit log's `remote_address` and a token's bound CIDRs.
Plain HTTP requests from this test stand in for the proxy on 127.0.0.1.
"""

import json

import requests

from conftest import init_and_unseal


def get(server, path, token=None, forwarded_for=None):
    headers = {}
    if token:
        headers["X-Vault-Token"] = token
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return requests.get(server.url(path), headers=headers, timeout=10)


def test_a_trusted_proxy_names_the_client_for_audit_and_bound_cidrs(server_factory, tmp_path):
    server = server_factory(
        listener_extra={
            "x_forwarded_for_authorized_addrs": "127.0.0.1/32",
            "x_forwarded_for_hop_skips": "1",
            "x_forwarded_for_reject_not_present": False,
        }
    )
    vault = init_and_unseal(server)
    audit_log = tmp_path / "audit.log"
    vault.client.sys.enable_audit_device("file", options={"file_path": str(audit_log)})
    token = vault.client.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    vault.client.adapter.post(
        "/v1/auth/token/roles/edge", json={"token_bound_cidrs": ["203.0.113.0/24"]}
    )
    bound = vault.client.auth.token.create(role_name="edge", ttl="1h")["auth"]["client_token"]

    # client, the customer's proxy, our proxy: one hop skipped names the customer's proxy.
    chain = "198.51.100.9, 203.0.113.7, 10.0.0.1"
    assert get(server, "auth/token/lookup-self", token, chain).status_code == 200
    entries = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
    addresses = {e["request"].get("remote_address") for e in entries if "request" in e}
    assert "203.0.113.7" in addresses, addresses

    assert get(server, "auth/token/lookup-self", bound, chain).status_code == 200
    outside = get(server, "auth/token/lookup-self", bound, "203.0.113.7, 198.51.100.9, 10.0.0.1")
    assert outside.status_code == 403, outside.text
    direct = get(server, "auth/token/lookup-self", bound)
    assert direct.status_code == 403, "without the header the peer (127.0.0.1) is the client"

    too_short = get(server, "sys/health", forwarded_for="10.0.0.1")
    assert too_short.status_code == 400
    assert "x_forwarded_for_hop_skips is 1" in too_short.json()["errors"][0]


def test_untrusted_peers_and_missing_headers_are_refused_by_default(server_factory):
    server = server_factory(listener_extra={"x_forwarded_for_authorized_addrs": "192.0.2.1"})
    untrusted = get(server, "sys/health", forwarded_for="203.0.113.7")
    assert untrusted.status_code == 403
    assert "127.0.0.1 sent an X-Forwarded-For header" in untrusted.json()["errors"][0]
    missing = get(server, "sys/seal-status")
    assert missing.status_code == 400
    assert "missing X-Forwarded-For" in missing.json()["errors"][0]
