//! A mount's window onto the barrier: every key is relative to the mount's
//! storage prefix, so an engine cannot reach another mount's data. The
//! view's [`WrapRule`] says which of its values are seal-wrapped.

use crate::error::{CoreError, CoreResult};
use crate::seal::wrap::WrapRule;
use crate::storage::barrier::{Barrier, Change};
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
        self.put(key, &encode_json(key, value)?).await
    }

    /// Whether a [`View::batch`] lands all or nothing (see
    /// [`Barrier::atomic_units`]).
    pub fn atomic_units(&self) -> bool {
        self.barrier.atomic_units()
    }

    /// Collects changes that land together: one commit on a backend with
    /// transactions, in order on the others (see [`Barrier::apply`]).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            view: self,
            changes: Vec::new(),
        }
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

/// Changes of one view collected by [`View::batch`]; [`Batch::commit`]
/// applies them in the order they were added.
pub struct Batch<'v> {
    view: &'v View,
    /// Full path, and the value to put (`None`: delete it).
    changes: Vec<(String, Option<Zeroizing<Vec<u8>>>)>,
}

impl Batch<'_> {
    /// Adds the write of a JSON value.
    pub fn put_json<T: Serialize>(&mut self, key: &str, value: &T) -> CoreResult<()> {
        let bytes = encode_json(key, value)?;
        self.changes.push((self.view.full(key), Some(bytes)));
        Ok(())
    }

    /// Adds the deletion of a value.
    pub fn delete(&mut self, key: &str) {
        self.changes.push((self.view.full(key), None));
    }

    /// Encrypts and stores the changes as one unit.
    pub async fn commit(self) -> CoreResult<()> {
        let view = self.view;
        let changes: Vec<Change<'_>> = self
            .changes
            .iter()
            .map(|(path, value)| match value {
                Some(value) => Change::Put {
                    path,
                    value,
                    wrap: view.wrap.covers(&path[view.root_len..]),
                },
                None => Change::Delete { path },
            })
            .collect();
        view.barrier.apply(&changes).await
    }
}

fn encode_json<T: Serialize>(key: &str, value: &T) -> CoreResult<Zeroizing<Vec<u8>>> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|e| CoreError::Internal(format!("encode {key:?}: {e}")))
}
