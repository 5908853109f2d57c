//! Digests and HMACs by Vault's algorithm names: SHA-1 and SHA-2 from
//! AWS-LC, SHA-3 (and HMAC over it) from RustCrypto.

use aws_lc_rs::{digest, hmac as lc_hmac};
use hmac::{KeyInit, Mac, SimpleHmac};
use sha3::Digest as _;

/// A hash algorithm as named in Vault's `algorithm`/`hash_algorithm` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlgorithm {
    /// SHA-1: only for HMAC and signature verification of legacy data.
    Sha1,
    /// SHA-224 (FIPS 180-4).
    Sha2_224,
    /// SHA-256 (FIPS 180-4), Vault's default.
    Sha2_256,
    /// SHA-384 (FIPS 180-4).
    Sha2_384,
    /// SHA-512 (FIPS 180-4).
    Sha2_512,
    /// SHA3-224 (FIPS 202).
    Sha3_224,
    /// SHA3-256 (FIPS 202).
    Sha3_256,
    /// SHA3-384 (FIPS 202).
    Sha3_384,
    /// SHA3-512 (FIPS 202).
    Sha3_512,
}

impl HashAlgorithm {
    /// Parses `sha1`, `sha2-256`, `sha3-512`, ...
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sha1" => Self::Sha1,
            "sha2-224" => Self::Sha2_224,
            "sha2-256" => Self::Sha2_256,
            "sha2-384" => Self::Sha2_384,
            "sha2-512" => Self::Sha2_512,
            "sha3-224" => Self::Sha3_224,
            "sha3-256" => Self::Sha3_256,
            "sha3-384" => Self::Sha3_384,
            "sha3-512" => Self::Sha3_512,
            _ => return None,
        })
    }

    /// Vault's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha2_224 => "sha2-224",
            Self::Sha2_256 => "sha2-256",
            Self::Sha2_384 => "sha2-384",
            Self::Sha2_512 => "sha2-512",
            Self::Sha3_224 => "sha3-224",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }

    /// Output length in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha2_224 | Self::Sha3_224 => 28,
            Self::Sha2_256 | Self::Sha3_256 => 32,
            Self::Sha2_384 | Self::Sha3_384 => 48,
            Self::Sha2_512 | Self::Sha3_512 => 64,
        }
    }

    /// The AWS-LC digest for SHA-1/SHA-2; `None` for SHA-3.
    fn lc_digest(self) -> Option<&'static digest::Algorithm> {
        match self {
            Self::Sha1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            Self::Sha2_224 => Some(&digest::SHA224),
            Self::Sha2_256 => Some(&digest::SHA256),
            Self::Sha2_384 => Some(&digest::SHA384),
            Self::Sha2_512 => Some(&digest::SHA512),
            Self::Sha3_224 | Self::Sha3_256 | Self::Sha3_384 | Self::Sha3_512 => None,
        }
    }

    /// The digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        if let Some(alg) = self.lc_digest() {
            return digest::digest(alg, data).as_ref().to_vec();
        }
        match self {
            Self::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
            Self::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Self::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            _ => sha3::Sha3_512::digest(data).to_vec(),
        }
    }

    /// HMAC of `data` under `key` (RFC 2104) with this hash.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let lc = match self {
            Self::Sha1 => Some(lc_hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            Self::Sha2_224 => Some(lc_hmac::HMAC_SHA224),
            Self::Sha2_256 => Some(lc_hmac::HMAC_SHA256),
            Self::Sha2_384 => Some(lc_hmac::HMAC_SHA384),
            Self::Sha2_512 => Some(lc_hmac::HMAC_SHA512),
            Self::Sha3_224 | Self::Sha3_256 | Self::Sha3_384 | Self::Sha3_512 => None,
        };
        if let Some(alg) = lc {
            let k = lc_hmac::Key::new(alg, key);
            return lc_hmac::sign(&k, data).as_ref().to_vec();
        }
        match self {
            Self::Sha3_224 => sha3_hmac::<sha3::Sha3_224>(key, data),
            Self::Sha3_256 => sha3_hmac::<sha3::Sha3_256>(key, data),
            Self::Sha3_384 => sha3_hmac::<sha3::Sha3_384>(key, data),
            _ => sha3_hmac::<sha3::Sha3_512>(key, data),
        }
    }
}

fn sha3_hmac<D>(key: &[u8], data: &[u8]) -> Vec<u8>
where
    D: hmac::digest::Digest + hmac::digest::common::BlockSizeUser,
{
    // HMAC accepts keys of any length (long ones are hashed), so this
    // constructor cannot fail; an empty tag would be caught by any verifier.
    match <SimpleHmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(alg: HashAlgorithm, data: &[u8]) -> String {
        hex::encode(alg.digest(data))
    }

    /// FIPS 180-4 / NIST CSRC example "abc" for SHA-1 and SHA-2.
    #[test]
    fn sha1_and_sha2_match_fips_180_examples() {
        assert_eq!(
            hex_of(HashAlgorithm::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha2_224, b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha2_256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha2_384, b"abc"),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha2_512, b"abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    /// FIPS 202 / NIST CSRC example "abc" for SHA-3.
    #[test]
    fn sha3_matches_fips_202_examples() {
        assert_eq!(
            hex_of(HashAlgorithm::Sha3_224, b"abc"),
            "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha3_256, b"abc"),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha3_384, b"abc"),
            "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b2\
             98d88cea927ac7f539f1edf228376d25"
        );
        assert_eq!(
            hex_of(HashAlgorithm::Sha3_512, b"abc"),
            "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e\
             10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
        );
    }

    /// RFC 4231 test cases 1 and 2.
    #[test]
    fn hmac_sha2_matches_rfc_4231() {
        let key1 = [0x0b; 20];
        let tc1 = |alg: HashAlgorithm| hex::encode(alg.hmac(&key1, b"Hi There"));
        assert_eq!(
            tc1(HashAlgorithm::Sha2_224),
            "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"
        );
        assert_eq!(
            tc1(HashAlgorithm::Sha2_256),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            tc1(HashAlgorithm::Sha2_384),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c\
             faea9ea9076ede7f4af152e8b2fa9cb6"
        );
        assert_eq!(
            tc1(HashAlgorithm::Sha2_512),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
             daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        );
        let tc2 =
            |alg: HashAlgorithm| hex::encode(alg.hmac(b"Jefe", b"what do ya want for nothing?"));
        assert_eq!(
            tc2(HashAlgorithm::Sha2_256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            tc2(HashAlgorithm::Sha2_512),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    /// NIST CSRC "HMAC_SHA3-256" example, key length < block length.
    #[test]
    fn hmac_sha3_256_matches_nist_example() {
        let key: Vec<u8> = (0u8..32).collect();
        let tag = HashAlgorithm::Sha3_256.hmac(&key, b"Sample message for keylen<blocklen");
        assert_eq!(
            hex::encode(tag),
            "4fe8e202c4f058e8dddc23d8c34e467343e23555e24fc2f025d598f558f67205"
        );
    }

    #[test]
    fn names_round_trip_and_lengths_match_output() {
        for name in [
            "sha1", "sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-224", "sha3-256",
            "sha3-384", "sha3-512",
        ] {
            let alg = HashAlgorithm::parse(name).expect("known");
            assert_eq!(alg.as_str(), name);
            assert_eq!(alg.digest(b"x").len(), alg.output_len());
            assert_eq!(alg.hmac(b"k", b"x").len(), alg.output_len());
        }
        assert!(HashAlgorithm::parse("md5").is_none());
    }
}
