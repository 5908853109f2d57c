//! A reader that goes away (`coffer status | grep -q Sealed`, `| head -1`)
//! closes the pipe while the CLI still prints. Rust's `println!` panics on
//! that; a Unix tool ends quietly instead, with the status a shell gives a
//! process killed by `SIGPIPE` (128 + 13). `coffer server` logs to stderr
//! through `tracing` and never panics this way.

/// Exit status of a process whose output pipe was closed.
const BROKEN_PIPE_STATUS: i32 = 141;

/// Makes a panic from printing into a closed pipe end the process quietly.
pub(crate) fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_broken_pipe(message) {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        default(info);
    }));
}

/// Whether a panic message is the standard library's complaint about
/// printing into a closed pipe.
fn is_broken_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_printing_into_a_closed_pipe_counts() {
        assert!(is_broken_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe(
            "failed printing to stdout: No space left on device"
        ));
        assert!(!is_broken_pipe("Broken pipe while talking to the HSM"));
    }
}
