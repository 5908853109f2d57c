//! The certificates HA nodes use to talk to one another over mutual TLS: a
//! private CA and one leaf certificate signed by it, which every node
//! presents both as a server (the active node's cluster listener) and as a
//! client (a standby forwarding a request). Both private keys are Ed25519
//! keys whose 32-byte seeds come from an [`Entropy`] handle, so with entropy
//! augmentation they carry HSM randomness ("TLS private keys for HA leader"
//! in seed 000's list).
//!
//! The leaf names [`CLUSTER_SERVER_NAME`]; nodes reach each other by
//! address and verify that name, so a certificate of any other issuer, or
//! for any other name, is refused.

use crate::entropy::Entropy;
use crate::error::CryptoError;
use zeroize::Zeroizing;

/// The DNS name in the leaf certificate, checked by the connecting node.
pub const CLUSTER_SERVER_NAME: &str = "cluster.coffer.internal";

/// RFC 8410 §7: a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 is this fixed
/// prefix (version 0, algorithm id-Ed25519, an OCTET STRING holding the
/// 32-byte seed as an OCTET STRING) followed by the seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A cluster CA and its one leaf, DER-encoded; the leaf key as PKCS#8.
pub struct ClusterCert {
    /// The CA certificate every node trusts.
    pub ca_der: Vec<u8>,
    /// The leaf certificate every node presents.
    pub cert_der: Vec<u8>,
    /// The leaf's private key (PKCS#8), wiped on drop.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ClusterCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCert")
            .field("key_pkcs8", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// An Ed25519 private key drawn from `entropy`, as PKCS#8.
fn ed25519_pkcs8(entropy: &dyn Entropy) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    entropy.fill(seed.as_mut_slice())?;
    let mut der = Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&ED25519_PKCS8_PREFIX);
    der.extend_from_slice(seed.as_slice());
    Ok(der)
}

fn key_pair(entropy: &dyn Entropy) -> Result<rcgen::KeyPair, CryptoError> {
    let der = ed25519_pkcs8(entropy)?;
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice());
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| CryptoError::Malformed(format!("cluster key: {e}")))
}

/// Makes a new cluster CA and leaf, valid for ten years from now.
pub fn generate(entropy: &dyn Entropy, cluster_id: &str) -> Result<ClusterCert, CryptoError> {
    let failed = |e: rcgen::Error| CryptoError::Malformed(format!("cluster certificate: {e}"));
    let ca_key = key_pair(entropy)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("coffer cluster CA {cluster_id}"),
    );
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let now = time::OffsetDateTime::now_utc();
    ca_params.not_before = now - time::Duration::hours(1);
    ca_params.not_after = now + time::Duration::days(3650);
    let ca = ca_params.self_signed(&ca_key).map_err(failed)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = key_pair(entropy)?;
    let mut leaf_params =
        rcgen::CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_owned()]).map_err(failed)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, CLUSTER_SERVER_NAME);
    leaf_params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf_params.not_before = now - time::Duration::hours(1);
    leaf_params.not_after = now + time::Duration::days(3650);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(failed)?;
    Ok(ClusterCert {
        ca_der: ca.der().to_vec(),
        cert_der: leaf.der().to_vec(),
        key_pkcs8: Zeroizing::new(leaf_key.serialize_der()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::OsEntropy;

    #[test]
    fn the_leaf_key_seed_comes_from_the_entropy_handle() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl Entropy for Counting {
            fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
                self.0
                    .fetch_add(buf.len(), std::sync::atomic::Ordering::SeqCst);
                OsEntropy::new().fill(buf)
            }
            fn source(&self) -> &'static str {
                "counting"
            }
        }
        let entropy = Counting(std::sync::atomic::AtomicUsize::new(0));
        let cert = generate(&entropy, "c1").expect("generate");
        assert_eq!(
            entropy.0.load(std::sync::atomic::Ordering::SeqCst),
            64,
            "two seeds"
        );
        assert!(cert.key_pkcs8.starts_with(&ED25519_PKCS8_PREFIX));
        assert_ne!(cert.ca_der, cert.cert_der);
        assert!(format!("{cert:?}").contains("redacted"));
        let again = generate(&OsEntropy::new(), "c1").expect("generate");
        assert_ne!(again.key_pkcs8.as_slice(), cert.key_pkcs8.as_slice());
    }
}
