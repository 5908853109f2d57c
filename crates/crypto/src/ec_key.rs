//! Elliptic-curve private keys drawn from an [`Entropy`] handle, so that keys
//! made for transit and the response-wrapping signing key carry HSM
//! randomness when entropy augmentation is on.
//!
//! A scalar is drawn by rejection sampling (FIPS 186-5 A.2.2, "testing
//! candidates"): the bits above the order's length are cleared, and a
//! candidate of zero or not below the order is drawn again. Comparisons run
//! in constant time. The result is handed out as a minimal RFC 5915
//! `ECPrivateKey` (version, scalar, curve OID; no public key, which the
//! signing library computes when it parses the key).

use crate::entropy::Entropy;
use crate::error::CryptoError;
use zeroize::Zeroizing;

/// How many candidates are tried before giving up. With the excess bits
/// cleared, a candidate is rejected with probability below 2^-32 on every
/// NIST curve, so reaching this means a broken entropy source.
const MAX_CANDIDATES: usize = 16;

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;

/// A uniformly random scalar in `[1, order)`, as big-endian bytes of the
/// order's length. `order` is big-endian with a non-zero first byte.
pub fn random_scalar(
    entropy: &dyn Entropy,
    order: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let top = *order
        .first()
        .filter(|b| **b != 0)
        .ok_or_else(|| CryptoError::Malformed("an EC group order must be minimal".to_owned()))?;
    let mask = u8::MAX >> top.leading_zeros();
    let mut scalar = Zeroizing::new(vec![0u8; order.len()]);
    for _ in 0..MAX_CANDIDATES {
        entropy.fill(scalar.as_mut_slice())?;
        scalar[0] &= mask;
        if !ct_is_zero(&scalar) && ct_less_than(&scalar, order) {
            return Ok(scalar);
        }
    }
    Err(CryptoError::Entropy(
        "no valid EC private scalar after many draws: the entropy source looks broken".to_owned(),
    ))
}

/// A minimal RFC 5915 `ECPrivateKey` for `scalar` on the curve whose object
/// identifier contents are `curve_oid`. Wiped on drop.
pub fn ec_private_key_der(scalar: &[u8], curve_oid: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(scalar.len() + 32));
    write_der(&mut body, TAG_INTEGER, &[1]);
    write_der(&mut body, TAG_OCTET_STRING, scalar);
    let mut oid = Vec::with_capacity(curve_oid.len() + 2);
    write_der(&mut oid, TAG_OID, curve_oid);
    write_der(&mut body, TAG_CONTEXT_0, &oid);
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() + 4));
    write_der(&mut out, TAG_SEQUENCE, &body);
    out
}

/// Appends one DER element with a definite length. Only lengths below
/// 64 KiB are written, which covers every key and signature structure.
pub fn write_der(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let n = contents.len();
    debug_assert!(n < 0x1_0000, "DER element too long for this writer");
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(contents);
}

/// `a < b` for equal-length big-endian integers, without branching on their
/// values.
fn ct_less_than(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let mut borrow: u16 = 0;
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        let diff = u16::from(*x)
            .wrapping_sub(u16::from(*y))
            .wrapping_sub(borrow);
        borrow = (diff >> 8) & 1;
    }
    borrow == 1
}

/// Whether every byte is zero, without branching on them.
fn ct_is_zero(a: &[u8]) -> bool {
    a.iter().fold(0u8, |acc, b| acc | b) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Hands out scripted bytes, to drive the rejection loop.
    struct Script(Mutex<Vec<Vec<u8>>>);

    impl Entropy for Script {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            let next = self.0.lock().expect("lock").remove(0);
            buf.copy_from_slice(&next);
            Ok(())
        }
        fn source(&self) -> &'static str {
            "script"
        }
    }

    #[test]
    fn constant_time_comparisons_order_big_endian_integers() {
        assert!(ct_less_than(&[0, 1], &[0, 2]));
        assert!(ct_less_than(&[0, 0xff], &[1, 0]));
        assert!(!ct_less_than(&[1, 0], &[1, 0]));
        assert!(!ct_less_than(&[2, 0], &[1, 0xff]));
        assert!(ct_is_zero(&[0, 0, 0]));
        assert!(!ct_is_zero(&[0, 1, 0]));
    }

    #[test]
    fn candidates_of_zero_or_at_least_the_order_are_drawn_again() {
        let order = [0x01, 0x00, 0x05];
        let script = Script(Mutex::new(vec![
            vec![0x00, 0x00, 0x00], // zero
            vec![0xff, 0x00, 0x05], // masked to 0x01 0x00 0x05 = order
            vec![0xfe, 0x00, 0x04], // masked to 0x00 0x00 0x04 < order
        ]));
        let s = random_scalar(&script, &order).expect("scalar");
        assert_eq!(s.as_slice(), &[0x00, 0x00, 0x04]);
    }

    #[test]
    fn a_source_that_never_yields_a_valid_candidate_is_reported_as_broken() {
        let order = [0x01, 0x00];
        let script = Script(Mutex::new(vec![vec![0, 0]; MAX_CANDIDATES]));
        let err = random_scalar(&script, &order).expect_err("all zero");
        assert!(
            err.to_string().contains("entropy source looks broken"),
            "{err}"
        );
    }

    #[test]
    fn private_keys_are_minimal_rfc5915_structures() {
        let der = ec_private_key_der(&[7u8; 3], &[0x2b, 0x81, 0x04, 0x00, 0x23]);
        assert_eq!(
            der.as_slice(),
            &[
                0x30, 0x11, 0x02, 0x01, 0x01, 0x04, 0x03, 7, 7, 7, 0xa0, 0x07, 0x06, 0x05, 0x2b,
                0x81, 0x04, 0x00, 0x23
            ]
        );
        let mut long = Vec::new();
        write_der(&mut long, TAG_OCTET_STRING, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
