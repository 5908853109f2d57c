//! The transit engine of one mount: its routes, its key cache and its nonce
//! source, and the dispatch from a route to the file that serves it.

use crate::fields::key_name;
use crate::keystore::KeyStore;
use crate::{
    path_backup, path_config, path_datakey, path_decrypt, path_encrypt, path_export, path_hash,
    path_hmac, path_keys, path_random, path_rewrap, path_rotate, path_sign,
};
use async_trait::async_trait;
use coffer_core::CoreResult;
use coffer_core::engine::{Engine, EngineContext, Operation, Request, Response, Route, dispatch};
use std::collections::BTreeMap;

/// Path parameters captured by a route.
pub(crate) type Params = BTreeMap<&'static str, String>;

/// Route handler tags; one per path group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    ListKeys,
    Key,
    KeyConfig,
    Rotate,
    Trim,
    Export,
    Backup,
    Restore,
    Encrypt,
    Decrypt,
    Rewrap,
    Datakey,
    Hmac,
    Sign,
    Verify,
    Hash,
    Random,
}

/// The transit engine of one mount.
pub(crate) struct Transit {
    routes: Vec<Route<Handler>>,
    /// Decrypted key rings and per-key locks.
    pub(crate) keys: KeyStore,
}

impl Transit {
    /// A fresh engine with an empty key cache.
    pub(crate) fn new() -> Self {
        use Operation::{Delete, List, Read, Update};
        let routes = vec![
            Route::new("keys", &[List], Handler::ListKeys),
            Route::new("keys/:name", &[Read, Update, Delete], Handler::Key),
            Route::new("keys/:name/config", &[Update], Handler::KeyConfig),
            Route::new("keys/:name/rotate", &[Update], Handler::Rotate),
            Route::new("keys/:name/trim", &[Update], Handler::Trim),
            Route::new("export/:type/:name", &[Read], Handler::Export),
            Route::new("export/:type/:name/:version", &[Read], Handler::Export),
            Route::new("backup/:name", &[Read], Handler::Backup),
            Route::new("restore", &[Update], Handler::Restore),
            Route::new("restore/:name", &[Update], Handler::Restore),
            Route::new("encrypt/:name", &[Update], Handler::Encrypt),
            Route::new("decrypt/:name", &[Update], Handler::Decrypt),
            Route::new("rewrap/:name", &[Update], Handler::Rewrap),
            Route::new("datakey/:plaintext/:name", &[Update], Handler::Datakey),
            Route::new("hmac/:name", &[Update], Handler::Hmac),
            Route::new("hmac/:name/:urlalgorithm", &[Update], Handler::Hmac),
            Route::new("sign/:name", &[Update], Handler::Sign),
            Route::new("sign/:name/:urlalgorithm", &[Update], Handler::Sign),
            Route::new("verify/:name", &[Update], Handler::Verify),
            Route::new("verify/:name/:urlalgorithm", &[Update], Handler::Verify),
            Route::new("hash", &[Update], Handler::Hash),
            Route::new("hash/:urlalgorithm", &[Update], Handler::Hash),
            Route::new("random", &[Update], Handler::Random),
            Route::new("random/:source", &[Update], Handler::Random),
            Route::new("random/:source/:urlbytes", &[Update], Handler::Random),
        ];
        Self {
            routes,
            keys: KeyStore::new(),
        }
    }
}

#[async_trait]
impl Engine for Transit {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let (handler, params) = dispatch(&self.routes, &req)?;
        let name = match params.get("name") {
            Some(n) => Some(key_name(n)?),
            None => None,
        };
        let name = name.unwrap_or_default();
        match handler {
            Handler::ListKeys => path_keys::list(self, ctx).await,
            Handler::Key => path_keys::handle(self, ctx, &req, name).await,
            Handler::KeyConfig => path_config::update(self, ctx, &req, name).await,
            Handler::Rotate => path_rotate::rotate(self, ctx, &req, name).await,
            Handler::Trim => path_rotate::trim(self, ctx, &req, name).await,
            Handler::Export => path_export::read(self, ctx, &params, name).await,
            Handler::Backup => path_backup::backup(self, ctx, name).await,
            Handler::Restore => path_backup::restore(self, ctx, &req, &params).await,
            Handler::Encrypt => path_encrypt::encrypt(self, ctx, &req, name).await,
            Handler::Decrypt => path_decrypt::decrypt(self, ctx, &req, name).await,
            Handler::Rewrap => path_rewrap::rewrap(self, ctx, &req, name).await,
            Handler::Datakey => path_datakey::datakey(self, ctx, &req, &params, name).await,
            Handler::Hmac => path_hmac::hmac(self, ctx, &req, &params, name).await,
            Handler::Sign => path_sign::sign(self, ctx, &req, &params, name).await,
            Handler::Verify => path_sign::verify(self, ctx, &req, &params, name).await,
            Handler::Hash => path_hash::hash(&req, &params),
            Handler::Random => path_random::random(ctx, &req, &params).await,
        }
    }

    /// As Vault: `keys/:name` and `encrypt/:name` (which creates a missing
    /// key) need `create` when the key does not exist, `update` when it does.
    async fn exists(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<bool>> {
        let (handler, params) = dispatch(&self.routes, req)?;
        match (handler, params.get("name")) {
            (Handler::Key | Handler::Encrypt, Some(name)) => {
                let name = key_name(name)?;
                Ok(Some(self.keys.get(&ctx.view, name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}
