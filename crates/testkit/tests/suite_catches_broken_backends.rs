//! The suite itself: a plain map backend passes it, and backends with typical
//! bugs fail the check meant to catch them.

use async_trait::async_trait;
use coffer_core::storage::{
    Backend, SharedBackend, StorageError, direct_children, validate_key, validate_prefix,
};
use coffer_testkit::conformance;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What to get wrong on purpose.
#[derive(Clone, Copy, PartialEq)]
enum Bug {
    None,
    EmptyValueIsMissing,
    ListUnsorted,
    ListIgnoresPrefixBoundary,
    SkipsValidation,
}

struct MapBackend {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
    bug: Bug,
}

#[async_trait]
impl Backend for MapBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.validate(key)?;
        let v = self.map.lock().expect("map lock").get(key).cloned();
        Ok(v.filter(|v| !(self.bug == Bug::EmptyValueIsMissing && v.is_empty())))
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.validate(key)?;
        self.map
            .lock()
            .expect("map lock")
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.validate(key)?;
        self.map.lock().expect("map lock").remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        if self.bug != Bug::SkipsValidation {
            validate_prefix(prefix)?;
        }
        let map = self.map.lock().expect("map lock");
        let mut out = if self.bug == Bug::ListIgnoresPrefixBoundary {
            let stem = prefix.trim_end_matches('/');
            let keys = map
                .keys()
                .filter(|k| k.starts_with(stem))
                .map(|k| k.replacen(stem, prefix, 1));
            direct_children(prefix, keys.collect::<Vec<_>>().iter().map(String::as_str))
        } else {
            direct_children(prefix, map.keys().map(String::as_str))
        };
        if self.bug == Bug::ListUnsorted {
            out.reverse();
        }
        Ok(out)
    }
    fn kind(&self) -> &'static str {
        "test-map"
    }
}

impl MapBackend {
    fn validate(&self, key: &str) -> Result<(), StorageError> {
        if self.bug == Bug::SkipsValidation {
            Ok(())
        } else {
            validate_key(key)
        }
    }
}

fn with_bug(bug: Bug) -> impl AsyncFn(&Path) -> SharedBackend {
    async move |_dir: &Path| -> SharedBackend {
        Arc::new(MapBackend {
            map: Mutex::default(),
            bug,
        }) as SharedBackend
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn correct_map_backend_passes_every_check() {
    conformance::run_all(with_bug(Bug::None)).await;
}

#[test]
#[should_panic(expected = "left: None")]
fn backend_losing_empty_values_fails() {
    conformance::run_one(
        with_bug(Bug::EmptyValueIsMissing),
        conformance::empty_value_is_stored_as_some_empty,
    );
}

#[test]
#[should_panic(expected = "assertion `left == right` failed")]
fn backend_with_unsorted_list_fails() {
    conformance::run_one(with_bug(Bug::ListUnsorted), conformance::list_is_sorted);
}

#[test]
#[should_panic(expected = "assertion `left == right` failed")]
fn backend_listing_across_prefix_boundary_fails() {
    conformance::run_one(
        with_bug(Bug::ListIgnoresPrefixBoundary),
        conformance::list_stays_inside_prefix,
    );
}

#[test]
#[should_panic(expected = "should be InvalidKey")]
fn backend_accepting_bad_keys_fails() {
    conformance::run_one(
        with_bug(Bug::SkipsValidation),
        conformance::invalid_keys_are_rejected,
    );
}
