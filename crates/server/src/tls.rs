//! TLS server configuration from PEM files (rustls with the ring provider),
//! rebuilt on SIGHUP so renewed certificates take effect without a restart.

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Lowest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Where a listener's certificate and key live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Minimum protocol version.
    pub min_version: MinTlsVersion,
}

/// Loads the files and builds a rustls server config offering h2 and http/1.1.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = load_certs(&files.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file).with_context(|| {
        format!(
            "cannot read a PEM private key from tls_key_file {}",
            files.key_file.display()
        )
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match files.min_version {
        MinTlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinTlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .with_context(|| {
        format!(
            "tls_cert_file {} and tls_key_file {} do not form a usable certificate and key pair",
            files.cert_file.display(),
            files.key_file.display()
        )
    })?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot open tls_cert_file {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("tls_cert_file {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("tls_cert_file {} holds no certificate", path.display());
    }
    Ok(certs)
}
