//! `sys/rekey` (unseal keys of a Shamir seal) and `sys/rekey-recovery-key` (recovery keys of an
//! auto-unseal seal): replace the key shares with a new set, authorised by a quorum of the
//! current ones.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Client, Result, SecretString};

/// Which key shares a rekey replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyTarget {
    /// The unseal keys (`sys/rekey`; the vault CLI's `-target=barrier`).
    Barrier,
    /// The recovery keys (`sys/rekey-recovery-key`; `-target=recovery`).
    Recovery,
}

impl RekeyTarget {
    /// The API path group, without a trailing slash.
    pub fn path(self) -> &'static str {
        match self {
            Self::Barrier => "sys/rekey",
            Self::Recovery => "sys/rekey-recovery-key",
        }
    }
}

/// `PUT sys/rekey/init` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RekeyInitRequest {
    /// Number of new key shares.
    pub secret_shares: u32,
    /// New threshold.
    pub secret_threshold: u32,
    /// PGP keys to encrypt the new shares with (not sent when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pgp_keys: Vec<String>,
    /// Store a backup of the PGP-encrypted shares.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backup: bool,
    /// Require the new shares to be verified before they take effect.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_verification: bool,
}

/// `GET sys/rekey/init` (and the answer of `init` and of an `update` that did not complete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RekeyStatus {
    /// Nonce of the attempt; every key must be submitted with it.
    #[serde(default)]
    pub nonce: String,
    /// Whether an attempt is in progress.
    #[serde(default)]
    pub started: bool,
    /// New threshold.
    #[serde(rename = "t", default)]
    pub threshold: u32,
    /// New number of shares.
    #[serde(rename = "n", default)]
    pub shares: u32,
    /// Current keys entered so far.
    #[serde(default)]
    pub progress: u32,
    /// Current keys needed.
    #[serde(default)]
    pub required: u32,
    /// Fingerprints of the PGP keys (never set by Coffer).
    #[serde(default)]
    pub pgp_fingerprints: Option<Vec<String>>,
    /// Whether a backup of the encrypted keys is kept.
    #[serde(default)]
    pub backup: bool,
    /// Whether the new keys must be verified.
    #[serde(default)]
    pub verification_required: bool,
    /// Nonce of the verification (with `verification_required`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verification_nonce: String,
}

/// The answer of the `update` that completed the rekey: the new key shares.
/// Key material: no `Clone`, redacted `Debug`.
#[derive(Debug, Default, Deserialize)]
pub struct RekeyResult {
    /// Nonce of the attempt.
    #[serde(default)]
    pub nonce: String,
    /// Always true here.
    #[serde(default)]
    pub complete: bool,
    /// New shares, hex.
    #[serde(default)]
    pub keys: Vec<SecretString>,
    /// New shares, base64.
    #[serde(default)]
    pub keys_base64: Vec<SecretString>,
    /// Fingerprints of the PGP keys (never set by Coffer).
    #[serde(default)]
    pub pgp_fingerprints: Option<Vec<String>>,
    /// Whether a backup of the encrypted keys is kept.
    #[serde(default)]
    pub backup: bool,
    /// Whether the new keys must be verified before they take effect.
    #[serde(default)]
    pub verification_required: bool,
    /// Nonce of the verification (with `verification_required`).
    #[serde(default)]
    pub verification_nonce: String,
}

/// What submitting one key share did.
#[derive(Debug)]
pub enum RekeyUpdate {
    /// More keys are needed.
    Progress(RekeyStatus),
    /// The rekey finished; the previous keys no longer work.
    Complete(RekeyResult),
}

impl Client {
    /// `GET <target>/init`: the attempt in progress, if any.
    pub async fn rekey_status(&self, target: RekeyTarget) -> Result<RekeyStatus> {
        self.get_json(&format!("{}/init", target.path())).await
    }

    /// `PUT <target>/init`: starts an attempt.
    pub async fn rekey_init(
        &self,
        target: RekeyTarget,
        request: &RekeyInitRequest,
    ) -> Result<RekeyStatus> {
        let body = serde_json::to_value(request).unwrap_or_else(|_| json!({}));
        self.put_json(&format!("{}/init", target.path()), &body)
            .await
    }

    /// `DELETE <target>/init`: cancels the attempt (succeeds when there is none). A `nonce`,
    /// when given, must be the attempt's.
    pub async fn rekey_cancel(&self, target: RekeyTarget, nonce: Option<&str>) -> Result<()> {
        let body = nonce.map(|n| json!({ "nonce": n }));
        self.delete_raw(&format!("{}/init", target.path()), body.as_ref())
            .await
    }

    /// `PUT <target>/update`: submits one current key share of the attempt `nonce`.
    pub async fn rekey_update(
        &self,
        target: RekeyTarget,
        key: &SecretString,
        nonce: &str,
    ) -> Result<RekeyUpdate> {
        let body = json!({ "key": key.expose(), "nonce": nonce });
        let answer: Value = self
            .put_json(&format!("{}/update", target.path()), &body)
            .await?;
        parse_update(answer, &self.url(&format!("{}/update", target.path())))
    }
}

fn parse_update(answer: Value, url: &str) -> Result<RekeyUpdate> {
    let decode_error = |e: serde_json::Error| crate::Error::Decode {
        method: "PUT".to_owned(),
        url: url.to_owned(),
        reason: e.to_string(),
    };
    if answer.get("complete").and_then(Value::as_bool) == Some(true) {
        serde_json::from_value(answer)
            .map(RekeyUpdate::Complete)
            .map_err(decode_error)
    } else {
        serde_json::from_value(answer)
            .map(RekeyUpdate::Progress)
            .map_err(decode_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_vaults_two_path_groups() {
        assert_eq!(RekeyTarget::Barrier.path(), "sys/rekey");
        assert_eq!(RekeyTarget::Recovery.path(), "sys/rekey-recovery-key");
    }

    #[test]
    fn init_request_sends_shares_and_threshold_and_leaves_out_unused_options() {
        let request = RekeyInitRequest {
            secret_shares: 5,
            secret_threshold: 3,
            ..RekeyInitRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialize"),
            json!({"secret_shares": 5, "secret_threshold": 3})
        );
    }

    #[test]
    fn an_update_that_did_not_complete_is_progress() {
        let update = parse_update(
            json!({"started": true, "nonce": "n", "t": 3, "n": 5, "progress": 1,
                   "required": 2, "pgp_fingerprints": null, "backup": false,
                   "verification_required": false}),
            "u",
        )
        .expect("parse");
        let RekeyUpdate::Progress(status) = update else {
            panic!("not progress: {update:?}");
        };
        assert_eq!(
            (
                status.progress,
                status.required,
                status.shares,
                status.threshold
            ),
            (1, 2, 5, 3)
        );
    }

    #[test]
    fn the_completing_update_carries_the_new_keys_and_hides_them_from_debug() {
        let update = parse_update(
            json!({"complete": true, "keys": ["aa"], "keys_base64": ["qg=="], "nonce": "n",
                   "pgp_fingerprints": null, "backup": false, "verification_required": false}),
            "u",
        )
        .expect("parse");
        assert!(!format!("{update:?}").contains("qg=="));
        let RekeyUpdate::Complete(result) = update else {
            panic!("not complete");
        };
        assert_eq!(result.keys_base64[0].expose(), "qg==");
        assert_eq!(result.nonce, "n");
    }
}
