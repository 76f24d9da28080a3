//! SIGINT (Ctrl-C) and SIGTERM (schedulers, `docker stop`): the first one sets a flag the
//! training loop checks between steps (it saves a checkpoint and stops); a second one exits
//! at once (the last complete checkpoint stays valid: writes are atomic). After a signal the
//! process should exit with `128 + signal` (130 for SIGINT, 143 for SIGTERM), as shells do,
//! so that a script can tell an interrupted run from a finished one ([`exit_code`]).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static RECEIVED: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here: atomics, write(2), _exit(2).
    let say = |msg: &[u8]| {
        // SAFETY: writing a static buffer to stderr.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    };
    if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
        say(b"\nsecond signal: exiting now (the last complete checkpoint is kept)\n");
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
    say(b"\nsignal received: finishing the current step, saving a checkpoint, then stopping\n");
    if let Some(f) = FLAG.get() {
        f.store(true, Ordering::SeqCst);
    }
}

/// Installs the SIGINT and SIGTERM handlers (once per process) and returns the flag they set.
pub fn install() -> Arc<AtomicBool> {
    let flag = FLAG
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid;
        // `on_signal` only does async-signal-safe work.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    flag
}

/// The first signal received since [`install`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit status of a process stopped by `signal`: `128 + signal`.
pub fn exit_code(signal: i32) -> i32 {
    128 + signal
}
