//! `entropy "seal" { mode = "augmentation" }`: key material mixes randomness
//! from the seal's HSM into the OS CSPRNG. Whether the seal can supply it is
//! checked when the whole config is put together.

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};

/// The `entropy "seal"` stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntropyConfig {
    /// How seal randomness is used.
    pub mode: EntropyMode,
}

/// Entropy modes; Vault defines only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntropyMode {
    /// Mix HSM randomness with the OS CSPRNG for critical security parameters.
    Augmentation,
}

/// Decodes one `entropy` block.
pub(crate) fn decode(block: Block) -> Result<(EntropyConfig, Location), ConfigError> {
    let source = block.single_label("entropy \"seal\" { mode = \"augmentation\" }")?;
    if source != "seal" {
        return Err(ConfigError::invalid_at(
            &block.at,
            format!("entropy \"{source}\": unknown entropy source (expected \"seal\")"),
        ));
    }
    let at = block.at.clone();
    let mut f = Fields::new(block.title(), block.at, block.body, &["mode"])?;
    let mode = f.parsed("mode", |text| match text {
        "augmentation" => Ok(EntropyMode::Augmentation),
        other => Err(format!(
            "\"{other}\" is not supported (expected \"augmentation\")"
        )),
    })?;
    let Some(mode) = mode else {
        return Err(ConfigError::MissingField {
            at: Some(f.at().clone()),
            context: f.context().to_owned(),
            field: "mode".to_owned(),
            hint: Some("mode = \"augmentation\"".to_owned()),
        });
    };
    Ok((EntropyConfig { mode }, at))
}
