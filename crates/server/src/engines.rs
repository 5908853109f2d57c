//! The engines this server serves: one line per secrets engine or auth
//! method crate. Test nodes use `coffer_testkit::engines`, which a test here
//! keeps naming the same engines.

use coffer_core::engine::EngineFactory;
use std::sync::Arc;

/// The factories of every engine and auth method, in mount-type lookup order.
pub fn factories() -> Vec<Arc<dyn EngineFactory>> {
    vec![
        Arc::new(coffer_engine_kv::KvFactory::new()),
        Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
        Arc::new(coffer_engine_transit::TransitFactory::new()),
        Arc::new(coffer_auth_userpass::UserpassFactory::new()),
        Arc::new(coffer_auth_approle::AppRoleFactory::new()),
    ]
}
