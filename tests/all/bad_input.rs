//! Bad input gets a clear error naming the problem and where it is.

use cracktrader::session::{Session, SessionError};
use cracktrader_tests::{host, plugin, workspace_root, SessionFile};

fn eurusd() -> std::path::PathBuf {
    workspace_root().join("examples/data/EURUSD.csv")
}

/// Builds a session from `file` in a fresh directory and returns the error text.
fn error_of(file: SessionFile) -> String {
    let dir = tempfile::tempdir().unwrap();
    match Session::from_file(&file.write(dir.path()), &host()) {
        Ok(_) => panic!("session unexpectedly built"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(text: &str, want: &str) {
    assert!(text.contains(want), "expected {want:?} in:\n{text}");
}

#[test]
fn malformed_csv_row_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(eurusd()).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    // Line 51 of the file (index 50): replace the Close column.
    let mut cols: Vec<&str> = lines[50].split(',').collect();
    cols[4] = "abc";
    lines[50] = cols.join(",");
    let path = dir.path().join("broken.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let text = error_of(SessionFile::sma(path.clone()));
    assert_contains(
        &text,
        &format!("{}:51: column Close: invalid number 'abc'", path.display()),
    );
}

#[test]
fn missing_plugin_file() {
    let mut file = SessionFile::sma(eurusd());
    file.plugin = "/nonexistent/strategy.wasm".into();
    let text = error_of(file);
    assert_contains(
        &text,
        "strategy s1: plugin /nonexistent/strategy.wasm: cannot read",
    );
}

#[test]
fn core_module_and_garbage_are_not_components() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, want) in [
        (
            "core.wasm",
            &b"\0asm\x01\0\0\0"[..],
            "not a WebAssembly component (it is a core WebAssembly module)",
        ),
        (
            "text.wasm",
            &b"this is not wasm at all"[..],
            "not a WebAssembly component (the file is not WebAssembly)",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut file = SessionFile::sma(eurusd());
        file.plugin = path;
        assert_contains(&error_of(file), want);
    }
}

#[test]
fn plugin_for_another_wit_version() {
    let mut file = SessionFile::sma(eurusd());
    file.plugin = plugin("wit-mismatch");
    let text = error_of(file);
    assert_contains(
        &text,
        "built against cracktrader:strategy@0.3.0; this host supports cracktrader:strategy@0.2.0",
    );
}

#[test]
fn subscription_to_unknown_instrument() {
    let mut file = SessionFile::sma(eurusd());
    file.plugin = plugin("trap-on-step");
    file.params = "instrument = \"GBPUSD\"\ntrap_at = 1000000\n".into();
    let text = error_of(file);
    assert_contains(
        &text,
        "strategy s1: subscription to 'GBPUSD' refused: unknown instrument",
    );
}

#[test]
fn strategy_refusing_its_params() {
    let mut file = SessionFile::sma(eurusd());
    file.params = "instrument = \"EURUSD\"\nfast = 30\nslow = 10\nquantity = \"1000\"\n".into();
    let text = error_of(file);
    assert_contains(&text, "strategy s1 refused its configuration:");
    assert_contains(&text, "slow");
}

#[test]
fn invalid_config_values_are_all_named() {
    let mut file = SessionFile::sma(eurusd());
    file.commission = "1.5";
    let dir = tempfile::tempdir().unwrap();
    let path = file.write(dir.path());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "instruments = [\"EURUSD\"]",
        "instruments = [\"EURUSD\", \"XAUUSD\"]",
    );
    std::fs::write(&path, text).unwrap();
    let err = Session::from_file(&path, &host()).err().expect("invalid");
    assert!(matches!(err, SessionError::Config(_)));
    let text = err.to_string();
    assert_contains(
        &text,
        "execution[0] (sim-usd).commission: must be a fraction in [0, 1), got 1.5",
    );
    assert_contains(
        &text,
        "strategies[0] (s1).instruments: unknown instrument 'XAUUSD'",
    );
}

#[test]
fn unparsable_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "[session]\nname = \"x\"\n[[instruments]]\nsymbol = \"A\"\ntick_sise = \"1\"\n",
    )
    .unwrap();
    let text = Session::from_file(&path, &host())
        .err()
        .expect("invalid")
        .to_string();
    assert_contains(&text, "unknown field `tick_sise`");
    assert_contains(&text, "line 5");
    // Instrument fields left out (and no venue to load them from) are named.
    std::fs::write(
        &path,
        "[session]\nname = \"x\"\n[[instruments]]\nsymbol = \"A\"\ntick_size = \"1\"\n",
    )
    .unwrap();
    let text = Session::from_file(&path, &host())
        .err()
        .expect("invalid")
        .to_string();
    assert_contains(
        &text,
        "instruments[0] (A).base_currency: missing; give it, or name a [[venues]] entry",
    );
}

#[test]
fn trapping_guest_is_quarantined_and_the_session_completes() {
    let mut file = SessionFile::sma(eurusd());
    file.plugin = plugin("trap-on-step");
    file.params = "instrument = \"EURUSD\"\ntrap_at = 50\n".into();
    let dir = tempfile::tempdir().unwrap();
    let report = Session::from_file(&file.write(dir.path()), &host())
        .unwrap()
        .run();
    let cause = report.strategies[0]
        .quarantined
        .clone()
        .expect("quarantined");
    assert_contains(&cause, "strategy s1 trapped in on-step");
    assert_contains(&cause, "trap-on-step: deliberate trap at step 50");
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.events[0].cause, cause);
    assert_eq!(report.equity_curve.len(), 5000);
}

/// Writes `file` with `sha256 = "<pin>"` in its registration.
fn pinned(file: SessionFile, pin: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let path = file.write(dir);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "execution = \"sim-usd\"\n",
        &format!("execution = \"sim-usd\"\nsha256 = \"{pin}\"\n"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn pinned_hash_refuses_another_file() {
    use sha2::Digest;
    let bytes = std::fs::read(plugin("sma-cross")).unwrap();
    let right = hex::encode(sha2::Sha256::digest(&bytes));
    let dir = tempfile::tempdir().unwrap();
    let path = pinned(SessionFile::sma(eurusd()), &right, dir.path());
    let report = Session::from_file(&path, &host()).unwrap().run();
    assert_eq!(report.strategies[0].sha256, right);

    let wrong = "0".repeat(64);
    for (pin, want) in [
        (
            wrong.as_str(),
            format!("sha256 is {right}, but the registration pins {wrong}"),
        ),
        (
            "abc",
            "strategies[0] (s1).sha256: must be 64 hex digits, got 'abc'".to_owned(),
        ),
    ] {
        let path = pinned(SessionFile::sma(eurusd()), pin, dir.path());
        let text = Session::from_file(&path, &host())
            .err()
            .unwrap()
            .to_string();
        assert_contains(&text, &want);
    }
}

/// The sma session over the first `bars` bars of the bundled EURUSD data,
/// with `from` replaced by `to` in its session file; written into `dir`.
fn edited(dir: &std::path::Path, bars: usize, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let csv = std::fs::read_to_string(eurusd()).unwrap();
    let data = dir.join("eurusd.csv");
    let lines: Vec<&str> = csv.lines().take(bars + 1).collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let path = SessionFile::sma(data).write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the session file");
        text = text.replace(from, to);
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn build_error(path: &std::path::Path) -> String {
    match Session::from_file(path, &host()) {
        Ok(_) => panic!("session unexpectedly built"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zero_starting_cash_still_gets_a_report() {
    // Issue 16, finding 2: the documented default of 0 divided by zero in
    // the metrics after the whole run, and no report was written.
    let dir = tempfile::tempdir().unwrap();
    let path = edited(
        dir.path(),
        200,
        &[("starting_cash = \"100000\"", "starting_cash = \"0\"")],
    );
    let report = Session::from_file(&path, &host()).unwrap().run();
    assert_eq!(report.summary.starting_equity, rust_decimal::Decimal::ZERO);
    assert_eq!(report.summary.total_return, rust_decimal::Decimal::ZERO);
    assert_eq!(report.metrics.session.annualized_return, None);
    // Every buy the strategy tried was refused for want of cash.
    assert!(report.summary.refused > 0);
    assert!(report.fills.is_empty());
}

#[test]
fn amounts_leverage_and_latencies_beyond_their_bounds_are_named() {
    // Issue 16, findings 2 and 10: starting cash near Decimal::MAX panicked
    // in inventory; a latency of 9e12 ms wrapped the clock.
    let dir = tempfile::tempdir().unwrap();
    let path = edited(
        dir.path(),
        50,
        &[(
            "starting_cash = \"100000\"",
            "starting_cash = \"79228162514264337593543950335\"\n\
             balances = { EUR = \"-2000000000000000000\" }\n\
             fee_per_order = \"1e19\"\n\
             account = \"margin\"\nleverage = \"1000000\"\n\
             submit_latency_ms = 9000000000000\ncancel_latency_ms = 9223372036854775807",
        )],
    );
    let text = build_error(&path);
    for want in [
        "execution[0] (sim-usd).starting_cash: must be at most 1000000000000000000 in size, got 79228162514264337593543950335",
        "execution[0] (sim-usd).balances.EUR: must be at most 1000000000000000000 in size, got -2000000000000000000",
        "execution[0] (sim-usd).fee_per_order: must be at most 1000000000000000000 in size",
        "execution[0] (sim-usd).leverage: must be at most 1000, got 1000000",
        "execution[0] (sim-usd).submit_latency_ms: must be at most 31536000000 (365 days), got 9000000000000",
        "execution[0] (sim-usd).cancel_latency_ms: must be at most 31536000000 (365 days), got 9223372036854775807",
    ] {
        assert_contains(&text, want);
    }
}

#[test]
fn tick_size_beyond_the_boundary_precision_is_named() {
    // Issue 16, finding 11: a tick of 1e-19 was reported as prices "finer
    // than tick size 1e-19", which they are not.
    let dir = tempfile::tempdir().unwrap();
    let path = edited(
        dir.path(),
        50,
        &[("tick_size = \"0.00001\"", "tick_size = \"1e-19\"")],
    );
    assert_contains(
        &build_error(&path),
        "instruments[0] (EURUSD).tick_size: 0.0000000000000000001 has 19 decimal places; at most 18 are supported",
    );
    // At 18 places the tick is valid, but a price of 100 does not fit an s64.
    let data = dir.path().join("hundred.csv");
    std::fs::write(
        &data,
        ",Open,High,Low,Close,Volume\n2017-01-01,100,100,100,100,1\n",
    )
    .unwrap();
    let path = SessionFile::sma(data.clone()).write(dir.path());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("tick_size = \"0.00001\"", "tick_size = \"1e-18\"");
    std::fs::write(&path, text).unwrap();
    assert_contains(
        &build_error(&path),
        &format!(
            "{}:2: column Open: 100 is too large: at 18 decimal places (those of tick size 0.000000000000000001) it does not fit a 64-bit integer",
            data.display()
        ),
    );
}

#[test]
fn endless_lines_in_market_data_are_refused() {
    // Issue 16, finding 11: `/dev/zero` as a data path allocated without
    // bound. A line is capped at 64 KiB.
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.csv");
    let line = format!(
        ",Open,High,Low,Close,Volume\n2017-01-01,{}\n",
        "1".repeat(100_000)
    );
    std::fs::write(&long, line).unwrap();
    let text = error_of(SessionFile::sma(long.clone()));
    assert_contains(
        &text,
        &format!("{}:2: line is longer than 65536 bytes", long.display()),
    );
    #[cfg(unix)]
    assert_contains(
        &error_of(SessionFile::sma("/dev/zero".into())),
        "/dev/zero:1: line is longer than 65536 bytes",
    );
}
