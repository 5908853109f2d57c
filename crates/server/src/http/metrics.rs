//! `GET /v1/sys/metrics`: the core's gauges and counters, as Vault's JSON
//! (go-metrics in-memory sink shape) or, with `?format=prometheus`, as
//! Prometheus text. Needs a token whose policies grant `read` on
//! `sys/metrics`.

use super::error::ApiError;
use super::{AppState, envelope, remote, token};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_core::engine::{Operation, Request};
use coffer_core::metrics::{Metric, MetricKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) async fn metrics(
    State(st): State<AppState>,
    peer: remote::Peer,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let presented = token::from_headers(&headers);
    let req = Request::new(Operation::Read, "sys/metrics").with_remote_addr(remote::addr(peer));
    st.core.authorize(presented.as_deref(), &req).await?;
    let snapshot = st.core.metrics().await;
    match q.get("format").map(String::as_str) {
        None | Some("" | "json") => {
            Ok(envelope::json_response(StatusCode::OK, &as_json(&snapshot)))
        }
        Some("prometheus") => {
            let mut resp = (StatusCode::OK, as_prometheus(&snapshot)).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown metrics format {other:?}: use \"prometheus\" or leave it out for JSON"
        ))),
    }
}

fn as_json(metrics: &[Metric]) -> Value {
    let gauges: Vec<Value> = metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Gauge)
        .map(|m| json!({"Name": m.name, "Value": m.value, "Labels": {}}))
        .collect();
    let counters: Vec<Value> = metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Counter)
        .map(|m| {
            json!({
                "Name": m.name, "Count": m.value, "Rate": 0, "Sum": m.value,
                "Min": m.value, "Max": m.value, "Mean": m.value, "Stddev": 0, "Labels": {},
            })
        })
        .collect();
    json!({
        "Timestamp": coffer_core::clock::rfc3339(std::time::SystemTime::now()),
        "Gauges": gauges,
        "Counters": counters,
        "Samples": [],
    })
}

fn as_prometheus(metrics: &[Metric]) -> String {
    let mut out = String::new();
    for m in metrics {
        let name = m.name.replace('.', "_");
        let kind = match m.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {name} {}", m.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {}", m.value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Metric> {
        vec![
            Metric {
                name: "coffer.core.unsealed",
                kind: MetricKind::Gauge,
                value: 1.0,
                help: "1 when unsealed",
            },
            Metric {
                name: "coffer.entropy.seal.draws",
                kind: MetricKind::Counter,
                value: 42.0,
                help: "draws",
            },
        ]
    }

    #[test]
    fn prometheus_text_has_help_type_and_underscored_names() {
        let text = as_prometheus(&sample());
        assert!(text.contains("# TYPE coffer_core_unsealed gauge\ncoffer_core_unsealed 1\n"));
        assert!(
            text.contains(
                "# TYPE coffer_entropy_seal_draws counter\ncoffer_entropy_seal_draws 42\n"
            )
        );
    }

    #[test]
    fn json_splits_gauges_and_counters_like_vault() {
        let v = as_json(&sample());
        assert_eq!(v["Gauges"][0]["Name"], "coffer.core.unsealed");
        assert_eq!(v["Counters"][0]["Count"], 42.0);
        assert!(v["Samples"].as_array().expect("array").is_empty());
    }
}
