//! Operator ceremonies: the seal-state changes operators drive with key
//! shares. `init` creates the root key and the shares, `unseal` collects
//! unseal shares (and seals), `recovery` unseals with an auto-unseal seal's
//! stored keys, `rekey` replaces the shares, `generate_root` mints a root
//! token from a quorum.

pub(crate) mod generate_root;
pub(crate) mod init;
mod recovery;
pub(crate) mod rekey;
mod shares;
pub(crate) mod unseal;

pub use generate_root::GenerateRootStatus;
pub use init::{InitParams, InitResult};
pub use rekey::{RekeyParams, RekeyResult, RekeyStatus, RekeyTarget, RekeyUpdate};
pub use unseal::{SealStatus, decode_key};

use generate_root::GenerateRootAttempt;
use rekey::RekeyAttempt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use unseal::UnsealProgress;

/// The ceremonies in progress: at most one unseal, one root generation and
/// one rekey attempt, each with the shares entered so far. Memory only;
/// sealing forgets them all.
#[derive(Default)]
pub(crate) struct Ceremonies {
    unseal: Mutex<UnsealProgress>,
    generate_root: Mutex<Option<GenerateRootAttempt>>,
    rekey: Mutex<Option<RekeyAttempt>>,
}

impl Ceremonies {
    /// The unseal attempt (empty when none).
    fn unseal(&self) -> MutexGuard<'_, UnsealProgress> {
        self.unseal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The root generation attempt, if any.
    fn generate_root(&self) -> MutexGuard<'_, Option<GenerateRootAttempt>> {
        self.generate_root
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The rekey attempt, if any.
    fn rekey(&self) -> MutexGuard<'_, Option<RekeyAttempt>> {
        self.rekey.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every attempt and the shares it holds (at seal, as Vault
    /// clears them in its pre-seal step).
    pub(crate) fn clear(&self) {
        *self.unseal() = UnsealProgress::default();
        *self.generate_root() = None;
        *self.rekey() = None;
    }
}
