//! `kms_library "pkcs11" { name = "hsm", library = "/path/to/module.so" }`:
//! the PKCS#11 modules that managed keys (`sys/managed-keys`) may use, named
//! so that the API never carries a file path. Several may be given; names
//! are unique ignoring case and are compared in lower case.

use std::path::PathBuf;

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};

/// One `kms_library` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsLibraryConfig {
    /// The name managed keys give as `library`, in lower case.
    pub name: String,
    /// Path of the PKCS#11 module.
    pub library: PathBuf,
}

/// Decodes one `kms_library` block.
pub(crate) fn decode(block: Block) -> Result<(KmsLibraryConfig, Location), ConfigError> {
    let kind = block.single_label(
        "kms_library \"pkcs11\" { name = \"hsm\", library = \"/usr/lib/softhsm/libsofthsm2.so\" }",
    )?;
    if kind != "pkcs11" {
        return Err(ConfigError::invalid_at(
            &block.at,
            format!("kms_library \"{kind}\": unknown type (expected \"pkcs11\")"),
        ));
    }
    let at = block.at.clone();
    let mut f = Fields::new(block.title(), block.at, block.body, &["name", "library"])?;
    let name = f.string("name")?.map(|n| n.trim().to_ascii_lowercase());
    let library = f.string("library")?.filter(|l| !l.trim().is_empty());
    let (Some(name), Some(library)) = (name.filter(|n| !n.is_empty()), library) else {
        return Err(ConfigError::MissingField {
            at: Some(at),
            context: "kms_library \"pkcs11\"".to_owned(),
            field: "name and library".to_owned(),
            hint: Some("name = \"hsm\", library = \"/path/to/pkcs11-module.so\"".to_owned()),
        });
    };
    Ok((
        KmsLibraryConfig {
            name,
            library: PathBuf::from(library),
        },
        at,
    ))
}

/// Refuses two stanzas with one name.
pub(crate) fn check_unique(libs: &[(KmsLibraryConfig, Location)]) -> Result<(), ConfigError> {
    for (i, (lib, at)) in libs.iter().enumerate() {
        if let Some((_, first)) = libs[..i].iter().find(|(l, _)| l.name == lib.name) {
            return Err(ConfigError::invalid_at(
                at,
                format!(
                    "a second kms_library is named \"{}\" (the first is at {first}); names are \
                     unique, ignoring case",
                    lib.name
                ),
            ));
        }
    }
    Ok(())
}
