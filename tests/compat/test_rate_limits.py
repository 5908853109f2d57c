"""Rate-limit quotas (`sys/quotas/rate-limit`, `sys/quotas/config`) through hvac and plain HTTP
against a real server: 429 with Retry-After past the rate, the X-Ratelimit headers when turned
on, exempt paths, and the refusals counted in sys/metrics. Also the listener's
max_concurrent_requests in the sanitized config."""

import requests


def test_a_mount_quota_answers_429_with_retry_after_and_counts_refusals(unsealed):
    client = unsealed.client
    client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(path="app", secret={"v": 1}, mount_point="secret")
    client.adapter.post(
        "/v1/sys/quotas/rate-limit/kv", json={"path": "secret/", "rate": 3, "interval": "1m"}
    )
    assert client.read("sys/quotas/rate-limit/kv")["data"]["path"] == "secret/"

    url = unsealed.server.url("secret/data/app")
    headers = unsealed.headers()
    codes = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    refused = requests.get(url, headers=headers, timeout=10)
    assert refused.status_code == 429
    assert refused.json()["errors"] == ['request path "secret/data/app": rate limit quota exceeded']
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    # Encoded letters name the same path and meet the same quota.
    encoded = requests.get(unsealed.server.url("secret/data/%61pp"), headers=headers, timeout=10)
    assert encoded.status_code == 429

    assert requests.get(unsealed.server.url("sys/health"), timeout=10).status_code == 200
    assert client.sys.list_mounted_secrets_engines() is not None, "other paths are not limited"

    metrics = client.adapter.get("/v1/sys/metrics")
    violations = [c for c in metrics["Counters"] if c["Name"] == "coffer.quota.rate_limit.violations"]
    assert violations[0]["Labels"] == {"name": "kv"}
    assert violations[0]["Count"] >= 2


def test_response_headers_when_turned_on(unsealed):
    client = unsealed.client
    client.adapter.post("/v1/sys/quotas/rate-limit/global", json={"rate": 50})
    client.adapter.post("/v1/sys/quotas/config", json={"enable_rate_limit_response_headers": True})
    answer = requests.get(unsealed.server.url("sys/mounts"), headers=unsealed.headers(), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["X-Ratelimit-Limit"] == "50"
    assert 0 <= int(answer.headers["X-Ratelimit-Remaining"]) < 50

    config = client.read("sys/config/state/sanitized")["data"]
    assert config["listeners"][0]["config"]["max_concurrent_requests"] == 1024
