//! A hand-checkable scenario: 15 daily bars with known SMA(2)/SMA(4) crosses.
//!
//! closes: 10 10 10 10 12 | 13 13 9 | 8 8 8 8 11 | 11 11
//! - bar 4: both averages ready, fast − slow = 0 (recorded, no signal);
//! - bar 5: fast 11 > slow 10.5 → buy 100, filled at bar 6's open 12.50;
//! - bar 8: fast 11 < slow 11.75 → sell 100, filled at bar 9's open 8.50;
//! - bar 12: fast = slow = 8 (no cross); bar 13: fast 9.5 > slow 8.75 → buy
//!   100, filled at bar 14's open 11.
//!
//! Cash: 100000 − 1250 − 1.25 + 850 − 0.85 − 1100 − 1.10 = 98496.80;
//! equity: cash + 100 × 11 = 99596.80; realized −400; commissions 3.20.

use cracktrader::model::Side;
use cracktrader::session::Session;
use cracktrader_tests::{host, SessionFile};
use rust_decimal::Decimal;

/// (open, close) per day; high/low enclose them by 0.5.
const BARS: [(&str, &str); 15] = [
    ("10", "10"),
    ("10", "10"),
    ("10", "10"),
    ("10", "10"),
    ("10", "12"),
    ("12.5", "13"),
    ("13", "13"),
    ("13", "9"),
    ("8.5", "8"),
    ("8", "8"),
    ("8", "8"),
    ("8", "8"),
    ("8", "11"),
    ("11", "11"),
    ("11", "11"),
];

/// Writes the scenario's CSV into `dir`.
pub fn write_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from(",Open,High,Low,Close,Volume\n");
    for (day, (open, close)) in BARS.iter().enumerate() {
        let (o, c): (Decimal, Decimal) = (open.parse().unwrap(), close.parse().unwrap());
        let half = Decimal::new(5, 1);
        csv += &format!(
            "2020-01-{:02},{o},{},{},{c},1000\n",
            day + 1,
            o.max(c) + half,
            o.min(c) - half
        );
    }
    let path = dir.join("scenario.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn fills_and_final_equity_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = SessionFile::sma(write_csv(dir.path()));
    file.params = "instrument = \"EURUSD\"\nfast = 2\nslow = 4\nquantity = \"100\"\n".into();
    let report = Session::from_file(&file.write(dir.path()), &host())
        .unwrap()
        .run();
    assert!(report.events.is_empty(), "{:?}", report.events);
    let fills: Vec<_> = report
        .fills
        .iter()
        .map(|f| (f.time.as_str(), f.side, f.qty, f.price, f.commission))
        .collect();
    assert_eq!(
        fills,
        vec![
            (
                "2020-01-06T00:00:00Z",
                Side::Buy,
                d("100"),
                d("12.5"),
                d("1.25")
            ),
            (
                "2020-01-09T00:00:00Z",
                Side::Sell,
                d("100"),
                d("8.5"),
                d("0.85")
            ),
            (
                "2020-01-14T00:00:00Z",
                Side::Buy,
                d("100"),
                d("11"),
                d("1.1")
            ),
        ]
    );
    let s = &report.summary;
    assert_eq!(s.final_equity, d("99596.80"));
    assert_eq!(
        report.equity_curve.last().unwrap().value.cash,
        d("98496.80")
    );
    assert_eq!(s.commissions, d("3.20"));
    assert_eq!(s.realized_pnl, d("-400"));
    assert_eq!(s.unrealized_pnl, d("0"), "bought at 11, marked at 11");
    assert_eq!((s.fills, s.trades, s.refused), (3, 1, 0));
    assert_eq!(s.total_return, d("99596.80") / d("100000") - Decimal::ONE);
}
