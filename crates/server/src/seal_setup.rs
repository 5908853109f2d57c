//! Turning the `seal` stanzas into the seal the core uses: the Shamir seal
//! when none is configured, or the PKCS#11 seal.

use crate::config::{self, Config, Pkcs11SealConfig, SealConfig};
use anyhow::Context as _;
use coffer_core::seal::{Seal, ShamirSeal};
use coffer_crypto::Entropy;
use coffer_seal_pkcs11::{Pkcs11Options, Pkcs11Seal, SecretString};
use std::sync::Arc;

/// The seal in use, the same object as a Shamir seal when it is one, and
/// the HSM's banner lines when it is an HSM.
pub(crate) struct SealSetup {
    pub(crate) seal: Arc<dyn Seal>,
    pub(crate) shamir: Option<Arc<ShamirSeal>>,
    pub(crate) banner: Vec<(String, String)>,
}

/// Builds the seal from the configuration, opening the HSM when configured.
pub(crate) async fn build(config: &Config, entropy: Arc<dyn Entropy>) -> anyhow::Result<SealSetup> {
    if config.entropy.is_some() {
        anyhow::bail!(
            "entropy \"seal\" (entropy augmentation) is not supported yet in this build; remove the entropy stanza"
        );
    }
    if config.migration_source().is_some() {
        anyhow::bail!(
            "seal migration (a seal stanza with disabled = \"true\") is not supported yet in this build"
        );
    }
    match config.enabled_seal() {
        None | Some(SealConfig::Shamir(_)) => {
            let shamir = Arc::new(ShamirSeal::new(entropy));
            Ok(SealSetup {
                seal: shamir.clone(),
                shamir: Some(shamir),
                banner: Vec::new(),
            })
        }
        Some(SealConfig::Pkcs11(p)) => {
            let seal = Pkcs11Seal::open(pkcs11_options(p)?)
                .await
                .context("error opening the pkcs11 seal")?;
            let mut banner: Vec<(String, String)> = seal
                .banner_info()
                .banner_lines()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some(row) = banner.iter_mut().find(|(k, _)| k == "HSM Type") {
                row.1 = "pkcs11".to_owned();
            }
            Ok(SealSetup {
                seal: Arc::new(seal),
                shamir: None,
                banner,
            })
        }
    }
}

fn pkcs11_options(p: &Pkcs11SealConfig) -> anyhow::Result<Pkcs11Options> {
    if p.rsa_encrypt_local {
        anyhow::bail!("seal \"pkcs11\": rsa_encrypt_local is not supported yet; remove it");
    }
    for (name, default, current) in [
        (
            "default_key_label",
            &p.default_key_label,
            Some(&p.key_label),
        ),
        (
            "default_hmac_key_label",
            &p.default_hmac_key_label,
            p.hmac_key_label.as_ref(),
        ),
    ] {
        if let Some(old) = default.as_ref().filter(|d| Some(*d) != current) {
            tracing::info!(
                "seal \"pkcs11\": {name} = {old:?}: every Coffer blob records the label of the key \
                 that wrapped it, so keys wrapped with {old:?} are found by that label; keep it in \
                 the HSM until \"upgrading stored keys\" has run"
            );
        }
    }
    let mut o = Pkcs11Options::new(
        p.lib.clone(),
        p.token_label.clone().unwrap_or_default(),
        SecretString::from(p.pin.expose().to_owned()),
        p.key_label.clone(),
    );
    o.token_label = p.token_label.clone();
    o.slot = p.slot;
    o.key_id = p.key_id.clone();
    o.hmac_key_label = p.hmac_key_label.clone();
    o.hmac_key_id = p.hmac_key_id.clone();
    o.mechanism = p.mechanism;
    o.hmac_mechanism = p.hmac_mechanism;
    o.rsa_oaep_hash = match p.rsa_oaep_hash {
        config::OaepHash::Sha1 => coffer_seal_pkcs11::OaepHash::Sha1,
        config::OaepHash::Sha224 => coffer_seal_pkcs11::OaepHash::Sha224,
        config::OaepHash::Sha256 => coffer_seal_pkcs11::OaepHash::Sha256,
        config::OaepHash::Sha384 => coffer_seal_pkcs11::OaepHash::Sha384,
        config::OaepHash::Sha512 => coffer_seal_pkcs11::OaepHash::Sha512,
    };
    o.generate_key = p.generate_key;
    o.force_rw_session = p.force_rw_session;
    o.max_parallel = usize::try_from(p.max_parallel).unwrap_or(1).max(1);
    Ok(o)
}
