//! API paths as users type them (relative to `/v1/`), cleaned the way the `vault` CLI cleans
//! them before a request.

/// vault's `sanitizePath`: trims whitespace and leading slashes.
pub(crate) fn sanitize(path: &str) -> String {
    path.trim().trim_start_matches('/').to_owned()
}

/// `path` with exactly one trailing slash added when it has none (list and mount paths).
pub(crate) fn with_trailing_slash(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_surrounding_whitespace_and_leading_slashes() {
        assert_eq!(sanitize(" /secret/foo "), "secret/foo");
        assert_eq!(sanitize("//kv/"), "kv/");
    }

    #[test]
    fn trailing_slash_is_added_once() {
        assert_eq!(with_trailing_slash("kv"), "kv/");
        assert_eq!(with_trailing_slash("kv/"), "kv/");
        assert_eq!(with_trailing_slash(""), "/");
    }
}
