//! Heap allocations per step of the backtest loop, counted by a global
//! allocator that wraps the system one: `sma-cross` as a WASM component and
//! natively behind the same host interface, over a synthetic series. The
//! difference between the two is what the component boundary allocates;
//! what the native run allocates is the host's own per-step share (order
//! handling, report records, the equity curve's growth).
//!
//! A binary of its own, so that counting does not slow the timed benches.
//!
//! Run: `cargo bench -p cracktrader-tests --bench step_allocations` (`-- --bars N`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use cracktrader::config::SessionConfig;
use cracktrader::session::{load_market_data, load_strategies, validate, LoadedStrategy, Session};
use cracktrader_tests::bench::{arg, write_synthetic_csv};
use cracktrader_tests::{host, Native, SessionFile};
use sma_cross::SmaCross;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let n = arg("--bars", 200_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("synthetic.csv");
    write_synthetic_csv(&csv, n);
    let path = SessionFile::sma(csv).write(dir.path());
    let config = SessionConfig::load(&path).expect("session file");
    let reference = validate(&config, &path).expect("valid session");
    let data = load_market_data(&config, &reference).expect("synthetic data");
    let host = host();
    println!("allocations (alloc + realloc) per step over {n} bars, Session::run only");
    for (name, strategy) in [
        (
            "wasm",
            load_strategies(&config, &host)
                .expect("plugin")
                .pop()
                .expect("one"),
        ),
        (
            "native",
            LoadedStrategy {
                strategy: Box::new(Native::<SmaCross>::default()),
                plugin: "native".into(),
                sha256: String::new(),
            },
        ),
    ] {
        let session = Session::new(&config, reference.clone(), data.clone(), vec![strategy])
            .expect("session");
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let report = session.run();
        let count = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "{name:<7} {:.2} per step ({count} over {} steps; {} fills)",
            count as f64 / report.summary.steps as f64,
            report.summary.steps,
            report.summary.fills
        );
    }
}
