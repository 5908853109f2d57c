//! The few DER and PEM shapes Vault's wire formats need, and nothing more:
//! ECDSA signatures (ASN.1 `SEQUENCE { r, s }` and JWS fixed `r || s`), the PKCS#1
//! key inside a PKCS#8 `PrivateKeyInfo`, and PEM armour.
//!
//! Only definite, short DER lengths (< 64 KiB) are read or written, which
//! covers every structure here; anything else is rejected, never guessed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;

/// Splits one DER element off `input`: `(tag, contents, rest)`.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81 => {
            let (&n, rest) = rest.split_first()?;
            if n < 0x80 {
                return None; // not minimal
            }
            (usize::from(n), rest)
        }
        0x82 => {
            let (hi, rest) = rest.split_first()?;
            let (lo, rest) = rest.split_first()?;
            let n = usize::from(*hi) << 8 | usize::from(*lo);
            if n < 0x100 {
                return None; // not minimal
            }
            (n, rest)
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

pub(crate) use coffer_crypto::ec_key::write_der as write_tlv;

/// An ASN.1 ECDSA signature to JWS form: `r || s`, each left-padded to
/// `scalar_len` bytes. `None` if it is not one well-formed `SEQUENCE` of two
/// non-negative `INTEGER`s that fit.
pub(crate) fn ecdsa_asn1_to_fixed(sig: &[u8], scalar_len: usize) -> Option<Vec<u8>> {
    let (tag, body, rest) = read_tlv(sig)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag_r, r, body) = read_tlv(body)?;
    let (tag_s, s, body) = read_tlv(body)?;
    if tag_r != TAG_INTEGER || tag_s != TAG_INTEGER || !body.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(2 * scalar_len);
    for int in [r, s] {
        if int.first().is_some_and(|b| b & 0x80 != 0) {
            return None; // negative
        }
        let trimmed = strip_leading_zeros(int);
        if trimmed.len() > scalar_len {
            return None;
        }
        out.resize(out.len() + scalar_len - trimmed.len(), 0);
        out.extend_from_slice(trimmed);
    }
    Some(out)
}

/// A JWS `r || s` ECDSA signature to ASN.1 DER. `None` for an odd length.
pub(crate) fn ecdsa_fixed_to_asn1(sig: &[u8]) -> Option<Vec<u8>> {
    if sig.is_empty() || !sig.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut body = Vec::with_capacity(sig.len() + 8);
    for int in [r, s] {
        let mut trimmed = strip_leading_zeros(int).to_vec();
        if trimmed.is_empty() || trimmed[0] & 0x80 != 0 {
            trimmed.insert(0, 0);
        }
        write_tlv(&mut body, TAG_INTEGER, &trimmed);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    write_tlv(&mut out, TAG_SEQUENCE, &body);
    Some(out)
}

fn strip_leading_zeros(int: &[u8]) -> &[u8] {
    let first = int.iter().position(|&b| b != 0).unwrap_or(int.len());
    &int[first..]
}

/// The `privateKey` contents of a PKCS#8 `PrivateKeyInfo` (for RSA: the
/// PKCS#1 `RSAPrivateKey`).
pub(crate) fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (tag, body, rest) = read_tlv(pkcs8)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag_v, _version, body) = read_tlv(body)?;
    let (tag_alg, _alg, body) = read_tlv(body)?;
    let (tag_key, key, _attributes) = read_tlv(body)?;
    (tag_v == TAG_INTEGER && tag_alg == TAG_SEQUENCE && tag_key == TAG_OCTET_STRING).then_some(key)
}

/// PEM armour as Go's `pem.EncodeToMemory` writes it: 64-column base64 and a
/// trailing newline.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signature_forms_convert_both_ways() {
        // r has its high bit set (needs a 0x00 pad), s is short (needs left zeros).
        let mut fixed = vec![0u8; 64];
        fixed[0] = 0x80;
        fixed[31] = 1;
        fixed[63] = 7;
        let der = ecdsa_fixed_to_asn1(&fixed).expect("encodes");
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0x00]);
        assert_eq!(ecdsa_asn1_to_fixed(&der, 32).expect("decodes"), fixed);
    }

    #[test]
    fn malformed_ecdsa_signatures_are_rejected() {
        assert!(ecdsa_asn1_to_fixed(&[0x30, 0x03, 0x02, 0x01], 32).is_none());
        assert!(
            ecdsa_asn1_to_fixed(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00], 32)
                .is_none()
        );
        assert!(
            ecdsa_asn1_to_fixed(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01], 32).is_none()
        );
        assert!(ecdsa_fixed_to_asn1(&[1, 2, 3]).is_none());
        assert!(ecdsa_fixed_to_asn1(&[]).is_none());
        // Non-minimal long-form length.
        assert!(read_tlv(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_none());
    }

    #[test]
    fn long_lengths_round_trip() {
        for n in [0usize, 127, 128, 255, 256, 1000] {
            let mut out = Vec::new();
            write_tlv(&mut out, TAG_OCTET_STRING, &vec![7u8; n]);
            let (tag, body, rest) = read_tlv(&out).expect("parses");
            assert_eq!((tag, body.len(), rest.len()), (TAG_OCTET_STRING, n, 0));
        }
    }

    #[test]
    fn pem_wraps_at_64_columns_like_go() {
        let p = pem("PUBLIC KEY", &[0u8; 60]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 16);
        assert_eq!(lines[3], "-----END PUBLIC KEY-----");
        assert!(p.ends_with("-----\n"));
    }
}
