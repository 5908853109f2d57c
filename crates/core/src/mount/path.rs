//! [`MountPath`]: a mount point as the mount tables key it, parsed once from
//! the request path of `sys/mounts/:path` or `sys/auth/:path`.

use crate::error::{CoreError, CoreResult};

/// A mount point: no leading slash, exactly one trailing slash, no empty,
/// `.` or `..` segment (`secret/`, `team/kv/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPath(String);

impl MountPath {
    /// Parses a mount point as a client writes it (`secret`, `/secret/`,
    /// `team/kv`); refuses an empty one or one with odd segments.
    pub fn parse(raw: &str) -> CoreResult<Self> {
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            return Err(CoreError::invalid("missing mount path"));
        }
        if trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(CoreError::invalid(format!("invalid mount path {raw:?}")));
        }
        Ok(Self(format!("{trimmed}/")))
    }

    /// The mount point, with its trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MountPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_get_one_trailing_slash_and_refuse_odd_segments() {
        for (raw, want) in [
            ("secret", "secret/"),
            ("/secret/", "secret/"),
            ("team/kv", "team/kv/"),
        ] {
            assert_eq!(MountPath::parse(raw).expect(raw).as_str(), want);
        }
        for bad in ["", "/", "a//b", "a/./b", "../sys", "a/.."] {
            assert!(MountPath::parse(bad).is_err(), "{bad}");
        }
    }
}
