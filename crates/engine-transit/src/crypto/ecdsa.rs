//! ECDSA over P-256 and P-384 with any of Vault's hashes.
//!
//! AWS-LC pairs each curve with one digest in its API, but ECDSA itself signs
//! an integer made from the leftmost curve-order bits of any hash (FIPS 186-5
//! §6.4.1). Vault (Go) does the same, so `ecdsa-p384` keys sign SHA-256 by
//! default. We therefore hash ourselves and hand AWS-LC that integer, in the
//! curve's native digest length: truncated when the hash is longer, left-
//! padded with zeros (the same integer) when it is shorter.
//!
//! Private scalars are drawn from our `Entropy` (`coffer_crypto::ec_key`).

use super::der;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1,
    ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, EcdsaSigningAlgorithm,
    EcdsaVerificationAlgorithm, KeyPair as _, UnparsedPublicKey,
};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::{Entropy, ec_key};
use zeroize::Zeroizing;

/// A NIST curve transit offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    /// secp256r1.
    P256,
    /// secp384r1.
    P384,
}

impl Curve {
    /// Bytes in a scalar (and in each of `r`, `s`).
    pub(crate) fn scalar_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    /// Go's curve name, which Vault shows as a key version's `name`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }

    /// The group order `n`, big-endian (SEC 2 §2.4.2, §2.5.1).
    fn order(self) -> &'static [u8] {
        match self {
            Self::P256 => &[
                0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
                0xfc, 0x63, 0x25, 0x51,
            ],
            Self::P384 => &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81,
                0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec,
                0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
            ],
        }
    }

    /// The curve's object identifier contents (RFC 5480 §2.1.1.1).
    fn oid(self) -> &'static [u8] {
        match self {
            Self::P256 => &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Self::P384 => &[0x2b, 0x81, 0x04, 0x00, 0x22],
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &ECDSA_P256_SHA256_ASN1,
            Self::P384 => &ECDSA_P384_SHA384_ASN1,
        }
    }

    fn native_digest(self) -> &'static digest::Algorithm {
        match self {
            Self::P256 => &digest::SHA256,
            Self::P384 => &digest::SHA384,
        }
    }

    /// The hash as the integer ECDSA signs, in the native digest's length.
    fn hash_to_digest(self, hash: &[u8]) -> CoreResult<Digest> {
        let n = self.scalar_len();
        let adapted = if hash.len() >= n {
            hash[..n].to_vec()
        } else {
            let mut v = vec![0u8; n - hash.len()];
            v.extend_from_slice(hash);
            v
        };
        Digest::import_less_safe(&adapted, self.native_digest())
            .map_err(|_| CoreError::Internal("cannot import ECDSA digest".to_owned()))
    }
}

/// An ECDSA private key ready to sign. No `Debug`, no `Clone`.
pub(crate) struct EcdsaKey {
    curve: Curve,
    pair: EcdsaKeyPair,
}

impl EcdsaKey {
    /// Draws a private scalar from `entropy` and returns the key as an
    /// RFC 5915 `ECPrivateKey` (with its public key), the stored form.
    pub(crate) fn generate(curve: Curve, entropy: &dyn Entropy) -> CoreResult<Zeroizing<Vec<u8>>> {
        let scalar = ec_key::random_scalar(entropy, curve.order())?;
        let minimal = ec_key::ec_private_key_der(&scalar, curve.oid());
        Self::from_der(curve, &minimal)?.private_der()
    }

    /// Loads a stored RFC 5915 key.
    pub(crate) fn from_der(curve: Curve, der: &[u8]) -> CoreResult<Self> {
        let pair = EcdsaKeyPair::from_private_key_der(curve.signing(), der).map_err(|e| {
            CoreError::Internal(format!("stored {} key rejected: {e}", curve.name()))
        })?;
        Ok(Self { curve, pair })
    }

    /// The key as RFC 5915 DER (what `export` PEM-armours as `EC PRIVATE KEY`).
    pub(crate) fn private_der(&self) -> CoreResult<Zeroizing<Vec<u8>>> {
        let der = self
            .pair
            .private_key()
            .as_der()
            .map_err(|_| CoreError::Internal("cannot encode EC private key".to_owned()))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The public point, SEC 1 uncompressed.
    pub(crate) fn public_point(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The public key as PKIX PEM, as Vault shows it.
    pub(crate) fn public_pem(&self) -> CoreResult<String> {
        let der = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| CoreError::Internal("cannot encode EC public key".to_owned()))?;
        Ok(der::pem("PUBLIC KEY", der.as_ref()))
    }

    /// Signs a hash; returns an ASN.1 DER signature.
    pub(crate) fn sign_hash(&self, hash: &[u8]) -> CoreResult<Vec<u8>> {
        let digest = self.curve.hash_to_digest(hash)?;
        let sig = self
            .pair
            .sign_digest(&digest)
            .map_err(|_| CoreError::Internal("ECDSA signing failed".to_owned()))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// Whether `der_sig` is a valid ASN.1 ECDSA signature of `hash` by `point`.
pub(crate) fn verify_hash(curve: Curve, point: &[u8], hash: &[u8], der_sig: &[u8]) -> bool {
    let Ok(digest) = curve.hash_to_digest(hash) else {
        return false;
    };
    UnparsedPublicKey::new(curve.verification(), point)
        .verify_digest(&digest, der_sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash::HashAlgorithm;
    use coffer_crypto::OsEntropy;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).expect("hex")
    }

    fn point(x: &str, y: &str) -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend(unhex(x));
        p.extend(unhex(y));
        p
    }

    fn fixed_sig(r: &str, s: &str) -> Vec<u8> {
        let mut f = unhex(r);
        f.extend(unhex(s));
        der::ecdsa_fixed_to_asn1(&f).expect("der")
    }

    /// RFC 6979 A.2.5: P-256, private key x, message "sample" signed with
    /// SHA-256 and SHA-512 (the latter exercises hash truncation). Signatures
    /// are deterministic there; we check that ours verify them, and that the
    /// stored key yields the published public key.
    #[test]
    fn p256_verifies_rfc_6979_vectors_and_derives_their_public_key() {
        let ux = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6";
        let uy = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
        let pub_point = point(ux, uy);
        let x = unhex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let key = EcdsaKey::from_der(
            Curve::P256,
            &ec_key::ec_private_key_der(&x, Curve::P256.oid()),
        )
        .expect("key");
        assert_eq!(key.public_point(), pub_point);

        let sha256 = HashAlgorithm::Sha2_256.digest(b"sample");
        let sig256 = fixed_sig(
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
        );
        assert!(verify_hash(Curve::P256, &pub_point, &sha256, &sig256));

        let sha512 = HashAlgorithm::Sha2_512.digest(b"sample");
        let sig512 = fixed_sig(
            "8496A60B5E9B47C825488827E0495B0E3FA109EC4568FD3F8D1097678EB97F00",
            "2362AB1ADBE2B8ADF9CB9EDAB740EA6049C028114F2460F96554F61FAE3302FE",
        );
        assert!(verify_hash(Curve::P256, &pub_point, &sha512, &sig512));
        assert!(!verify_hash(Curve::P256, &pub_point, &sha256, &sig512));
    }

    /// RFC 6979 A.2.6: P-384, message "sample" with SHA-384 and with SHA-256
    /// (a hash shorter than the curve order: zero-padded to the same integer).
    #[test]
    fn p384_verifies_rfc_6979_vectors_including_a_shorter_hash() {
        let pub_point = point(
            "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64\
             DEF8F0EA9055866064A254515480BC13",
            "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1\
             288B231C3AE0D4FE7344FD2533264720",
        );
        let sha384 = HashAlgorithm::Sha2_384.digest(b"sample");
        let sig384 = fixed_sig(
            "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C\
             81A648152E44ACF96E36DD1E80FABE46",
            "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94F\
             A329C145786E679E7B82C71A38628AC8",
        );
        assert!(verify_hash(Curve::P384, &pub_point, &sha384, &sig384));

        let sha256 = HashAlgorithm::Sha2_256.digest(b"sample");
        let sig256 = fixed_sig(
            "21B13D1E013C7FA1392D03C5F99AF8B30C570C6F98D4EA8E354B63A21D3DAA33\
             BDE1E888E63355D92FA2B3C36D8FB2CD",
            "F3AA443FB107745BF4BD77CB3891674632068A10CA67E3D45DB2266FA7D1FEEB\
             EFDC63ECCD1AC42EC0CB8668A4FA0AB0",
        );
        assert!(verify_hash(Curve::P384, &pub_point, &sha256, &sig256));
    }

    #[test]
    fn generated_keys_sign_and_verify_with_every_hash() {
        for curve in [Curve::P256, Curve::P384] {
            let der = EcdsaKey::generate(curve, &OsEntropy::new()).expect("generate");
            let key = EcdsaKey::from_der(curve, &der).expect("load");
            assert!(
                key.public_pem()
                    .expect("pem")
                    .starts_with("-----BEGIN PUBLIC KEY-----\n")
            );
            for alg in [
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha2_224,
                HashAlgorithm::Sha2_256,
                HashAlgorithm::Sha2_512,
                HashAlgorithm::Sha3_384,
            ] {
                let h = alg.digest(b"message");
                let sig = key.sign_hash(&h).expect("sign");
                assert!(verify_hash(curve, &key.public_point(), &h, &sig), "{alg:?}");
                let other = alg.digest(b"other");
                assert!(!verify_hash(curve, &key.public_point(), &other, &sig));
            }
        }
    }

    #[test]
    fn out_of_range_scalars_are_never_used() {
        struct Fixed(Vec<Vec<u8>>, std::sync::Mutex<usize>);
        impl Entropy for Fixed {
            fn fill(&self, buf: &mut [u8]) -> Result<(), coffer_crypto::CryptoError> {
                let mut i = self.1.lock().expect("lock");
                buf.copy_from_slice(&self.0[*i % self.0.len()]);
                *i += 1;
                Ok(())
            }
            fn source(&self) -> &'static str {
                "fixed"
            }
        }
        // Zero, then n itself, then a valid scalar (1): the third one wins.
        let mut one = vec![0u8; 32];
        one[31] = 1;
        let e = Fixed(
            vec![vec![0u8; 32], Curve::P256.order().to_vec(), one],
            std::sync::Mutex::new(0),
        );
        let der = EcdsaKey::generate(Curve::P256, &e).expect("third candidate");
        assert_eq!(*e.1.lock().expect("lock"), 3);
        let key = EcdsaKey::from_der(Curve::P256, &der).expect("load");
        // 1·G is the generator.
        assert_eq!(
            hex::encode(&key.public_point()[1..33]),
            "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        );
        // Only invalid candidates: gives up instead of looping forever.
        let bad = Fixed(vec![vec![0u8; 32]], std::sync::Mutex::new(0));
        assert!(EcdsaKey::generate(Curve::P256, &bad).is_err());
    }
}
