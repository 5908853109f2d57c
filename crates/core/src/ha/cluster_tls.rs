//! The cluster's TLS identity (see `coffer_crypto::cluster_cert`), made by
//! the first node to become active and kept in the barrier, seal-wrapped
//! when the seal can wrap, so that every node that unseals can load it: the
//! active node to serve its cluster listener, standbys to forward to it.

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::seal::wrap::WrapRule;
use crate::storage::view::View;
use base64::Engine as _;
use coffer_crypto::cluster_cert::{self, ClusterCert};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where the identity is stored (logical path).
const CLUSTER_TLS_PATH: &str = "core/cluster/tls";

#[derive(Serialize, Deserialize)]
struct Stored {
    ca: String,
    cert: String,
    key: Zeroizing<String>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Core {
    fn cluster_tls_view(&self) -> View {
        let rule = if self.barrier.seal_wraps() {
            WrapRule::Everything
        } else {
            WrapRule::Nothing
        };
        View::new(self.barrier.clone(), "").with_wrap_rule(rule)
    }

    /// Loads the identity if one is stored; `None` before any node was
    /// active. Read-only, so a standby may call it.
    pub(crate) async fn load_cluster_tls(&self) -> CoreResult<Option<Arc<ClusterCert>>> {
        let Some(stored) = self
            .cluster_tls_view()
            .get_json::<Stored>(CLUSTER_TLS_PATH)
            .await?
        else {
            return Ok(None);
        };
        let bad = |what: &str| {
            CoreError::Internal(format!("the stored cluster TLS identity has a bad {what}"))
        };
        let cert = Arc::new(ClusterCert {
            ca_der: b64().decode(&stored.ca).map_err(|_| bad("CA"))?,
            cert_der: b64().decode(&stored.cert).map_err(|_| bad("certificate"))?,
            key_pkcs8: Zeroizing::new(
                b64()
                    .decode(stored.key.as_bytes())
                    .map_err(|_| bad("key"))?,
            ),
        });
        if !self.keep_cluster_tls(cert.clone()) {
            return Ok(None);
        }
        Ok(Some(cert))
    }

    /// Loads the identity, or makes and stores one (keys from the CSP
    /// entropy handle) when there is none yet. Only the active node calls
    /// this: it writes.
    pub(crate) async fn ensure_cluster_tls(&self, cluster_id: &str) -> CoreResult<()> {
        if self.load_cluster_tls().await?.is_some() {
            return Ok(());
        }
        let made = cluster_cert::generate(self.entropy.as_ref(), cluster_id)?;
        let stored = Stored {
            ca: b64().encode(&made.ca_der),
            cert: b64().encode(&made.cert_der),
            key: Zeroizing::new(b64().encode(made.key_pkcs8.as_slice())),
        };
        self.cluster_tls_view()
            .put_json(CLUSTER_TLS_PATH, &stored)
            .await?;
        tracing::info!("made the cluster's TLS identity for request forwarding");
        self.keep_cluster_tls(Arc::new(made));
        Ok(())
    }

    /// The cluster's TLS identity, once loaded (unsealed HA nodes).
    pub fn cluster_tls(&self) -> Option<Arc<ClusterCert>> {
        self.cluster_tls
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Keeps the identity in memory unless the node was sealed meanwhile
    /// (a load that finished after the seal must not leave the key behind).
    /// The seal closes the barrier before it clears the identity under the
    /// same lock, so one of the two always sees the other.
    fn keep_cluster_tls(&self, cert: Arc<ClusterCert>) -> bool {
        let mut slot = self
            .cluster_tls
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.barrier.is_sealed() {
            return false;
        }
        *slot = Some(cert);
        true
    }

    /// Forgets the identity (at seal, after the barrier closed).
    pub(crate) fn forget_cluster_tls(&self) {
        *self
            .cluster_tls
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
