//! The policy store through `sys/policies/acl` and the legacy `sys/policy`:
//! CRUD, Vault's shapes, built-in policies, errors with line numbers, and
//! edits taking effect on live tokens.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_core::policy::DEFAULT_POLICY_TEXT;
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

const READ_SECRET: &str = r#"path "secret/data/*" {
  capabilities = ["read"]
}
"#;

#[tokio::test]
async fn policies_can_be_written_read_listed_and_deleted() {
    let n = AuthNode::new().await;
    n.policy("Dev", READ_SECRET).await;
    let list = n
        .root_call(List, "sys/policies/acl", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert_eq!(list["keys"], json!(["default", "dev", "root"]));
    let read = n
        .root_call(Read, "sys/policies/acl/dev", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("read");
    assert_eq!(read, json!({"name": "dev", "policy": READ_SECRET}));
    n.root_call(Delete, "sys/policies/acl/dev", Value::Null)
        .await;
    let gone = n
        .call(&n.root, Read, "sys/policies/acl/dev", Value::Null)
        .await
        .expect("read");
    assert!(gone.is_none(), "a deleted policy reads as 404");
    n.root_call(Delete, "sys/policies/acl/never-existed", Value::Null)
        .await;
}

#[tokio::test]
async fn legacy_policy_paths_answer_in_the_old_shapes() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/policy/ops", json!({"rules": READ_SECRET}))
        .await;
    let list = n
        .root_call(Read, "sys/policy", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert_eq!(list["policies"], json!(["default", "ops", "root"]));
    assert_eq!(list["keys"], list["policies"]);
    let read = n
        .root_call(Read, "sys/policy/ops", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("read");
    assert_eq!(read, json!({"name": "ops", "rules": READ_SECRET}));
}

#[tokio::test]
async fn default_exists_after_first_unseal_and_can_be_edited_but_not_deleted() {
    let n = AuthNode::new().await;
    let read = n
        .root_call(Read, "sys/policies/acl/default", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("default");
    assert_eq!(read["policy"], DEFAULT_POLICY_TEXT);
    let edited = format!(
        "{DEFAULT_POLICY_TEXT}\npath \"secret/data/shared\" {{ capabilities = [\"read\"] }}\n"
    );
    n.policy("default", &edited).await;
    let err = n
        .call(&n.root, Delete, "sys/policies/acl/default", Value::Null)
        .await
        .expect_err("default cannot be deleted");
    assert!(matches!(err, CoreError::InvalidRequest(m) if m.contains("cannot delete")));
    // The edit survives a seal and unseal: it is not overwritten.
    n.reseal().await;
    let after = n
        .root_call(Read, "sys/policy/default", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("default");
    assert_eq!(after["rules"], edited.as_str());
}

#[tokio::test]
async fn root_policy_cannot_be_written_or_deleted() {
    let n = AuthNode::new().await;
    for op in [Update, Delete] {
        let err = n
            .call(
                &n.root,
                op,
                "sys/policies/acl/root",
                json!({"policy": READ_SECRET}),
            )
            .await
            .expect_err("root is fixed");
        assert!(matches!(err, CoreError::InvalidRequest(_)), "{op:?}: {err}");
    }
}

#[tokio::test]
async fn bad_hcl_is_refused_with_the_policy_name_and_line() {
    let n = AuthNode::new().await;
    let text = "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n\npath \"x/*\" {\n  capabilities = [\"raed\"]\n}\n";
    let err = n
        .call(
            &n.root,
            Update,
            "sys/policies/acl/broken",
            json!({"policy": text}),
        )
        .await
        .expect_err("bad capability");
    let msg = err.to_string();
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{msg}");
    assert!(msg.contains("broken:6:"), "{msg}");
    assert!(msg.contains("did you mean \"read\""), "{msg}");
    let syntax = n
        .call(
            &n.root,
            Update,
            "sys/policies/acl/broken",
            json!({"policy": "path \"a\" {\n  capabilities = [\n"}),
        )
        .await
        .expect_err("syntax error");
    assert!(syntax.to_string().contains("broken:"), "{syntax}");
    let empty = n
        .call(&n.root, Update, "sys/policies/acl/broken", json!({}))
        .await
        .expect_err("missing policy");
    assert!(empty.to_string().contains("'policy' parameter"), "{empty}");
    let missing = n
        .call(&n.root, Read, "sys/policies/acl/broken", Value::Null)
        .await
        .expect("read");
    assert!(missing.is_none(), "nothing was stored");
}

#[tokio::test]
async fn editing_a_policy_changes_what_live_tokens_may_do() {
    let n = AuthNode::new().await;
    n.root_call(Update, "secret/data/app", json!({"data": {"pw": "x"}}))
        .await;
    n.policy("app", READ_SECRET).await;
    let token = n.token_with(&["app"]).await;
    assert!(
        n.ok(&token, Read, "secret/data/app", Value::Null)
            .await
            .is_some()
    );
    n.policy(
        "app",
        "path \"secret/data/other\" { capabilities = [\"read\"] }\n",
    )
    .await;
    assert!(n.denied(&token, Read, "secret/data/app", Value::Null).await);
    n.policy("app", READ_SECRET).await;
    assert!(
        n.ok(&token, Read, "secret/data/app", Value::Null)
            .await
            .is_some()
    );
    n.root_call(Delete, "sys/policies/acl/app", Value::Null)
        .await;
    assert!(n.denied(&token, Read, "secret/data/app", Value::Null).await);
}
