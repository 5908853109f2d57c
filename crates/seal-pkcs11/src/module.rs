//! The loaded PKCS#11 module: one per library path per process.
//!
//! A PKCS#11 library is a process-wide singleton: a second `C_Initialize`
//! answers `CKR_CRYPTOKI_ALREADY_INITIALIZED`, `C_Finalize` ends every
//! session of every user, and unloading it while it is initialised is
//! undefined. So the library is loaded once per path and kept for the life
//! of the process, in the one registry below. That is global state, but it
//! mirrors state the C library already has; pretending otherwise would let
//! two seals finalise each other's sessions.
//!
//! Re-initialisation (after the token went away) bumps a generation number.
//! Every session remembers the generation it was opened in; a session from an
//! older generation is dead and is dropped without `C_CloseSession`, because
//! after a re-init its handle number may belong to someone else's session.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use crate::error::HsmError;

/// Modules by library path. See the module docs for why this is global.
static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();

/// A loaded PKCS#11 library, shared by every seal that names the same path.
pub(crate) struct Module {
    lib: PathBuf,
    ctx: Pkcs11,
    /// Readers make PKCS#11 calls; the writer finalises and re-initialises.
    state: RwLock<State>,
}

#[derive(Debug)]
struct State {
    initialized: bool,
    generation: u64,
}

/// Proof that the module is initialised, held for the duration of a call
/// sequence so no re-initialisation can happen underneath it.
pub(crate) struct Entered<'a> {
    state: RwLockReadGuard<'a, State>,
    ctx: &'a Pkcs11,
}

impl Entered<'_> {
    /// The cryptoki context, valid while `self` lives.
    pub(crate) fn ctx(&self) -> &Pkcs11 {
        self.ctx
    }

    /// The generation this guard was taken in.
    pub(crate) fn generation(&self) -> u64 {
        self.state.generation
    }
}

impl Module {
    /// The module for `lib`, loading (not yet initialising) it on first use.
    pub(crate) fn shared(lib: &Path) -> Result<Arc<Self>, HsmError> {
        // Two spellings of one file must map to one module, or the second
        // `C_Initialize` would look like someone else's.
        let key = std::fs::canonicalize(lib).map_err(|e| HsmError::ModuleLoad {
            lib: lib.to_path_buf(),
            reason: e.to_string(),
        })?;
        let registry = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
        let mut modules = registry.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = modules.get(&key) {
            return Ok(Arc::clone(m));
        }
        let ctx = Pkcs11::new(&key).map_err(|e| HsmError::ModuleLoad {
            lib: lib.to_path_buf(),
            reason: e.to_string(),
        })?;
        let module = Arc::new(Self {
            lib: key.clone(),
            ctx,
            state: RwLock::new(State {
                initialized: false,
                generation: 0,
            }),
        });
        modules.insert(key, Arc::clone(&module));
        Ok(module)
    }

    /// Enters the module, initialising it first if needed.
    pub(crate) fn enter(&self) -> Result<Entered<'_>, HsmError> {
        loop {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            if state.initialized {
                return Ok(Entered {
                    state,
                    ctx: &self.ctx,
                });
            }
            drop(state);
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if !state.initialized {
                self.initialize()?;
                state.initialized = true;
            }
        }
    }

    /// The current generation, without initialising.
    pub(crate) fn generation(&self) -> u64 {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Finalises and re-initialises the module, unless someone already did
    /// since `seen` (so a burst of failures causes one re-init, not many).
    /// Every session opened before this call is dead afterwards.
    pub(crate) fn reinitialize(&self, seen: u64) -> Result<(), HsmError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.generation != seen {
            return Ok(());
        }
        tracing::warn!(lib = %self.lib.display(), "re-initialising PKCS#11 module");
        if state.initialized {
            match self.ctx.clone().finalize() {
                Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
                Err(e) => tracing::warn!(error = %e, "C_Finalize failed; initialising anyway"),
            }
        }
        state.initialized = false;
        state.generation += 1;
        self.initialize()?;
        state.initialized = true;
        Ok(())
    }

    fn initialize(&self) -> Result<(), HsmError> {
        // OS_LOCKING_OK: we call from many threads (one per blocking worker).
        match self
            .ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            // Another component of this process initialised it first: fine,
            // the library is shared either way.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
            Err(e) => Err(HsmError::from_cryptoki(
                format!("initialising PKCS#11 module {}", self.lib.display()),
                e,
            )),
        }
    }
}

/// Which token to use.
#[derive(Debug, Clone)]
pub(crate) enum TokenSelector {
    /// By `CKA_LABEL` of the token (trailing blanks ignored).
    Label(String),
    /// By slot id.
    Slot(u64),
}

impl TokenSelector {
    /// Finds the slot holding the token.
    pub(crate) fn find(&self, m: &Entered<'_>, description: &str) -> Result<Slot, HsmError> {
        let ctx = m.ctx();
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(|e| HsmError::from_cryptoki("listing PKCS#11 slots", e))?;
        let not_found = || HsmError::TokenNotFound {
            token: description.to_owned(),
        };
        match self {
            Self::Slot(id) => slots
                .into_iter()
                .find(|s| s.id() == *id)
                .ok_or_else(not_found),
            Self::Label(label) => {
                let mut matches = Vec::new();
                for slot in slots {
                    let info = ctx.get_token_info(slot).map_err(|e| {
                        HsmError::from_cryptoki(format!("reading token info of slot {slot}"), e)
                    })?;
                    if info.label().trim_end() == label.as_str() {
                        matches.push(slot);
                    }
                }
                match matches.as_slice() {
                    [one] => Ok(*one),
                    [] => Err(not_found()),
                    _ => Err(HsmError::InvalidConfig(format!(
                        "{} tokens are labelled \"{label}\"; set slot, or relabel one",
                        matches.len()
                    ))),
                }
            }
        }
    }
}
