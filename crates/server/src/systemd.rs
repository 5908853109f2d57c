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

/// The listeners answer: systemd may consider the service started.
pub(crate) async fn ready(core: &Core) {
    let status = describe(core).await;
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
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
            tokio::time::sleep(STATUS_INTERVAL).await;
            let now = describe(&core).await;
            if now != last {
                send(&[NotifyState::Status(&now)]);
                last = now;
            }
        }
    })
}

/// One line for an operator reading `systemctl status`: the state, and
/// what to do about it when something is to be done.
async fn describe(core: &Core) -> String {
    let status = match core.seal_status().await {
        Ok(s) => s,
        Err(e) => return format!("storage not readable: {e}"),
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
