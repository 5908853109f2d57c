//! A key as `keys/:name` reads show it, and its material as `export/` hands
//! it out (only for exportable keys).

use super::{KeyRing, Material, b64};
use crate::crypto::ed25519::Ed25519Key;
use crate::crypto::{der, rsa};
use coffer_core::clock::rfc3339;
use coffer_core::{CoreError, CoreResult};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// What `export/:type/:name` hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportKind {
    /// `encryption-key`: AEAD key bytes, or the RSA private key.
    Encryption,
    /// `signing-key`: the private signing key.
    Signing,
    /// `hmac-key`: the HMAC key.
    Hmac,
    /// `public-key`: the public key (needs no `exportable`).
    Public,
}

impl ExportKind {
    /// Parses the path segment.
    pub(crate) fn parse(s: &str) -> CoreResult<Self> {
        match s {
            "encryption-key" => Ok(Self::Encryption),
            "signing-key" => Ok(Self::Signing),
            "hmac-key" => Ok(Self::Hmac),
            "public-key" => Ok(Self::Public),
            other => Err(CoreError::invalid(format!("invalid export type: {other}"))),
        }
    }
}

impl KeyRing {
    /// The `keys/:name` read response. `context` shows the per-context
    /// public keys of derived Ed25519 keys.
    pub(crate) fn describe(&self, context: Option<&[u8]>) -> CoreResult<Value> {
        let c = &self.config;
        let kt = c.key_type;
        let mut data = json!({
            "name": c.name,
            "type": kt.as_str(),
            "derived": c.derived,
            "deletion_allowed": c.deletion_allowed,
            "min_available_version": c.min_available_version,
            "min_decryption_version": c.min_decryption_version,
            "min_encryption_version": c.min_encryption_version,
            "latest_version": c.latest_version,
            "exportable": c.exportable,
            "allow_plaintext_backup": c.allow_plaintext_backup,
            "supports_encryption": kt.supports_encryption(),
            "supports_decryption": kt.supports_encryption(),
            "supports_signing": kt.supports_signing(),
            "supports_derivation": kt.supports_derivation(),
            "auto_rotate_period": 0,
            "imported_key": false,
        });
        let Value::Object(map) = &mut data else {
            return Err(CoreError::Internal(
                "key description is not an object".to_owned(),
            ));
        };
        if c.key_size != 0 {
            map.insert("key_size".to_owned(), json!(c.key_size));
        }
        if let Some(b) = &c.backup_info {
            map.insert("backup_info".to_owned(), json!(b));
        }
        if let Some(r) = &c.restore_info {
            map.insert("restore_info".to_owned(), json!(r));
        }
        if c.derived {
            map.insert("kdf".to_owned(), json!("hkdf_sha256"));
            map.insert(
                "convergent_encryption".to_owned(),
                json!(c.convergent_encryption),
            );
            if c.convergent_encryption {
                map.insert("convergent_encryption_version".to_owned(), json!(3));
            }
        }
        if kt == crate::key_type::KeyType::ManagedKey {
            // As Vault: no `keys` map; the material is in the HSM.
            return Ok(data);
        }
        let mut keys = Map::new();
        for (n, v) in &self.versions {
            let entry = if kt.is_asymmetric() {
                let public_key = match (&v.material, context) {
                    (Material::Ed25519(None), Some(ctx)) if !ctx.is_empty() => {
                        b64(&Ed25519Key::derive(v.stored.key.expose(), ctx)?.public_key())
                    }
                    _ => v.public_key.clone(),
                };
                let name = match &v.material {
                    Material::Ecdsa(curve, _) => curve.name(),
                    _ => kt.as_str(),
                };
                json!({
                    "name": name,
                    "public_key": public_key,
                    "certificate_chain": "",
                    "creation_time": rfc3339(v.stored.creation_time()),
                })
            } else {
                json!(v.stored.created)
            };
            keys.insert(n.to_string(), entry);
        }
        map.insert("keys".to_owned(), Value::Object(keys));
        Ok(data)
    }

    /// The exported form of version `n`, as Vault formats it.
    pub(crate) fn export(&self, kind: ExportKind, n: u64) -> CoreResult<Zeroizing<String>> {
        let kt = self.config.key_type;
        let v = self
            .versions
            .get(&n)
            .ok_or_else(|| CoreError::invalid("version does not exist or cannot be found"))?;
        let key = v.stored.key.expose();
        let unsupported =
            |what: &str| CoreError::invalid(format!("{what} not supported for the key"));
        match kind {
            ExportKind::Hmac => Ok(Zeroizing::new(b64(v.hmac_key()))),
            ExportKind::Encryption => match &v.material {
                Material::Aead(_) => Ok(Zeroizing::new(b64(key))),
                Material::Rsa(_) => rsa::pkcs1_private_pem(key),
                _ => Err(unsupported("encryption")),
            },
            ExportKind::Signing => match &v.material {
                Material::Ecdsa(_, k) => Ok(Zeroizing::new(
                    der::pem("EC PRIVATE KEY", &k.private_der()?)
                        .trim_end()
                        .to_owned(),
                )),
                Material::Ed25519(_) => {
                    let k = Ed25519Key::from_seed(key)?;
                    Ok(Zeroizing::new(b64(&k.go_private_key(key))))
                }
                Material::Rsa(_) => rsa::pkcs1_private_pem(key),
                _ => Err(unsupported("signing")),
            },
            ExportKind::Public => {
                if !kt.is_asymmetric() || v.public_key.is_empty() {
                    return Err(unsupported("public key export"));
                }
                Ok(Zeroizing::new(v.public_key.clone()))
            }
        }
    }
}
