//! `sys/raw/<path>`: the stored form of a value, found by its logical path.
//!
//! Seed 002 §5.4 has the operator compare a seal-wrapped and a plain KV
//! value at rest. Coffer's storage encrypts every path segment, so the two
//! files cannot be found by looking at the data directory; this endpoint
//! finds them by logical path (`logical/<mount uuid>/<key>`) instead and
//! shows the bytes exactly as stored, with the seal-wrap header (seal type,
//! mechanism, HSM key labels) decoded.
//!
//! Unlike Vault's, Coffer's `sys/raw` never decrypts: it reads and lists,
//! and refuses writes and deletes, which would bypass every engine's checks.
//! Root-protected (sudo), and off unless the server config says
//! `raw_storage_endpoint = true`, as in Vault.

use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use base64::Engine as _;
use serde_json::{Map, Value, json};

impl Core {
    /// Serves one `sys/raw` request; `path` is relative to `sys/raw/`.
    pub(crate) async fn raw_request(
        &self,
        req: &Request,
        path: &str,
    ) -> CoreResult<Option<Response>> {
        if !self.raw_storage_endpoint {
            return Err(CoreError::invalid(
                "sys/raw is disabled: set raw_storage_endpoint = true in the server \
                 configuration and restart to read stored records",
            ));
        }
        match req.operation {
            Operation::List => {
                let prefix = match path.trim_end_matches('/') {
                    "" => String::new(),
                    p => format!("{p}/"),
                };
                Ok(Response::list(self.barrier.list(&prefix).await?))
            }
            Operation::Read => self.raw_read(path).await,
            _ => Err(CoreError::invalid(
                "sys/raw is read-only in coffer: writing or deleting stored records directly \
                 would bypass the engines' checks; use the engine's own path instead",
            )),
        }
    }

    async fn raw_read(&self, path: &str) -> CoreResult<Option<Response>> {
        if path.is_empty() {
            return Err(CoreError::invalid(
                "sys/raw needs a logical path, e.g. sys/raw/logical/<mount uuid>/<key>; list \
                 sys/raw/ to browse",
            ));
        }
        let Some(record) = self.barrier.stored(path).await? else {
            return Ok(None);
        };
        let mut data = Map::new();
        data.insert(
            "value".to_owned(),
            json!(base64::engine::general_purpose::STANDARD.encode(&record.bytes)),
        );
        data.insert("encoding".to_owned(), json!("base64"));
        data.insert("size".to_owned(), json!(record.bytes.len()));
        data.insert("physical_path".to_owned(), json!(record.physical));
        data.insert("seal_wrapped".to_owned(), json!(record.seal_wrap.is_some()));
        if let Some((seal_type, details)) = record.seal_wrap {
            let mut wrap = Map::new();
            wrap.insert("seal_type".to_owned(), json!(seal_type));
            for (field, value) in details {
                wrap.insert(field.to_owned(), json!(value));
            }
            data.insert("seal_wrap".to_owned(), Value::Object(wrap));
        }
        Ok(Some(Response::data(Value::Object(data))))
    }
}
