//! HA cluster traffic: the listener on `cluster_addr` that takes requests
//! forwarded by standbys, and the client standbys forward with. Both sides
//! use the cluster's TLS identity (`coffer_crypto::cluster_cert`) in mutual
//! TLS: the server only accepts clients with a certificate of the cluster
//! CA, the client only servers with one for the cluster's name. Nothing
//! else is trusted, so a request arriving here is from a node of this
//! cluster and may carry the original client's address.
//!
//! The listener exists while the node holds the identity (unsealed): a
//! watcher starts it when the identity appears and stops it at seal.

use crate::http::error::ApiError;
use crate::listener::RunningListener;
use anyhow::Context as _;
use axum::Router;
use coffer_core::Core;
use coffer_crypto::cluster_cert::{CLUSTER_SERVER_NAME, ClusterCert};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The header a standby adds with the original client's address; trusted
/// only on the cluster listener.
pub const FORWARDED_FOR: &str = "x-coffer-forwarded-for";

/// How long a forwarded request may wait for the next byte of the active
/// node's answer. Long enough for the slowest request (a tidy, a disable of
/// a large mount); a non-idempotent request that times out answers 502,
/// "may or may not have been applied".
const FORWARD_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the watcher looks for a change of the cluster identity.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// How long the watcher waits before binding again after a failure.
const BIND_RETRY: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(cert: &ClusterCert) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.ca_der.clone()))
        .context("the cluster CA certificate")?;
    Ok(Arc::new(roots))
}

fn identity(cert: &ClusterCert) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(cert.cert_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8.to_vec())),
    )
}

/// TLS for the cluster listener: the cluster leaf, clients of the cluster
/// CA only, TLS 1.3.
pub(crate) fn server_config(cert: &ClusterCert) -> anyhow::Result<Arc<ServerConfig>> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(cert)?, provider())
        .build()
        .context("the cluster client verifier")?;
    let (chain, key) = identity(cert);
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the cluster certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS for forwarding: trusts the cluster CA alone and presents the leaf.
pub(crate) fn client_config(cert: &ClusterCert) -> anyhow::Result<ClientConfig> {
    let (chain, key) = identity(cert);
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_root_certificates(roots(cert)?)
        .with_client_auth_cert(chain, key)
        .context("the cluster certificate and key")
}

/// Serves `app` (a router whose state has `cluster: true`) on `bind` while
/// the node holds the cluster identity, and drops `forwarder`'s client (and
/// the key inside it) once the identity is gone (sealed).
pub fn watch_listener(core: Arc<Core>, bind: String, app: Router, forwarder: Arc<Forwarder>) {
    tokio::spawn(async move {
        let mut running: Option<(RunningListener, Vec<u8>)> = None;
        // After a failed bind: when to try again, and the error last logged.
        let mut retry_at = tokio::time::Instant::now();
        let mut last_error = String::new();
        loop {
            let current = core.cluster_tls();
            if current.is_none() {
                forwarder.forget();
            }
            let same = match (&running, &current) {
                (Some((_, der)), Some(c)) => *der == c.cert_der,
                (None, None) => true,
                _ => false,
            };
            if !same && tokio::time::Instant::now() >= retry_at {
                if let Some((old, _)) = running.take() {
                    old.shutdown(Duration::from_secs(5)).await;
                    tracing::info!("cluster listener stopped");
                }
                if let Some(cert) = current {
                    match start(&bind, &cert, app.clone()) {
                        Ok(l) => {
                            tracing::info!(address = %l.local_addr, "cluster listener serving forwarded requests");
                            running = Some((l, cert.cert_der.clone()));
                            last_error.clear();
                        }
                        Err(e) => {
                            let message = format!("{e:#}");
                            if message != last_error {
                                tracing::error!(error = %message, address = %bind, "cannot start the cluster listener (retrying every 10 s); standbys will not be able to forward here");
                                last_error = message;
                            }
                            retry_at = tokio::time::Instant::now() + BIND_RETRY;
                        }
                    }
                }
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    });
}

fn start(bind: &str, cert: &ClusterCert, app: Router) -> anyhow::Result<RunningListener> {
    RunningListener::start_with_config(bind, server_config(cert)?, app)
}

/// A standby's client to the active node's cluster listener, rebuilt when
/// the identity or the active node changes.
#[derive(Default)]
pub struct Forwarder {
    client: Mutex<Option<(Vec<u8>, SocketAddr, reqwest::Client)>>,
}

impl Forwarder {
    /// Drops the cached client and the cluster key it holds.
    pub fn forget(&self) {
        *self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// A client that reaches `target` under the cluster name.
    pub(crate) async fn client_for(
        &self,
        cert: &ClusterCert,
        cluster_addr: &str,
    ) -> Result<(reqwest::Client, String), ApiError> {
        let target = resolve(cluster_addr).await?;
        if let Some((der, addr, client)) = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && *der == cert.cert_der
            && *addr == target
        {
            return Ok((client.clone(), base(target)));
        }
        let tls = client_config(cert).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .resolve(CLUSTER_SERVER_NAME, target)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            // An active node that stops answering (paused, cut off) must not
            // hold the client forever: its lease lapses long before this.
            .read_timeout(FORWARD_READ_TIMEOUT)
            .build()
            .map_err(|e| ApiError::internal(format!("building the forwarding client: {e}")))?;
        *self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((cert.cert_der.clone(), target, client.clone()));
        Ok((client, base(target)))
    }
}

fn base(target: SocketAddr) -> String {
    format!("https://{CLUSTER_SERVER_NAME}:{}", target.port())
}

async fn resolve(cluster_addr: &str) -> Result<SocketAddr, ApiError> {
    let authority = cluster_addr
        .split_once("://")
        .map_or(cluster_addr, |(_, rest)| rest)
        .trim_end_matches('/');
    tokio::net::lookup_host(authority)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                format!(
                    "the active node's cluster_addr {cluster_addr:?} does not resolve to an address"
                ),
            )
        })
}

/// Where this node binds its cluster listener: the host and port of its own
/// `cluster_addr`.
pub fn bind_address(cluster_addr: &str) -> String {
    cluster_addr
        .split_once("://")
        .map_or(cluster_addr, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned()
}
