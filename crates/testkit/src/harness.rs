//! The harness of the bad-input tests (`crates/*/tests/bad_input.rs`): each case on a thread of its own under a time bound, a bounded number of cases
//! (`PROPTEST_CASES` overrides), and the line `cargo xtask soak` reads. The same inputs reach
//! the `cargo fuzz` targets (`fuzz/`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::{any, prop_oneof};
use proptest::sample::Index;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Runs `f` on a thread of its own and waits at most `limit`: a hang fails the case.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("bad-input case".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn a case thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("a case ran over {limit:?}: a hang"),
    }
}

/// Runs `test` on `cases` inputs from the strategy `make` makes (`PROPTEST_CASES`
/// overrides), then prints the line docs/RELIABILITY.md quotes (`xtask soak` reads it:
/// `bad-input <target>: N cases, 0 panics (…)`), with `note()` in the parentheses.
pub fn check<S: Strategy>(
    target: &str,
    cases: u32,
    make: impl FnOnce() -> S + Send,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Sync,
    note: impl FnOnce() -> String,
) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    let tried = AtomicU32::new(0);
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    let start = Instant::now();
    // Deep strategy types take more stack to generate in a debug build than a test has.
    let result = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("bad-input {target}"))
            .stack_size(64 << 20)
            .spawn_scoped(s, || {
                let mut runner = TestRunner::new(Config {
                    cases,
                    failure_persistence: None,
                    max_shrink_iters: 1024,
                    ..Config::default()
                });
                runner
                    .run(&make(), |v| {
                        tried.fetch_add(1, Ordering::Relaxed);
                        let t = Instant::now();
                        let r = test(v);
                        let mut s = slowest.lock().unwrap();
                        *s = (*s).max(t.elapsed());
                        r
                    })
                    .map_err(|e| e.to_string())
            })
            .expect("spawn the runner")
            .join()
            .expect("the runner catches panics")
    });
    if let Err(e) = result {
        panic!("bad-input {target}: {e}");
    }
    let note = note();
    let line = format!(
        "bad-input {target}: {} cases, 0 panics ({:.2} s, slowest case {} ms{}{note})",
        tried.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        slowest.lock().unwrap().as_millis(),
        if note.is_empty() { "" } else { "; " },
    );
    // The test's output is where a person running it reads the line.
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
    // Also where `cargo xtask soak` reads the figures of the last run (CI's included):
    // cargo's `CARGO_TARGET_TMPDIR` (`target/tmp`), found from the test binary's place
    // (`target/debug/deps/…`), since a library is not told it.
    let Some(tmp) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("tmp")))
    else {
        return;
    };
    let dir = tmp.join("reliability/bad_input");
    let name: String = target
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{name}.txt")), line);
    }
}

/// Changes to bytes: cut at a point, flip bits, overwrite a run with noise.
#[derive(Debug, Clone)]
pub enum Damage {
    Cut(Index),
    Flip(Vec<(Index, u8)>),
    Noise(Index, Vec<u8>),
}

/// A damage of at most `flips` bit flips or `noise` bytes of noise.
pub fn damage(flips: usize, noise: usize) -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Cut),
        proptest::collection::vec((any::<Index>(), 0u8..8), 1..flips).prop_map(Damage::Flip),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..noise)
        )
            .prop_map(|(at, noise)| Damage::Noise(at, noise)),
    ]
}

/// Damages `data`, within its first `focus` bytes (cuts anywhere).
pub fn apply(data: &mut Vec<u8>, damage: &[Damage], focus: usize) {
    for d in damage {
        let n = data.len().min(focus);
        if n == 0 {
            return;
        }
        match d {
            Damage::Cut(at) => data.truncate(at.index(data.len() + 1)),
            Damage::Flip(flips) => {
                for (at, bit) in flips {
                    data[at.index(n)] ^= 1 << bit;
                }
            }
            Damage::Noise(at, noise) => {
                let start = at.index(n);
                for (b, x) in data[start..].iter_mut().zip(noise) {
                    *b = *x;
                }
            }
        }
    }
}
