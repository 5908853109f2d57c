//! The connection string, in either of libpq's forms: a `postgres://` (or
//! `postgresql://`) URL, or `key=value` pairs. tokio-postgres reads most of it,
//! but not libpq's certificate checks, so `sslmode` and `sslrootcert` are taken
//! out here (for [`crate::tls`]) and the rest goes to tokio-postgres as written.
//!
//! No message made here contains the string itself: it holds the password.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode as DriverSslMode};

/// Per-attempt TCP connect timeout when the string sets no `connect_timeout`,
/// so a black-holed address fails in seconds rather than minutes.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters that libpq knows and this backend does not implement yet; named
/// in an error rather than silently ignored.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("sslcert", "client certificates"),
    ("sslkey", "client certificates"),
    ("sslpassword", "client certificates"),
    ("sslcrl", "certificate revocation lists"),
    ("sslcrldir", "certificate revocation lists"),
];

/// A parsed connection string.
pub(crate) struct ConnInfo {
    /// Everything but TLS verification, for tokio-postgres.
    pub(crate) pg: tokio_postgres::Config,
    /// Whether and how to use TLS.
    pub(crate) tls: TlsSettings,
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// libpq tries plain first; here it behaves as `prefer` (TLS first).
    Allow,
    /// TLS when the server offers it (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is checked only when `sslrootcert` is given.
    Require,
    /// TLS, certificate chained to `sslrootcert`.
    VerifyCa,
    /// TLS, certificate chained to `sslrootcert` and naming the host.
    VerifyFull,
}

/// Where the trusted CA certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// A PEM file.
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's trust store.
    System,
}

/// The TLS part of the connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// `sslmode`; `prefer` when absent.
    pub(crate) mode: SslMode,
    /// `sslrootcert`, if given.
    pub(crate) root_cert: Option<RootCert>,
}

/// Parses a connection string. Errors name the parameter at fault, never a value
/// that could be the password.
pub(crate) fn parse(text: &str) -> Result<ConnInfo, String> {
    let text = text.trim();
    let is_url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let (rest, ours) = if is_url {
        split_url(text)?
    } else {
        split_key_values(text)?
    };
    let mut tls = TlsSettings {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    for (key, value) in ours {
        match key.as_str() {
            "sslmode" => tls.mode = parse_sslmode(&value)?,
            "sslrootcert" if value == "system" => tls.root_cert = Some(RootCert::System),
            "sslrootcert" => tls.root_cert = Some(RootCert::File(PathBuf::from(value))),
            other => {
                let what = UNSUPPORTED
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map_or("it", |(_, what)| *what);
                return Err(format!(
                    "connection string parameter {other} is not supported yet ({what})"
                ));
            }
        }
    }
    let mut pg = tokio_postgres::Config::from_str(&rest).map_err(|e| driver_parse_error(&e))?;
    pg.ssl_mode(match tls.mode {
        SslMode::Disable => DriverSslMode::Disable,
        SslMode::Allow | SslMode::Prefer => DriverSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
    });
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("coffer");
    }
    if pg.get_hosts().is_empty() {
        return Err("connection string names no host".to_owned());
    }
    Ok(ConnInfo { pg, tls })
}

/// Where the string points, for messages: `host:port` for each host (sockets by
/// their directory), comma-separated. Never includes user or password.
pub(crate) fn describe_target(pg: &tokio_postgres::Config) -> String {
    let ports = pg.get_ports();
    pg.get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{} (port {port})", dir.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_ours(key: &str) -> bool {
    key == "sslmode" || key == "sslrootcert" || UNSUPPORTED.iter().any(|(k, _)| *k == key)
}

fn parse_sslmode(value: &str) -> Result<SslMode, String> {
    Ok(match value {
        "disable" => SslMode::Disable,
        "allow" => SslMode::Allow,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(format!(
                "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            ));
        }
    })
}

/// URL form: removes our parameters from the query string, decoding their values.
fn split_url(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok((text.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if is_ours(key) => {
                ours.push((key.to_owned(), percent_decode(key, value)?));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, ours))
}

fn percent_decode(key: &str, value: &str) -> Result<String, String> {
    let bad = || format!("connection string parameter {key} has a malformed %-escape");
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let digit = |c: u8| char::from(c).to_digit(16);
            let (Some(hi), Some(lo)) = (digit(hex[0]), digit(hex[1])) else {
                return Err(bad());
            };
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("connection string parameter {key} is not UTF-8"))
}

/// `key=value` form, with libpq's quoting (`'...'`, backslash escapes): removes our
/// parameters and writes the others back, each value quoted.
fn split_key_values(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut chars = text.chars().peekable();
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "connection string: expected \"=\" after parameter {key:?}"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if_eq(&'\'').is_some();
        loop {
            match chars.next() {
                Some('\'') if quoted => break,
                Some(c) if !quoted && c.is_whitespace() => break,
                Some('\\') => match chars.next() {
                    Some(c) => value.push(c),
                    None => break,
                },
                Some(c) => value.push(c),
                None if quoted => {
                    return Err(format!(
                        "connection string: unterminated quoted value of parameter {key}"
                    ));
                }
                None => break,
            }
        }
        if is_ours(&key) {
            ours.push((key, value));
        } else {
            let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{escaped}'"));
        }
    }
    Ok((kept.join(" "), ours))
}

/// tokio-postgres' parse errors, minus the one message that quotes a character
/// of the string (which could be part of the password).
fn driver_parse_error(e: &tokio_postgres::Error) -> String {
    let mut text = crate::error_chain(e);
    if let Some(cut) = text.find(" but got `") {
        text.truncate(cut);
    }
    format!("connection string: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_of(text: &str) -> TlsSettings {
        parse(text).map(|c| c.tls).expect("parses")
    }

    #[test]
    fn url_form_keeps_driver_parameters_and_takes_out_tls_ones() {
        let info = parse(
            "postgres://coffer:s%3Fcret@db.example:6432/vault?sslmode=verify-full&\
             sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        )
        .expect("parses");
        assert_eq!(info.pg.get_user(), Some("coffer"));
        assert_eq!(info.pg.get_password(), Some(&b"s?cret"[..]));
        assert_eq!(info.pg.get_dbname(), Some("vault"));
        assert_eq!(info.pg.get_ports(), [6432]);
        assert_eq!(info.pg.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(info.pg.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(info.pg.get_application_name(), Some("coffer"));
        assert_eq!(
            info.tls,
            TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some(RootCert::File(PathBuf::from("/etc/ca.pem"))),
            }
        );
        assert_eq!(describe_target(&info.pg), "db.example:6432");
    }

    #[test]
    fn key_value_form_handles_quotes_and_escapes() {
        let info = parse(
            "host=localhost port = 5433 user=coffer password='it\\'s a \\\\ pass' \
             sslmode=require sslrootcert=system dbname=vault",
        )
        .expect("parses");
        assert_eq!(info.pg.get_password(), Some(&b"it's a \\ pass"[..]));
        assert_eq!(info.pg.get_ports(), [5433]);
        assert_eq!(info.pg.get_dbname(), Some("vault"));
        assert_eq!(info.tls.mode, SslMode::Require);
        assert_eq!(info.tls.root_cert, Some(RootCert::System));
    }

    #[test]
    fn sslmode_defaults_to_prefer_and_all_libpq_values_parse() {
        assert_eq!(tls_of("postgres://u@h/db").mode, SslMode::Prefer);
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            assert_eq!(tls_of(&format!("host=h sslmode={text}")).mode, mode);
        }
        let e = parse("host=h sslmode=always").err().expect("rejected");
        assert!(e.contains("sslmode \"always\""), "{e}");
    }

    #[test]
    fn client_certificates_are_refused_by_name() {
        let e = parse("postgres://u@h/db?sslcert=/c.pem")
            .err()
            .expect("rejected");
        assert_eq!(
            e,
            "connection string parameter sslcert is not supported yet (client certificates)"
        );
    }

    #[test]
    fn parse_errors_never_echo_the_password() {
        for text in [
            "postgres://u:pw-SECRET@h:notaport/db",
            "host=h password=pw-SECRET bogus",
            "host=h password='pw-SECRET",
            "postgres://u:pw-SECRET@h/db?unknown_option=1",
        ] {
            let e = parse(text).err().unwrap_or_else(|| panic!("{text} parsed"));
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn unix_socket_hosts_are_described_by_directory() {
        let info = parse("host=/run/postgresql port=5432 user=u").expect("parses");
        assert_eq!(describe_target(&info.pg), "/run/postgresql (port 5432)");
    }
}
