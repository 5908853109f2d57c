//! Turning the `seal` stanzas into the seals the core uses: the enabled one
//! (the Shamir seal when none is configured, or the PKCS#11 seal) and, during
//! a seal migration away from the HSM, the old pkcs11 seal marked
//! `disabled = "true"`, which still unwraps the stored keys. With
//! `entropy "seal"`, also the augmented entropy handle over the enabled
//! pkcs11 seal's `C_GenerateRandom` (ADR 0006).

use crate::config::{self, Config, EntropyMode, Pkcs11SealConfig, SealConfig};
use anyhow::Context as _;
use coffer_core::seal::{NodeSeal, Seal, ShamirSeal};
use coffer_crypto::{AugmentedEntropy, Entropy};
use coffer_seal_pkcs11::{HsmRandom, Pkcs11Options, Pkcs11Seal, SecretString};
use std::sync::Arc;

/// The seal in use, the same object as a Shamir seal when it is one, the
/// old seal of a migration away from the HSM, and the HSM's banner lines
/// when an HSM is open.
pub(crate) struct SealSetup {
    pub(crate) seal: NodeSeal,
    pub(crate) migration_from: Option<Arc<dyn Seal>>,
    pub(crate) banner: Vec<(String, String)>,
    /// What `sys/hsm/status` shows of the enabled HSM seal (empty for
    /// Shamir): the banner's facts, the token and the mechanism.
    pub(crate) details: Vec<(String, String)>,
    /// With `entropy "seal"`: the augmented handle for critical security
    /// parameters, and the HSM source under it (for its counters).
    pub(crate) augmentation: Option<Augmentation>,
}

/// Entropy augmentation as built from `entropy "seal"`.
pub(crate) struct Augmentation {
    pub(crate) entropy: Arc<AugmentedEntropy>,
    pub(crate) source: Arc<HsmRandom>,
}

/// Builds the seals from the configuration, opening the HSM when a pkcs11
/// stanza (enabled, or disabled as the old seal of a migration) is present.
/// `entropy` is the OS CSPRNG.
pub(crate) async fn build(config: &Config, entropy: Arc<dyn Entropy>) -> anyhow::Result<SealSetup> {
    let enabled_kind = config.enabled_seal().map_or("shamir", SealConfig::kind);
    if let Some(old) = config.migration_source()
        && old.kind() == enabled_kind
    {
        anyhow::bail!(
            "both seal stanzas are \"{enabled_kind}\": seal migration between two {enabled_kind} seals \
             is not supported; migrate to or from shamir, or, to move the pkcs11 seal to a new HSM \
             key, change key_label (the old key stays readable by its label)"
        );
    }
    let mut banner = Vec::new();
    let mut details = Vec::new();
    let mut augmentation = None;
    let seal = match config.enabled_seal() {
        None | Some(SealConfig::Shamir(_)) => {
            // The config loader already refuses `entropy "seal"` here; keep
            // the invariant local too, so no path silently drops the stanza.
            if config.entropy.is_some() {
                anyhow::bail!(
                    "entropy \"seal\" needs a seal that supplies randomness (pkcs11); the shamir \
                     seal has none"
                );
            }
            NodeSeal::Shamir(Arc::new(ShamirSeal::new(entropy)))
        }
        Some(SealConfig::Pkcs11(p)) => {
            let seal = Pkcs11Seal::open(pkcs11_options(p)?)
                .await
                .context("error opening the pkcs11 seal")?;
            banner = banner_lines(&seal);
            details = hsm_details(&seal);
            if let Some(e) = &config.entropy {
                match e.mode {
                    EntropyMode::Augmentation => {
                        let source = Arc::new(
                            seal.random_source()
                                .context("error setting up HSM entropy augmentation")?,
                        );
                        augmentation = Some(Augmentation {
                            entropy: Arc::new(AugmentedEntropy::new(entropy, source.clone())),
                            source,
                        });
                        let row = (
                            "Entropy Augmentation".to_owned(),
                            "seal (pkcs11 C_GenerateRandom mixed with the OS CSPRNG)".to_owned(),
                        );
                        banner.push(row.clone());
                        details.push(row);
                    }
                }
            }
            NodeSeal::Auto(Arc::new(seal))
        }
    };
    // The old Shamir seal of a migration needs no object: the unseal keys
    // entered with -migrate are that seal.
    let migration_from: Option<Arc<dyn Seal>> = match config.migration_source() {
        None | Some(SealConfig::Shamir(_)) => None,
        Some(SealConfig::Pkcs11(p)) => {
            let mut options = pkcs11_options(p)?;
            // The old seal only unwraps what exists; it never makes keys.
            options.generate_key = false;
            let old = Pkcs11Seal::open(options).await.context(
                "error opening the disabled pkcs11 seal (the old seal of a seal migration, \
                 needed to unwrap the stored keys)",
            )?;
            banner = banner_lines(&old);
            Some(Arc::new(old))
        }
    };
    Ok(SealSetup {
        seal,
        migration_from,
        banner,
        details,
        augmentation,
    })
}

fn hsm_details(seal: &Pkcs11Seal) -> Vec<(String, String)> {
    let info = seal.banner_info();
    let mut rows: Vec<(String, String)> = info
        .banner_lines()
        .into_iter()
        .filter(|(k, _)| *k != "HSM Keys")
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    rows.push((
        "HSM Token".to_owned(),
        format!("\"{}\" in slot {}", info.token_label, info.slot),
    ));
    rows.push((
        "HSM Mechanism".to_owned(),
        format!("{} (0x{:04x})", seal.mechanism_name(), seal.mechanism()),
    ));
    if let Some(keys) = info
        .banner_lines()
        .into_iter()
        .find(|(k, _)| *k == "HSM Keys")
    {
        rows.push(("HSM Keys".to_owned(), keys.1));
    }
    rows
}

fn banner_lines(seal: &Pkcs11Seal) -> Vec<(String, String)> {
    let mut banner: Vec<(String, String)> = seal
        .banner_info()
        .banner_lines()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    if let Some(row) = banner.iter_mut().find(|(k, _)| k == "HSM Type") {
        row.1 = "pkcs11".to_owned();
    }
    banner
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, parse};
    use coffer_crypto::OsEntropy;
    use std::path::Path;

    fn pkcs11(extra: &str) -> String {
        format!(
            "seal \"pkcs11\" {{\n  lib = \"/nonexistent/libpkcs11.so\"\n  token_label = \"t\"\n  \
             pin = \"1234\"\n  key_label = \"k\"\n{extra}}}\n"
        )
    }

    fn config(seals: &str) -> crate::config::Config {
        let text = format!(
            "{seals}listener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_disable = \"true\"\n}}\n"
        );
        parse(Path::new("c.hcl"), &text, &Env::empty()).expect("valid config")
    }

    #[tokio::test]
    async fn migration_between_two_pkcs11_seals_is_refused_before_opening_any_hsm() {
        let config = config(&format!(
            "{}{}",
            pkcs11(""),
            pkcs11("  disabled = \"true\"\n")
        ));
        let err = build(&config, Arc::new(OsEntropy::new()))
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("between two pkcs11 seals"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn disabled_pkcs11_seal_is_opened_as_the_migration_source() {
        let config = config(&pkcs11("  disabled = \"true\"\n"));
        let err = build(&config, Arc::new(OsEntropy::new()))
            .await
            .err()
            .expect("the module does not exist");
        assert!(
            format!("{err:#}").contains("disabled pkcs11 seal"),
            "{err:#}"
        );
    }
}
