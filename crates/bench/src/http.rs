//! A minimal Vault HTTP client: base address, token header, timeouts, and error texts that
//! carry the server's `{"errors": [...]}` so a failing setup says why.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode, Url};

use crate::args::Args;

/// Shared, cheaply cloneable handle; clones share one connection pool.
#[derive(Debug, Clone)]
pub(crate) struct VaultHttp {
    http: reqwest::Client,
    base: Url,
    token: String,
    /// Replaces the client's `--request-timeout` for this handle's requests.
    timeout: Option<Duration>,
}

impl VaultHttp {
    /// Builds the client for `base` (already checked by [`Args::target`]) sending `token`
    /// (none: an empty token, for in-process scenarios).
    pub(crate) fn new(base: Url, token: Option<&str>, args: &Args) -> anyhow::Result<Self> {
        // reqwest is compiled without a built-in crypto provider; ignore "already installed".
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            // Talk to the address given, never through an HTTP(S)_PROXY from the environment.
            .no_proxy()
            .timeout(args.request_timeout)
            .connect_timeout(args.request_timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(crate::args::MAX_CLIENTS);
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --ca-cert {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("parsing --ca-cert {}", path.display()))?;
            builder = builder.tls_certs_only(certs);
        }
        if args.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().context("building the HTTP client")?;
        Ok(Self {
            http,
            base,
            token: token.unwrap_or_default().to_owned(),
            timeout: None,
        })
    }

    /// `<base>/v1/<path>`.
    pub(crate) fn url(&self, path: &str) -> anyhow::Result<Url> {
        let joined = format!(
            "{}/v1/{}",
            self.base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        Url::parse(&joined).with_context(|| format!("bad request path {path:?}"))
    }

    /// Sends one request with the token and an optional JSON body, reads the whole response
    /// (so the connection can be reused) and fails unless the status is 2xx.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        json_body: Option<Vec<u8>>,
    ) -> anyhow::Result<StatusCode> {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true");
        if let Some(timeout) = self.timeout {
            req = req.timeout(timeout);
        }
        if let Some(body) = json_body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let refused = Refused::of(&resp);
        let body = resp.bytes().await?;
        if let Some(refused) = refused {
            return Err(refused.into());
        }
        if !status.is_success() {
            bail!("{status}: {}", error_text(&body));
        }
        Ok(status)
    }

    /// POST `<path>` with a JSON value.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<StatusCode> {
        let bytes = serde_json::to_vec(body)?;
        self.send(Method::POST, self.url(path)?, Some(bytes))
            .await
            .with_context(|| format!("POST /v1/{path}"))
    }

    /// The same connection pool, sending `token` instead.
    pub(crate) fn with_token(&self, token: &str) -> Self {
        Self {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    /// The same connection pool, waiting up to `timeout` for each answer instead of
    /// `--request-timeout` (for clean-ups that are slow by nature).
    pub(crate) fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// POST `<path>` with a JSON value; returns the response's `data`.
    pub(crate) async fn post_for_data(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self.post_for_document(path, body).await?["data"].take())
    }

    /// POST `<path>` with a JSON value; returns the whole response document.
    pub(crate) async fn post_for_document(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.document(Method::POST, path, Some(body)).await
    }

    /// GET `<path>`; returns the response's `data`.
    pub(crate) async fn get_data(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.document(Method::GET, path, None).await?["data"].take())
    }

    /// POST `<path>` asking for the answer wrapped for `wrap_ttl` (`X-Vault-Wrap-TTL`);
    /// returns the whole response document (its `wrap_info`).
    pub(crate) async fn post_wrapped(
        &self,
        path: &str,
        body: &serde_json::Value,
        wrap_ttl: &str,
    ) -> anyhow::Result<serde_json::Value> {
        self.document_with(Method::POST, path, Some(body), Some(wrap_ttl))
            .await
    }

    /// Sends one request and parses the JSON answer; fails unless the status is 2xx.
    async fn document(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        self.document_with(method, path, body, None).await
    }

    async fn document_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        wrap_ttl: Option<&str>,
    ) -> anyhow::Result<serde_json::Value> {
        let what = format!("{method} /v1/{path}");
        let mut req = self
            .http
            .request(method, self.url(path)?)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true");
        if let Some(ttl) = wrap_ttl {
            req = req.header("X-Vault-Wrap-TTL", ttl);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| what.clone())?;
        let status = resp.status();
        let refused = Refused::of(&resp);
        let bytes = resp.bytes().await?;
        if let Some(refused) = refused {
            return Err(anyhow::Error::from(refused).context(what));
        }
        if !status.is_success() {
            bail!("{what}: {status}: {}", error_text(&bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: the answer is not JSON"))
    }

    /// DELETE `<path>`.
    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<StatusCode> {
        self.send(Method::DELETE, self.url(path)?, None)
            .await
            .with_context(|| format!("DELETE /v1/{path}"))
    }
}

/// The server's error list joined, or the raw body (truncated) when it is not the envelope.
fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) if !env.errors.is_empty() => env.errors.join("; "),
        Ok(_) => "(no error message)".to_owned(),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_joins_the_vault_error_envelope() {
        assert_eq!(
            error_text(br#"{"errors":["permission denied","x"]}"#),
            "permission denied; x"
        );
        assert_eq!(error_text(br#"{"errors":[]}"#), "(no error message)");
        assert_eq!(error_text(b"plain text"), "plain text");
    }
}

/// A request the server shed under load: 429 (a rate-limit quota) or 503
/// with `Retry-After` (a bound on requests in flight). Counted apart from
/// errors; a sealed server's 503 has no `Retry-After` and stays an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused(pub(crate) StatusCode);

impl Refused {
    fn of(resp: &reqwest::Response) -> Option<Self> {
        let status = resp.status();
        let shed = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE
                && resp.headers().contains_key(reqwest::header::RETRY_AFTER));
        shed.then_some(Self(status))
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused under load: {}", self.0)
    }
}

impl std::error::Error for Refused {}
