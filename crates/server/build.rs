//! Stamps the build with its source revision and date, for `coffer
//! version`, the server banner and `sys/seal-status`; and embeds the web
//! UI that `scripts/build-ui` left in `ui/dist/` (see [`embed_ui`]).
//!
//! Packagers may set `COFFER_REVISION` and `COFFER_BUILD_DATE` themselves
//! (a source tarball has no git history); otherwise they come from git: the
//! commit's short hash and its commit time in UTC, so that two builds of one
//! commit say the same thing. Without either, they stay empty.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// Writes `ui_assets.rs` into `OUT_DIR`: every file of `ui/dist/` as
/// `(name, content type, include_bytes!)`, or none when the UI was not
/// built (a plain `cargo build` never runs npm; the server then says how to
/// build it). Cargo looks again when `ui/dist` changes, or, while it does
/// not exist, when anything under `ui/` does (so a first UI build is seen).
fn embed_ui() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    let dist = ui.join("dist");
    let mut files: Vec<PathBuf> = Vec::new();
    for path in std::fs::read_dir(&dist)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
    {
        // The bundle is flat (index.html, app.js, app.css); anything else is
        // left out loudly rather than served under a mangled name.
        let name_ok = path.file_name().and_then(|n| n.to_str()).is_some();
        if path.is_file() && name_ok {
            files.push(path);
        } else {
            println!(
                "cargo:warning=ui/dist: {} is not embedded (only plain files with UTF-8 names are)",
                path.display()
            );
        }
    }
    files.sort();
    if dist.is_dir() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else if ui.is_dir() {
        println!("cargo:rerun-if-changed={}", ui.display());
    }
    let mut out = String::from(
        "/// The web UI's files built into this binary: name under `/ui/`, content type, bytes.\n\
         pub(crate) static UI_ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js" | "mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            Some("json" | "map") => "application/json",
            Some("woff2") => "font/woff2",
            _ => "application/octet-stream",
        };
        let path = file.canonicalize().unwrap_or_else(|_| file.clone());
        let _ = writeln!(
            out,
            "    ({name:?}, {kind:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    std::fs::write(Path::new(&out_dir).join("ui_assets.rs"), out)
        .unwrap_or_else(|e| panic!("writing ui_assets.rs into {out_dir}: {e}"));
}

fn main() {
    embed_ui();
    println!("cargo:rerun-if-env-changed=COFFER_REVISION");
    println!("cargo:rerun-if-env-changed=COFFER_BUILD_DATE");
    // A new commit changes what HEAD points at. Only files that exist are
    // watched: cargo reruns the script on every build for a missing one. In
    // a worktree HEAD is its own, the refs are the common directory's.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]);
    let common_dir = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]);
    if let (Some(git_dir), Some(common_dir)) = (git_dir, common_dir) {
        // HEAD's reflog changes with every commit, also when the branch's
        // ref lives only in packed-refs until the commit creates it.
        let mut watched = vec![
            Path::new(&git_dir).join("HEAD"),
            Path::new(&git_dir).join("logs/HEAD"),
            Path::new(&common_dir).join("packed-refs"),
        ];
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(Path::new(&common_dir).join(head_ref));
        }
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let revision = std::env::var("COFFER_REVISION")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_default();
    let date = std::env::var("COFFER_BUILD_DATE")
        .ok()
        .or_else(|| {
            git(&[
                "log",
                "-1",
                "--format=%cd",
                "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
            ])
        })
        .unwrap_or_default();
    println!("cargo:rustc-env=COFFER_REVISION={revision}");
    println!("cargo:rustc-env=COFFER_BUILD_DATE={date}");
}
