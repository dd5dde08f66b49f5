//! A panic ends the process. Left to Rust, a panic ends only its thread: a
//! worker whose main loop panicked stays alive doing nothing (no results,
//! nothing committed, /readyz still 200), and a panic on a librdkafka
//! callback or a blocking task would be half-seen at best. An orchestrator
//! restarts a process that exits; it cannot tell a half-alive one.
//!
//! The one panic the worker survives is inside the model call: ONNX Runtime
//! failing on one batch is an error of that batch. Such calls run inside
//! [`contained`], which the hook leaves to the caller.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, PanicHookInfo, UnwindSafe};

/// Exit code after a panic: the one Rust uses for a panic on the main thread.
pub const EXIT_CODE: i32 = 101;

thread_local! {
    /// How many [`contained`] calls this thread is inside.
    static CONTAINED: Cell<usize> = const { Cell::new(0) };
}

/// Installs the hook: the default report (message, location, backtrace),
/// then the exit, unless the panic is [`contained`].
pub fn install() {
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        report(info);
        if ends_the_process() {
            tracing::error!(panic = %info, "a panic: exiting");
            std::process::exit(EXIT_CODE);
        }
    }));
}

/// Whether a panic on this thread, now, must end the process.
fn ends_the_process() -> bool {
    CONTAINED.with(Cell::get) == 0
}

/// Runs `call`, turning a panic inside it into an `Err` the caller handles;
/// the hook reports it but does not exit.
pub fn contained<T>(call: impl FnOnce() -> T + UnwindSafe) -> std::thread::Result<T> {
    /// Leaves the contained state however `call` ends.
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            CONTAINED.with(|depth| depth.set(depth.get().saturating_sub(1)));
        }
    }
    CONTAINED.with(|depth| depth.set(depth.get() + 1));
    let _inside = Inside;
    panic::catch_unwind(call)
}

/// The message a panic was raised with, when it has one.
pub fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn only_panics_outside_contained_calls_end_the_process() {
        assert!(ends_the_process());
        let inside = contained(|| {
            let nested = contained(ends_the_process).unwrap_or(true);
            (ends_the_process(), nested)
        });
        assert_eq!(inside.ok(), Some((false, false)));
        assert!(ends_the_process(), "the contained state ends with the call");
        let panicked = contained(|| -> () { panic!("in the model: {}", 42) });
        assert_eq!(panicked.as_ref().map_err(|payload| message(payload.as_ref())).err(), Some("in the model: 42"));
        assert!(ends_the_process(), "and also when the call panicked");
        let elsewhere = std::thread::spawn(|| contained(|| std::thread::spawn(ends_the_process).join()));
        assert!(matches!(elsewhere.join(), Ok(Ok(Ok(true)))), "a thread spawned inside is not contained");
    }

    /// Which child the test binary runs as (see `child`).
    const CHILD: &str = "PANICS_TEST_CHILD";

    /// This test binary again, running only `child` in the given role.
    fn run_child(role: &str) -> (Option<i32>, Duration, String) {
        let started = Instant::now();
        let output = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "panics::tests::child", "--nocapture", "--test-threads=1"])
            .env(CHILD, role)
            .output()
            .expect("run the test binary");
        (output.status.code(), started.elapsed(), String::from_utf8_lossy(&output.stderr).into_owned())
    }

    /// A child process: installs the hook, then panics as `CHILD` says. The
    /// test's own run (without `CHILD`) does nothing.
    #[test]
    fn child() {
        let Ok(role) = std::env::var(CHILD) else { return };
        install();
        match role.as_str() {
            "thread" => {
                let _ = std::thread::spawn(|| panic!("on another thread"));
                std::thread::sleep(Duration::from_secs(20));
            }
            "contained" => {
                assert!(contained(|| -> () { panic!("in the model") }).is_err());
                std::process::exit(0);
            }
            other => unreachable!("unknown role {other}"),
        }
    }

    #[test]
    fn a_panic_on_any_thread_ends_the_process_at_once() {
        let (code, took, stderr) = run_child("thread");
        assert_eq!(code, Some(EXIT_CODE), "{stderr}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(stderr.contains("on another thread"), "the default report is kept: {stderr}");
    }

    #[test]
    fn a_contained_panic_does_not_end_the_process() {
        let (code, _, stderr) = run_child("contained");
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("in the model"), "reported all the same: {stderr}");
    }
}
