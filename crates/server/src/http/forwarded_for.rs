//! `X-Forwarded-For` behind a reverse proxy: a listener with
//! `x_forwarded_for_authorized_addrs` takes the client's address from the
//! header when the TCP peer is one of those proxies, and everything after it
//! (audit `remote_address`, `token_bound_cidrs`, AppRole CIDR bindings,
//! forwarding to the active node) sees that address. The peer's port is
//! kept, as Vault does.
//!
//! The header's chain is read from its end, skipping `hop_skips` entries:
//! `client, proxy1, proxy2` with 0 skips gives `proxy2`, with 2 `client`.
//! Proxies must therefore append to (not pass on unchecked) what clients send.

use crate::config::ForwardedFor;
use crate::http::error::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, StatusCode};
use std::net::{IpAddr, SocketAddr};

const HEADER: &str = "x-forwarded-for";

/// Makes `req` carry the client's address as `settings` define it, or
/// answers why the request is refused.
pub(crate) fn apply(settings: &ForwardedFor, req: &mut Request) -> Result<(), ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    match resolve(settings, peer, req.headers()) {
        Ok(Some(client)) => {
            req.extensions_mut().insert(ConnectInfo(client));
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(refused) => {
            tracing::debug!(peer = ?peer, reason = %refused.1, "X-Forwarded-For: request refused");
            Err(ApiError::new(refused.0, refused.1))
        }
    }
}

/// The client address to use (`None`: keep what the request has), or why
/// the request is refused.
fn resolve(
    settings: &ForwardedFor,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<Option<SocketAddr>, (StatusCode, String)> {
    let values: Vec<&[u8]> = headers
        .get_all(HEADER)
        .iter()
        .map(|v| v.as_bytes())
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
        .collect();
    if values.is_empty() {
        if settings.reject_not_present {
            return Err((
                StatusCode::BAD_REQUEST,
                "missing X-Forwarded-For header: this listener takes requests only through its \
                 proxies (x_forwarded_for_reject_not_present)"
                    .to_owned(),
            ));
        }
        return Ok(None);
    }
    let trusted = peer.is_some_and(|p| {
        settings
            .authorized_addrs
            .iter()
            .any(|block| block.contains(p.ip()))
    });
    let Some(peer) = peer.filter(|_| trusted) else {
        if settings.reject_not_authorized {
            let who = peer.map_or_else(|| "an unknown peer".to_owned(), |p| p.ip().to_string());
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "{who} sent an X-Forwarded-For header but is not in \
                     x_forwarded_for_authorized_addrs, so the header is not trusted \
                     (x_forwarded_for_reject_not_authorized)"
                ),
            ));
        }
        return Ok(None);
    };
    let mut chain = Vec::new();
    for value in values {
        let text = std::str::from_utf8(value).map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                "the X-Forwarded-For header is not text".to_owned(),
            )
        })?;
        chain.extend(text.split(',').map(str::trim).filter(|s| !s.is_empty()));
    }
    let Some(index) = chain
        .len()
        .checked_sub(1)
        .and_then(|last| last.checked_sub(settings.hop_skips))
    else {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "X-Forwarded-For has {} address(es), but x_forwarded_for_hop_skips is {}: no \
                 client address is left",
                chain.len(),
                settings.hop_skips
            ),
        ));
    };
    let entry = chain[index];
    let ip = parse_entry(entry).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            format!("X-Forwarded-For entry {entry:?} is not an IP address"),
        )
    })?;
    Ok(Some(SocketAddr::new(ip, peer.port())))
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, or with a
/// port (`203.0.113.7:5123`, `[2001:db8::1]:5123`), whose port is dropped.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::token::cidr::Cidr;

    fn settings(hop_skips: usize) -> ForwardedFor {
        ForwardedFor {
            authorized_addrs: vec![Cidr::parse("10.0.0.0/8").expect("cidr")],
            hop_skips,
            reject_not_authorized: true,
            reject_not_present: true,
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, v.parse().expect("header value"));
        }
        h
    }

    fn proxy() -> Option<SocketAddr> {
        Some("10.1.2.3:40000".parse().expect("addr"))
    }

    #[test]
    fn the_client_is_the_last_entry_after_the_skipped_hops_with_the_peers_port() {
        let h = headers(&["203.0.113.7, 198.51.100.1", "10.9.9.9"]);
        let at = |skips| resolve(&settings(skips), proxy(), &h);
        assert_eq!(at(0), Ok(Some("10.9.9.9:40000".parse().expect("addr"))));
        assert_eq!(at(2), Ok(Some("203.0.113.7:40000".parse().expect("addr"))));
        let err = at(3).expect_err("too many skips");
        assert_eq!(err.0, StatusCode::BAD_REQUEST);
        assert!(
            err.1.contains("3 address(es)") && err.1.contains("is 3"),
            "{}",
            err.1
        );
    }

    #[test]
    fn entries_with_ports_and_ipv6_are_understood_and_junk_is_refused() {
        for (entry, ip) in [
            ("[2001:db8::1]:5123", "2001:db8::1"),
            ("2001:db8::2", "2001:db8::2"),
            ("203.0.113.9:80", "203.0.113.9"),
        ] {
            let got = resolve(&settings(0), proxy(), &headers(&[entry])).expect("resolved");
            assert_eq!(
                got.map(|a| a.ip()),
                Some(ip.parse().expect("ip")),
                "{entry}"
            );
        }
        let err = resolve(&settings(0), proxy(), &headers(&["unknown"])).expect_err("junk");
        assert_eq!(err.0, StatusCode::BAD_REQUEST);
        assert!(err.1.contains("\"unknown\""), "{}", err.1);
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_refused_or_ignored_as_configured() {
        let outsider: Option<SocketAddr> = Some("192.0.2.50:1234".parse().expect("addr"));
        let h = headers(&["203.0.113.7"]);
        let err = resolve(&settings(0), outsider, &h).expect_err("refused");
        assert_eq!(err.0, StatusCode::FORBIDDEN);
        assert!(err.1.starts_with("192.0.2.50 sent"), "{}", err.1);
        let lenient = ForwardedFor {
            reject_not_authorized: false,
            ..settings(0)
        };
        assert_eq!(
            resolve(&lenient, outsider, &h),
            Ok(None),
            "the peer stays the client"
        );
    }

    #[test]
    fn a_request_without_the_header_is_refused_or_served_as_configured() {
        let err = resolve(&settings(0), proxy(), &headers(&[])).expect_err("refused");
        assert_eq!(err.0, StatusCode::BAD_REQUEST);
        let blank = resolve(&settings(0), proxy(), &headers(&["  "])).expect_err("refused");
        assert_eq!(blank.0, StatusCode::BAD_REQUEST);
        let lenient = ForwardedFor {
            reject_not_present: false,
            ..settings(0)
        };
        assert_eq!(resolve(&lenient, proxy(), &headers(&[])), Ok(None));
    }
}
