//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) and
//! whether a client address falls inside one.

use coffer_core::{CoreError, CoreResult};
use std::net::IpAddr;

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128).
    pub(crate) fn parse(s: &str) -> CoreResult<Self> {
        let bad = || CoreError::invalid(format!("invalid CIDR block {s:?}"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses a list of blocks (for storage, re-checked on write).
pub(crate) fn parse_all(list: &[String]) -> CoreResult<Vec<Cidr>> {
    list.iter().map(|c| Cidr::parse(c)).collect()
}

/// Whether `ip` is allowed by `list` (an empty list allows everything; no
/// known address is allowed by no non-empty list).
pub(crate) fn allows(list: &[String], ip: Option<IpAddr>) -> CoreResult<bool> {
    if list.is_empty() {
        return Ok(true);
    }
    let Some(ip) = ip else {
        return Ok(false);
    };
    Ok(parse_all(list)?.iter().any(|c| c.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_contain_their_addresses_only() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let c = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.1")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(
            Cidr::parse("127.0.0.1")
                .expect("host")
                .contains(ip("127.0.0.1"))
        );
        assert!(
            Cidr::parse("2001:db8::/32")
                .expect("v6")
                .contains(ip("2001:db8::1"))
        );
        assert!(
            !Cidr::parse("2001:db8::/32")
                .expect("v6")
                .contains(ip("10.0.0.1"))
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(allows(&[], None).expect("empty"));
        assert!(!allows(&["10.0.0.0/8".to_owned()], None).expect("no addr"));
    }
}
