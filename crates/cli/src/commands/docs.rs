//! `coffer completion SHELL` and `coffer man -dir=DIR`: shell completions
//! and man pages generated from the command definition itself, so they
//! always match the binary (the Debian package ships both).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory, ValueEnum};

use super::EXIT_OK;
use crate::cli::Cli;

/// Shells `coffer completion` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    /// GNU bash (install under /usr/share/bash-completion/completions/coffer).
    Bash,
    /// zsh (install as _coffer in a directory of $fpath).
    Zsh,
    /// fish (install under ~/.config/fish/completions/coffer.fish).
    Fish,
}

/// `coffer completion`.
#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// `coffer man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write the pages into (coffer.1, coffer-operator-init.1, ...).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

/// Prints the completion script on stdout.
pub(crate) fn completion(args: &CompletionArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "coffer", &mut script);
    match std::io::stdout().write_all(&script) {
        // `coffer completion bash | head`: the reader left; nothing to report.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing the completion script")
        }
        _ => Ok(EXIT_OK),
    }
}

/// Writes one man page per command (section 1) into the directory:
/// `coffer.1`, `coffer-operator.1`, `coffer-operator-init.1`, ...
pub(crate) fn man(args: &ManArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let version = match coffer_server::REVISION {
        "" => coffer_server::VERSION.to_owned(),
        revision => format!("{} ({revision})", coffer_server::VERSION),
    };
    let command = Cli::command().version(version);
    clap_mangen::generate_to(command, &args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?;
    println!(
        "Wrote the man pages to {} (start with coffer.1)",
        args.dir.display()
    );
    Ok(EXIT_OK)
}
