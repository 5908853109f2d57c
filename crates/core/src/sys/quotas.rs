//! `sys/quotas/rate-limit[/:name]` and `sys/quotas/config`, with Vault's
//! fields and read shapes. Role-based quotas and the audit logging of
//! refused requests are refused as not supported, rather than accepted
//! and ignored.

use crate::engine::field::{opt_bool, opt_string_list};
use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::quota::{QuotaConfig, RateLimitQuota};
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest `interval` or `block_interval` accepted.
const MAX_INTERVAL: Ttl = Ttl::from_secs(365 * 24 * 3600);

/// `POST sys/quotas/rate-limit/:name`; unset fields keep their values on update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaInput {
    /// Vault accepts the name in the body too; it must match the path.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default, deserialize_with = "opt_f64")]
    rate: Option<f64>,
    #[serde(default)]
    interval: Option<Ttl>,
    #[serde(default)]
    block_interval: Option<Ttl>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    inheritable: Option<bool>,
    /// Vault's quota type field; only `rate-limit` exists here.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `POST sys/quotas/config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigInput {
    #[serde(default, deserialize_with = "opt_string_list")]
    rate_limit_exempt_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_bool")]
    enable_rate_limit_audit_logging: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    enable_rate_limit_response_headers: Option<bool>,
}

/// A float as a number or a decimal string (the CLI sends `rate=10.5`), or null.
fn opt_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a number, got {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("cannot parse {s:?} as a number"))),
        Some(other) => Err(D::Error::custom(format!("expected a number, got {other}"))),
    }
}

fn quota_json(q: &RateLimitQuota) -> Value {
    json!({
        "name": q.name,
        "path": q.path,
        "type": "rate-limit",
        "rate": q.rate,
        "interval": q.interval_secs,
        "block_interval": q.block_interval_secs,
        "role": "",
        "inheritable": q.inheritable,
    })
}

impl Core {
    /// `LIST sys/quotas/rate-limit`.
    pub(crate) fn list_quotas(&self) -> CoreResult<Option<Response>> {
        Ok(Response::list(self.quotas.names()))
    }

    /// `sys/quotas/rate-limit/:name`.
    pub(crate) async fn quota_request(
        &self,
        req: &Request,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        match req.operation {
            Operation::Read => Ok(self
                .quotas
                .get(name)
                .map(|q| Response::data(quota_json(&q)))),
            Operation::Delete => self.delete_quota(name).await.map(|()| None),
            Operation::Update => {
                let input: QuotaInput = req.parse()?;
                let quota = self
                    .store_quota(name, |existing| self.updated_quota(name, input, existing))
                    .await?;
                tracing::info!(
                    name = %quota.name,
                    path = %quota.path,
                    rate = quota.rate,
                    interval_secs = quota.interval_secs,
                    "rate-limit quota written"
                );
                Ok(None)
            }
            _ => Err(CoreError::UnsupportedOperation),
        }
    }

    fn updated_quota(
        &self,
        name: &str,
        input: QuotaInput,
        existing: Option<RateLimitQuota>,
    ) -> CoreResult<RateLimitQuota> {
        if name.is_empty() || name.contains('/') {
            return Err(CoreError::invalid(format!("invalid quota name {name:?}")));
        }
        if input.name.as_deref().is_some_and(|n| n != name) {
            return Err(CoreError::invalid(
                "the name in the body differs from the one in the path",
            ));
        }
        if input.kind.as_deref().is_some_and(|k| k != "rate-limit") {
            return Err(CoreError::invalid(
                "only rate-limit quotas exist here (lease-count quotas are a Vault Enterprise feature)",
            ));
        }
        if input.role.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(CoreError::NotSupported(
                "role-based rate-limit quotas (a quota per auth role): set one on the auth \
                 method's login path instead"
                    .to_owned(),
            ));
        }
        let path = match (input.path, &existing) {
            (Some(p), _) => self.quota_path(&p)?,
            (None, Some(q)) => q.path.clone(),
            (None, None) => String::new(),
        };
        let rate = input
            .rate
            .or(existing.as_ref().map(|q| q.rate))
            .ok_or_else(|| CoreError::invalid("rate is required: requests allowed per interval"))?;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(CoreError::invalid(format!(
                "rate must be a positive number; got {rate}"
            )));
        }
        for (field, value) in [
            ("interval", input.interval),
            ("block_interval", input.block_interval),
        ] {
            if value.is_some_and(|t| t > MAX_INTERVAL) {
                return Err(CoreError::invalid(format!(
                    "{field} may be at most a year (8760h)"
                )));
            }
        }
        let interval_secs = match input.interval {
            Some(t) if t.is_zero() => 1,
            Some(t) => t.as_secs(),
            None => existing.as_ref().map_or(1, |q| q.interval_secs),
        };
        let block_interval_secs = input
            .block_interval
            .map(Ttl::as_secs)
            .or(existing.as_ref().map(|q| q.block_interval_secs))
            .unwrap_or(0);
        let inheritable = input
            .inheritable
            .or(existing.as_ref().map(|q| q.inheritable))
            .unwrap_or(path.is_empty());
        if inheritable && !path.is_empty() {
            return Err(CoreError::invalid(
                "inheritable applies to namespace quotas only (and the global quota, which is \
                 inherited anyway); a mount or path quota cannot be inheritable",
            ));
        }
        Ok(RateLimitQuota {
            name: name.to_owned(),
            path,
            rate,
            interval_secs,
            block_interval_secs,
            inheritable,
        })
    }

    /// `GET` and `POST sys/quotas/config`.
    pub(crate) async fn quota_config_request(&self, req: &Request) -> CoreResult<Option<Response>> {
        if req.operation == Operation::Read {
            let c = self.quotas.config();
            return Ok(Some(Response::data(json!({
                "rate_limit_exempt_paths": c.rate_limit_exempt_paths,
                "enable_rate_limit_audit_logging": false,
                "enable_rate_limit_response_headers": c.enable_rate_limit_response_headers,
            }))));
        }
        let input: ConfigInput = req.parse()?;
        if input.enable_rate_limit_audit_logging == Some(true) {
            return Err(CoreError::NotSupported(
                "enable_rate_limit_audit_logging: refused requests are not audited; they are \
                 counted per quota in sys/metrics (coffer.quota.rate_limit.violations)"
                    .to_owned(),
            ));
        }
        let current = self.quotas.config();
        let config = QuotaConfig {
            rate_limit_exempt_paths: input
                .rate_limit_exempt_paths
                .map(|paths| {
                    paths
                        .into_iter()
                        .map(|p| p.trim_start_matches('/').to_owned())
                        .collect()
                })
                .unwrap_or(current.rate_limit_exempt_paths),
            enable_rate_limit_response_headers: input
                .enable_rate_limit_response_headers
                .unwrap_or(current.enable_rate_limit_response_headers),
        };
        self.store_quota_config(config).await.map(|()| None)
    }
}
