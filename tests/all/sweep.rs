//! Parameter sweeps over the real `sma-cross` component and EURUSD data:
//! grid expansion and shards, determinism whatever the number of threads,
//! shards run as separate `cracktrader` processes merged into the unsharded
//! table, and errors that name the bad part.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cracktrader::config::SessionConfig;
use cracktrader::sweep::{self, Axis, Grid, Metric, Options, Shard, Sweep, SweepError};
use cracktrader_tests::{cracktrader_bin, workspace_root, SessionFile};
use proptest::prelude::*;

const GRID: [&str; 2] = ["fast=5..20:5", "slow=20..60:10"];

fn session(dir: &Path) -> PathBuf {
    let data = workspace_root().join("examples/data/EURUSD.csv");
    SessionFile::sma(data).write(dir)
}

fn grid(specs: &[&str]) -> Grid {
    Grid::new(specs.iter().map(|s| s.parse().unwrap()).collect()).unwrap()
}

/// Runs the library sweep of `GRID` over `session` into `out`.
fn run_sweep(session: &Path, jobs: usize, out: &Path) -> sweep::SweepResult {
    let config = SessionConfig::load(session).unwrap();
    let host = sweep::host(&config, None, jobs).unwrap();
    let sweep = Sweep::load(session, &host, None, grid(&GRID)).unwrap();
    let options = Options {
        jobs,
        shard: Shard::ALL,
        sort: Metric::Sharpe,
        keep: 3,
    };
    sweep.run(&host, &options, out, |_| ()).unwrap()
}

/// Every file under `dir`, relative, with its text.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_owned(), text));
            }
        }
    }
    out.sort();
    out
}

fn cli(args: &[&str]) -> Output {
    Command::new(cracktrader_bin())
        .args(args)
        .output()
        .expect("run cracktrader")
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = session(dir.path());
    let one = run_sweep(&path, 1, &dir.path().join("one"));
    let two = run_sweep(&path, 2, &dir.path().join("two"));
    assert_eq!(one, two);
    assert!(files(&dir.path().join("one")) == files(&dir.path().join("two")));

    // 4 x 5 points; fast = slow = 20 is refused by the plugin's init.
    assert_eq!(one.rows.len(), 20);
    let failed: Vec<_> = one.rows.iter().filter(|r| r.metrics.is_none()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].params, ["20", "20"]);
    let error = failed[0].error.as_deref().unwrap();
    assert!(
        error.contains("'slow' (20) must be greater than 'fast' (20)"),
        "{error}"
    );
    assert_eq!(
        one.rows.last().unwrap().run,
        failed[0].run,
        "failures sort last"
    );

    // Best first by Sharpe; every run distinct; the best three kept, and
    // their reports are those of their parameters.
    let sharpes: Vec<f64> = one
        .rows
        .iter()
        .filter_map(|r| r.metrics.as_ref().and_then(|m| m.sharpe))
        .collect();
    assert_eq!(sharpes.len(), 19);
    assert!(sharpes.windows(2).all(|w| w[0] >= w[1]), "{sharpes:?}");
    let runs: BTreeSet<_> = one.rows.iter().map(|r| r.run).collect();
    assert_eq!(runs, (0..20).collect());
    let kept: Vec<_> = one.rows.iter().filter_map(|r| r.report.clone()).collect();
    assert_eq!(kept.len(), 3);
    assert_eq!(
        std::fs::read_dir(dir.path().join("one/reports"))
            .unwrap()
            .count(),
        3
    );
    for row in &one.rows[..3] {
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("one").join(row.report.as_ref().unwrap())).unwrap(),
        )
        .unwrap();
        let m = row.metrics.as_ref().unwrap();
        assert_eq!(report["summary"]["trades"], m.trades);
        assert_eq!(
            report["summary"]["total_return"],
            m.total_return.to_string()
        );
    }
    // A different grid point trades differently: the parameters reach the plugin.
    let trades: BTreeSet<_> = one
        .rows
        .iter()
        .filter_map(|r| r.metrics.as_ref().map(|m| m.trades))
        .collect();
    assert!(trades.len() > 5, "{trades:?}");
}

#[test]
fn shards_run_as_processes_merge_into_the_unsharded_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = session(dir.path());
    let session = path.to_str().unwrap();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let sweep_args = |extra: &[String]| {
        let mut args = vec!["sweep".to_owned(), session.to_owned(), "--grid".to_owned()];
        args.extend(GRID.map(String::from));
        args.extend(["--keep", "4", "--sort", "return", "--quiet"].map(String::from));
        args.extend(extra.iter().cloned());
        args
    };
    let all = Command::new(cracktrader_bin())
        .args(sweep_args(&[
            "--jobs".into(),
            "2".into(),
            "--out".into(),
            out("all"),
        ]))
        .output()
        .unwrap();
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert!(stdout.contains("20 runs on 2 jobs"), "{stdout}");

    // Three shards at once, as a batch engine would start them.
    let shards: Vec<_> = (0..3)
        .map(|k| {
            Command::new(cracktrader_bin())
                .args(sweep_args(&[
                    "--jobs".into(),
                    "1".into(),
                    "--shard".into(),
                    format!("{k}/3"),
                    "--out".into(),
                    out(&format!("shard{k}")),
                ]))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in shards {
        assert!(child.wait().unwrap().success());
    }
    let shard_files: Vec<String> = (0..3)
        .map(|k| format!("{}/sweep.json", out(&format!("shard{k}"))))
        .collect();
    // Shards are disjoint and cover the grid: 7 + 7 + 6 runs.
    let sizes: Vec<usize> = shard_files
        .iter()
        .map(|f| sweep::SweepResult::read(Path::new(f)).unwrap().rows.len())
        .collect();
    assert_eq!(sizes, [7, 7, 6]);

    let mut args = vec!["sweep", "merge"];
    args.extend(shard_files.iter().map(String::as_str).rev());
    let merged_dir = out("merged");
    args.extend(["--out", &merged_dir]);
    let merged = cli(&args);
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let (all, merged) = (
        files(&dir.path().join("all")),
        files(&dir.path().join("merged")),
    );
    let names = |f: &[(PathBuf, String)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&all), names(&merged));
    for ((name, a), (_, m)) in all.iter().zip(&merged) {
        assert!(a == m, "{} differs:\n{a}\n---\n{m}", name.display());
    }

    // A missing shard is named, not silently merged into a partial table.
    let err = sweep::merge(
        &shard_files[..2]
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>(),
        &dir.path().join("partial"),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "cannot merge: missing shard(s) 2/3");
}

#[test]
fn bad_grid_specs_name_the_bad_part() {
    let cases = [
        ("fast", "grid axis 'fast': expected name=start..end:step"),
        ("=1,2", "grid axis '=1,2': parameter name '' must be"),
        ("fast=5..20", "grid axis 'fast=5..20': a range needs a step"),
        (
            "fast=5..x:5",
            "grid axis 'fast=5..x:5': end 'x' is not a number",
        ),
        (
            "fast=5..20:0",
            "grid axis 'fast=5..20:0': step 0 must be positive",
        ),
        (
            "fast=20..5:1",
            "grid axis 'fast=20..5:1': end 5 is below start 20",
        ),
        ("fast=1,,2", "grid axis 'fast=1,,2': value 2 is empty"),
        (
            "fast=1,2,1",
            "grid axis 'fast=1,2,1': value '1' is listed twice",
        ),
        (
            "fast=0..100000000:1",
            "grid axis 'fast=0..100000000:1': 100000001 values; at most 10000000",
        ),
    ];
    for (spec, want) in cases {
        let err = spec.parse::<Axis>().unwrap_err().to_string();
        assert!(err.starts_with(want), "{spec}: {err}");
    }
    for (spec, want) in [
        ("1", "shard '1': expected K/N"),
        ("3/3", "shard '3/3': K must be below N"),
        ("0/0", "shard '0/0': N must be at least 1"),
        ("a/2", "shard 'a/2': K is not a number"),
    ] {
        let err = spec.parse::<Shard>().unwrap_err().to_string();
        assert!(err.starts_with(want), "{spec}: {err}");
    }
    let err = "speed".parse::<Metric>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown metric 'speed': expected one of sharpe, return, drawdown, equity, trades, commissions"
    );
    let axes = ["fast=1,2", "fast=3"].map(|s| s.parse().unwrap()).to_vec();
    assert_eq!(
        Grid::new(axes).unwrap_err().to_string(),
        "grid: parameter 'fast' has two axes"
    );

    // A parameter the registration does not have is named with the session file.
    let dir = tempfile::tempdir().unwrap();
    let path = session(dir.path());
    let config = SessionConfig::load(&path).unwrap();
    let host = sweep::host(&config, None, 1).unwrap();
    let err = Sweep::load(&path, &host, None, grid(&["fsat=1,2"]))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, SweepError::Session(_)), "{err:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("grid axis 'fsat': strategies (s1).params has no such key (has: fast, instrument, quantity, slow)"),
        "{text}"
    );

    // The CLI refuses a bad axis as a usage error (exit 2), naming it.
    let out = cli(&["sweep", path.to_str().unwrap(), "--grid", "slow=30..x:5"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("grid axis 'slow=30..x:5': end 'x' is not a number"),
        "{stderr}"
    );
}

fn axes() -> impl Strategy<Value = Vec<Axis>> {
    prop::collection::vec(1usize..6, 1..5).prop_map(|lens| {
        lens.iter()
            .enumerate()
            .map(|(i, &n)| Axis {
                name: format!("p{i}"),
                values: (0..n).map(|v| v.to_string()).collect(),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn shards_are_disjoint_and_cover_the_grid(axes in axes(), count in 1usize..9) {
        let grid = Grid::new(axes.clone()).unwrap();
        let len = axes.iter().map(|a| a.values.len()).product::<usize>();
        prop_assert_eq!(grid.len(), len);
        let mut seen = vec![0; len];
        for index in 0..count {
            let points: Vec<_> = Shard { index, count }.points(len).collect();
            prop_assert!(points.windows(2).all(|w| w[0] < w[1]));
            for p in points {
                seen[p] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
        // Every point is a distinct combination of values of its axes.
        let combos: BTreeSet<Vec<String>> = (0..len).map(|i| grid.point(i)).collect();
        prop_assert_eq!(combos.len(), len);
        for combo in &combos {
            for (value, axis) in combo.iter().zip(&axes) {
                prop_assert!(axis.values.contains(value));
            }
        }
    }
}
