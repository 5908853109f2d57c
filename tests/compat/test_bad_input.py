"""Malformed or unauthorised requests get Vault's status codes and `{"errors": [...]}` envelope."""

import os

import requests

from conftest import init_and_unseal

MAX_REQUEST_SIZE = 1024


def assert_error_envelope(resp: requests.Response, status: int) -> list[str]:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    errors = resp.json()["errors"]
    assert isinstance(errors, list), errors
    return errors


def test_bad_input(server_factory):
    server = server_factory(listener_extra={"max_request_size": MAX_REQUEST_SIZE})

    # Malformed JSON to sys/init: 400 with an errors list, and nothing got initialised.
    resp = requests.put(
        server.url("sys/init"),
        data=b'{"secret_shares": 1, "secret_threshold": ',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    errors = assert_error_envelope(resp, 400)
    assert errors, "a 400 for malformed JSON should say why"
    assert requests.get(server.url("sys/init"), timeout=10).json()["initialized"] is False

    init = server.client().sys.initialize(secret_shares=1, secret_threshold=1)
    real_key = init["keys"][0]

    # A well-formed but wrong key of the right length: 400, still sealed, no progress.
    wrong_key = os.urandom(len(real_key) // 2).hex()
    assert wrong_key != real_key
    resp = requests.put(server.url("sys/unseal"), json={"key": wrong_key}, timeout=10)
    assert assert_error_envelope(resp, 400)
    status = requests.get(server.url("sys/seal-status"), timeout=10).json()
    assert status["sealed"] is True
    assert status["progress"] == 0

    # A key that is not even hex/base64: 400 too.
    resp = requests.put(server.url("sys/unseal"), json={"key": "not a key!"}, timeout=10)
    assert_error_envelope(resp, 400)
    assert requests.get(server.url("sys/seal-status"), timeout=10).json()["sealed"] is True

    # Unseal with the real key.
    resp = requests.put(server.url("sys/unseal"), json={"key": real_key}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["sealed"] is False

    # No token on an authenticated endpoint: 403 permission denied.
    resp = requests.get(server.url("sys/mounts"), timeout=10)
    errors = assert_error_envelope(resp, 403)
    assert any("permission denied" in e for e in errors), errors

    # A token that does not exist: also 403.
    resp = requests.get(server.url("sys/mounts"), headers={"X-Vault-Token": "hvs.nonexistent"}, timeout=10)
    assert_error_envelope(resp, 403)

    # Initialising twice: 400.
    resp = requests.put(server.url("sys/init"), json={"secret_shares": 1, "secret_threshold": 1}, timeout=10)
    assert_error_envelope(resp, 400)

    # A body above the listener's max_request_size: 413 (small bodies still work).
    headers = {"X-Vault-Token": init["root_token"]}
    resp = requests.post(
        server.url("sys/mounts/big"), json={"type": "kv", "options": {"version": "1"}}, headers=headers, timeout=10
    )
    assert resp.status_code == 204, resp.text
    resp = requests.put(server.url("big/small"), json={"v": "x" * 100}, headers=headers, timeout=10)
    assert resp.status_code == 204, resp.text
    resp = requests.put(
        server.url("big/huge"), json={"v": "x" * (4 * MAX_REQUEST_SIZE)}, headers=headers, timeout=10
    )
    assert_error_envelope(resp, 413)
    resp = requests.get(server.url("big/huge"), headers=headers, timeout=10)
    assert resp.status_code == 404, "an oversized write must not be stored"


def test_seal_without_token_is_denied_and_server_stays_unsealed(unsealed):
    resp = requests.put(unsealed.server.url("sys/seal"), timeout=10)
    errors = assert_error_envelope(resp, 403)
    assert any("permission denied" in e for e in errors), errors
    assert requests.get(unsealed.server.url("sys/seal-status"), timeout=10).json()["sealed"] is False


def test_unknown_kv_path_is_404_with_errors_envelope(unsealed):
    unsealed.client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    resp = requests.get(unsealed.server.url("kv1/nope"), headers=unsealed.headers(), timeout=10)
    assert_error_envelope(resp, 404)


def test_two_servers_in_one_test_do_not_share_state(server_factory):
    # Two servers in one test run independently (separate ports and data dirs).
    a, b = server_factory(), server_factory()
    assert a.addr != b.addr
    ua = init_and_unseal(a)
    assert requests.get(b.url("sys/init"), timeout=10).json()["initialized"] is False
    assert ua.client.sys.is_sealed() is False
