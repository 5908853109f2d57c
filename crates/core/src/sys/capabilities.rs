//! `sys/capabilities`, `sys/capabilities-self` and
//! `sys/capabilities-accessor`: what a token may do on given paths, as
//! Vault answers it: `{"<path>": [caps], ...}`, plus `capabilities` when
//! one path was asked (`["root"]` for root, `["deny"]` for nothing).

use crate::engine::field::opt_string_list;
use crate::engine::{Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::policy::Acl;
use crate::request::authorize::Caller;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// The body: `paths` (or the deprecated `path`), and whose capabilities.
#[derive(Deserialize)]
struct CapabilitiesInput {
    #[serde(default, deserialize_with = "opt_string_list")]
    paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    path: Option<Vec<String>>,
    #[serde(default)]
    token: Option<Zeroizing<String>>,
    #[serde(default)]
    accessor: Option<String>,
}

impl CapabilitiesInput {
    fn paths(&self) -> CoreResult<Vec<String>> {
        let mut all: Vec<String> = self
            .paths
            .iter()
            .chain(&self.path)
            .flatten()
            .cloned()
            .collect();
        all.dedup();
        if all.is_empty() {
            return Err(CoreError::invalid("missing paths"));
        }
        Ok(all)
    }
}

impl Core {
    /// `sys/capabilities` (`self_caller: None`: the `token` in the body) or
    /// `sys/capabilities-self` (the caller's token).
    pub(crate) async fn capabilities(
        &self,
        req: &Request,
        self_caller: Option<&Caller<'_>>,
    ) -> CoreResult<Option<Response>> {
        let input: CapabilitiesInput = req.parse()?;
        let paths = input.paths()?;
        let acl = match self_caller {
            Some(caller) => caller.acl.clone(),
            None => {
                let raw = input
                    .token
                    .as_ref()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| CoreError::invalid("missing token"))?;
                let token = self
                    .resolve_raw_token(raw)
                    .await?
                    .ok_or_else(|| CoreError::invalid("invalid token"))?;
                self.acl_for(&token.entry).await?
            }
        };
        Ok(Some(capabilities_response(&acl, &paths)))
    }

    /// `sys/capabilities-accessor`: the token behind `accessor`.
    pub(crate) async fn capabilities_by_accessor(
        &self,
        req: &Request,
    ) -> CoreResult<Option<Response>> {
        let input: CapabilitiesInput = req.parse()?;
        let paths = input.paths()?;
        let invalid = || CoreError::invalid("invalid accessor");
        let accessor = input.accessor.as_deref().filter(|a| !a.is_empty());
        let id = match accessor {
            Some(a) => self.tokens.id_for_accessor(a).await?.ok_or_else(invalid)?,
            None => return Err(CoreError::invalid("missing accessor")),
        };
        let token = self.resolve_token_id(&id).await?.ok_or_else(invalid)?;
        let acl = self.acl_for(&token.entry).await?;
        Ok(Some(capabilities_response(&acl, &paths)))
    }
}

fn capabilities_response(acl: &Acl, paths: &[String]) -> Response {
    let mut data = Map::new();
    for path in paths {
        data.insert(path.clone(), json!(acl.capabilities(path)));
    }
    if let [only] = paths {
        let caps = data.get(only).cloned().unwrap_or(Value::Null);
        data.insert("capabilities".to_owned(), caps);
    }
    Response::data(Value::Object(data))
}
