//! HA at the HTTP tier: two nodes on one storage and one in-process lock,
//! each behind the real router. The standby answers health and leader
//! itself and redirects everything else to the active node.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::Core;
use coffer_core::CoreOptions;
use coffer_core::ha::HaOptions;
use coffer_server::http::{AppState, DEFAULT_MAX_REQUEST_SIZE, router};
use coffer_storage_inmem::InmemHaLock;
use coffer_testkit::node::{b64, node_options, shamir_params};
use coffer_testkit::storage::inmem;
use common::call;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

struct Node {
    core: Arc<Core>,
    app: axum::Router,
    api_addr: String,
}

async fn two_nodes() -> (Vec<Node>, String) {
    let backend = inmem();
    let lock = Arc::new(InmemHaLock::new());
    let nodes: Vec<Node> = (0..2)
        .map(|i| {
            let api_addr = format!("https://node{i}.example:8200");
            let mut ha = HaOptions::new(
                lock.clone(),
                format!("node-{i}"),
                api_addr.clone(),
                format!("https://node{i}.example:8201"),
            );
            ha.retry_interval = Duration::from_millis(30);
            let core = Core::new(CoreOptions {
                ha: Some(ha),
                ..node_options(backend.clone(), None)
            });
            let app = router(
                AppState {
                    core: core.clone(),
                    max_request_size: DEFAULT_MAX_REQUEST_SIZE,
                },
                false,
            );
            Node {
                core,
                app,
                api_addr,
            }
        })
        .collect();
    let init = nodes[0]
        .core
        .initialize(shamir_params(1, 1))
        .await
        .expect("init");
    for n in &nodes {
        n.core
            .submit_unseal_key(&b64(&init.keys[0]))
            .await
            .expect("unseal");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let active = nodes.iter().filter(|n| n.core.ha_status().is_self).count();
        let standby_knows = nodes
            .iter()
            .filter(|n| n.core.ha_status().standby)
            .all(|n| !n.core.ha_status().leader_address.is_empty());
        if active == 1 && standby_knows {
            break;
        }
        assert!(Instant::now() < deadline, "no active node elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (nodes, init.root_token.to_string())
}

#[tokio::test]
async fn a_standby_answers_health_and_leader_itself() {
    let (nodes, _) = two_nodes().await;
    let (active, standby) = if nodes[0].core.ha_status().is_self {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    };
    let (code, body) = call(&standby.app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["standby"], true);
    let (code, _) = call(
        &standby.app,
        "GET",
        "/v1/sys/health?standbyok=true",
        None,
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = call(&active.app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(
        (code, body["standby"].clone()),
        (StatusCode::OK, json!(false))
    );

    let (_, leader) = call(&standby.app, "GET", "/v1/sys/leader", None, None).await;
    assert_eq!(leader["ha_enabled"], true);
    assert_eq!(leader["is_self"], false);
    assert_eq!(leader["leader_address"], active.api_addr.as_str());
    assert!(
        leader["leader_cluster_address"]
            .as_str()
            .expect("s")
            .ends_with(":8201")
    );
    let (_, own) = call(&active.app, "GET", "/v1/sys/leader", None, None).await;
    assert_eq!(
        (own["is_self"].clone(), own["ha_enabled"].clone()),
        (json!(true), json!(true))
    );
    assert_ne!(own["active_time"], "0001-01-01T00:00:00Z");

    let (code, seal) = call(&standby.app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(seal["sealed"], false);
    assert!(
        seal["cluster_name"].as_str().is_some_and(|n| !n.is_empty()),
        "{seal}"
    );
}

#[tokio::test]
async fn a_standby_redirects_logical_requests_to_the_active_api_addr() {
    let (nodes, root) = two_nodes().await;
    let (active, standby) = if nodes[0].core.ha_status().is_self {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    };
    for (method, path) in [
        ("GET", "/v1/secret/data/app?version=2"),
        ("PUT", "/v1/sys/mounts/kv"),
        ("PUT", "/v1/sys/step-down"),
        ("POST", "/v1/sys/seal"),
    ] {
        let resp = standby
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header("X-Vault-Token", root.as_str())
                    .body(Body::from("{}"))
                    .expect("request"),
            )
            .await
            .expect("router");
        assert_eq!(
            resp.status(),
            StatusCode::TEMPORARY_REDIRECT,
            "{method} {path}"
        );
        assert_eq!(
            resp.headers()["location"].to_str().expect("ascii"),
            format!("{}{path}", active.api_addr)
        );
    }
    assert!(
        !standby.core.is_sealed(),
        "sys/seal went to the active, not here"
    );
    let (code, _) = call(&active.app, "GET", "/v1/sys/mounts", Some(&root), None).await;
    assert_eq!(code, StatusCode::OK, "the active serves");
}
