//! The HTTP client: one `reqwest::Client`, the server address and the token.

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{chain, scheme_hint};
use crate::{Config, Error, Result, Secret, SecretString};

/// Header carrying the token (Vault's name, which every Vault client sends).
const TOKEN_HEADER: &str = "X-Vault-Token";
/// Header every vault CLI/SDK request carries; servers use it as a CSRF guard.
const REQUEST_HEADER: &str = "X-Vault-Request";
/// Header asking for a wrapped response.
const WRAP_TTL_HEADER: &str = "X-Vault-Wrap-TTL";
/// The path that wraps the request body, and the TTL vault's client asks
/// for there when none was given (its `DefaultWrappingLookupFunc`).
const WRAP_PATH: &str = "sys/wrapping/wrap";
const DEFAULT_WRAP_TTL: &str = "5m";
/// The mount lookup `kv` commands make first; never wrapped (vault's CLI
/// turns wrapping off for that preflight too).
const MOUNT_LOOKUP_PREFIX: &str = "sys/internal/ui/mounts";

/// HTTP methods the API uses. `List` is Vault's `LIST` verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT` (the server treats it like `POST`)
    Put,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `LIST`
    List,
}

impl Method {
    /// The verb as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Post => "POST",
            Self::Delete => "DELETE",
            Self::List => "LIST",
        }
    }

    fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Put => reqwest::Method::PUT,
            Self::Post => reqwest::Method::POST,
            Self::Delete => reqwest::Method::DELETE,
            Self::List => reqwest::Method::from_bytes(b"LIST").unwrap_or(reqwest::Method::GET),
        }
    }
}

/// A response whose status has not been judged yet.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Method sent.
    pub method: Method,
    /// Full URL requested.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body; `None` for an empty body (e.g. 204).
    pub body: Option<Value>,
    /// The body when it was not JSON (error pages, proxies).
    pub text: Option<String>,
}

impl RawResponse {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error this response stands for, built from its `errors` list.
    pub fn to_error(&self) -> Error {
        let mut errors: Vec<String> = self
            .body
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty()
            && let Some(text) = self
                .text
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
        {
            errors.push(text.to_owned());
        }
        Error::Api {
            method: self.method.as_str().to_owned(),
            url: self.url.clone(),
            status: self.status,
            errors,
        }
    }

    /// The body as a logical response: `Ok(None)` for an empty 2xx body, `Err` for non-2xx.
    pub fn into_secret(self) -> Result<Option<Secret>> {
        if !self.is_success() {
            return Err(self.to_error());
        }
        self.parse_secret()
    }

    /// The body as `T`; non-2xx and empty bodies are errors.
    pub fn into_json<T: DeserializeOwned>(self) -> Result<T> {
        if !self.is_success() {
            return Err(self.to_error());
        }
        let body = self
            .body
            .clone()
            .ok_or_else(|| self.decode_error("empty response body"))?;
        serde_json::from_value(body).map_err(|e| self.decode_error(&e.to_string()))
    }

    fn parse_secret(&self) -> Result<Option<Secret>> {
        match &self.body {
            None => Ok(None),
            Some(body) => serde_json::from_value(body.clone())
                .map(Some)
                .map_err(|e| self.decode_error(&e.to_string())),
        }
    }

    fn decode_error(&self, reason: &str) -> Error {
        Error::Decode {
            method: self.method.as_str().to_owned(),
            url: self.url.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Vault's rule for reads and lists: a 404 is "nothing there" (`None`) unless the body still
    /// carries data or warnings (e.g. a deleted KV v2 version, whose metadata is returned).
    fn into_optional_secret(self) -> Result<Option<Secret>> {
        if self.status == 404 {
            let secret = self.parse_secret().ok().flatten();
            return Ok(secret.filter(|s| {
                !s.warnings().is_empty() || s.data.as_ref().is_some_and(|d| !d.is_empty())
            }));
        }
        self.into_secret()
    }
}

/// A connection to one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    address: String,
    token: Option<std::sync::Arc<SecretString>>,
    wrap_ttl: Option<String>,
}

impl Client {
    /// Builds a client from `config` (TLS settings are fixed at this point).
    pub fn new(config: Config) -> Result<Self> {
        let address = config.address.trim_end_matches('/').to_owned();
        let url = Url::parse(&address).map_err(|e| Error::InvalidAddress {
            address: address.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidAddress {
                address,
                reason: "the scheme must be http or https".to_owned(),
            });
        }
        let tls = crate::tls::client_config(config.ca_cert.as_deref(), config.skip_verify)?;
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_HEADER, HeaderValue::from_static("true"));
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .default_headers(headers)
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::Tls(chain(&e)))?;
        Ok(Self {
            http,
            address,
            token: config.token.map(std::sync::Arc::new),
            wrap_ttl: config.wrap_ttl,
        })
    }

    /// The server address, without a trailing slash.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The token sent with each request, if any.
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_deref()
    }

    /// Replaces the token sent with each request.
    pub fn set_token(&mut self, token: Option<SecretString>) {
        self.token = token.map(std::sync::Arc::new);
    }

    /// The full URL of API `path` (relative to `/v1/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.address, path.trim_start_matches('/'))
    }

    /// Sends one request and returns whatever came back, without judging the status.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<RawResponse> {
        let url_text = self.url(path);
        let request_error = |detail: String| Error::Request {
            method: method.as_str().to_owned(),
            url: url_text.clone(),
            detail,
        };
        let mut url = Url::parse(&url_text).map_err(|e| request_error(e.to_string()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self.http.request(method.to_reqwest(), url);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(token.expose())
                .map_err(|_| request_error("the token contains invalid characters".to_owned()))?;
            value.set_sensitive(true);
            request = request.header(TOKEN_HEADER, value);
        }
        let path = path.trim_matches('/');
        let wrap_ttl = if path.starts_with(MOUNT_LOOKUP_PREFIX) {
            None
        } else {
            self.wrap_ttl.as_deref().or_else(|| {
                (matches!(method, Method::Put | Method::Post) && path == WRAP_PATH)
                    .then_some(DEFAULT_WRAP_TTL)
            })
        };
        if let Some(ttl) = wrap_ttl {
            let value = HeaderValue::from_str(ttl)
                .map_err(|_| request_error(format!("invalid wrap TTL {ttl:?}")))?;
            request = request.header(WRAP_TTL_HEADER, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.send_error(method, &url_text, &e))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.send_error(method, &url_text, &e))?;
        let (body, text) = if bytes.iter().all(u8::is_ascii_whitespace) {
            (None, None)
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => (Some(value), None),
                Err(_) => (None, Some(String::from_utf8_lossy(&bytes).into_owned())),
            }
        };
        Ok(RawResponse {
            method,
            url: url_text,
            status,
            body,
            text,
        })
    }

    /// `GET path`; `None` when there is nothing at the path (404).
    pub async fn read(&self, path: &str) -> Result<Option<Secret>> {
        self.read_with_query(path, &[]).await
    }

    /// `GET path?query`; `None` when there is nothing at the path (404).
    pub async fn read_with_query(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>> {
        self.raw(Method::Get, path, query, None)
            .await?
            .into_optional_secret()
    }

    /// `PUT path` with a JSON body; `None` for 204.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Secret>> {
        self.raw(Method::Put, path, &[], Some(body))
            .await?
            .into_secret()
    }

    /// `LIST path`; `None` when there are no keys (404).
    pub async fn list(&self, path: &str) -> Result<Option<Secret>> {
        self.raw(Method::List, path, &[], None)
            .await?
            .into_optional_secret()
    }

    /// `DELETE path`; `None` for 204.
    pub async fn delete(&self, path: &str) -> Result<Option<Secret>> {
        self.raw(Method::Delete, path, &[], None)
            .await?
            .into_secret()
    }

    /// `GET` of a raw (non-envelope) endpoint, parsed as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.raw(Method::Get, path, &[], None).await?.into_json()
    }

    /// `PUT` to a raw (non-envelope) endpoint, parsed as `T`.
    pub(crate) async fn put_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T> {
        self.raw(Method::Put, path, &[], Some(body))
            .await?
            .into_json()
    }

    fn send_error(&self, method: Method, url: &str, err: &reqwest::Error) -> Error {
        let detail = chain(err);
        if err.is_connect() || err.is_timeout() || looks_like_connection_failure(&detail) {
            let hint = scheme_hint(&self.address, &detail);
            Error::Connection {
                address: self.address.clone(),
                detail,
                hint,
            }
        } else {
            Error::Request {
                method: method.as_str().to_owned(),
                url: url.to_owned(),
                detail,
            }
        }
    }
}

/// Failures reqwest does not flag as `is_connect` but that mean "could not talk to the server"
/// (a TLS server answering plain HTTP, a connection closed mid-response).
fn looks_like_connection_failure(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    [
        "connection closed",
        "incomplete message",
        "connection reset",
        "tls",
        "certificate",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}
