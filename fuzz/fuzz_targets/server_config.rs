//! The server configuration: `coffer_server::config::parse` on HCL, or JSON
//! when the first input byte is odd. Lines after a line `#env` (an HCL
//! comment) become `NAME=value` environment overrides, so the `VAULT_HSM_*`
//! and `VAULT_*_ADDR` merging is fuzzed with the files.
//!
//! Finds panics in the HCL/JSON syntax layers, the stanza drafts (storage,
//! listener, seal, entropy, kms_library), value conversions (durations,
//! sizes, numbers in strings), environment overrides and the final checks.

#![no_main]

use coffer_server::config::{Env, parse};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (config, env_lines) = text.split_once("\n#env\n").unwrap_or((text, ""));
    let env = Env::from_pairs(env_lines.lines().filter_map(|l| {
        let (k, v) = l.split_once('=')?;
        Some((k.to_owned(), v.to_owned()))
    }));
    let file = if flags & 1 == 1 {
        Path::new("fuzz.json")
    } else {
        Path::new("fuzz.hcl")
    };
    match parse(file, config, &env) {
        Ok(c) => {
            // Formatting is part of what operators see; it must not panic.
            let _ = format!("{c:?}");
            let _ = c.enabled_seal();
            let _ = c.migration_source();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
