//! The one error type of the client, with messages shaped like the `vault` CLI's.

use std::path::PathBuf;

/// Everything that can go wrong talking to the server.
///
/// Messages never contain tokens or key shares: the request body is never echoed, and the URL
/// carries only the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status; `errors` is its `{"errors": [...]}` list.
    #[error("Error making API request.\n\nURL: {method} {url}\nCode: {status}. Errors:\n\n{}", bullets(.errors))]
    Api {
        /// HTTP method as sent (`GET`, `PUT`, `LIST`, ...).
        method: String,
        /// Full request URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The server's error messages.
        errors: Vec<String>,
    },

    /// The server could not be reached (refused, DNS, TLS handshake, timeout).
    #[error(
        "error making request to {address}: {detail}\n\n{hint}Check that the server is running \
         and that VAULT_ADDR (or COFFER_ADDR, or -address) points at it."
    )]
    Connection {
        /// The configured server address.
        address: String,
        /// The underlying cause chain.
        detail: String,
        /// A scheme-related hint (http vs https), possibly empty.
        hint: String,
    },

    /// The configured address is not a usable URL.
    #[error("invalid server address {address:?}: {reason}")]
    InvalidAddress {
        /// The rejected address.
        address: String,
        /// Why it was rejected.
        reason: String,
    },

    /// An environment variable holds a value that cannot be parsed.
    #[error("could not parse {name}={value:?}")]
    InvalidEnvironment {
        /// Variable name.
        name: String,
        /// Its value (only ever used for non-secret variables).
        value: String,
    },

    /// The CA certificate file could not be read or holds no certificate.
    #[error("error loading CA certificate {}: {reason}", path.display())]
    CaCert {
        /// The PEM file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Building the TLS configuration or HTTP client failed.
    #[error("error configuring TLS: {0}")]
    Tls(String),

    /// The token helper file could not be read or written.
    #[error("error using token helper file {}: {source}", path.display())]
    TokenHelper {
        /// The token file (e.g. `~/.vault-token`).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The server answered 2xx but the body was not the expected JSON.
    #[error("error parsing the server's response to {method} {url}: {reason}")]
    Decode {
        /// HTTP method.
        method: String,
        /// Full request URL.
        url: String,
        /// Parser message.
        reason: String,
    },

    /// A request could not be built or sent for a reason other than connectivity.
    #[error("error making request {method} {url}: {detail}")]
    Request {
        /// HTTP method.
        method: String,
        /// Full request URL.
        url: String,
        /// The underlying cause chain.
        detail: String,
    },

    /// The operating system's random generator failed (generating an OTP).
    #[error("error generating random data: {0}")]
    Random(String),
}

impl Error {
    /// The HTTP status when the server answered with an error, else `None`.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error messages, empty for non-API errors.
    pub fn api_errors(&self) -> &[String] {
        match self {
            Self::Api { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn bullets(errors: &[String]) -> String {
    errors
        .iter()
        .map(|e| format!("* {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders an error and its `source()` chain as `outer: inner: innermost`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// A hint for the classic scheme mistakes, derived from the address and the failure text.
pub(crate) fn scheme_hint(address: &str, detail: &str) -> String {
    let lower = detail.to_ascii_lowercase();
    if address.starts_with("https://")
        && (lower.contains("corrupt message")
            || lower.contains("invalidcontenttype")
            || lower.contains("invalid content type")
            || lower.contains("wrong version number")
            || lower.contains("http request to an https server"))
    {
        "The server seems to speak plain HTTP: try an http:// address.\n".to_owned()
    } else if address.starts_with("http://")
        && (lower.contains("connection closed") || lower.contains("incomplete message"))
    {
        "If the server uses TLS, the address must start with https://.\n".to_owned()
    } else if address.starts_with("https://") && lower.contains("certificate") {
        "Set VAULT_CACERT (or -ca-cert) to the server's CA certificate, or \
         VAULT_SKIP_VERIFY=true for testing only.\n"
            .to_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_reads_like_vaults() {
        let err = Error::Api {
            method: "PUT".into(),
            url: "http://127.0.0.1:8200/v1/sys/unseal".into(),
            status: 400,
            errors: vec!["invalid key".into()],
        };
        assert_eq!(
            err.to_string(),
            "Error making API request.\n\nURL: PUT http://127.0.0.1:8200/v1/sys/unseal\n\
             Code: 400. Errors:\n\n* invalid key"
        );
        assert_eq!(err.status(), Some(400));
    }

    #[test]
    fn api_error_lists_every_server_message_as_a_bullet() {
        let err = Error::Api {
            method: "GET".into(),
            url: "u".into(),
            status: 500,
            errors: vec!["one".into(), "two".into()],
        };
        assert!(err.to_string().ends_with("* one\n* two"));
    }

    #[test]
    fn connection_error_names_the_address_and_vault_addr() {
        let err = Error::Connection {
            address: "https://127.0.0.1:8200".into(),
            detail: "connection refused".into(),
            hint: String::new(),
        };
        let text = err.to_string();
        assert!(text.contains("https://127.0.0.1:8200"));
        assert!(text.contains("VAULT_ADDR"));
    }

    #[test]
    fn https_address_against_plain_http_server_suggests_http() {
        let hint = scheme_hint(
            "https://127.0.0.1:8200",
            "received corrupt message of type InvalidContentType",
        );
        assert!(hint.contains("http://"), "{hint}");
    }

    #[test]
    fn http_address_against_tls_server_suggests_https() {
        let hint = scheme_hint(
            "http://127.0.0.1:8200",
            "connection closed before message completed",
        );
        assert!(hint.contains("https://"), "{hint}");
    }
}
