//! The `seal "pkcs11"` stanza (and `entropy "seal"`) that works with the
//! token as the checks found it.

use serde::{Deserialize, Serialize};

use super::DoctorRequest;
use super::keys::Keys;
use super::mechanisms::Mechanisms;
use super::token::Found;
use crate::mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP};
use crate::options::OaepHash;

/// The configuration the doctor recommends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stanza {
    /// HCL, ready to paste into the server's configuration.
    pub hcl: String,
    /// Whether a wrap/unwrap round trip proved it (otherwise it follows
    /// from the mechanism list only).
    pub proven: bool,
}

/// Picks the mechanism: the one that round-tripped, else the configured
/// one if offered, else AES-GCM, AES-CBC-PAD with HMAC, RSA-OAEP in that
/// order. `None` when the token offers none of them.
pub(crate) fn choose(
    req: &DoctorRequest,
    found: &Found,
    mech: &Mechanisms,
    keys: &Keys,
    rng_ok: bool,
) -> Option<Stanza> {
    let oaep_hash = || {
        req.rsa_oaep_hash
            .filter(|h| mech.oaep_hashes.is_empty() || mech.oaep_hashes.contains(h))
            .or_else(|| {
                [OaepHash::Sha256, OaepHash::Sha1]
                    .into_iter()
                    .find(|h| mech.oaep_hashes.contains(h))
            })
            .unwrap_or_default()
    };
    let offered = |m: u64| match m {
        CKM_AES_GCM => mech.gcm,
        CKM_AES_CBC_PAD => mech.cbc_pad && mech.hmac,
        CKM_RSA_PKCS_OAEP => mech.oaep_usable(),
        CKM_AES_CBC => mech.cbc && mech.hmac,
        _ => false,
    };
    let (mechanism, hash, proven) = match keys.working {
        Some((m, h)) => (m, h, true),
        None => {
            let by_key = match keys.aes {
                Some(true) => [CKM_AES_GCM, CKM_AES_CBC_PAD]
                    .into_iter()
                    .find(|m| offered(*m)),
                Some(false) => Some(CKM_RSA_PKCS_OAEP).filter(|m| offered(*m)),
                None => None,
            };
            let fits_key = |m: &u64| match keys.aes {
                Some(aes) => aes == (*m != CKM_RSA_PKCS_OAEP),
                None => true,
            };
            let m = req
                .mechanism
                .filter(|m| offered(*m) && fits_key(m))
                .or(by_key)
                .or_else(|| {
                    [CKM_AES_GCM, CKM_AES_CBC_PAD, CKM_RSA_PKCS_OAEP]
                        .into_iter()
                        .find(|m| offered(*m))
                })?;
            (m, oaep_hash(), false)
        }
    };
    let mut lines = vec![
        "seal \"pkcs11\" {".to_owned(),
        format!("  lib            = \"{}\"", req.lib.display()),
        format!("  token_label    = \"{}\"", found.label),
        "  # pin: put the user PIN in the server's environment as VAULT_HSM_PIN".to_owned(),
        format!(
            "  key_label      = \"{}\"",
            req.key_label.as_deref().unwrap_or("coffer-root-key")
        ),
    ];
    if matches!(mechanism, CKM_AES_CBC_PAD | CKM_AES_CBC) {
        lines.push(format!(
            "  hmac_key_label = \"{}\"",
            req.hmac_key_label.as_deref().unwrap_or("coffer-hmac-key")
        ));
    }
    lines.push(format!("  mechanism      = \"0x{mechanism:04X}\""));
    if mechanism == CKM_RSA_PKCS_OAEP {
        lines.push(format!("  rsa_oaep_hash  = \"{}\"", hash.name()));
    }
    if !proven && (keys.missing || req.key_label.is_none()) {
        lines.push("  generate_key   = \"true\"".to_owned());
    } else if !proven && !keys.checked {
        lines.push(
            "  # generate_key = \"true\"   # if no key has this label yet (keys were not checked)"
                .to_owned(),
        );
    }
    lines.push("}".to_owned());
    if rng_ok {
        lines.extend([
            String::new(),
            "entropy \"seal\" {".to_owned(),
            "  mode = \"augmentation\"".to_owned(),
            "}".to_owned(),
        ]);
    }
    Some(Stanza {
        hcl: lines.join("\n") + "\n",
        proven,
    })
}
