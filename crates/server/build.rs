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
