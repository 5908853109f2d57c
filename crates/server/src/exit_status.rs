//! How `coffer server` ends when it cannot start: the exit status tells a
//! supervisor whether starting it again could help.
//!
//! A configuration the server refuses, or an HSM that refuses its PIN, will
//! fail the same way on every restart, and each retry with a wrong PIN
//! brings the token closer to `CKR_PIN_LOCKED`. Those end with
//! [`EXIT_CONFIGURATION`] (78, `EX_CONFIG` of sysexits.h), which the
//! packaged systemd unit lists in `RestartPreventExitStatus=`; everything
//! else (storage or HSM unreachable, a port in use) ends with 1 and may be
//! retried.

use crate::config::ConfigError;
use coffer_seal_pkcs11::HsmError;

/// Exit status of a start-up the operator must fix before it can succeed.
pub const EXIT_CONFIGURATION: u8 = 78;

/// Whether `err` is one that only a change by the operator can cure.
pub fn needs_operator(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<ConfigError>()
            || cause
                .downcast_ref::<HsmError>()
                .is_some_and(HsmError::needs_operator)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_config_error_under_context_needs_the_operator() {
        let err = crate::config::load(&["/nonexistent/coffer.hcl".into()])
            .context("loading the configuration")
            .unwrap_err();
        assert!(needs_operator(&err), "{err:#}");
    }

    #[test]
    fn an_unreachable_hsm_may_be_retried() {
        let err = anyhow::Error::new(HsmError::Timeout(std::time::Duration::from_secs(5)))
            .context("error opening the pkcs11 seal");
        assert!(!needs_operator(&err));
        assert!(!needs_operator(&anyhow::anyhow!("address in use")));
    }
}
