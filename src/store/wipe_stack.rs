//! Wiping the stack that work with secrets used.

/// Runs `work`, then wipes the stack it used.
///
/// Libraries leave copies of what they process in their stack frames: the cipher holds the key,
/// the Argon2 hasher buffers the passphrase, a cipher backend may spill plaintext. Those frames
/// are dead once `work` returns, but their bytes stay until overwritten, on a thread that may
/// then sit idle for hours. `work` runs in a frame of its own below this one, so the wipe, which
/// covers the region below this frame, covers it.
pub(crate) fn with_wiped_stack<T>(work: impl FnOnce() -> T) -> T {
    #[inline(never)]
    fn run<T>(work: impl FnOnce() -> T) -> T {
        work()
    }
    let result = run(work);
    wipe_stack();
    result
}

/// How much stack is wiped. The vault's functions reach about 13 KiB deep in release builds and
/// 91 KiB in debug builds (measured with credd's own dependencies); this leaves a wide margin and
/// fits easily in any thread's stack (2 MiB for Rust and tokio threads).
const STACK_WIPE_LEN: usize = 256 * 1024;

#[inline(never)]
#[allow(clippy::large_stack_arrays)] // the point: it must cover the stack the callees used
fn wipe_stack() {
    // A zeroed array that the optimizer must assume is read: a plain memset of the region, much
    // faster than a volatile loop, which matters in debug builds.
    let mut scratch = [0u8; STACK_WIPE_LEN];
    std::hint::black_box(&mut scratch);
}
