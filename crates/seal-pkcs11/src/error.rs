//! Errors of the PKCS#11 seal. PKCS#11 failures keep their return-code name
//! and number (`pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT`): that string is what
//! operators paste into a search engine or a vendor ticket.

use std::path::PathBuf;
use std::time::Duration;

use coffer_core::seal::SealError;
use cryptoki::error::{Error as CkError, RvError};

/// Everything that can go wrong between Coffer and the HSM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// A PKCS#11 function returned an error code.
    #[error("{context}: {}{hint}", ReturnCode(*.rv))]
    ReturnCode {
        /// What Coffer was doing (`logging in to the HSM`, `C_Encrypt`).
        context: String,
        /// The code.
        rv: RvError,
        /// Extra advice for codes with a known cause; empty or ` (...)`.
        hint: String,
    },
    /// The module could not be loaded.
    #[error("loading PKCS#11 module {}: {reason}", .lib.display())]
    ModuleLoad {
        /// Path given as `lib`.
        lib: PathBuf,
        /// Loader message.
        reason: String,
    },
    /// No initialised token carries the configured label or slot id.
    #[error(
        "{token} not found among the module's initialised tokens: pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT"
    )]
    TokenNotFound {
        /// `token "label"` or `slot N`.
        token: String,
    },
    /// The wrapping (or HMAC) key does not exist and may not be generated.
    #[error("key with label \"{label}\"{id} not found on slot {slot} ({token}){note}")]
    KeyMissing {
        /// Key label searched for.
        label: String,
        /// ` and CKA_ID 0x..` or empty.
        id: String,
        /// Slot id the token was found in.
        slot: u64,
        /// Token description.
        token: String,
        /// Advice: `; set generate_key ...` or why an old key is needed.
        note: String,
    },
    /// More than one object matches a label; using either could lock data out.
    #[error(
        "{count} {class} objects are labelled \"{label}\" on {token}; refusing to guess which one \
         to use (give the key a unique label, or set its key_id)"
    )]
    DuplicateKey {
        /// The ambiguous label.
        label: String,
        /// `secret key`, `private key`, `public key`.
        class: &'static str,
        /// How many objects matched.
        count: usize,
        /// Token description.
        token: String,
    },
    /// The key found under a label cannot do the configured mechanism.
    #[error("key \"{label}\" is {found}, but mechanism {mechanism} needs {wanted}")]
    KeyTypeMismatch {
        /// Key label.
        label: String,
        /// What the token holds.
        found: &'static str,
        /// What the mechanism needs.
        wanted: &'static str,
        /// Mechanism name.
        mechanism: &'static str,
    },
    /// Options that cannot work, found before touching the HSM.
    #[error("invalid pkcs11 seal configuration: {0}")]
    InvalidConfig(String),
    /// The blob is not something this seal wrote (truncated, garbage, unknown version).
    #[error("malformed pkcs11 seal blob: {0}")]
    MalformedBlob(String),
    /// The blob parsed but did not authenticate.
    #[error("pkcs11 seal blob failed authentication: {0}")]
    Integrity(String),
    /// The HSM did not answer in time.
    #[error("the HSM did not answer within {0:?}")]
    Timeout(Duration),
    /// A blocking worker died (panic) or the runtime is shutting down.
    #[error("HSM worker failed: {0}")]
    Worker(String),
    /// A cryptoki failure that is not a PKCS#11 return code.
    #[error("{context}: {detail}")]
    Binding {
        /// What Coffer was doing.
        context: String,
        /// cryptoki's message.
        detail: String,
    },
}

impl HsmError {
    /// A short name for the kind of error, for metrics: the `CKR_` name is
    /// used instead when there is one.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::ReturnCode { rv, .. } => code_and_name(*rv).1,
            Self::ModuleLoad { .. } => "module_load",
            Self::TokenNotFound { .. } => "token_not_found",
            Self::KeyMissing { .. } => "key_missing",
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::KeyTypeMismatch { .. } => "key_type_mismatch",
            Self::InvalidConfig(_) => "invalid_config",
            Self::MalformedBlob(_) => "malformed_blob",
            Self::Integrity(_) => "integrity",
            Self::Timeout(_) => "timeout",
            Self::Worker(_) => "worker",
            Self::Binding { .. } => "binding",
        }
    }

    /// Wraps a cryptoki error with what Coffer was doing.
    pub(crate) fn from_cryptoki(context: impl Into<String>, err: CkError) -> Self {
        let context = context.into();
        match err {
            CkError::Pkcs11(rv, _) => Self::ReturnCode {
                context,
                rv,
                hint: String::new(),
            },
            CkError::LibraryLoading(e) => Self::Binding {
                context,
                detail: e.to_string(),
            },
            other => Self::Binding {
                context,
                detail: other.to_string(),
            },
        }
    }

    /// Adds advice to a return-code error (no-op for other variants).
    pub(crate) fn with_hint(mut self, text: &str) -> Self {
        if let Self::ReturnCode { hint, .. } = &mut self {
            *hint = format!(" ({text})");
        }
        self
    }

    /// The PKCS#11 return code, when there is one.
    pub fn return_code(&self) -> Option<RvError> {
        match self {
            Self::ReturnCode { rv, .. } => Some(*rv),
            _ => None,
        }
    }

    /// Whether only a change of configuration (or of the token) can cure the
    /// error, so trying again as it is would not help and, for a wrong PIN,
    /// would move the token towards `CKR_PIN_LOCKED`: PIN refusals, a module
    /// that does not load, keys missing, ambiguous or of the wrong type, and
    /// options that cannot work.
    pub fn needs_operator(&self) -> bool {
        match self {
            Self::ReturnCode { rv, .. } => matches!(
                rv,
                RvError::PinIncorrect
                    | RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::PinExpired
                    | RvError::PinLocked
                    | RvError::UserPinNotInitialized
            ),
            Self::ModuleLoad { .. }
            | Self::KeyMissing { .. }
            | Self::DuplicateKey { .. }
            | Self::KeyTypeMismatch { .. }
            | Self::InvalidConfig(_) => true,
            _ => false,
        }
    }

    /// Whether the error means the token, session or login went away, so the
    /// next call should re-initialise, re-open and re-log-in. SoftHSM reports
    /// a vanished token as `CKR_OBJECT_HANDLE_INVALID` or `CKR_GENERAL_ERROR`,
    /// never `CKR_TOKEN_NOT_PRESENT`, so the net is cast wide.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Self::ReturnCode { rv, .. } => matches!(
                rv,
                RvError::TokenNotPresent
                    | RvError::TokenNotRecognized
                    | RvError::DeviceRemoved
                    | RvError::DeviceError
                    | RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::UserNotLoggedIn
                    | RvError::ObjectHandleInvalid
                    | RvError::KeyHandleInvalid
                    | RvError::GeneralError
                    | RvError::CryptokiNotInitialized
            ),
            Self::TokenNotFound { .. } | Self::Timeout(_) => true,
            _ => false,
        }
    }
}

impl From<HsmError> for SealError {
    fn from(err: HsmError) -> Self {
        match err {
            HsmError::KeyMissing { .. } => SealError::KeyMissing(err.to_string()),
            HsmError::Integrity(_) | HsmError::MalformedBlob(_) => {
                SealError::Integrity(err.to_string())
            }
            other => SealError::Unavailable(other.to_string()),
        }
    }
}

/// Displays as `pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT`, the form Vault prints.
#[derive(Debug, Clone, Copy)]
pub struct ReturnCode(pub RvError);

impl std::fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (code, name) = code_and_name(self.0);
        write!(f, "pkcs11: 0x{code:02X}: {name}")
    }
}

/// The numeric value and `CKR_*` name of a return code.
pub fn code_and_name(rv: RvError) -> (u64, &'static str) {
    use RvError as R;
    match rv {
        R::Cancel => (0x01, "CKR_CANCEL"),
        R::HostMemory => (0x02, "CKR_HOST_MEMORY"),
        R::SlotIdInvalid => (0x03, "CKR_SLOT_ID_INVALID"),
        R::GeneralError => (0x05, "CKR_GENERAL_ERROR"),
        R::FunctionFailed => (0x06, "CKR_FUNCTION_FAILED"),
        R::ArgumentsBad => (0x07, "CKR_ARGUMENTS_BAD"),
        R::NoEvent => (0x08, "CKR_NO_EVENT"),
        R::NeedToCreateThreads => (0x09, "CKR_NEED_TO_CREATE_THREADS"),
        R::CantLock => (0x0A, "CKR_CANT_LOCK"),
        R::AttributeReadOnly => (0x10, "CKR_ATTRIBUTE_READ_ONLY"),
        R::AttributeSensitive => (0x11, "CKR_ATTRIBUTE_SENSITIVE"),
        R::AttributeTypeInvalid => (0x12, "CKR_ATTRIBUTE_TYPE_INVALID"),
        R::AttributeValueInvalid => (0x13, "CKR_ATTRIBUTE_VALUE_INVALID"),
        R::ActionProhibited => (0x1B, "CKR_ACTION_PROHIBITED"),
        R::DataInvalid => (0x20, "CKR_DATA_INVALID"),
        R::DataLenRange => (0x21, "CKR_DATA_LEN_RANGE"),
        R::DeviceError => (0x30, "CKR_DEVICE_ERROR"),
        R::DeviceMemory => (0x31, "CKR_DEVICE_MEMORY"),
        R::DeviceRemoved => (0x32, "CKR_DEVICE_REMOVED"),
        R::EncryptedDataInvalid => (0x40, "CKR_ENCRYPTED_DATA_INVALID"),
        R::EncryptedDataLenRange => (0x41, "CKR_ENCRYPTED_DATA_LEN_RANGE"),
        R::FunctionCanceled => (0x50, "CKR_FUNCTION_CANCELED"),
        R::FunctionNotParallel => (0x51, "CKR_FUNCTION_NOT_PARALLEL"),
        R::FunctionNotSupported => (0x54, "CKR_FUNCTION_NOT_SUPPORTED"),
        R::KeyHandleInvalid => (0x60, "CKR_KEY_HANDLE_INVALID"),
        R::KeySizeRange => (0x62, "CKR_KEY_SIZE_RANGE"),
        R::KeyTypeInconsistent => (0x63, "CKR_KEY_TYPE_INCONSISTENT"),
        R::KeyNotNeeded => (0x64, "CKR_KEY_NOT_NEEDED"),
        R::KeyChanged => (0x65, "CKR_KEY_CHANGED"),
        R::KeyNeeded => (0x66, "CKR_KEY_NEEDED"),
        R::KeyIndigestible => (0x67, "CKR_KEY_INDIGESTIBLE"),
        R::KeyFunctionNotPermitted => (0x68, "CKR_KEY_FUNCTION_NOT_PERMITTED"),
        R::KeyNotWrappable => (0x69, "CKR_KEY_NOT_WRAPPABLE"),
        R::KeyUnextractable => (0x6A, "CKR_KEY_UNEXTRACTABLE"),
        R::MechanismInvalid => (0x70, "CKR_MECHANISM_INVALID"),
        R::MechanismParamInvalid => (0x71, "CKR_MECHANISM_PARAM_INVALID"),
        R::ObjectHandleInvalid => (0x82, "CKR_OBJECT_HANDLE_INVALID"),
        R::OperationActive => (0x90, "CKR_OPERATION_ACTIVE"),
        R::OperationNotInitialized => (0x91, "CKR_OPERATION_NOT_INITIALIZED"),
        R::PinIncorrect => (0xA0, "CKR_PIN_INCORRECT"),
        R::PinInvalid => (0xA1, "CKR_PIN_INVALID"),
        R::PinLenRange => (0xA2, "CKR_PIN_LEN_RANGE"),
        R::PinExpired => (0xA3, "CKR_PIN_EXPIRED"),
        R::PinLocked => (0xA4, "CKR_PIN_LOCKED"),
        R::SessionClosed => (0xB0, "CKR_SESSION_CLOSED"),
        R::SessionCount => (0xB1, "CKR_SESSION_COUNT"),
        R::SessionHandleInvalid => (0xB3, "CKR_SESSION_HANDLE_INVALID"),
        R::SessionParallelNotSupported => (0xB4, "CKR_SESSION_PARALLEL_NOT_SUPPORTED"),
        R::SessionReadOnly => (0xB5, "CKR_SESSION_READ_ONLY"),
        R::SessionExists => (0xB6, "CKR_SESSION_EXISTS"),
        R::SessionReadOnlyExists => (0xB7, "CKR_SESSION_READ_ONLY_EXISTS"),
        R::SessionReadWriteSoExists => (0xB8, "CKR_SESSION_READ_WRITE_SO_EXISTS"),
        R::SignatureInvalid => (0xC0, "CKR_SIGNATURE_INVALID"),
        R::SignatureLenRange => (0xC1, "CKR_SIGNATURE_LEN_RANGE"),
        R::TemplateIncomplete => (0xD0, "CKR_TEMPLATE_INCOMPLETE"),
        R::TemplateInconsistent => (0xD1, "CKR_TEMPLATE_INCONSISTENT"),
        R::TokenNotPresent => (0xE0, "CKR_TOKEN_NOT_PRESENT"),
        R::TokenNotRecognized => (0xE1, "CKR_TOKEN_NOT_RECOGNIZED"),
        R::TokenWriteProtected => (0xE2, "CKR_TOKEN_WRITE_PROTECTED"),
        R::UnwrappingKeyHandleInvalid => (0xF0, "CKR_UNWRAPPING_KEY_HANDLE_INVALID"),
        R::UnwrappingKeySizeRange => (0xF1, "CKR_UNWRAPPING_KEY_SIZE_RANGE"),
        R::UnwrappingKeyTypeInconsistent => (0xF2, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT"),
        R::UserAlreadyLoggedIn => (0x100, "CKR_USER_ALREADY_LOGGED_IN"),
        R::UserNotLoggedIn => (0x101, "CKR_USER_NOT_LOGGED_IN"),
        R::UserPinNotInitialized => (0x102, "CKR_USER_PIN_NOT_INITIALIZED"),
        R::UserTypeInvalid => (0x103, "CKR_USER_TYPE_INVALID"),
        R::UserAnotherAlreadyLoggedIn => (0x104, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"),
        R::UserTooManyTypes => (0x105, "CKR_USER_TOO_MANY_TYPES"),
        R::WrappedKeyInvalid => (0x110, "CKR_WRAPPED_KEY_INVALID"),
        R::WrappedKeyLenRange => (0x112, "CKR_WRAPPED_KEY_LEN_RANGE"),
        R::WrappingKeyHandleInvalid => (0x113, "CKR_WRAPPING_KEY_HANDLE_INVALID"),
        R::WrappingKeySizeRange => (0x114, "CKR_WRAPPING_KEY_SIZE_RANGE"),
        R::WrappingKeyTypeInconsistent => (0x115, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"),
        R::RandomSeedNotSupported => (0x120, "CKR_RANDOM_SEED_NOT_SUPPORTED"),
        R::RandomNoRng => (0x121, "CKR_RANDOM_NO_RNG"),
        R::DomainParamsInvalid => (0x130, "CKR_DOMAIN_PARAMS_INVALID"),
        R::CurveNotSupported => (0x140, "CKR_CURVE_NOT_SUPPORTED"),
        R::BufferTooSmall => (0x150, "CKR_BUFFER_TOO_SMALL"),
        R::SavedStateInvalid => (0x160, "CKR_SAVED_STATE_INVALID"),
        R::InformationSensitive => (0x170, "CKR_INFORMATION_SENSITIVE"),
        R::StateUnsaveable => (0x180, "CKR_STATE_UNSAVEABLE"),
        R::CryptokiNotInitialized => (0x190, "CKR_CRYPTOKI_NOT_INITIALIZED"),
        R::CryptokiAlreadyInitialized => (0x191, "CKR_CRYPTOKI_ALREADY_INITIALIZED"),
        R::MutexBad => (0x1A0, "CKR_MUTEX_BAD"),
        R::MutexNotLocked => (0x1A1, "CKR_MUTEX_NOT_LOCKED"),
        R::NewPinMode => (0x1B0, "CKR_NEW_PIN_MODE"),
        R::NextOtp => (0x1B1, "CKR_NEXT_OTP"),
        R::ExceededMaxIterations => (0x1B5, "CKR_EXCEEDED_MAX_ITERATIONS"),
        R::FipsSelfTestFailed => (0x1B6, "CKR_FIPS_SELF_TEST_FAILED"),
        R::LibraryLoadFailed => (0x1B7, "CKR_LIBRARY_LOAD_FAILED"),
        R::PinTooWeak => (0x1B8, "CKR_PIN_TOO_WEAK"),
        R::PublicKeyInvalid => (0x1B9, "CKR_PUBLIC_KEY_INVALID"),
        R::FunctionRejected => (0x200, "CKR_FUNCTION_REJECTED"),
        R::VendorDefined(code) => (code, "CKR_VENDOR_DEFINED"),
        R::UnknownErrorCode(code) => (code, "CKR_UNKNOWN"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::error::Rv;

    #[test]
    fn every_name_matches_the_code_cryptoki_decodes() {
        // Round-trip every code we name through cryptoki's own decoder, so a
        // typo in the table cannot mislabel an operator-facing error.
        for code in (0u64..0x201).chain([0x8000_0000, 0x8000_0001]) {
            if let Rv::Error(rv) = Rv::from(code) {
                if matches!(rv, RvError::UnknownErrorCode(_)) {
                    continue;
                }
                let (back, name) = code_and_name(rv);
                assert_eq!(back, code, "{name}");
                assert!(name.starts_with("CKR_"));
            }
        }
    }

    #[test]
    fn return_codes_print_like_vault() {
        let e = HsmError::ReturnCode {
            context: "error logging in to HSM".to_owned(),
            rv: RvError::TokenNotPresent,
            hint: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "error logging in to HSM: pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT"
        );
        assert!(e.is_connection_lost());
        assert_eq!(
            ReturnCode(RvError::UserAlreadyLoggedIn).to_string(),
            "pkcs11: 0x100: CKR_USER_ALREADY_LOGGED_IN"
        );
    }

    #[test]
    fn a_refused_pin_needs_the_operator_but_a_vanished_token_does_not() {
        let code = |rv| HsmError::ReturnCode {
            context: "error logging in to HSM".to_owned(),
            rv,
            hint: String::new(),
        };
        assert!(code(RvError::PinIncorrect).needs_operator());
        assert!(code(RvError::PinLocked).needs_operator());
        assert!(!code(RvError::TokenNotPresent).needs_operator());
        assert!(!HsmError::Timeout(Duration::from_secs(5)).needs_operator());
        assert!(HsmError::InvalidConfig("no lib".to_owned()).needs_operator());
    }

    #[test]
    fn seal_error_mapping_keeps_the_code_name() {
        let e = HsmError::ReturnCode {
            context: "C_Encrypt".to_owned(),
            rv: RvError::GeneralError,
            hint: String::new(),
        };
        match SealError::from(e) {
            SealError::Unavailable(m) => assert!(m.contains("CKR_GENERAL_ERROR")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            SealError::from(HsmError::MalformedBlob("short".to_owned())),
            SealError::Integrity(_)
        ));
    }
}
