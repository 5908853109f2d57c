//! Vault's row layout. Key `a/b/c` is stored as `parent_path = "/a/"`,
//! `path = "/a/b/"`, `key = "c"`; a top-level key `c` as `("", "/", "c")`.
//! `path` is the key's folder with a leading and a trailing `/`, and
//! `parent_path` is the folder above `path` (empty for `/`).

/// The `(parent_path, path, key)` columns of a valid storage key.
pub(crate) fn split_key(full: &str) -> (String, String, &str) {
    match full.rsplit_once('/') {
        None => (String::new(), "/".to_owned(), full),
        Some((folders, leaf)) => {
            let parent = match folders.rsplit_once('/') {
                None => "/".to_owned(),
                Some((up, _)) => format!("/{up}/"),
            };
            (parent, format!("/{folders}/"), leaf)
        }
    }
}

/// For a valid list prefix (empty or ending in `/`): the `path` its direct leaves
/// have, and the half-open range `[low, high)` of `parent_path` values of every
/// row below its direct folders. All of those `parent_path`s start with `low`,
/// which ends in `/`, so `high` is `low` with that `/` bumped to the next byte,
/// `0`; with the column's "C" collation this is an indexed range scan (and, unlike
/// `LIKE prefix || '%'`, is not confused by `_` or `%` in key names).
pub(crate) fn list_bounds(prefix: &str) -> (String, String) {
    let low = format!("/{prefix}");
    let high = format!("{}0", &low[..low.len() - 1]);
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_as_vault_splits_them() {
        assert_eq!(split_key("top"), (String::new(), "/".to_owned(), "top"));
        assert_eq!(split_key("a/b"), ("/".to_owned(), "/a/".to_owned(), "b"));
        assert_eq!(
            split_key("a/b/c/d"),
            ("/a/b/".to_owned(), "/a/b/c/".to_owned(), "d")
        );
    }

    #[test]
    fn list_range_covers_exactly_the_rows_below_the_prefix() {
        assert_eq!(list_bounds(""), ("/".to_owned(), "0".to_owned()));
        let (low, high) = list_bounds("a/b/");
        assert_eq!((low.as_str(), high.as_str()), ("/a/b/", "/a/b0"));
        let inside = ["/a/b/", "/a/b/c/", "/a/b/\u{10ffff}/"];
        let outside = ["/a/b", "/a/b-/", "/a/b0/", "/a/c/", "/a/", ""];
        for p in inside {
            assert!(
                low.as_str() <= p && p < high.as_str(),
                "{p} should be in range"
            );
        }
        for p in outside {
            assert!(
                !(low.as_str() <= p && p < high.as_str()),
                "{p} should be out"
            );
        }
    }
}
