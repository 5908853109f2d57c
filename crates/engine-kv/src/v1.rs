//! KV version 1 (and, with per-token storage, cubbyhole): one JSON object
//! per path, stored as sent, no versions and no metadata.

use crate::cubbyhole;
use crate::fields::stored_ttl;
use crate::key_path::{KeyPath, list_prefix};
use async_trait::async_trait;
use coffer_core::Ttl;
use coffer_core::engine::{Engine, EngineContext, Operation, Request, Response, Route, dispatch};
use coffer_core::storage::View;
use coffer_core::{CoreError, CoreResult};
use serde_json::{Map, Value};

/// A secret as KV v1 stores it: the user's JSON object, untouched.
type SecretData = Map<String, Value>;

/// Which storage a request works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The whole mount (`kv` version 1).
    Mount,
    /// The calling token's private folder (`cubbyhole`).
    PerToken,
}

/// Route handler tags.
#[derive(Debug, Clone, Copy)]
enum Handler {
    Entry,
}

/// The KV v1 engine.
pub(crate) struct KvV1 {
    scope: Scope,
    routes: Vec<Route<Handler>>,
}

impl KvV1 {
    /// A `kv` version 1 mount: storage shared by every caller, `ttl` honoured.
    pub(crate) fn shared() -> Self {
        Self::with_scope(Scope::Mount)
    }

    /// A `cubbyhole` mount: storage private to each token.
    pub(crate) fn per_token() -> Self {
        Self::with_scope(Scope::PerToken)
    }

    fn with_scope(scope: Scope) -> Self {
        use Operation::{Delete, List, Read, Update};
        Self {
            scope,
            routes: vec![Route::new(
                "*path",
                &[Read, Update, Delete, List],
                Handler::Entry,
            )],
        }
    }
}

#[async_trait]
impl Engine for KvV1 {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let (handler, params) = dispatch(&self.routes, &req)?;
        let raw = params.get("path").map(String::as_str).unwrap_or_default();
        let view = self.view(ctx, &req)?;
        match (handler, req.operation) {
            (Handler::Entry, Operation::Read) => self.read(&view, raw).await,
            (Handler::Entry, Operation::Update) => write(&view, raw, &req).await,
            (Handler::Entry, Operation::Delete) => delete(&view, raw).await,
            (Handler::Entry, Operation::List) => list(&view, raw).await,
            (Handler::Entry, Operation::Patch) => Err(CoreError::UnsupportedOperation),
        }
    }

    /// A write to a stored key is an update; to anything else a create.
    async fn exists(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<bool>> {
        let Ok(key) = KeyPath::parse(&req.path) else {
            return Ok(Some(false));
        };
        Ok(Some(
            self.view(ctx, req)?.get(key.as_str()).await?.is_some(),
        ))
    }
}

impl KvV1 {
    /// The storage a request works on.
    fn view(&self, ctx: &EngineContext, req: &Request) -> CoreResult<View> {
        match self.scope {
            Scope::Mount => Ok(ctx.view.clone()),
            Scope::PerToken => cubbyhole::token_view(&ctx.view, &req.token_id),
        }
    }

    async fn read(&self, view: &View, raw: &str) -> CoreResult<Option<Response>> {
        let key = match KeyPath::parse(raw) {
            Ok(key) => key,
            Err(_) if !raw.is_empty() => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(data) = view.get_json::<SecretData>(key.as_str()).await? else {
            return Ok(None);
        };
        // Vault's KV v1 reports a `ttl` (or legacy `lease`) field as the
        // advisory lease duration; cubbyhole does not.
        let lease_duration = match self.scope {
            Scope::Mount => data
                .get("ttl")
                .or_else(|| data.get("lease"))
                .and_then(stored_ttl)
                .unwrap_or_default(),
            Scope::PerToken => Ttl::ZERO,
        };
        Ok(Some(Response {
            lease_duration,
            ..Response::data(Value::Object(data))
        }))
    }
}

async fn write(view: &View, raw: &str, req: &Request) -> CoreResult<Option<Response>> {
    let key = KeyPath::parse(raw)?;
    let data: SecretData = req.parse()?;
    if data.is_empty() {
        return Err(CoreError::invalid("missing data fields"));
    }
    view.put_json(key.as_str(), &data).await?;
    Ok(None)
}

async fn delete(view: &View, raw: &str) -> CoreResult<Option<Response>> {
    match KeyPath::parse(raw) {
        Ok(key) => view.delete(key.as_str()).await?,
        // A path storage could never hold has nothing to delete.
        Err(_) if !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(None)
}

async fn list(view: &View, raw: &str) -> CoreResult<Option<Response>> {
    let Some(prefix) = list_prefix(raw) else {
        return Ok(None);
    };
    Ok(Response::list(view.list(&prefix).await?))
}
