//! `coffer policy list | read | write | delete | fmt`, as `vault policy ...`. Names are
//! lowercased as vault's CLI does; server refusals (a malformed policy: the server's message
//! names the line) exit 2, as do unreadable files.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::policy_fmt::format_policy;
use super::{EXIT_API_ERROR, EXIT_OK, api_error};
use crate::cli::GlobalArgs;
use crate::context;
use crate::format::{Format, print_data};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// List the names of the ACL policies.
    List,
    /// Print a policy's text.
    Read {
        /// Policy name.
        name: String,
    },
    /// Upload a policy from a file, or from stdin with `-`.
    Write {
        /// Policy name.
        name: String,
        /// File holding the policy (HCL or JSON), or `-` for stdin.
        path: String,
    },
    /// Delete a policy (tokens holding it lose its rules at once).
    Delete {
        /// Policy name.
        name: String,
    },
    /// Rewrite a local HCL policy file in the canonical layout (checks its syntax too).
    Fmt {
        /// The policy file, rewritten in place.
        path: PathBuf,
    },
}

/// Runs a policy subcommand.
pub(crate) async fn run(command: PolicyCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        PolicyCommand::List => list(global).await,
        PolicyCommand::Read { name } => read(&normalise(&name), global).await,
        PolicyCommand::Write { name, path } => write(&normalise(&name), &path, global).await,
        PolicyCommand::Delete { name } => {
            let name = normalise(&name);
            let client = context::client(global)?;
            match client.delete_policy(&name).await {
                Ok(()) => {
                    println!("Success! Deleted policy: {name}");
                    Ok(EXIT_OK)
                }
                Err(err) => Ok(api_error(&format!("Error deleting {name}"), &err)),
            }
        }
        PolicyCommand::Fmt { path } => Ok(fmt(&path)),
    }
}

/// Policy names are case-insensitive; vault's CLI sends them lowercased.
fn normalise(name: &str) -> String {
    name.trim().to_lowercase()
}

async fn list(global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let names = match client.list_policies().await {
        Ok(names) => names,
        Err(err) => return Ok(api_error("Error listing policies", &err)),
    };
    match global.format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &names)?,
        Format::Table => {
            for name in &names {
                println!("{name}");
            }
        }
    }
    Ok(EXIT_OK)
}

async fn read(name: &str, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let text = match client.read_policy(name).await {
        Ok(Some(text)) => text,
        Ok(None) => {
            eprintln!("No policy named: {name}");
            return Ok(EXIT_API_ERROR);
        }
        Err(err) => {
            return Ok(api_error(
                &format!("Error reading policy named {name}"),
                &err,
            ));
        }
    };
    match global.format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &json!({ "policy": text }))?,
        Format::Table => println!("{}", text.trim()),
    }
    Ok(EXIT_OK)
}

async fn write(name: &str, source: &str, global: &GlobalArgs) -> anyhow::Result<u8> {
    let text = if source.trim() == "-" {
        let mut text = String::new();
        if let Err(err) = std::io::stdin().lock().read_to_string(&mut text) {
            eprintln!("Error reading policy: {err}");
            return Ok(EXIT_API_ERROR);
        }
        text
    } else {
        match std::fs::read_to_string(source.trim()) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("Error opening policy file: {}: {err}", source.trim());
                return Ok(EXIT_API_ERROR);
            }
        }
    };
    let client = context::client(global)?;
    match client.write_policy(name, &text).await {
        Ok(()) => {
            println!("Success! Uploaded policy: {name}");
            Ok(EXIT_OK)
        }
        Err(err) => Ok(api_error("Error uploading policy", &err)),
    }
}

/// `policy fmt`: local only, nothing is sent to a server; failures exit 2 as vault's do.
fn fmt(path: &std::path::Path) -> u8 {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("Error opening policy file: {shown}: {err}");
            return EXIT_API_ERROR;
        }
    };
    let formatted = match format_policy(&text) {
        Ok(formatted) => formatted,
        Err(err) => {
            eprintln!("Error formatting policy {shown}: {err}");
            return EXIT_API_ERROR;
        }
    };
    if formatted != text
        && let Err(err) = std::fs::write(path, formatted)
    {
        eprintln!("Error writing result: {shown}: {err}");
        return EXIT_API_ERROR;
    }
    println!("Success! Formatted policy: {shown}");
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_lowercased() {
        assert_eq!(normalise(" Ops-Team "), "ops-team");
    }

    #[test]
    fn fmt_rewrites_the_file_in_place_and_leaves_bad_files_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.hcl");
        std::fs::write(&good, "path \"a\" {\ncapabilities=[\"read\"]\n}\n").expect("write");
        assert_eq!(fmt(&good), EXIT_OK);
        assert_eq!(
            std::fs::read_to_string(&good).expect("read"),
            "path \"a\" {\n  capabilities = [\"read\"]\n}\n"
        );
        let bad = dir.path().join("bad.hcl");
        let broken = "path \"a\" {\ncapabilities = [\"read\"\n";
        std::fs::write(&bad, broken).expect("write");
        assert_eq!(fmt(&bad), EXIT_API_ERROR);
        assert_eq!(std::fs::read_to_string(&bad).expect("read"), broken);
        assert_eq!(fmt(&dir.path().join("missing.hcl")), EXIT_API_ERROR);
    }
}
