//! Keeping the process's memory to itself: locked so keys are never
//! swapped to disk, and not dumpable so they never land in a core file.

use anyhow::Context as _;
use nix::sys::mman::{MlockAllFlags, mlockall};

/// Marks the process not dumpable (`PR_SET_DUMPABLE` 0): no core file on a
/// crash, no ptrace by other processes of the same user, and its
/// `/proc/PID/environ` (where `VAULT_HSM_PIN` may sit) and `/proc/PID/mem`
/// readable by root only.
pub(crate) fn forbid_dumps() -> anyhow::Result<()> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|errno| anyhow::anyhow!("{errno}"))
        .context("failed to mark the process not dumpable (prctl PR_SET_DUMPABLE)")
}

/// Locks all current and future pages, or explains how to fix the failure.
pub(crate) fn lock_memory() -> anyhow::Result<()> {
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
        .map_err(|errno| anyhow::anyhow!("{errno}"))
        .context(
            "failed to lock memory (mlockall) so that secrets cannot be swapped to disk. \
             Give the process the IPC_LOCK capability (for example `setcap cap_ipc_lock=+ep \
             $(readlink -f $(which coffer))`, or `AmbientCapabilities=CAP_IPC_LOCK` in the systemd \
             unit), raise `ulimit -l`, or set `disable_mlock = true` in the configuration if swap \
             is disabled or encrypted on this machine",
        )
}
