//! One TCP listener: plain HTTP or TLS, graceful shutdown, certificate reload.

use crate::tls::{self, TlsFiles};
use anyhow::Context as _;
use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A client must send its request headers within this time (Vault: 10 s),
/// so idle half-open connections cannot pile up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener as configured.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// `host:port` to bind (`127.0.0.1:0` picks a free port).
    pub address: String,
    /// TLS files, or `None` for `tls_disable = true`.
    pub tls: Option<TlsFiles>,
}

/// A bound, serving listener.
pub struct RunningListener {
    /// The address actually bound.
    pub local_addr: SocketAddr,
    tls: Option<(RustlsConfig, Option<TlsFiles>)>,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningListener {
    /// Binds and starts serving `app`.
    pub fn start(spec: &ListenerSpec, app: Router) -> anyhow::Result<Self> {
        let tls = match &spec.tls {
            Some(files) => Some((tls::server_config(files)?, Some(files.clone()))),
            None => None,
        };
        Self::serve(&spec.address, tls, app)
    }

    /// Binds and serves `app` with a TLS configuration made in memory (the
    /// HA cluster listener); no files to reload.
    pub(crate) fn start_with_config(
        address: &str,
        config: std::sync::Arc<rustls::ServerConfig>,
        app: Router,
    ) -> anyhow::Result<Self> {
        Self::serve(address, Some((config, None)), app)
    }

    fn serve(
        address: &str,
        tls: Option<(std::sync::Arc<rustls::ServerConfig>, Option<TlsFiles>)>,
        app: Router,
    ) -> anyhow::Result<Self> {
        let std_listener = std::net::TcpListener::bind(address).with_context(|| {
            format!(
                "cannot listen on {address}: is another server using the port, or is the address wrong?"
            )
        })?;
        let local_addr = std_listener
            .local_addr()
            .context("reading the bound address")?;
        let handle: Handle<SocketAddr> = Handle::new();
        // Connect info: the peer address reaches handlers (audit log).
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let (tls, task) = match tls {
            Some((server_config, files)) => {
                let config = RustlsConfig::from_config(server_config);
                let mut server =
                    axum_server::tls_rustls::from_tcp_rustls(std_listener, config.clone())
                        .context("starting the TLS listener")?
                        .handle(handle.clone());
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                (Some((config, files)), tokio::spawn(server.serve(service)))
            }
            None => {
                let mut server = axum_server::from_tcp(std_listener)
                    .context("starting the listener")?
                    .handle(handle.clone());
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                (None, tokio::spawn(server.serve(service)))
            }
        };
        Ok(Self {
            local_addr,
            tls,
            handle,
            task,
        })
    }

    /// Whether this listener speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Re-reads the certificate and key files (SIGHUP). On error the old
    /// certificate stays in use.
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        if let Some((config, Some(files))) = &self.tls {
            config.reload_from_config(tls::server_config(files)?);
        }
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace`), and waits.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(addr = %self.local_addr, error = %e, "listener stopped with an error")
            }
            Err(e) => tracing::warn!(addr = %self.local_addr, error = %e, "listener task failed"),
        }
    }
}
