//! Batch answers: one result per `batch_input` item, in order, each with the
//! caller's `reference`; and the status Vault gives a batch with failed items
//! (400 for a user error, else 500; or `partial_failure_response_code` when
//! some items succeeded), with the whole envelope still in the body.

use coffer_core::engine::{Response, ResponseStatus};
use coffer_core::{CoreError, CoreResult};
use serde_json::{Map, Value, json};

/// The fields of one successful item, or why it failed.
pub(crate) type ItemResult = CoreResult<Map<String, Value>>;

/// Whether an error is the caller's fault (HTTP 400) rather than ours (500).
pub(crate) fn is_user_error(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::InvalidRequest(_) | CoreError::NotSupported(_) | CoreError::UnsupportedOperation
    )
}

/// The response to a batch request.
pub(crate) fn respond(
    items: Vec<(ItemResult, Option<String>)>,
    partial_failure_response_code: Option<u64>,
    warnings: Vec<String>,
) -> Response {
    let (mut user_error, mut internal_error, mut success) = (false, false, false);
    let results: Vec<Value> = items
        .into_iter()
        .map(|(result, reference)| {
            let reference = Value::String(reference.unwrap_or_default());
            match result {
                Ok(mut fields) => {
                    success = true;
                    fields.insert("reference".to_owned(), reference);
                    Value::Object(fields)
                }
                Err(e) => {
                    if is_user_error(&e) {
                        user_error = true;
                    } else {
                        internal_error = true;
                    }
                    json!({ "error": e.to_string(), "reference": reference })
                }
            }
        })
        .collect();
    let mut resp = Response::data(json!({ "batch_results": results }));
    resp.warnings = warnings;
    if user_error || internal_error {
        let mut code: u16 = if user_error { 400 } else { 500 };
        if let Some(wanted) = partial_failure_response_code.filter(|_| success) {
            match u16::try_from(wanted) {
                Ok(c) if (100..=599).contains(&c) => code = c,
                _ => resp.warnings.push(format!(
                    "invalid HTTP response code override from partial_failure_response_code, \
                     reverting to {code}"
                )),
            }
        }
        resp.status = ResponseStatus::Code(code);
    }
    resp
}

/// The response to a single (non-batch) request: its fields, or its error.
pub(crate) fn single(result: ItemResult, warnings: Vec<String>) -> CoreResult<Option<Response>> {
    let mut resp = Response::data(Value::Object(result?));
    resp.warnings = warnings;
    Ok(Some(resp))
}

/// A one-field success.
pub(crate) fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> ItemResult {
        Ok(fields([("ciphertext", json!("c"))]))
    }

    #[test]
    fn all_successes_are_200_with_references() {
        let r = respond(vec![(ok(), Some("a".into())), (ok(), None)], None, vec![]);
        assert_eq!(r.status, ResponseStatus::Ok);
        let data = r.data.expect("data");
        assert_eq!(data["batch_results"][0]["reference"], "a");
        assert_eq!(data["batch_results"][1]["reference"], "");
    }

    #[test]
    fn a_bad_item_makes_400_unless_overridden_while_others_succeed() {
        let bad = || Err(CoreError::invalid("bad input"));
        let r = respond(vec![(ok(), None), (bad(), None)], None, vec![]);
        assert_eq!(r.status, ResponseStatus::Code(400));
        assert_eq!(
            r.data.expect("data")["batch_results"][1]["error"],
            "bad input"
        );
        let r = respond(vec![(ok(), None), (bad(), None)], Some(207), vec![]);
        assert_eq!(r.status, ResponseStatus::Code(207));
        // All failed: the override does not apply.
        let r = respond(vec![(bad(), None)], Some(207), vec![]);
        assert_eq!(r.status, ResponseStatus::Code(400));
        // Out of range: warn and keep 400.
        let r = respond(vec![(ok(), None), (bad(), None)], Some(1000), vec![]);
        assert_eq!(r.status, ResponseStatus::Code(400));
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn internal_failures_are_500() {
        let r = respond(
            vec![(ok(), None), (Err(CoreError::Internal("x".into())), None)],
            None,
            vec![],
        );
        assert_eq!(r.status, ResponseStatus::Code(500));
    }
}
