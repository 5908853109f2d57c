//! The server's engine list (production) and the test nodes' list
//! (`coffer_testkit::engines`) are written apart, because production code
//! never depends on testkit; this keeps them naming the same engines.

use coffer_core::engine::EngineFactory;
use std::sync::Arc;

fn served(factories: &[Arc<dyn EngineFactory>]) -> Vec<String> {
    factories
        .iter()
        .map(|f| format!("{:?} {}", f.kind(), f.engine_type()))
        .collect()
}

#[test]
fn test_nodes_serve_the_same_engines_as_the_server() {
    let server = served(&coffer_server::engines::factories());
    assert!(!server.is_empty(), "the server serves no engine");
    assert_eq!(
        served(&coffer_testkit::engines::default_factories()),
        server
    );
}
