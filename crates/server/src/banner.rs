//! The startup banner operators compare against Vault's.

use std::fmt::Write as _;

/// Aligned `key: value` lines under a heading, as `vault server` prints them.
pub(crate) fn render(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("==> Coffer server configuration:\n\n");
    for (k, v) in rows {
        let _ = writeln!(out, "{k:>w$}: {v}", w = width + 4);
    }
    out.push_str("\n==> Coffer server started! Log data will stream in below:\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_right_aligned_like_vaults_banner() {
        let s = render(&[
            ("Storage".into(), "file".into()),
            ("Log Level".into(), "info".into()),
        ]);
        assert!(s.contains("      Storage: file\n"), "{s}");
        assert!(s.contains("    Log Level: info\n"), "{s}");
    }
}
