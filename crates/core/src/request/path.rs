//! The request path as the router and the ACL both see it.

use crate::error::{CoreError, CoreResult};

/// Paths ending in a name that its handler normalises (trimmed, lowercase):
/// policies and token roles. The name is normalised before the ACL sees the
/// path, so a rule on `sys/policies/acl/admin` covers `.../ADMIN` too.
const NAMED_PREFIXES: [&str; 4] = [
    "sys/policies/acl/",
    "sys/policy/",
    "auth/token/roles/",
    "auth/token/create/",
];

/// The request path as the router and the ACL both see it: no leading `/`,
/// no empty, `.` or `..` segment except a trailing `/` (a LIST), and names in
/// [`NAMED_PREFIXES`] normalised. Odd segments are refused rather than
/// cleaned, so no spelling of a path can reach a handler under a name the
/// ACL did not check.
pub(crate) fn canonical_path(path: &str) -> CoreResult<String> {
    let path = path.trim_start_matches('/');
    let body = path.strip_suffix('/').unwrap_or(path);
    let bad = path.contains('\0')
        || (!body.is_empty()
            && body
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."));
    if bad {
        return Err(CoreError::invalid(format!(
            "invalid request path {path:?}: empty, '.' or '..' segments are not allowed"
        )));
    }
    for prefix in NAMED_PREFIXES {
        if let Some(name) = path.strip_prefix(prefix) {
            return Ok(format!("{prefix}{}", crate::policy::normalize_name(name)));
        }
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::plan::sys_subpath;

    #[test]
    fn request_paths_with_odd_segments_are_refused() {
        assert_eq!(canonical_path("/secret/a").expect("ok"), "secret/a");
        assert_eq!(
            canonical_path("secret/meta/").expect("list"),
            "secret/meta/"
        );
        for bad in ["secret//a", "secret/./a", "secret/../sys/x", "a/..", "x/\0"] {
            assert!(canonical_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            canonical_path("sys/policies/acl/ADMIN").expect("name"),
            "sys/policies/acl/admin"
        );
        assert_eq!(
            canonical_path("auth/token/create/Web").expect("role"),
            "auth/token/create/web"
        );
        assert_eq!(
            canonical_path("secret/data/ABC").expect("kv"),
            "secret/data/ABC"
        );
        assert_eq!(sys_subpath("sys/mounts"), Some("mounts"));
        assert_eq!(sys_subpath("sys"), Some(""));
        assert_eq!(sys_subpath("system/x"), None);
    }
}
