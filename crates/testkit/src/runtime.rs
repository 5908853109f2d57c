//! A runtime for synchronous test bodies: proptest properties are plain
//! closures, so each case drives its async calls with [`block_on`].

/// Runs `f` to completion on a fresh current-thread runtime (timers and I/O
/// enabled), so no state is shared between cases.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}
