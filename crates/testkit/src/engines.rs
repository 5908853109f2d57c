//! The default engine list of a test node: every secrets engine and auth
//! method Coffer ships. The server keeps its own production list (production
//! code never depends on this crate); a server test checks the two name the
//! same engine types.

use coffer_core::engine::EngineFactory;
use std::sync::Arc;

/// The factories of KV, cubbyhole, transit, userpass and AppRole, in the
/// server's order.
pub fn default_factories() -> Vec<Arc<dyn EngineFactory>> {
    vec![
        Arc::new(coffer_engine_kv::KvFactory::new()),
        Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
        Arc::new(coffer_engine_transit::TransitFactory::new()),
        Arc::new(coffer_auth_userpass::UserpassFactory::new()),
        Arc::new(coffer_auth_approle::AppRoleFactory::new()),
    ]
}
