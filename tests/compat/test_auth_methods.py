"""hvac drives `sys/auth` and the userpass and approle auth methods against a real `coffer server`.

Written against HashiCorp Vault's documented behaviour: the same calls and assertions hold
against `vault server` with the same config.
"""

import hvac
import pytest

READ_SECRET = """
path "secret/data/*" {
  capabilities = ["read"]
}
"""


@pytest.fixture
def vault(unsealed):
    c = unsealed.client
    c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    c.secrets.kv.v2.create_or_update_secret(path="app", secret={"pw": "s3cret"}, mount_point="secret")
    c.sys.create_or_update_acl_policy(name="reader", policy=READ_SECRET)
    return unsealed


def test_sys_auth_enable_list_disable(vault):
    c = vault.client
    c.sys.enable_auth_method(method_type="userpass", path="people", description="humans")
    methods = c.sys.list_auth_methods()
    data = methods["data"]
    assert data["token/"]["type"] == "token"
    assert data["people/"]["type"] == "userpass"
    assert data["people/"]["description"] == "humans"
    assert data["people/"]["accessor"].startswith("auth_userpass_")
    # Legacy top-level copy, as Vault answers it.
    assert methods["people/"]["type"] == "userpass"
    c.sys.tune_auth_method(path="people", default_lease_ttl="1h")
    assert c.sys.read_auth_method_tuning(path="people")["data"]["default_lease_ttl"] == 3600
    with pytest.raises(hvac.exceptions.InvalidRequest):
        c.sys.enable_auth_method(method_type="userpass", path="people")
    c.sys.disable_auth_method(path="people")
    assert "people/" not in c.sys.list_auth_methods()["data"]


def test_userpass_create_user_and_login(vault):
    root = vault.client
    root.sys.enable_auth_method(method_type="userpass")
    root.auth.userpass.create_or_update_user(username="alice", password="pw-alice", policies=["reader"])
    assert root.auth.userpass.read_user(username="alice")["data"]["token_policies"] == ["reader"]
    assert "alice" in root.auth.userpass.list_user()["data"]["keys"]

    alice = vault.server.client()
    resp = alice.auth.userpass.login(username="alice", password="pw-alice")
    auth = resp["auth"]
    assert auth["policies"] == ["default", "reader"]
    assert auth["metadata"] == {"username": "alice"}
    assert alice.token == auth["client_token"]
    assert alice.is_authenticated()
    secret = alice.secrets.kv.v2.read_secret_version(path="app", mount_point="secret", raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"pw": "s3cret"}
    me = alice.auth.token.lookup_self()["data"]
    assert me["display_name"] == "userpass-alice"
    assert me["path"] == "auth/userpass/login/alice"
    with pytest.raises(hvac.exceptions.Forbidden):
        alice.secrets.kv.v2.create_or_update_secret(path="app", secret={"x": "y"}, mount_point="secret")

    anon = vault.server.client()
    for user, pw in [("alice", "wrong"), ("nobody", "wrong")]:
        with pytest.raises(hvac.exceptions.InvalidRequest) as err:
            anon.auth.userpass.login(username=user, password=pw)
        assert "invalid username or password" in str(err.value)

    # Disabling the method revokes the tokens it issued.
    root.sys.disable_auth_method(path="userpass")
    assert not alice.is_authenticated()


def test_approle_role_secret_id_and_login(vault):
    root = vault.client
    root.sys.enable_auth_method(method_type="approle")
    root.auth.approle.create_or_update_approle(
        role_name="web", token_policies=["reader"], token_ttl="10m", secret_id_num_uses=2
    )
    assert root.auth.approle.read_role(role_name="web")["data"]["token_ttl"] == 600
    role_id = root.auth.approle.read_role_id(role_name="web")["data"]["role_id"]
    generated = root.auth.approle.generate_secret_id(role_name="web", metadata={"team": "a"})["data"]
    secret_id = generated["secret_id"]
    assert generated["secret_id_num_uses"] == 2

    app = vault.server.client()
    auth = app.auth.approle.login(role_id=role_id, secret_id=secret_id)["auth"]
    assert auth["policies"] == ["default", "reader"]
    assert auth["lease_duration"] == 600
    assert auth["metadata"] == {"role_name": "web", "team": "a"}
    assert app.is_authenticated()
    secret = app.secrets.kv.v2.read_secret_version(path="app", mount_point="secret", raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"pw": "s3cret"}

    # Second use is the last one.
    vault.server.client().auth.approle.login(role_id=role_id, secret_id=secret_id)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.server.client().auth.approle.login(role_id=role_id, secret_id=secret_id)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.server.client().auth.approle.login(role_id=role_id, secret_id="nope")


def test_approle_token_bound_cidrs_bind_login_and_token_to_the_client_address(vault):
    root = vault.client
    root.sys.enable_auth_method(method_type="approle")
    root.auth.approle.create_or_update_approle(
        role_name="local", token_policies=["reader"], token_bound_cidrs=["127.0.0.0/8"]
    )
    assert root.auth.approle.read_role(role_name="local")["data"]["token_bound_cidrs"] == ["127.0.0.0/8"]
    role_id = root.auth.approle.read_role_id(role_name="local")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role_name="local", token_bound_cidrs=["127.0.0.1/32"])[
        "data"
    ]["secret_id"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="must lie within"):
        root.auth.approle.generate_secret_id(role_name="local", token_bound_cidrs=["10.0.0.0/8"])

    app = vault.server.client()
    app.auth.approle.login(role_id=role_id, secret_id=secret_id)
    assert app.auth.token.lookup_self()["data"]["bound_cidrs"] == ["127.0.0.1/32"]
    assert app.secrets.kv.v2.read_secret_version(path="app", mount_point="secret", raise_on_deleted_version=True)

    # A role whose tokens may only be used from elsewhere cannot log in from here.
    root.auth.approle.create_or_update_approle(
        role_name="remote", token_policies=["reader"], token_bound_cidrs=["10.0.0.0/8"]
    )
    remote_id = root.auth.approle.read_role_id(role_name="remote")["data"]["role_id"]
    remote_secret = root.auth.approle.generate_secret_id(role_name="remote")["data"]["secret_id"]
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.server.client().auth.approle.login(role_id=remote_id, secret_id=remote_secret)


def test_token_role_with_bound_cidrs_makes_tokens_unusable_from_elsewhere(vault):
    root = vault.client
    # hvac's create_or_update_role has no token_bound_cidrs parameter.
    root.write_data("auth/token/roles/elsewhere", data={"token_bound_cidrs": ["10.0.0.0/8"]})
    token = root.auth.token.create(role_name="elsewhere", policies=["reader"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.server.client(token=token).auth.token.lookup_self()
    # The root token still sees it, bound as asked.
    assert root.auth.token.lookup(token)["data"]["bound_cidrs"] == ["10.0.0.0/8"]


def test_a_locked_out_user_stays_locked_across_a_restart_until_an_operator_unlocks_it(vault):
    root = vault.client
    # hvac has no user_lockout_config parameter; Vault's tune endpoint takes it.
    root.sys.enable_auth_method(method_type="userpass")
    root.write_data("sys/auth/userpass/tune", data={"user_lockout_config": {"lockout_threshold": 2}})
    root.auth.userpass.create_or_update_user(username="alice", password="pw-alice", policies=["reader"])
    accessor = root.sys.list_auth_methods()["data"]["userpass/"]["accessor"]
    for _ in range(2):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            vault.server.client().auth.userpass.login(username="alice", password="wrong")
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.server.client().auth.userpass.login(username="alice", password="pw-alice")

    vault.server.restart()
    status = vault.server.client().sys.submit_unseal_key(vault.keys[0])
    assert status["sealed"] is False, status
    root = vault.server.client(token=vault.root_token)
    locked = root.read("sys/locked-users")["data"]
    assert locked["total"] == 1
    assert locked["by_namespace"][0]["mount_accessors"] == [
        {"mount_accessor": accessor, "counts": 1, "alias_identifiers": ["alice"]}
    ]
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.server.client().auth.userpass.login(username="alice", password="pw-alice")

    root.write_data(f"sys/locked-users/{accessor}/unlock/alice")
    assert root.read("sys/locked-users")["data"]["total"] == 0
    assert vault.server.client().auth.userpass.login(username="alice", password="pw-alice")["auth"]["client_token"]
