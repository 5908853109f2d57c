"""hvac drives the token store, ACL policies and capabilities against a real `coffer server`.

Written against HashiCorp Vault's documented behaviour: the same calls and assertions hold
against `vault server` with the same config.
"""

import hvac
import pytest

READ_SECRET = """
path "secret/data/*" {
  capabilities = ["read"]
}

path "secret/metadata/*" {
  capabilities = ["list"]
}
"""


@pytest.fixture
def vault(unsealed):
    unsealed.client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    unsealed.client.secrets.kv.v2.create_or_update_secret(
        path="app", secret={"pw": "s3cret"}, mount_point="secret"
    )
    return unsealed


def client_for(server, token):
    return server.client(token=token)


def test_token_create_lookup_renew_revoke(vault):
    root = vault.client
    created = root.auth.token.create(policies=["default"], ttl="1h", meta={"app": "web"})
    auth = created["auth"]
    token, accessor = auth["client_token"], auth["accessor"]
    assert token.startswith("hvs.")
    assert auth["policies"] == ["default"]
    assert auth["token_policies"] == ["default"]
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True
    assert auth["metadata"] == {"app": "web"}

    me = client_for(vault.server, token)
    assert me.is_authenticated()
    own = me.auth.token.lookup_self()["data"]
    assert own["id"] == token
    assert own["accessor"] == accessor
    assert own["display_name"] == "token-token"  # hvac sends display_name="token"
    assert own["meta"] == {"app": "web"}
    assert own["orphan"] is False
    assert 0 < own["ttl"] <= 3600

    assert root.auth.token.lookup(token)["data"]["accessor"] == accessor
    by_accessor = root.auth.token.lookup_accessor(accessor)["data"]
    assert by_accessor["id"] == ""
    assert by_accessor["policies"] == ["default"]

    renewed = me.auth.token.renew_self(increment="2h")["auth"]
    assert renewed["client_token"] == token
    assert 3600 < renewed["lease_duration"] <= 7200
    assert root.auth.token.renew(token, increment="30m")["auth"]["lease_duration"] <= 1800
    assert root.auth.token.renew_accessor(accessor)["auth"]["client_token"] == ""

    root.auth.token.revoke(token)
    assert not me.is_authenticated()
    with pytest.raises(hvac.exceptions.Forbidden):
        me.auth.token.lookup_self()


def test_revocation_trees_orphans_and_accessors(vault):
    root = vault.client
    root.sys.create_or_update_acl_policy(
        name="maker", policy='path "auth/token/create*" { capabilities = ["update"] }'
    )
    parent = root.auth.token.create(policies=["maker"])["auth"]["client_token"]
    parent_client = client_for(vault.server, parent)
    child = parent_client.auth.token.create()["auth"]["client_token"]
    orphan = parent_client.auth.token.create_orphan()["auth"]
    assert orphan["orphan"] is True
    # no_parent needs sudo on auth/token/create.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="orphan"):
        parent_client.auth.token.create(no_parent=True)
    # A child may only get a subset of its parent's policies.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="subset"):
        parent_client.auth.token.create(policies=["admin"])

    accessors = root.auth.token.list_accessors()["data"]["keys"]
    assert len(accessors) == 4  # root, parent, child, orphan
    with pytest.raises(hvac.exceptions.Forbidden):
        parent_client.auth.token.list_accessors()

    root.auth.token.revoke(parent)
    assert not client_for(vault.server, parent).is_authenticated()
    assert not client_for(vault.server, child).is_authenticated()
    assert client_for(vault.server, orphan["client_token"]).is_authenticated()

    # revoke-orphan keeps the children, now orphans.
    p2 = root.auth.token.create(policies=["maker"])["auth"]["client_token"]
    c2 = client_for(vault.server, p2).auth.token.create()["auth"]["client_token"]
    root.auth.token.revoke_and_orphan_children(p2)
    c2_client = client_for(vault.server, c2)
    assert c2_client.auth.token.lookup_self()["data"]["orphan"] is True

    c2_client.auth.token.revoke_self()
    assert not c2_client.is_authenticated()
    root.auth.token.revoke_accessor(orphan["accessor"])
    assert not client_for(vault.server, orphan["client_token"]).is_authenticated()


def test_token_roles(vault):
    root = vault.client
    root.sys.create_or_update_acl_policy(name="app", policy=READ_SECRET)
    root.auth.token.create_or_update_role(
        "web", allowed_policies=["app"], orphan=True, token_period="1h"
    )
    role = root.auth.token.read_role("web")["data"]
    assert role["allowed_policies"] == ["app"]
    assert role["orphan"] is True
    assert role["token_period"] == 3600
    assert root.auth.token.list_roles()["data"]["keys"] == ["web"]
    auth = root.auth.token.create(role_name="web")["auth"]
    assert auth["policies"] == ["app", "default"]
    assert auth["orphan"] is True
    assert auth["lease_duration"] == 3600
    root.auth.token.delete_role("web")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.token.read_role("web")


def test_acl_policy_crud_and_enforcement(vault):
    root = vault.client
    assert root.sys.list_acl_policies()["data"]["keys"] == ["default", "root"]
    root.sys.create_or_update_acl_policy(name="reader", policy=READ_SECRET)
    assert root.sys.read_acl_policy("reader")["data"]["policy"] == READ_SECRET
    assert "reader" in root.sys.list_acl_policies()["data"]["keys"]
    # Legacy endpoints, the ones hvac's sys.*_policy use.
    assert "reader" in root.sys.list_policies()["policies"]
    assert root.sys.read_policy("reader")["rules"] == READ_SECRET
    root.sys.create_or_update_policy(name="legacy", policy={"path": {"x/*": {"capabilities": ["read"]}}})
    assert "legacy" in root.sys.list_policies()["data"]["keys"]
    root.sys.delete_policy("legacy")
    assert "legacy" not in root.sys.list_policies()["keys"]

    token = root.auth.token.create(policies=["reader"])["auth"]["client_token"]
    reader = client_for(vault.server, token)
    secret = reader.secrets.kv.v2.read_secret_version(
        path="app", mount_point="secret", raise_on_deleted_version=True
    )
    assert secret["data"]["data"] == {"pw": "s3cret"}
    assert reader.secrets.kv.v2.list_secrets(path="", mount_point="secret")["data"]["keys"] == ["app"]
    with pytest.raises(hvac.exceptions.Forbidden, match="permission denied"):
        reader.secrets.kv.v2.create_or_update_secret(path="app", secret={"pw": "x"}, mount_point="secret")
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.sys.list_mounted_secrets_engines()

    # A default-only token can look itself up but not read secrets.
    plain = client_for(vault.server, root.auth.token.create(policies=["default"])["auth"]["client_token"])
    assert plain.is_authenticated()
    with pytest.raises(hvac.exceptions.Forbidden):
        plain.secrets.kv.v2.read_secret_version(path="app", mount_point="secret", raise_on_deleted_version=True)

    # Taking the policy away takes effect at once.
    root.sys.delete_acl_policy("reader")
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.read_secret_version(path="app", mount_point="secret", raise_on_deleted_version=True)


def test_bad_policies_are_refused_with_line_numbers(vault):
    root = vault.client
    with pytest.raises(hvac.exceptions.InvalidRequest, match=r"broken:3:"):
        root.sys.create_or_update_acl_policy(
            name="broken", policy='path "a/*" {\n  capabilities = ["read"]\n  capabilites = ["list"]\n}\n'
        )
    with pytest.raises(hvac.exceptions.InvalidRequest, match="cannot delete"):
        root.sys.delete_acl_policy("default")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="root"):
        root.sys.create_or_update_acl_policy(name="root", policy=READ_SECRET)


def test_capabilities(vault):
    root = vault.client
    root.sys.create_or_update_acl_policy(name="reader", policy=READ_SECRET)
    created = root.auth.token.create(policies=["reader"])["auth"]
    reader = client_for(vault.server, created["client_token"])
    own = reader.sys.get_capabilities(paths=["secret/data/app"])
    assert own["capabilities"] == ["read"]
    assert own["secret/data/app"] == ["read"]
    two = reader.sys.get_capabilities(paths=["secret/data/app", "sys/mounts"])
    assert two["sys/mounts"] == ["deny"]
    assert root.sys.get_capabilities(paths=["secret/data/app"], token=created["client_token"])[
        "capabilities"
    ] == ["read"]
    assert root.sys.get_capabilities(paths=["secret/data/app"], accessor=created["accessor"])[
        "secret/data/app"
    ] == ["read"]
    assert root.sys.get_capabilities(paths=["anything"])["capabilities"] == ["root"]
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.sys.get_capabilities(paths=["x"], token=vault.root_token)
