//! Stamps the build with its source revision and date, for `coffer
//! version`, the server banner and `sys/seal-status`.
//!
//! Packagers may set `COFFER_REVISION` and `COFFER_BUILD_DATE` themselves
//! (a source tarball has no git history); otherwise they come from git: the
//! commit's short hash and its commit time in UTC, so that two builds of one
//! commit say the same thing. Without either, they stay empty.

use std::path::Path;
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

fn main() {
    println!("cargo:rerun-if-env-changed=COFFER_REVISION");
    println!("cargo:rerun-if-env-changed=COFFER_BUILD_DATE");
    // A new commit changes what HEAD points at.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", dir.join(head_ref).display());
        }
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("packed-refs").display()
        );
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
