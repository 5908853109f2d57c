//! TLS to PostgreSQL with rustls (ring provider), checking the server's
//! certificate as libpq does for each `sslmode`:
//!
//! | sslmode | without `sslrootcert` | with `sslrootcert` |
//! |---|---|---|
//! | `disable` | no TLS | no TLS |
//! | `allow`, `prefer` | TLS if offered, certificate not checked | TLS if offered, chain checked |
//! | `require` | TLS, certificate not checked | TLS, chain checked (as `verify-ca`) |
//! | `verify-ca` | refused: needs a CA | TLS, chain checked |
//! | `verify-full` | refused: needs a CA | TLS, chain and host name checked |
//!
//! "Not checked" still verifies the handshake signatures against the presented
//! certificate, so SCRAM's channel binding (tls-server-end-point) protects the
//! password from a man in the middle even then. `sslrootcert=system` trusts the
//! operating system's store.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::{RootCert, SslMode, TlsSettings};

/// The tokio-postgres TLS connector for these settings (also for `disable`,
/// where tokio-postgres never calls it).
pub(crate) fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &settings.root_cert {
        Some(root) => Some(Arc::new(root_store(root)?)),
        None if matches!(settings.mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            return Err(format!(
                "sslmode={} needs sslrootcert (a PEM file of CA certificates, or \"system\")",
                if settings.mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ));
        }
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        // `prefer`/`require` without a CA: any certificate, valid handshake signatures.
        None => coffer_crypto::tls::SignaturesOnly::new(provider.clone()),
        Some(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("cannot use sslrootcert: {e}"))?;
            if settings.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly { webpki })
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(root: &RootCert) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root {
        RootCert::System => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(
                    "sslrootcert=system: no certificate found in the system trust store".to_owned(),
                );
            }
        }
        RootCert::File(path) => {
            let unusable = |reason: String| format!("sslrootcert {}: {reason}", path.display());
            coffer_crypto::tls::add_pem_roots(&mut roots, path).map_err(unusable)?;
        }
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not checked.
/// webpki checks the chain before the name, so a name mismatch means the chain passed.
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn verify_modes_without_a_ca_are_refused() {
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let e = connector(&TlsSettings {
                mode,
                root_cert: None,
            })
            .err()
            .expect("refused");
            assert!(e.contains("needs sslrootcert"), "{e}");
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = connector(&TlsSettings {
            mode: SslMode::Require,
            root_cert: Some(RootCert::File(PathBuf::from("/nonexistent/ca.pem"))),
        })
        .err()
        .expect("refused");
        assert!(e.starts_with("sslrootcert /nonexistent/ca.pem: "), "{e}");
    }
}
