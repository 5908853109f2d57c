"""sys/health status codes across the lifecycle, and its code-override query parameters."""

import requests


def health(server, query: str = "") -> requests.Response:
    return requests.get(server.url("sys/health") + query, timeout=10)


def test_health_codes(server):
    # Not initialised: 501.
    resp = health(server)
    assert resp.status_code == 501, resp.text
    body = resp.json()
    assert body["initialized"] is False
    assert body["sealed"] is True
    assert health(server, "?uninitcode=200").status_code == 200

    init = server.client().sys.initialize(secret_shares=1, secret_threshold=1)

    # Initialised but sealed: 503, overridable with sealedcode.
    resp = health(server)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["initialized"] is True
    assert body["sealed"] is True
    assert isinstance(body["standby"], bool)
    assert health(server, "?sealedcode=299").status_code == 299

    # A code that is not an integer: 400 (Vault sends no body for this one).
    assert health(server, "?sealedcode=notanumber").status_code == 400

    server.client().sys.submit_unseal_key(init["keys"][0])

    # Unsealed and active: 200 with the documented body keys.
    resp = health(server)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["initialized"] is True
    assert body["sealed"] is False
    assert body["standby"] is False
    for key in ("performance_standby", "replication_performance_mode", "replication_dr_mode",
                "server_time_utc", "version"):
        assert key in body, f"{key} missing from sys/health body: {body}"
    assert isinstance(body["server_time_utc"], int)

    # standbyok only matters on a standby; on the active node it is still 200.
    assert health(server, "?standbyok=true").status_code == 200
    assert health(server, "?standbyok=true&perfstandbyok=true").status_code == 200
    # sealedcode is irrelevant once unsealed; activecode overrides the 200.
    assert health(server, "?sealedcode=299").status_code == 200
    assert health(server, "?activecode=203").status_code == 203
    assert health(server, "?activecode=notanumber").status_code == 400

    # HEAD gives the same status without a body.
    head = requests.head(server.url("sys/health"), timeout=10)
    assert head.status_code == 200
    assert head.content == b""


def test_health_needs_no_token_and_ignores_a_bad_one(unsealed):
    resp = requests.get(unsealed.server.url("sys/health"), headers={"X-Vault-Token": "hvs.bogus"}, timeout=10)
    assert resp.status_code == 200, resp.text
