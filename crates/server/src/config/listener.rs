//! `listener "tcp" { ... }`: where the HTTP API listens and with which TLS
//! settings. Certificate files are only named here; the server reads them.

use std::path::PathBuf;

use coffer_core::token::cidr::Cidr;

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};
use super::value;

/// Address used when a listener stanza has no `address` (Vault's default).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8200";

/// Requests a listener works on at once when `max_concurrent_requests` is not set.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;

/// Largest accepted request body when `max_request_size` is not set (32 MiB, as Vault).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

const FIELDS: &[&str] = &[
    "address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "tls_min_version",
    "max_request_size",
    "max_concurrent_requests",
    "cluster_address",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
];

/// One `listener "tcp"` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// `HOST:PORT` to bind, e.g. `0.0.0.0:8200` or `[::]:8200` (the port is checked here).
    pub address: String,
    /// `true` serves plain HTTP. Default `false`: TLS is on unless switched off.
    pub tls_disable: bool,
    /// PEM certificate chain; required unless `tls_disable`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key; required unless `tls_disable`.
    pub tls_key_file: Option<PathBuf>,
    /// Oldest TLS version accepted.
    pub tls_min_version: TlsMinVersion,
    /// Largest request body in bytes.
    pub max_request_size: usize,
    /// Requests worked on at once before more are refused with 503 (Coffer's
    /// own setting); 0: no bound.
    pub max_concurrent_requests: usize,
    /// `HOST:PORT` the HA cluster listener binds (Vault's `cluster_address`);
    /// default: the host and port of `cluster_addr`.
    pub cluster_address: Option<String>,
    /// Whom to believe about the client's address in `X-Forwarded-For`;
    /// `None`: the header is ignored and the TCP peer is the client.
    pub x_forwarded_for: Option<ForwardedFor>,
}

/// The `x_forwarded_for_*` settings of a listener behind a reverse proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedFor {
    /// Peers whose `X-Forwarded-For` header is trusted (the proxies).
    pub authorized_addrs: Vec<Cidr>,
    /// Addresses to skip from the end of the header's chain (proxies of
    /// one's own that append themselves); default 0: the last entry.
    pub hop_skips: usize,
    /// Refuse (403) a header sent by a peer not in `authorized_addrs`;
    /// `false`: ignore it and use the peer's address. Default `true`.
    pub reject_not_authorized: bool,
    /// Refuse (400) a request without the header; `false`: use the peer's
    /// address. Default `true`.
    pub reject_not_present: bool,
}

/// TLS protocol versions a listener may require as a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinVersion {
    /// TLS 1.2 (`"tls12"`), the default.
    #[default]
    Tls12,
    /// TLS 1.3 (`"tls13"`).
    Tls13,
}

impl TlsMinVersion {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "tls12" => Ok(Self::Tls12),
            "tls13" => Ok(Self::Tls13),
            "tls10" | "tls11" => Err(format!("\"{text}\" is too old; use \"tls12\" or \"tls13\"")),
            other => Err(format!(
                "\"{other}\" is not a TLS version (expected \"tls12\" or \"tls13\")"
            )),
        }
    }
}

/// Decodes one `listener` block, checking the TLS file rule.
pub(crate) fn decode(block: Block) -> Result<(ListenerConfig, Location), ConfigError> {
    let kind = block.single_label("listener \"tcp\" { ... }")?;
    if kind != "tcp" {
        return Err(ConfigError::invalid_at(
            &block.at,
            format!("listener \"{kind}\": unsupported listener type (only \"tcp\")"),
        ));
    }
    let at = block.at.clone();
    let mut f = Fields::new(block.title(), block.at, block.body, FIELDS)?;
    let address = match f.string_at("address")? {
        Some((text, addr_at)) => {
            check_host_port(&text)
                .map_err(|m| ConfigError::invalid_value(&addr_at, f.context(), "address", m))?;
            text
        }
        None => DEFAULT_ADDRESS.to_owned(),
    };
    let cluster_address = match f.string_at("cluster_address")? {
        Some((text, at)) => {
            check_host_port(&text)
                .map_err(|m| ConfigError::invalid_value(&at, f.context(), "cluster_address", m))?;
            Some(text)
        }
        None => None,
    };
    let max_request_size = f.convert("max_request_size", |v| {
        value::to_u64(v).and_then(|n| {
            usize::try_from(n).map_err(|_| format!("{n} bytes is too large for this machine"))
        })
    })?;
    let x_forwarded_for = forwarded_for(&mut f)?;
    let max_concurrent_requests = f.convert("max_concurrent_requests", |v| {
        value::to_u64(v).and_then(|n| usize::try_from(n).map_err(|_| format!("{n} is too large")))
    })?;
    let listener = ListenerConfig {
        address,
        tls_disable: f.bool("tls_disable")?.unwrap_or(false),
        tls_cert_file: f.string("tls_cert_file")?.map(PathBuf::from),
        tls_key_file: f.string("tls_key_file")?.map(PathBuf::from),
        tls_min_version: f
            .parsed("tls_min_version", TlsMinVersion::parse)?
            .unwrap_or_default(),
        max_request_size: max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE),
        max_concurrent_requests: max_concurrent_requests.unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS),
        cluster_address,
        x_forwarded_for,
    };
    if !listener.tls_disable {
        let missing: Vec<&str> = [
            ("tls_cert_file", listener.tls_cert_file.is_none()),
            ("tls_key_file", listener.tls_key_file.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
        if !missing.is_empty() {
            return Err(ConfigError::invalid_at(
                f.at(),
                format!(
                    "listener \"tcp\" on {}: TLS is enabled but {} not set \
                     (set both files, or tls_disable = \"true\" for plain HTTP)",
                    listener.address,
                    missing.join(" and "),
                ),
            ));
        }
    }
    Ok((listener, at))
}

/// The `x_forwarded_for_*` fields: on with a non-empty
/// `x_forwarded_for_authorized_addrs`; the other three without it would be
/// ignored, so they are refused instead.
fn forwarded_for(f: &mut Fields) -> Result<Option<ForwardedFor>, ConfigError> {
    let authorized = f.convert("x_forwarded_for_authorized_addrs", |v| {
        let list = value::to_string_list(v)?;
        if list.is_empty() {
            return Err("the list is empty; name the proxies' addresses or CIDR blocks".to_owned());
        }
        list.iter()
            .map(|s| {
                Cidr::parse(s).map_err(|_| format!("{s:?} is not an IP address or CIDR block"))
            })
            .collect()
    })?;
    let hop_skips = f.convert("x_forwarded_for_hop_skips", |v| {
        value::to_u64(v).and_then(|n| usize::try_from(n).map_err(|_| format!("{n} is too large")))
    })?;
    let reject_not_authorized = f.bool("x_forwarded_for_reject_not_authorized")?;
    let reject_not_present = f.bool("x_forwarded_for_reject_not_present")?;
    let Some(authorized_addrs) = authorized else {
        if hop_skips.is_some() || reject_not_authorized.is_some() || reject_not_present.is_some() {
            return Err(ConfigError::invalid_at(
                f.at(),
                "x_forwarded_for_* settings need x_forwarded_for_authorized_addrs (the proxies \
                 whose X-Forwarded-For header is trusted); without it the header is ignored",
            ));
        }
        return Ok(None);
    };
    Ok(Some(ForwardedFor {
        authorized_addrs,
        hop_skips: hop_skips.unwrap_or(0),
        reject_not_authorized: reject_not_authorized.unwrap_or(true),
        reject_not_present: reject_not_present.unwrap_or(true),
    }))
}

/// `HOST:PORT` with a numeric port; the host (IP or name) is resolved when binding.
fn check_host_port(text: &str) -> Result<(), String> {
    let bad = || format!("\"{text}\" is not HOST:PORT (e.g. \"127.0.0.1:8200\", \"[::]:8200\")");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}
