//! `<mount>/subkeys/<path>`: the shape of a secret without its values.

use super::model::SecretData;
use super::{read_version, version_response};
use crate::key_path::KeyPath;
use coffer_core::CoreResult;
use coffer_core::engine::field::opt_u64;
use coffer_core::engine::{EngineContext, Request, Response};
use serde::Deserialize;
use serde_json::Value;

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
    let Some((metadata, data)) = read_version(ctx, key, query.version).await? else {
        return Ok(None);
    };
    let depth = query.depth.unwrap_or(0);
    let shape = data.map(|data| subkeys(&data, depth, 1));
    Ok(version_response("subkeys", shape, metadata))
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
    use serde_json::json;

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
