//! Accounting invariants on the example, checked against an independent
//! replay of the report's fills over the raw CSV closes.

use cracktrader::model::Side;
use cracktrader::session::Session;
use cracktrader_tests::{host, workspace_root};
use rust_decimal::Decimal;

#[test]
fn equity_is_cash_plus_marked_position_at_every_step() {
    let root = workspace_root();
    let report = Session::from_file(&root.join("examples/sma_eurusd.toml"), &host())
        .unwrap()
        .run();
    let csv = std::fs::read_to_string(root.join("examples/data/EURUSD.csv")).unwrap();
    let closes: Vec<Decimal> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect();
    assert_eq!(closes.len(), report.equity_curve.len());

    let start = report.summary.starting_equity;
    let (mut cash, mut position, mut commissions) = (start, Decimal::ZERO, Decimal::ZERO);
    // Cost of the open position: sma-cross only ever sells its whole position.
    let mut cost = Decimal::ZERO;
    let mut fills = report.fills.iter().peekable();
    for (point, close) in report.equity_curve.iter().zip(&closes) {
        let time = cracktrader::model::format_time(point.time);
        while let Some(fill) = fills.next_if(|f| f.time == time) {
            let notional = fill.qty * fill.price;
            assert_eq!(
                fill.commission,
                notional * Decimal::new(1, 3),
                "commission is 0.001 × notional"
            );
            match fill.side {
                Side::Buy => {
                    (cash, position, cost) = (cash - notional, position + fill.qty, cost + notional)
                }
                Side::Sell => {
                    (cash, position, cost) = (cash + notional, position - fill.qty, Decimal::ZERO)
                }
            }
            assert!(
                fill.side == Side::Buy || position.is_zero(),
                "sells close the position"
            );
            cash -= fill.commission;
            commissions += fill.commission;
        }
        assert_eq!(point.value.cash, cash, "cash at {time}");
        assert_eq!(
            point.value.position_value,
            position * close,
            "position value at {time}"
        );
        assert_eq!(
            point.value.equity,
            cash + position * close,
            "equity at {time}"
        );
        assert!(cash >= Decimal::ZERO, "a cash account never goes negative");
    }
    assert!(fills.next().is_none(), "every fill happened at a step");
    assert_eq!(report.summary.commissions, commissions);
    assert_eq!(
        report.summary.final_equity,
        report.equity_curve.last().unwrap().value.equity
    );
}
