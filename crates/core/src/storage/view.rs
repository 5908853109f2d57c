//! A mount's window onto the barrier: every key is relative to the mount's
//! storage prefix, so an engine cannot reach another mount's data. The
//! view's [`WrapRule`] says which of its values are seal-wrapped.

use crate::error::{CoreError, CoreResult};
use crate::seal::wrap::WrapRule;
use crate::storage::barrier::Barrier;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Prefix-scoped, encrypted storage for one mount.
#[derive(Clone, Debug)]
pub struct View {
    barrier: Arc<Barrier>,
    prefix: String,
    /// Length of the prefix the wrap rule is relative to (the mount's root).
    root_len: usize,
    wrap: WrapRule,
}

impl View {
    /// A view of `barrier` under `prefix` (empty, or ending in `/`).
    pub fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            barrier,
            root_len: prefix.len(),
            prefix,
            wrap: WrapRule::Nothing,
        }
    }

    /// The same view, seal-wrapping the values `rule` covers (relative to
    /// this view's prefix, which stays the rule's root in narrower views).
    #[must_use]
    pub fn with_wrap_rule(mut self, rule: WrapRule) -> Self {
        self.wrap = rule;
        self.root_len = self.prefix.len();
        self
    }

    /// A narrower view under `sub` (ending in `/`).
    pub fn sub(&self, sub: &str) -> Self {
        Self {
            barrier: self.barrier.clone(),
            prefix: format!("{}{sub}", self.prefix),
            root_len: self.root_len,
            wrap: self.wrap,
        }
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> CoreResult<Option<Zeroizing<Vec<u8>>>> {
        self.barrier.get(&self.full(key)).await
    }

    /// Writes a value.
    pub async fn put(&self, key: &str, value: &[u8]) -> CoreResult<()> {
        let full = self.full(key);
        if self.wrap.covers(&full[self.root_len..]) {
            self.barrier.put_wrapped(&full, value).await
        } else {
            self.barrier.put(&full, value).await
        }
    }

    /// Deletes a value.
    pub async fn delete(&self, key: &str) -> CoreResult<()> {
        self.barrier.delete(&self.full(key)).await
    }

    /// Lists direct children of `prefix` (empty or ending in `/`).
    pub async fn list(&self, prefix: &str) -> CoreResult<Vec<String>> {
        self.barrier.list(&self.full(prefix)).await
    }

    /// Reads and parses a JSON value.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> CoreResult<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                CoreError::Internal(format!("stored entry {key:?} is not valid JSON: {e}"))
            }),
        }
    }

    /// Serialises and writes a JSON value.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> CoreResult<()> {
        let bytes = Zeroizing::new(
            serde_json::to_vec(value)
                .map_err(|e| CoreError::Internal(format!("encode {key:?}: {e}")))?,
        );
        self.put(key, &bytes).await
    }

    /// Deletes everything under this view (used when a mount is disabled);
    /// returns how many values it deleted.
    pub async fn clear(&self) -> CoreResult<usize> {
        let mut stack = vec![String::new()];
        let mut deleted = 0;
        while let Some(prefix) = stack.pop() {
            for child in self.list(&prefix).await? {
                let full = format!("{prefix}{child}");
                if child.ends_with('/') {
                    stack.push(full);
                } else {
                    self.delete(&full).await?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}
