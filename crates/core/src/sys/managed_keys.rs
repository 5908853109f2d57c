//! `sys/managed-keys/:type[/:name[/test/sign]]`: listing, writing, reading
//! (PIN redacted), deleting and testing managed keys. Every path is
//! root-protected (sudo). A key a mount still allows cannot be deleted.

use serde::Deserialize;

use crate::engine::field::opt_bool;
use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::managed_keys::{MANAGED_KEYS_PREFIX, ManagedKeyEntry, ManagedKeyProvider, SignTest};
use crate::node::Core;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSignInput {
    #[serde(default, deserialize_with = "opt_bool")]
    use_pss: Option<bool>,
    #[serde(default)]
    hash_algorithm: Option<String>,
}

impl Core {
    fn managed_key_provider(&self, key_type: &str) -> CoreResult<&dyn ManagedKeyProvider> {
        let provider = self.managed_keys.as_deref().ok_or_else(|| {
            CoreError::NotSupported(
                "managed keys on this node (it was built without a provider)".into(),
            )
        })?;
        if !provider.key_types().contains(&key_type) {
            return Err(CoreError::invalid(format!(
                "managed key type {key_type:?} is not supported: use {}",
                provider.key_types().join(", ")
            )));
        }
        Ok(provider)
    }

    /// The stored entry `name`, of any type.
    pub(crate) async fn managed_key(&self, name: &str) -> CoreResult<Option<ManagedKeyEntry>> {
        let Some(bytes) = self
            .barrier
            .get(&format!("{MANAGED_KEYS_PREFIX}{name}"))
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CoreError::invalid(format!("stored managed key {name:?} is unreadable: {e}"))
        })
    }

    /// `LIST sys/managed-keys/:type`.
    pub(crate) async fn list_managed_keys(&self, key_type: &str) -> CoreResult<Option<Response>> {
        self.managed_key_provider(key_type)?;
        let mut names = Vec::new();
        for name in self.barrier.list(MANAGED_KEYS_PREFIX).await? {
            let entry = self.managed_key(&name).await?;
            if entry.is_some_and(|e| e.key_type == key_type) {
                names.push(name);
            }
        }
        Ok(Response::list(names))
    }

    /// `sys/managed-keys/:type/:name`: read, write, delete.
    pub(crate) async fn managed_key_request(
        &self,
        req: &Request,
        key_type: &str,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        let provider = self.managed_key_provider(key_type)?;
        crate::managed_keys::check_name(name)?;
        let current = self.managed_key(name).await?;
        if let Some(c) = current.as_ref().filter(|c| c.key_type != key_type) {
            return Err(CoreError::invalid(format!(
                "the name {name:?} is taken by a {} managed key: names are unique over all types",
                c.key_type
            )));
        }
        match req.operation {
            Operation::Read => Ok(current.map(|e| Response::data(e.read_json()))),
            Operation::Update => {
                let entry = ManagedKeyEntry::from_input(
                    name,
                    key_type,
                    self.new_uuid()?,
                    current.as_ref(),
                    req.parse()?,
                )?;
                let libraries = provider.libraries();
                if !libraries.contains(&entry.library) {
                    return Err(CoreError::invalid(format!(
                        "no kms_library \"pkcs11\" stanza is named {:?} in the server \
                         configuration (configured: {}); add one (name and library, the path of \
                         the PKCS#11 module) and restart the server",
                        entry.library,
                        if libraries.is_empty() {
                            "none".to_owned()
                        } else {
                            libraries.join(", ")
                        }
                    )));
                }
                let bytes = zeroize::Zeroizing::new(
                    serde_json::to_vec(&entry).map_err(|e| CoreError::invalid(e.to_string()))?,
                );
                self.barrier
                    .put_wrapped(&format!("{MANAGED_KEYS_PREFIX}{name}"), &bytes)
                    .await?;
                provider.forget(&entry.uuid);
                tracing::info!(name, uuid = %entry.uuid, mechanism = entry.mechanism_name(), "managed key written");
                Ok(None)
            }
            Operation::Delete => {
                let Some(entry) = current else {
                    return Ok(None);
                };
                let table = self.router_table();
                let users: Vec<&str> = table
                    .mounts
                    .entries
                    .iter()
                    .chain(&table.auth.entries)
                    .filter(|m| m.config.allowed_managed_keys.iter().any(|k| k == name))
                    .map(|m| m.path.as_str())
                    .collect();
                if !users.is_empty() {
                    return Err(CoreError::invalid(format!(
                        "managed key {name:?} is still allowed on {}: remove it from their \
                         allowed_managed_keys (secrets tune) first",
                        users.join(", ")
                    )));
                }
                self.barrier
                    .delete(&format!("{MANAGED_KEYS_PREFIX}{name}"))
                    .await?;
                provider.forget(&entry.uuid);
                tracing::info!(
                    name,
                    "managed key deleted (the key itself stays in the HSM)"
                );
                Ok(None)
            }
            _ => Err(CoreError::UnsupportedOperation),
        }
    }

    /// `POST sys/managed-keys/:type/:name/test/sign`: 204 when the key signs
    /// and verifies (or encrypts and decrypts); the error names the cause.
    pub(crate) async fn test_managed_key(
        &self,
        req: &Request,
        key_type: &str,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        let provider = self.managed_key_provider(key_type)?;
        let input: TestSignInput = req.parse()?;
        let entry = self
            .managed_key(name)
            .await?
            .filter(|e| e.key_type == key_type)
            .ok_or_else(|| {
                CoreError::invalid(format!("no {key_type} managed key named {name:?}"))
            })?;
        let test = SignTest {
            use_pss: input.use_pss.unwrap_or(false),
            hash_algorithm: input
                .hash_algorithm
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "sha2-256".to_owned()),
        };
        provider.test_sign(&entry, &test).await?;
        Ok(None)
    }
}
