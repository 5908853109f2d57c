//! Locking process memory so keys are never swapped to disk.

use anyhow::Context as _;
use nix::sys::mman::{MlockAllFlags, mlockall};

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
