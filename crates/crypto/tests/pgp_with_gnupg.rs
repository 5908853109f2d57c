//! OpenPGP encryption checked against GnuPG, the tool operators decrypt
//! with: keys made by `gpg`, messages decrypted by `gpg`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_crypto::pgp_key::PgpRecipient;
use coffer_crypto::{CryptoError, Entropy, OsEntropy};
use std::path::Path;
use std::process::{Command, Output};

fn gpg(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("gpg is installed (scripts/setup installs gnupg)");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh keyring holding one key with an encryption subkey of `encr`
/// (`cv25519`, `rsa2048`); returns its fingerprint.
fn keyring(home: &Path, primary: &str, encr: &str) -> String {
    gpg(
        home,
        &[
            "--quick-gen-key",
            "Operator <op@example.com>",
            primary,
            "sign",
            "never",
        ],
    );
    let listing = gpg(home, &["--list-keys", "--with-colons"]);
    let text = String::from_utf8(listing.stdout).expect("utf-8");
    let fpr = text
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').nth(8))
        .expect("fingerprint")
        .to_owned();
    gpg(home, &["--quick-add-key", &fpr, encr, "encr", "never"]);
    fpr
}

/// An entropy source that always fails, as an HSM that went away.
struct NoEntropy;

impl Entropy for NoEntropy {
    fn fill(&self, _buf: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::Entropy("CKR_DEVICE_REMOVED".to_owned()))
    }

    fn source(&self) -> &'static str {
        "seal"
    }
}

fn round_trip(primary: &str, encr: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let fpr = keyring(home, primary, encr);
    let exported = gpg(home, &["--export", &fpr]).stdout;
    let recipient =
        PgpRecipient::from_base64(&STANDARD.encode(&exported), &OsEntropy::new()).expect("parses");
    assert_eq!(recipient.fingerprint(), fpr.to_lowercase());
    let refused = recipient.encrypt(b"hvs.the-new-root-token", &NoEntropy);
    assert!(
        matches!(refused, Err(CryptoError::Entropy(_))),
        "a failing entropy source must stop the encryption: {refused:?}"
    );
    let message = recipient
        .encrypt(b"hvs.the-new-root-token", &OsEntropy::new())
        .expect("encrypts");
    let file = home.join("token.gpg");
    std::fs::write(&file, &message).expect("write");
    let plain = gpg(home, &["--decrypt", file.to_str().expect("path")]).stdout;
    assert_eq!(plain, b"hvs.the-new-root-token");
}

#[test]
fn gnupg_decrypts_what_was_encrypted_to_its_curve25519_subkey() {
    round_trip("ed25519", "cv25519");
}

#[test]
fn gnupg_decrypts_what_was_encrypted_to_its_rsa_subkey() {
    round_trip("rsa2048", "rsa2048");
}

#[test]
fn a_key_without_an_encryption_subkey_is_refused_naming_its_fingerprint() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    gpg(
        home,
        &[
            "--quick-gen-key",
            "Signer <s@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let exported = gpg(home, &["--export"]).stdout;
    let err = PgpRecipient::from_base64(&STANDARD.encode(&exported), &OsEntropy::new())
        .expect_err("sign-only");
    assert!(
        err.to_string().contains("no usable encryption subkey"),
        "{err}"
    );
}

/// A fresh GNUPGHOME.
fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    dir
}

#[test]
fn a_foreign_subkey_attached_to_the_operators_key_is_refused() {
    use pgp::composed::{Deserializable, SignedPublicKey};
    use pgp::ser::Serialize;
    let operator = home();
    gpg(
        operator.path(),
        &[
            "--quick-gen-key",
            "Operator <op@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let attacker = home();
    let attacker_fpr = keyring(attacker.path(), "ed25519", "cv25519");
    let op_key = SignedPublicKey::from_bytes(gpg(operator.path(), &["--export"]).stdout.as_slice())
        .expect("operator key");
    let their_key = SignedPublicKey::from_bytes(
        gpg(attacker.path(), &["--export", &attacker_fpr])
            .stdout
            .as_slice(),
    )
    .expect("attacker key");
    // The operator's primary key and user id, the attacker's encryption subkey and the
    // attacker's binding signature: the fingerprint shown would be the operator's.
    let spliced = SignedPublicKey {
        public_subkeys: their_key.public_subkeys,
        ..op_key
    };
    let bytes = spliced.to_bytes().expect("serialise");
    let err = PgpRecipient::from_base64(&STANDARD.encode(bytes), &OsEntropy::new())
        .expect_err("foreign subkey");
    assert!(
        err.to_string().contains("no usable encryption subkey"),
        "{err}"
    );
}

#[test]
fn an_expired_encryption_subkey_is_not_used() {
    let dir = home();
    let h = dir.path();
    // Made in 2020 (GnuPG's faked clock), the subkey valid for one day.
    const THEN: &str = "20200101T000000";
    gpg(
        h,
        &[
            "--faked-system-time",
            THEN,
            "--quick-gen-key",
            "Operator <op@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let listing =
        String::from_utf8(gpg(h, &["--list-keys", "--with-colons"]).stdout).expect("utf-8");
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').nth(8))
        .expect("fingerprint")
        .to_owned();
    gpg(
        h,
        &[
            "--faked-system-time",
            THEN,
            "--quick-add-key",
            &fpr,
            "cv25519",
            "encr",
            "1d",
        ],
    );
    let exported = gpg(h, &["--export", &fpr]).stdout;
    let err = PgpRecipient::from_base64(&STANDARD.encode(&exported), &OsEntropy::new())
        .expect_err("expired");
    assert!(
        err.to_string().contains("no usable encryption subkey"),
        "{err}"
    );
}
