//! `<mount>/subkeys/<path>`: the shape of a secret without its values.

use super::model::{SecretData, version_key};
use super::{load_meta, not_found_with};
use crate::key_path::KeyPath;
use coffer_core::CoreResult;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::field::opt_u64;
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET subkeys/<path>?version=N&depth=D` (depth 0: no limit).
#[derive(Debug, Deserialize)]
struct SubkeysQuery {
    #[serde(default, deserialize_with = "opt_u64")]
    version: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    depth: Option<u64>,
}

/// Serves `subkeys/<path>` reads.
pub(super) async fn read(
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let query: SubkeysQuery = req.parse()?;
    let Some(meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    let Some((version, vm)) = meta.pick(query.version) else {
        return Ok(None);
    };
    let metadata = meta.version_json(version, vm);
    let data = if vm.is_live(ctx.clock.now()) {
        ctx.view
            .get_json::<SecretData>(&version_key(key, version))
            .await?
    } else {
        None
    };
    Ok(match data {
        Some(data) => {
            let subkeys = subkeys(&data, query.depth.unwrap_or(0), 1);
            Some(Response::data(
                json!({ "subkeys": subkeys, "metadata": metadata }),
            ))
        }
        None => not_found_with(json!({ "subkeys": null, "metadata": metadata })),
    })
}

/// `map` with every leaf replaced by `null`; objects at `depth` (when
/// non-zero) count as leaves. `level` is the depth of `map`'s own keys.
fn subkeys(map: &SecretData, depth: u64, level: u64) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| {
                let shape = match v {
                    Value::Object(inner) if depth == 0 || level < depth => {
                        subkeys(inner, depth, level + 1)
                    }
                    _ => Value::Null,
                };
                (k.clone(), shape)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SecretData {
        match json!({"foo": "abc", "bar": {"baz": "def", "deep": {"x": 1}}, "quux": {}, "list": [1]})
        {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn leaves_become_null_and_objects_keep_their_shape() {
        assert_eq!(
            subkeys(&sample(), 0, 1),
            json!({"foo": null, "bar": {"baz": null, "deep": {"x": null}}, "quux": {}, "list": null})
        );
    }

    #[test]
    fn depth_cuts_nesting_at_that_level() {
        assert_eq!(
            subkeys(&sample(), 1, 1),
            json!({"foo": null, "bar": null, "quux": null, "list": null})
        );
        assert_eq!(
            subkeys(&sample(), 2, 1),
            json!({"foo": null, "bar": {"baz": null, "deep": null}, "quux": {}, "list": null})
        );
    }
}
