//! `GET /v1/sys/metrics`: the core's gauges and counters, as Vault's JSON
//! (go-metrics in-memory sink shape) or, with `?format=prometheus`, as
//! Prometheus text. Needs a token whose policies grant `read` on
//! `sys/metrics`.

use super::error::ApiError;
use super::{Shared, envelope, remote, token};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_core::engine::{Operation, Request};
use coffer_core::metrics::{Metric, MetricKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) async fn metrics(
    State(st): State<Shared>,
    peer: remote::Peer,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let presented = token::from_headers(&headers);
    let req = Request::new(Operation::Read, "sys/metrics").with_remote_addr(remote::addr(peer));
    st.core.authorize(presented.as_deref(), &req).await?;
    let mut snapshot = st.core.metrics().await;
    if let Some(admission) = &st.admission {
        snapshot.extend(admission.metrics());
    }
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

fn labels_json(m: &Metric) -> Value {
    Value::Object(
        m.labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect(),
    )
}

fn as_json(metrics: &[Metric]) -> Value {
    let of = |kind: MetricKind| metrics.iter().filter(move |m| m.kind == kind);
    let gauges: Vec<Value> = of(MetricKind::Gauge)
        .map(|m| json!({"Name": m.name, "Value": m.value, "Labels": labels_json(m)}))
        .collect();
    let counters: Vec<Value> = of(MetricKind::Counter)
        .map(|m| {
            json!({
                "Name": m.name, "Count": m.value, "Rate": 0, "Sum": m.value,
                "Min": m.value, "Max": m.value, "Mean": m.value, "Stddev": 0,
                "Labels": labels_json(m),
            })
        })
        .collect();
    // go-metrics' samples are timings in milliseconds.
    let samples: Vec<Value> = of(MetricKind::Histogram)
        .filter_map(|m| {
            let h = m.histogram.as_ref()?;
            let ms = |secs: f64| secs * 1000.0;
            let mean = if h.count == 0 {
                0.0
            } else {
                h.sum / h.count as f64
            };
            Some(json!({
                "Name": m.name, "Count": h.count, "Rate": 0, "Sum": ms(h.sum),
                "Min": ms(h.min), "Max": ms(h.max), "Mean": ms(mean), "Stddev": 0,
                "Labels": labels_json(m),
            }))
        })
        .collect();
    json!({
        "Timestamp": coffer_core::clock::rfc3339(std::time::SystemTime::now()),
        "Gauges": gauges,
        "Counters": counters,
        "Samples": samples,
    })
}

/// `{a="x",b="y"}` with Prometheus escaping, plus `extra` (for `le`).
fn labels_text(m: &Metric, extra: Option<(&str, String)>) -> String {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let parts: Vec<String> = m
        .labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .chain(extra.map(|(k, v)| (k.to_owned(), v)))
        .map(|(k, v)| format!("{k}=\"{}\"", escape(&v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn as_prometheus(metrics: &[Metric]) -> String {
    let mut out = String::new();
    let mut described: Option<&str> = None;
    // Every series of one name under one HELP/TYPE: the seal's and the
    // managed keys' HSM series share names.
    let mut sorted: Vec<&Metric> = metrics.iter().collect();
    sorted.sort_by_key(|m| m.name);
    for m in sorted {
        let name = m.name.replace('.', "_");
        if described != Some(m.name) {
            let kind = match m.kind {
                MetricKind::Gauge => "gauge",
                MetricKind::Counter => "counter",
                MetricKind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", m.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            described = Some(m.name);
        }
        match &m.histogram {
            Some(h) => {
                let mut cumulative = 0;
                for (i, n) in h.counts.iter().enumerate() {
                    cumulative += n;
                    let le = h.bounds.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {cumulative}",
                        labels_text(m, Some(("le", le)))
                    );
                }
                let _ = writeln!(out, "{name}_sum{} {}", labels_text(m, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", labels_text(m, None), h.count);
            }
            None => {
                let _ = writeln!(out, "{name}{} {}", labels_text(m, None), m.value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::metrics::LatencyHistogram;
    use std::time::Duration;

    fn sample() -> Vec<Metric> {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_millis(2));
        vec![
            Metric::gauge("coffer.core.unsealed", 1.0, "1 when unsealed"),
            Metric::counter("coffer.entropy.seal.draws", 42, "draws"),
            Metric::histogram("coffer.hsm.operation.seconds", h.snapshot(), "ops")
                .label("op", "wrap"),
            Metric::histogram(
                "coffer.hsm.operation.seconds",
                LatencyHistogram::default().snapshot(),
                "ops",
            )
            .label("op", "unwrap"),
            Metric::counter("coffer.hsm.errors", 3, "errors").label("code", "CKR_PIN_INCORRECT"),
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
        assert!(
            text.contains("coffer_hsm_errors{code=\"CKR_PIN_INCORRECT\"} 3\n"),
            "{text}"
        );
    }

    #[test]
    fn series_of_one_name_share_one_type_line_wherever_they_come_from() {
        let mut metrics = sample();
        metrics
            .push(Metric::counter("coffer.hsm.errors", 1, "errors").label("managed_key", "signer"));
        metrics.push(Metric::gauge(
            "coffer.core.unsealed",
            1.0,
            "1 when unsealed",
        ));
        let text = as_prometheus(&metrics);
        assert_eq!(
            text.matches("# TYPE coffer_hsm_errors counter").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("coffer_hsm_errors{managed_key=\"signer\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn histograms_are_cumulative_buckets_with_sum_and_count_and_one_type_line() {
        let text = as_prometheus(&sample());
        assert_eq!(
            text.matches("# TYPE coffer_hsm_operation_seconds histogram")
                .count(),
            1
        );
        assert!(
            text.contains("coffer_hsm_operation_seconds_bucket{op=\"wrap\",le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("coffer_hsm_operation_seconds_bucket{op=\"wrap\",le=\"0.0025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("coffer_hsm_operation_seconds_bucket{op=\"wrap\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("coffer_hsm_operation_seconds_count{op=\"wrap\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("coffer_hsm_operation_seconds_count{op=\"unwrap\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn json_splits_gauges_counters_and_samples_like_vault() {
        let v = as_json(&sample());
        assert_eq!(v["Gauges"][0]["Name"], "coffer.core.unsealed");
        assert_eq!(v["Counters"][0]["Count"], 42.0);
        assert_eq!(v["Counters"][1]["Labels"]["code"], "CKR_PIN_INCORRECT");
        let wrap = &v["Samples"][0];
        assert_eq!(wrap["Name"], "coffer.hsm.operation.seconds");
        assert_eq!(wrap["Labels"]["op"], "wrap");
        assert_eq!(wrap["Count"], 2);
        assert!((wrap["Max"].as_f64().unwrap() - 2.0).abs() < 1e-6, "{wrap}");
    }
}
