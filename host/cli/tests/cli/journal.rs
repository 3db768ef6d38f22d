//! The journal's promises, against the real binary and real plugins:
//! resume refuses another plugin build, a journal has one writer and is
//! never overwritten unasked, damage is corruption unless it is a torn tail.

use std::path::{Path, PathBuf};
use std::process::Output;

use cracktrader::journal::{self, Event};

use super::{assert_replays, command, cracktrader, plugins, root, text};

/// A small session in `dir`: the example (`mode` backtest or paper) on its
/// first `bars` bars, with the plugin `plugin` copied into `dir` (so that a
/// test can replace it). Returns the session file and the plugin copy.
fn small_session(dir: &Path, mode: &str, plugin: &str, bars: usize) -> (PathBuf, PathBuf) {
    let copy = dir.join(plugin);
    std::fs::copy(plugins().join(plugin), &copy).unwrap();
    let csv = std::fs::read_to_string(root().join("examples/data/EURUSD.csv")).unwrap();
    let data = dir.join("data.csv");
    let lines: Vec<&str> = csv.lines().take(bars + 1).collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd.toml")).unwrap();
    let session = example
        .replace("../target/plugins/sma-cross.wasm", copy.to_str().unwrap())
        .replace("data/EURUSD.csv", data.to_str().unwrap())
        .replace("mode = \"backtest\"", &format!("mode = \"{mode}\""));
    let path = dir.join(format!("small-{mode}.toml"));
    std::fs::write(&path, session).unwrap();
    (path, copy)
}

/// `cracktrader backtest <session> <args…>` with the report at `report`.
fn backtest(session: &Path, args: &[&str], report: &Path) -> Output {
    let mut all = vec!["backtest", session.to_str().unwrap()];
    all.extend_from_slice(args);
    cracktrader(&all, report)
}

/// The journal at `path` cut inside the step after its `nth` checkpoint, as
/// a kill there leaves it.
fn cut_after_checkpoint(path: &Path, nth: usize) {
    let scan = journal::scan(path).unwrap();
    let at = scan
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.event, Event::Checkpoint(_)))
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap();
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..scan.ends[at + 1] as usize + 3]).unwrap();
}

/// Finding 1: a session cut after a checkpoint whose plugin file was then
/// replaced by another build is refused by `--resume`, naming the strategy,
/// both hashes and the file; the journal is left as it was.
#[test]
fn resume_refuses_another_plugin_build() {
    let dir = tempfile::tempdir().unwrap();
    let (session, plugin) = small_session(dir.path(), "backtest", "counter.wasm", 60);
    let report = dir.path().join("r.json");
    let out = backtest(&session, &["--checkpoint-every", "10"], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let journal = dir.path().join("r.journal");
    let recorded = journal::scan(&journal).unwrap();
    let Event::SessionStart(start) = &recorded.records[0].event else {
        panic!("no session start")
    };
    let old_sha = start.strategies[0].sha256.clone();
    cut_after_checkpoint(&journal, 2);
    std::fs::remove_file(&report).unwrap();
    let before = std::fs::read(&journal).unwrap();

    std::fs::copy(plugins().join("counter-v2.wasm"), &plugin).unwrap();
    let new_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&plugin).unwrap()))
    };
    let out = backtest(&session, &["--checkpoint-every", "10", "--resume"], &report);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in [
        "strategy sma-cross",
        old_sha.as_str(),
        new_sha.as_str(),
        plugin.to_str().unwrap(),
    ] {
        assert!(err.contains(part), "missing {part:?} in: {err}");
    }
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        before,
        "a refused resume touched the journal"
    );
    assert!(!report.exists(), "a refused resume wrote a report");
    // The original build resumes.
    std::fs::copy(plugins().join("counter.wasm"), &plugin).unwrap();
    let out = backtest(&session, &["--checkpoint-every", "10", "--resume"], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
}

/// Finding 4: while a session writes a journal, a second session writing
/// the same path is refused (even with `--overwrite`) and changes nothing;
/// the first journal stays whole and replays.
#[test]
fn a_second_writer_of_a_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _) = small_session(dir.path(), "paper", "sma-cross.wasm", 120);
    let journal = dir.path().join("shared.journal");
    let mut first = command()
        .args([
            "paper",
            session.to_str().unwrap(),
            "--bar-interval-ms",
            "25",
        ])
        .args(["--journal", journal.to_str().unwrap(), "--report"])
        .arg(dir.path().join("first.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first session's journal (the lock is taken before its header).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while journal::scan(&journal).map_or(true, |s| s.records.len() < 5) {
        assert!(std::time::Instant::now() < deadline, "no journal");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first session ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for extra in [&[][..], &["--overwrite"][..]] {
        let mut args = vec!["paper", session.to_str().unwrap(), "--bar-interval-ms", "0"];
        args.extend_from_slice(&["--journal", journal.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let second = cracktrader(&args, &dir.path().join("second.json"));
        let err = text(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("journal {} is locked", journal.display())),
            "{err}"
        );
    }
    assert!(first.wait().unwrap().success(), "the first session failed");
    assert!(!dir.path().join("second.json").exists());
    assert_replays(&journal);
}

/// Finding 4: a rerun into the same report path does not replace the
/// journal: it is refused with the choices, and `--overwrite` replaces it.
#[test]
fn a_rerun_never_replaces_a_journal_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _) = small_session(dir.path(), "backtest", "sma-cross.wasm", 60);
    let report = dir.path().join("r.json");
    let journal = dir.path().join("r.journal");
    let out = backtest(&session, &[], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let before = std::fs::read(&journal).unwrap();

    let out = backtest(&session, &[], &report);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in [
        journal.to_str().unwrap(),
        "already exists",
        "--overwrite",
        "--resume",
        "--journal PATH",
        "--no-journal",
    ] {
        assert!(err.contains(part), "missing {part:?} in: {err}");
    }
    assert_eq!(std::fs::read(&journal).unwrap(), before);

    let out = backtest(&session, &["--overwrite"], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_replays(&journal);
}

/// Finding 8: bit flips and truncations at random offsets of a real small
/// journal. A truncation reads as the records before the cut (a torn tail
/// if the cut falls inside a record); every flipped bit is an error: one
/// bit never discards the rest of a journal, nor passes unnoticed.
#[test]
fn journal_damage_is_an_error_unless_it_is_a_torn_tail() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let dir = tempfile::tempdir().unwrap();
    let (session, _) = small_session(dir.path(), "backtest", "sma-cross.wasm", 40);
    let report = dir.path().join("r.json");
    let out = backtest(&session, &["--checkpoint-every", "10"], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let path = dir.path().join("r.journal");
    let bytes = std::fs::read(&path).unwrap();
    let whole = journal::scan(&path).unwrap();
    let damaged = dir.path().join("damaged.journal");

    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let len = bytes.len();
    let damage = prop_oneof![
        (0..len, 0u8..8).prop_map(|(at, bit)| (at, Some(bit))),
        (0..=len).prop_map(|cut| (cut, None)),
    ];
    runner
        .run(&damage, |(at, bit)| {
            let changed = match bit {
                Some(bit) => {
                    let mut b = bytes.clone();
                    b[at] ^= 1 << bit;
                    b
                }
                None => bytes[..at].to_vec(),
            };
            std::fs::write(&damaged, &changed).unwrap();
            let scan = journal::scan(&damaged);
            match (bit, scan) {
                (Some(_), Ok(s)) => {
                    prop_assert!(
                        false,
                        "bit flip at {at} accepted ({} records)",
                        s.records.len()
                    )
                }
                (None, Ok(s)) => {
                    let n = whole.ends.iter().take_while(|&&e| e <= at as u64).count();
                    prop_assert_eq!(&s.records[..], &whole.records[..n], "cut at {}", at);
                    let clean = n == 0 && at == 12 || n > 0 && whole.ends[n - 1] == at as u64;
                    prop_assert_eq!(s.torn.is_none(), clean, "cut at {}", at);
                }
                (None, Err(e)) => prop_assert!(at < 12, "cut at {at}: {e}"),
                (Some(_), Err(_)) => {}
            }
            Ok(())
        })
        .unwrap();

    // The real commands on a flip in the middle of the file: replay exits
    // non-zero naming the file and offset; resume refuses and cuts nothing.
    let middle = whole.ends[whole.ends.len() / 2] as usize;
    let mut flipped = bytes.clone();
    flipped[middle + 1] ^= 0x04;
    std::fs::write(&damaged, &flipped).unwrap();
    let replay = super::cracktrader_raw(&["replay", damaged.to_str().unwrap()]);
    let err = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{err}");
    assert!(
        err.contains(damaged.to_str().unwrap())
            && err.contains(&format!("corrupt record at byte {middle}")),
        "{err}"
    );
    let resumed = dir.path().join("resumed.json");
    let out = backtest(
        &session,
        &["--resume", "--journal", damaged.to_str().unwrap()],
        &resumed,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("corrupt record at byte {middle}")),
        "{err}"
    );
    assert_eq!(std::fs::read(&damaged).unwrap(), flipped);
}

/// Chaos: a real paper session killed with SIGKILL (`Child::kill`) at three
/// seeded pseudo-random points of its journal, resumed after each, ends
/// with the report of a run never interrupted, and its journal replays.
/// (A backtest of bounded data ends faster than a kill can be aimed; the
/// paced paper session runs the same step loop and journal.)
#[test]
fn killed_three_times_and_resumed_the_report_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _) = small_session(dir.path(), "paper", "sma-cross.wasm", 300);
    let paper = |report: &Path, journal: &Path, extra: &[&str]| {
        let mut c = command();
        c.args([
            "paper",
            session.to_str().unwrap(),
            "--checkpoint-every",
            "20",
        ])
        .arg("--journal")
        .arg(journal)
        .arg("--report")
        .arg(report)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        c
    };
    let whole = dir.path().join("whole.json");
    let whole_journal = dir.path().join("whole.journal");
    let out = paper(&whole, &whole_journal, &["--bar-interval-ms", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let records = journal::scan(&whole_journal).unwrap().records.len();

    // Seeded kill points (records written), in order, inside the run.
    let mut seed: u64 = 0x5eed_c4a0_5000_0001;
    let mut points: Vec<usize> = (0..3)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            records / 10 + (seed >> 33) as usize % (records * 8 / 10)
        })
        .collect();
    points.sort_unstable();

    let crashed = dir.path().join("crashed.json");
    let crashed_journal = dir.path().join("crashed.journal");
    for (i, &point) in points.iter().enumerate() {
        let mut extra = vec!["--bar-interval-ms", "2"];
        if i > 0 {
            extra.push("--resume");
        }
        let mut child = paper(&crashed, &crashed_journal, &extra).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while journal::scan(&crashed_journal).map_or(0, |s| s.records.len()) < point {
            assert!(
                std::time::Instant::now() < deadline,
                "no progress to {point}"
            );
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                panic!("run {i} ended ({status}) before record {point}: {err}");
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!crashed.exists(), "a killed session wrote a report");
    }
    let out = paper(
        &crashed,
        &crashed_journal,
        &["--bar-interval-ms", "0", "--resume"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    assert_eq!(
        read(&crashed),
        read(&whole),
        "the resumed report differs (kills at {points:?})"
    );
    assert_replays(&crashed_journal);
}

/// Finding 9: a paper session whose (unchanged) plugin was hot-reloaded by
/// SIGHUP journals the reload; replay refuses it naming the record, the
/// step, the strategy and why, rather than reporting a divergence.
#[test]
fn replay_of_a_hot_reloaded_session_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _) = small_session(dir.path(), "paper", "sma-cross.wasm", 200);
    let journal_path = dir.path().join("r.journal");
    let mut child = command()
        .args(["paper", session.to_str().unwrap(), "--bar-interval-ms", "5"])
        .arg("--report")
        .arg(dir.path().join("r.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while journal::scan(&journal_path).map_or(0, |s| s.records.len()) < 40 {
        assert!(std::time::Instant::now() < deadline, "no journal");
        assert!(child.try_wait().unwrap().is_none(), "paper ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(child.wait().unwrap().success());
    let scan = journal::scan(&journal_path).unwrap();
    let swapped = scan
        .records
        .iter()
        .find(|r| matches!(&r.event, Event::Lifecycle { what, .. } if what == "reload_swapped"))
        .expect("the reload is journalled");
    assert!(swapped.sequence > 40);

    let replay = super::cracktrader_raw(&["replay", journal_path.to_str().unwrap()]);
    let err = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{err}");
    for part in [
        "is a reload_",
        "event of strategy sma-cross",
        "hot-reloaded its plugin",
        "replay cannot repeat a hot reload",
    ] {
        assert!(err.contains(part), "missing {part:?} in: {err}");
    }
}

/// Runs `cracktrader args…` to its end: its exit code and its peak
/// resident memory in bytes, the child's own `ru_maxrss` from `wait4`
/// (other tests' children do not count).
fn exit_and_peak_rss(args: &[&str]) -> (i32, u64) {
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also gives its rusage"
    )]
    let child = command()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's child, not yet waited for (its
    // `Child` is never waited on), and both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "{args:?} did not exit: {status}");
    // Linux reports ru_maxrss in KiB.
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    (libc::WEXITSTATUS(status), peak)
}

/// The journal at `path` without its last record (the session end), as a
/// kill just before the end leaves it; read a record at a time.
fn cut_the_end(path: &Path) {
    let mut ends = vec![];
    for record in journal::store::open(path).unwrap() {
        ends.push(record.unwrap().1);
    }
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(ends[ends.len() - 2]).unwrap();
}

/// Peak memory of a `bars`-bar backtest writing its journal, of `replay` and
/// of `backtest --resume` on that journal; and the journal's size.
#[derive(Debug, Clone, Copy)]
struct Peaks {
    journal: u64,
    backtest: u64,
    replay: u64,
    resume: u64,
}

fn peaks(dir: &Path, bars: usize) -> Peaks {
    let data = dir.join(format!("long-{bars}.csv"));
    cracktrader_tests::bench::write_synthetic_csv(&data, bars);
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd.toml")).unwrap();
    let session = dir.join(format!("long-{bars}.toml"));
    std::fs::write(
        &session,
        example
            .replace(
                "../target/plugins/sma-cross.wasm",
                plugins().join("sma-cross.wasm").to_str().unwrap(),
            )
            .replace("data/EURUSD.csv", data.to_str().unwrap()),
    )
    .unwrap();
    let report = dir.join(format!("long-{bars}.json"));
    let journal_path = report.with_extension("journal");
    let (session_arg, report_arg) = (session.to_str().unwrap(), report.to_str().unwrap());
    let (code, backtest) = exit_and_peak_rss(&["backtest", session_arg, "--report", report_arg]);
    assert_eq!(code, 0, "backtest of {bars} bars");
    let journal = std::fs::metadata(&journal_path).unwrap().len();
    let journal_arg = journal_path.to_str().unwrap();
    let (code, replay) = exit_and_peak_rss(&["replay", journal_arg]);
    assert_eq!(code, 0, "replay of {bars} bars");
    cut_the_end(&journal_path);
    let (code, resume) =
        exit_and_peak_rss(&["backtest", session_arg, "--resume", "--report", report_arg]);
    assert_eq!(code, 0, "resume of {bars} bars");
    Peaks {
        journal,
        backtest,
        replay,
        resume,
    }
}

/// Finding 5: replay and resume stream the journal. For a journal four
/// times longer their peak memory grows little beyond what the backtest
/// that wrote it grew by (its data, equity curve and report); holding the
/// records cost over three times the journal's size.
#[test]
fn replay_and_resume_memory_does_not_grow_with_the_journal() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let small = peaks(dir.path(), 20_000);
    let large = peaks(dir.path(), 80_000);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let grew = |f: fn(&Peaks) -> u64| f(&large).saturating_sub(f(&small));
    eprintln!(
        "journal {:.0} → {:.0} MiB; peak RSS: backtest {:.0} → {:.0}, replay {:.0} → {:.0}, resume {:.0} → {:.0} MiB",
        mib(small.journal),
        mib(large.journal),
        mib(small.backtest),
        mib(large.backtest),
        mib(small.replay),
        mib(large.replay),
        mib(small.resume),
        mib(large.resume)
    );
    let journal = grew(|p| p.journal);
    // What the session itself holds grows with the bars (data, equity
    // curve, report), as the backtest's peak shows; the journal must add
    // little to that.
    let allowed = grew(|p| p.backtest) + journal / 4;
    for (what, grown) in [
        ("replay", grew(|p| p.replay)),
        ("resume", grew(|p| p.resume)),
    ] {
        assert!(
            grown < allowed,
            "{what}: peak memory grew by {:.0} MiB, the backtest's by {:.0} MiB, for {:.0} MiB more journal",
            mib(grown),
            mib(grew(|p| p.backtest)),
            mib(journal)
        );
    }
}
