//! Tells systemd how the server is doing, for a unit of `Type=notify`:
//! `READY=1` once the listeners are up, `STATUS=` whenever the seal state
//! or HA role changes (`systemctl status coffer` shows it), `STOPPING=1` at
//! shutdown. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use coffer_core::Core;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;

/// How often the state shown by systemd is brought up to date.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "could not notify systemd (NOTIFY_SOCKET)");
    }
}

/// How long the status line waits for storage (a sealed node reads its seal
/// configuration there) before it says storage does not answer.
const STORAGE_PATIENCE: Duration = Duration::from_secs(3);

/// The listeners answer: systemd may consider the service started. Sent
/// at once, whatever storage is doing; [`watch`] fills in the seal state.
pub(crate) fn ready() {
    send(&[
        NotifyState::Ready,
        NotifyState::Status("listening; reading the seal state"),
    ]);
}

/// The server is shutting down.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

/// Keeps systemd's status line current until the task is aborted.
pub(crate) fn watch(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let now = describe(&core).await;
            if now != last {
                send(&[NotifyState::Status(&now)]);
                last = now;
            }
            tokio::time::sleep(STATUS_INTERVAL).await;
        }
    })
}

/// One line for an operator reading `systemctl status`: the state, and
/// what to do about it when something is to be done. An unsealed node
/// answers from memory; only a sealed one reads storage (whether it is
/// initialised, how many keys it wants), and not for longer than
/// [`STORAGE_PATIENCE`].
async fn describe(core: &Core) -> String {
    if !core.is_sealed() {
        return describe_unsealed(core);
    }
    let status = match tokio::time::timeout(STORAGE_PATIENCE, core.seal_status()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return format!("sealed; storage not readable: {e}"),
        Err(_) => {
            return format!(
                "sealed; storage did not answer within {} s",
                STORAGE_PATIENCE.as_secs()
            );
        }
    };
    if !status.initialized {
        return "not initialized: run `coffer operator init`".to_owned();
    }
    if status.sealed {
        let keys = if status.recovery_seal {
            "waiting for the HSM to unseal it".to_owned()
        } else {
            format!(
                "unseal keys given {}/{}: run `coffer operator unseal`",
                status.progress, status.threshold
            )
        };
        return format!("sealed, {keys}");
    }
    describe_unsealed(core)
}

fn describe_unsealed(core: &Core) -> String {
    let ha = core.ha_status();
    match (ha.enabled, ha.is_self) {
        (false, _) => "unsealed, serving".to_owned(),
        (true, true) => "unsealed, HA active node".to_owned(),
        (true, false) if ha.leader_address.is_empty() => {
            "unsealed, HA standby (no active node known)".to_owned()
        }
        (true, false) => format!("unsealed, HA standby of {}", ha.leader_address),
    }
}
