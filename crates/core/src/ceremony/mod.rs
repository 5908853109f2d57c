//! Operator ceremonies: the seal-state changes operators drive with key
//! shares. `init` creates the root key and the shares, `unseal` collects
//! unseal shares (and seals), `recovery` unseals with an auto-unseal seal's
//! stored keys, `rekey` replaces the shares, `generate_root` mints a root
//! token from a quorum.

pub(crate) mod generate_root;
pub(crate) mod init;
mod recovery;
pub(crate) mod rekey;
pub(crate) mod unseal;

pub use generate_root::GenerateRootStatus;
pub use init::{InitParams, InitResult};
pub use rekey::{RekeyParams, RekeyResult, RekeyStatus, RekeyTarget, RekeyUpdate};
pub use unseal::{SealStatus, decode_key};
