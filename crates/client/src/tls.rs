//! rustls client configuration: the `ring` provider, system roots plus an optional CA file, or
//! (on request) no verification at all.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::{Error, Result};

/// Builds the rustls configuration handed to reqwest.
///
/// Roots are the operating system's trust store (via `rustls-native-certs`) plus every
/// certificate in `ca_cert`. vault itself trusts *only* the CA file when one is given; adding it
/// to the system roots instead keeps public-CA servers reachable with the same settings.
pub(crate) fn client_config(ca_cert: Option<&Path>, skip_verify: bool) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = if skip_verify {
        builder
            .dangerous()
            // VAULT_SKIP_VERIFY: any certificate, valid handshake signatures.
            .with_custom_certificate_verifier(coffer_crypto::tls::SignaturesOnly::new(provider))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(ca_cert)?)
            .with_no_client_auth()
    };
    // reqwest is built without HTTP/2 (workspace features), so offer HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn root_store(ca_cert: Option<&Path>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    // A machine without a system store (minimal containers) can still work with a CA file, so
    // failures to load system certificates are not fatal.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_cert {
        let unusable = |reason: String| Error::CaCert {
            path: path.to_owned(),
            reason,
        };
        coffer_crypto::tls::add_pem_roots(&mut roots, path).map_err(unusable)?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_reported_with_its_path() {
        let err =
            client_config(Some(Path::new("/nonexistent/ca.pem")), false).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_file_without_certificates_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = client_config(Some(&path), false).expect_err("must fail");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn skip_verify_config_builds_without_roots() {
        assert!(client_config(None, true).is_ok());
    }
}
