//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address): whether
//! a client address falls inside one, and whether one list of blocks stays
//! within another. Used by AppRole's `secret_id_bound_cidrs` / `cidr_list`
//! and by every token's `bound_cidrs` (`token_bound_cidrs` of roles).
//!
//! A token's `bound_cidrs` are checked at login (a login from outside them is
//! refused) and at every presentation of the token: from outside them, or
//! from a request with no known address, the token is refused with 403
//! before a use is taken, and is neither spent nor revoked. The address is
//! the TCP peer's, or, on a listener with `x_forwarded_for_authorized_addrs`,
//! the one its trusted proxy names in `X-Forwarded-For`. IPv4-mapped IPv6
//! addresses and blocks compare as IPv4.

use crate::error::{CoreError, CoreResult};
use std::net::IpAddr;

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> CoreResult<Self> {
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
        // Client addresses are compared as IPv4 when IPv4-mapped, so a mapped
        // block is the IPv4 block it stands for; one wider than the mapped
        // range would mean IPv6 space and is refused.
        if let IpAddr::V6(v6) = addr
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            if prefix < 96 {
                return Err(CoreError::invalid(format!(
                    "invalid CIDR block {s:?}: an IPv4-mapped block needs a prefix of 96 or more \
                     (write the IPv4 block instead)"
                )));
            }
            return Ok(Self {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
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

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses a list of blocks (for storage, re-checked on write).
pub fn parse_all(list: &[String]) -> CoreResult<Vec<Cidr>> {
    list.iter().map(|c| Cidr::parse(c)).collect()
}

/// A list as given in a request, made ready to store: blanks dropped, each
/// entry trimmed and checked.
pub fn checked_list(list: Vec<String>) -> CoreResult<Vec<String>> {
    let list: Vec<String> = list
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    parse_all(&list)?;
    Ok(list)
}

/// Whether every block of `inner` lies inside some block of `outer` (an
/// empty `outer` bounds nothing, so anything is within it).
pub fn within(inner: &[String], outer: &[String]) -> CoreResult<bool> {
    if outer.is_empty() {
        return Ok(true);
    }
    let outer = parse_all(outer)?;
    Ok(parse_all(inner)?.iter().all(|i| {
        outer
            .iter()
            .any(|o| o.prefix <= i.prefix && o.contains(i.addr))
    }))
}

/// Whether `ip` is allowed by `list` (an empty list allows everything; no
/// known address is allowed by no non-empty list).
pub fn allows(list: &[String], ip: Option<IpAddr>) -> CoreResult<bool> {
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

    #[test]
    fn a_list_is_within_another_only_when_each_block_fits_inside_one() {
        let l = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let outer = l(&["10.0.0.0/8", "192.168.1.0/24"]);
        assert!(within(&l(&["10.1.0.0/16", "192.168.1.7"]), &outer).expect("ok"));
        assert!(!within(&l(&["10.0.0.0/7"]), &outer).expect("wider"));
        assert!(!within(&l(&["172.16.0.0/12"]), &outer).expect("elsewhere"));
        assert!(within(&l(&["172.16.0.0/12"]), &[]).expect("unbounded"));
        assert_eq!(
            checked_list(l(&[" 10.0.0.0/8 ", "", "::1"])).expect("list"),
            l(&["10.0.0.0/8", "::1"])
        );
        assert!(checked_list(l(&["10.0.0.0/99"])).is_err());
        // An IPv4-mapped block is its IPv4 block: it cannot reach into IPv6
        // space, nor escape an IPv4 bound.
        assert!(within(&l(&["::ffff:10.1.0.0/112"]), &outer).expect("mapped inside"));
        assert!(!within(&l(&["::ffff:11.0.0.0/104"]), &outer).expect("mapped outside"));
        assert!(checked_list(l(&["::ffff:10.0.0.0/8"])).is_err());
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").expect("mapped");
        assert!(mapped.contains("10.9.9.9".parse().expect("ip")));
        assert!(mapped.contains("::ffff:10.9.9.9".parse().expect("ip")));
        assert!(!mapped.contains("::1".parse().expect("ip")));
    }
}
