//! What the server's startup banner says about the HSM (seed 002 prints
//! `HSM PKCS#11 Version`, `HSM Library`, `HSM Library Version`,
//! `HSM Manufacturer ID` and `HSM Type`).

use cryptoki::slot::Slot;

use crate::error::HsmError;
use crate::module::Entered;

/// Facts about the module and token, read once when the seal opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmInfo {
    /// Cryptoki version the library implements, e.g. `2.40`.
    pub pkcs11_version: String,
    /// Library description, e.g. `Implementation of PKCS11`.
    pub library: String,
    /// Library version, e.g. `2.6`.
    pub library_version: String,
    /// Library manufacturer, e.g. `SoftHSM`.
    pub manufacturer_id: String,
    /// Token model, e.g. `SoftHSM v2`.
    pub token_model: String,
    /// Token label (trailing blanks removed).
    pub token_label: String,
    /// Slot id the token was found in.
    pub slot: u64,
    /// The keys the seal uses or keeps ready, as found or created at open.
    pub keys: Vec<SealKey>,
}

/// A key the seal found, or created (`generate_key`), on the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealKey {
    /// `CKA_LABEL`.
    pub label: String,
    /// `AES`, `HMAC` or `RSA` (a key pair).
    pub kind: &'static str,
    /// Whether this open created it.
    pub created: bool,
}

impl HsmInfo {
    /// Reads library and token information.
    pub(crate) fn read(m: &Entered<'_>, slot: Slot) -> Result<Self, HsmError> {
        let lib = m
            .ctx()
            .get_library_info()
            .map_err(|e| HsmError::from_cryptoki("C_GetInfo", e))?;
        let token = m
            .ctx()
            .get_token_info(slot)
            .map_err(|e| HsmError::from_cryptoki("C_GetTokenInfo", e))?;
        Ok(Self {
            pkcs11_version: lib.cryptoki_version().to_string(),
            library: lib.library_description().trim().to_owned(),
            library_version: lib.library_version().to_string(),
            manufacturer_id: lib.manufacturer_id().trim().to_owned(),
            token_model: token.model().trim().to_owned(),
            token_label: token.label().trim_end().to_owned(),
            slot: slot.id(),
            keys: Vec::new(),
        })
    }

    /// The banner lines, in the order Vault prints them, then Coffer's
    /// `HSM Keys` line: each key's label, kind, and whether it was found or
    /// created (`hsm_demo (AES, found), hsm_hmac_demo (HMAC, created)`).
    pub fn banner_lines(&self) -> Vec<(&'static str, String)> {
        let mut lines = vec![
            ("HSM PKCS#11 Version", self.pkcs11_version.clone()),
            ("HSM Library", self.library.clone()),
            ("HSM Library Version", self.library_version.clone()),
            ("HSM Manufacturer ID", self.manufacturer_id.clone()),
            ("HSM Type", self.token_model.clone()),
        ];
        if !self.keys.is_empty() {
            let keys = self
                .keys
                .iter()
                .map(|k| {
                    let how = if k.created { "created" } else { "found" };
                    format!("{} ({}, {how})", k.label, k.kind)
                })
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(("HSM Keys", keys));
        }
        lines
    }
}
