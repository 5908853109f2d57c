//! Where a `kv` command's request goes: the mount, the KV version, and the API path with
//! `data/`, `metadata/`, `delete/`, `undelete/` or `destroy/` inserted after the mount for v2.
//! Mirrors the `vault kv` rules (`addPrefixToKVPath`, `path.Join`).

use crate::api_path::{sanitize, with_trailing_slash};

/// A resolved KV location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvTarget {
    /// Mount path with trailing slash (`secret/`); empty for v1 when the server did not say.
    pub(crate) mount: String,
    /// 1 or 2.
    pub(crate) version: u8,
    /// The secret's path relative to the mount (may be empty for the mount root).
    pub(crate) relative: String,
    /// The path as the user typed it (sanitised), for v1 paths outside a known mount.
    pub(crate) full: String,
}

impl KvTarget {
    /// Resolves `path` (or `-mount=M` + `path`) given the mount/version the server reported.
    pub(crate) fn new(flag_mount: Option<&str>, path: &str, mount: &str, version: u8) -> Self {
        let path = sanitize(path);
        let mount = ensure_trailing_slash(&sanitize(mount));
        match flag_mount {
            Some(_) => Self {
                full: join(&[&mount, &path]),
                relative: path,
                mount,
                version,
            },
            None => {
                let relative = strip_mount(&path, &mount);
                Self {
                    full: path,
                    relative,
                    mount,
                    version,
                }
            }
        }
    }

    /// The API path for an operation; `prefix` is ignored for v1.
    pub(crate) fn api_path(&self, prefix: &str) -> String {
        if self.version != 2 {
            return self.full.clone();
        }
        if self.relative.is_empty() {
            return ensure_trailing_slash(&join(&[&self.mount, prefix]));
        }
        join(&[&self.mount, prefix, &self.relative])
    }

    /// The path to LIST: the metadata path (v2) with a trailing slash.
    pub(crate) fn list_path(&self) -> String {
        ensure_trailing_slash(&self.api_path("metadata"))
    }
}

/// Like [`with_trailing_slash`], but an empty path (no mount known) stays empty.
fn ensure_trailing_slash(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        with_trailing_slash(path)
    }
}

fn strip_mount(path: &str, mount: &str) -> String {
    if mount.is_empty() {
        return path.to_owned();
    }
    let bare = mount.trim_end_matches('/');
    if path == bare || path == mount {
        return String::new();
    }
    path.strip_prefix(mount)
        .map_or_else(|| path.to_owned(), str::to_owned)
}

/// Go's `path.Join`: joins non-empty parts and cleans the result (no `//`, `.`, `..`, or
/// trailing slash).
pub(crate) fn join(parts: &[&str]) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for part in parts {
        for segment in part.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
    }
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_get_inserts_data_after_the_mount() {
        let target = KvTarget::new(None, "secret/foo/bar", "secret/", 2);
        assert_eq!(target.api_path("data"), "secret/data/foo/bar");
        assert_eq!(target.api_path("metadata"), "secret/metadata/foo/bar");
        assert_eq!(target.api_path("destroy"), "secret/destroy/foo/bar");
    }

    #[test]
    fn v2_with_mount_flag_joins_mount_prefix_and_path() {
        let target = KvTarget::new(Some("secret"), "foo", "secret/", 2);
        assert_eq!(target.api_path("data"), "secret/data/foo");
        assert_eq!(target.api_path("undelete"), "secret/undelete/foo");
    }

    #[test]
    fn v2_nested_mount_paths_are_respected() {
        let target = KvTarget::new(None, "team/kv/app/db", "team/kv/", 2);
        assert_eq!(target.api_path("data"), "team/kv/data/app/db");
    }

    #[test]
    fn v1_paths_are_used_as_given() {
        let target = KvTarget::new(None, "/kv/foo", "kv/", 1);
        assert_eq!(target.api_path("data"), "kv/foo");
        let unknown_mount = KvTarget::new(None, "kv/foo", "", 1);
        assert_eq!(unknown_mount.api_path("data"), "kv/foo");
    }

    #[test]
    fn v1_with_mount_flag_joins_mount_and_path() {
        let target = KvTarget::new(Some("kv"), "app/db", "kv/", 1);
        assert_eq!(target.api_path("data"), "kv/app/db");
    }

    #[test]
    fn listing_the_v2_mount_root_lists_its_metadata_folder() {
        assert_eq!(
            KvTarget::new(None, "secret", "secret/", 2).list_path(),
            "secret/metadata/"
        );
        assert_eq!(
            KvTarget::new(None, "secret/", "secret/", 2).list_path(),
            "secret/metadata/"
        );
        assert_eq!(
            KvTarget::new(None, "secret/a/", "secret/", 2).list_path(),
            "secret/metadata/a/"
        );
    }

    #[test]
    fn listing_a_v1_folder_keeps_the_trailing_slash() {
        assert_eq!(
            KvTarget::new(None, "kv/dir", "kv/", 1).list_path(),
            "kv/dir/"
        );
    }

    #[test]
    fn join_cleans_like_go_path_join() {
        assert_eq!(join(&["secret/", "data", "foo/"]), "secret/data/foo");
        assert_eq!(join(&["a//b", "./c", "../d"]), "a/b/d");
        assert_eq!(join(&["", ""]), "");
    }
}
