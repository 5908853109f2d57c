//! Shared by the fuzz targets: a runtime, a node, and the small text format
//! the request targets read.
//!
//! A request script is up to [`MAX_CALLS`] pairs of lines:
//!
//! ```text
//! update secret/data/app
//! {"data": {"password": "x"}}
//! read secret/data/app
//!
//! ```
//!
//! The first line of a pair is an operation (`read`, `update`, `create`,
//! `patch`, `delete`, `list`) and a path; the second is the JSON body (an
//! empty or non-JSON line is no body). Text is easy to seed by hand and
//! libFuzzer's mutations of it stay mostly well-formed.

#![allow(dead_code, reason = "each target uses a different part")]

use coffer_core::engine::{Operation, Request, Response};
use coffer_core::{CoreError, CoreResult};
use coffer_testkit::auth_node::AuthNode;
use serde_json::Value;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

/// Calls per input; keeps one input's work and state bounded.
pub const MAX_CALLS: usize = 8;

/// One runtime for the whole fuzzing process (a current-thread runtime: the
/// node's background work runs only while a call is driven, so runs repeat).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Runs a future to completion on [`runtime`].
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// One call of a script.
pub struct Call {
    pub op: Operation,
    pub path: String,
    pub body: Value,
}

/// Parses a script (see the module docs); malformed pairs are skipped.
pub fn script(data: &[u8]) -> Vec<Call> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut calls = Vec::new();
    while calls.len() < MAX_CALLS {
        let Some(head) = lines.next() else { break };
        let body_line = lines.next().unwrap_or("");
        let (op, path) = head
            .trim_end_matches('\r')
            .split_once(' ')
            .unwrap_or((head, ""));
        let op = match op.to_ascii_lowercase().as_str() {
            "read" | "get" => Operation::Read,
            "update" | "create" | "write" | "post" | "put" => Operation::Update,
            "patch" => Operation::Patch,
            "delete" => Operation::Delete,
            "list" => Operation::List,
            _ => continue,
        };
        let body = serde_json::from_str(body_line.trim()).unwrap_or(Value::Null);
        calls.push(Call {
            op,
            path: path.to_owned(),
            body,
        });
    }
    calls
}

/// Runs `req` as `token`, checking the one invariant every call shares: an
/// error is an error value, and an internal error means a bug unless it is
/// one of the few the node reports for outside reasons.
pub async fn call(node: &AuthNode, token: &str, req: Request) -> CoreResult<Option<Response>> {
    let path = req.path.clone();
    let result = node.core.handle(req, Some(token)).await;
    if let Err(CoreError::Internal(m)) = &result {
        // A parser that reaches an internal error on client input has
        // mistaken bad input for a broken server (500 instead of 400).
        if std::env::var_os("COFFER_FUZZ_INTERNAL_IS_BUG").is_some() {
            panic!("internal error on client input at {path}: {m}");
        }
    }
    result
}

/// The `data` of a successful call, or `Null`.
pub fn data(r: &CoreResult<Option<Response>>) -> Value {
    match r {
        Ok(Some(resp)) => resp.data.clone().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The string `keys` of a LIST answer.
pub fn listed(r: &CoreResult<Option<Response>>) -> Vec<String> {
    data(r)["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
