//! `sys/health` (status codes chosen by query parameters) and `sys/leader`.

use super::error::ApiError;
use super::{Shared, envelope};
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_core::CoreError;
use coffer_crypto::EntropyHealth;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The status codes `sys/health` answers with, after query overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HealthCodes {
    active: u16,
    standby: u16,
    dr_secondary: u16,
    perf_standby: u16,
    sealed: u16,
    uninit: u16,
}

impl HealthCodes {
    fn from_query(q: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        let code = |name: &str, default: u16| -> Result<u16, ApiError> {
            match q.get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "bad code for {name}: {v:?} is not an HTTP status code"
                        ))
                    }),
            }
        };
        let flag = |name: &str| {
            q.get(name)
                .is_some_and(|v| matches!(v.as_str(), "" | "true" | "1" | "t"))
        };
        let active = code("activecode", 200)?;
        let mut codes = Self {
            active,
            standby: code("standbycode", 429)?,
            dr_secondary: code("drsecondarycode", 472)?,
            perf_standby: code("performancestandbycode", 473)?,
            sealed: code("sealedcode", 503)?,
            uninit: code("uninitcode", 501)?,
        };
        if flag("standbyok") {
            codes.standby = active;
        }
        if flag("perfstandbyok") {
            codes.perf_standby = active;
        }
        Ok(codes)
    }
}

pub(crate) async fn health(
    State(st): State<Shared>,
    method: Method,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let codes = HealthCodes::from_query(&q)?;
    let initialized = st.core.is_initialized().await?;
    let sealed = st.core.is_sealed();
    let standby = !sealed && st.core.ha_status().standby;
    let code = if !initialized {
        codes.uninit
    } else if sealed {
        codes.sealed
    } else if standby {
        codes.standby
    } else {
        codes.active
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    if method == Method::HEAD {
        return Ok(status.into_response());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now,
        "version": crate::VERSION,
    });
    if let Some(r) = st.core.entropy_report() {
        let (healthy, reason) = match &r.health {
            EntropyHealth::Healthy => (true, String::new()),
            EntropyHealth::Unavailable(why) => (false, why.clone()),
            EntropyHealth::Failed(test) => (false, format!("failed the SP 800-90B {test}")),
            other => (false, format!("{other:?}")),
        };
        body["entropy_augmentation"] = json!({
            "source": r.external,
            "healthy": healthy,
            "error": reason,
            "draws": r.draws,
            "failures": r.failures,
        });
    }
    if let Some(c) = st.core.cluster().filter(|_| !sealed) {
        body["cluster_name"] = json!(c.name);
        body["cluster_id"] = json!(c.id);
    }
    Ok(envelope::json_response(status, &body))
}

pub(crate) async fn leader(State(st): State<Shared>) -> Result<Response, ApiError> {
    let ha = st.core.ha_status();
    // As Vault: a node without HA says so even while sealed; an HA node
    // that is sealed knows no leader.
    if ha.enabled && st.core.is_sealed() {
        return Err(CoreError::Sealed.into());
    }
    let active_time = ha
        .active_time
        .map(coffer_core::clock::rfc3339)
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
    Ok(envelope::json_response(
        StatusCode::OK,
        &json!({
            "ha_enabled": ha.enabled,
            "is_self": ha.is_self,
            "active_time": active_time,
            "leader_address": ha.leader_address,
            "leader_cluster_address": ha.leader_cluster_address,
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_overrides_codes_and_rejects_non_numbers() {
        let c = HealthCodes::from_query(&q(&[("sealedcode", "299"), ("standbyok", "true")]))
            .expect("codes");
        assert_eq!(c.sealed, 299);
        assert_eq!(c.standby, 200);
        assert_eq!(c.uninit, 501);
        assert!(HealthCodes::from_query(&q(&[("activecode", "abc")])).is_err());
        assert!(HealthCodes::from_query(&q(&[("activecode", "1000")])).is_err());
    }
}
