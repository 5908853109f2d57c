//! `coffer hsm doctor`: checks a PKCS#11 module, token, PIN, mechanisms and
//! keys before the server depends on them (the checks themselves are in
//! the seal crate, reached through `coffer_server::hsm_probe`). The checks run in a child process
//! (`coffer hsm doctor-probe`, hidden), so that a module that crashes or a
//! token that hangs is reported within its time bound instead of taking the
//! doctor down.

mod doctor;
mod report;

use clap::{ArgAction, Args, Subcommand};

use crate::cli::GlobalArgs;
use crate::flags::{duration_secs, go_bool};

/// HSM subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum HsmCommand {
    /// Check a PKCS#11 module, token, PIN, mechanisms and keys; print a working seal stanza.
    /// Exit 0 all good, 1 warnings, 2 unusable.
    Doctor(DoctorArgs),
    /// The doctor's child process: reads its request on stdin, reports JSON lines.
    #[command(hide = true)]
    DoctorProbe,
}

/// `hsm doctor` flags. `-config` reads the `seal "pkcs11"` stanza of a server configuration;
/// the other flags override what it says. The PIN comes from VAULT_HSM_PIN, the stanza, or a
/// prompt on a terminal.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Server configuration file whose `seal "pkcs11"` stanza to check.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,
    /// Path of the PKCS#11 module (.so).
    #[arg(long, value_name = "PATH")]
    pub(crate) lib: Option<std::path::PathBuf>,
    /// Slot id of the token.
    #[arg(long)]
    pub(crate) slot: Option<u64>,
    /// Label of the token.
    #[arg(long, value_name = "LABEL")]
    pub(crate) token_label: Option<String>,
    /// Label of the key that wraps the root key.
    #[arg(long, value_name = "LABEL")]
    pub(crate) key_label: Option<String>,
    /// Label of the HMAC key (CBC mechanisms).
    #[arg(long, value_name = "LABEL")]
    pub(crate) hmac_key_label: Option<String>,
    /// Mechanism to check, e.g. 0x1087 (AES-GCM), 0x1085 (AES-CBC-PAD), 0x0009 (RSA-OAEP).
    #[arg(long)]
    pub(crate) mechanism: Option<String>,
    /// RSA-OAEP hash: sha1, sha224, sha256, sha384 or sha512.
    #[arg(long, value_name = "HASH")]
    pub(crate) rsa_oaep_hash: Option<String>,
    /// Create missing keys, as generate_key = "true" would (nothing is created otherwise).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) generate_key: bool,
    /// How long one PKCS#11 step may take before the module counts as hung.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration_secs)]
    pub(crate) timeout: u64,
}

pub(crate) fn run(command: HsmCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    Ok(match command {
        HsmCommand::Doctor(args) => doctor::run(&args, global),
        HsmCommand::DoctorProbe => coffer_server::hsm_probe::run(),
    })
}
