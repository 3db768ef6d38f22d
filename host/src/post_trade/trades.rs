//! Round trips: a strategy's position in one instrument from flat (or a
//! flip) until it is flat again (or flips), built from the fills as they
//! happen. A fill that flips a position closes one round trip and opens the
//! next; its commission is split between them by quantity.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::{format_time, InstrumentId, Side, StrategyId, Timestamp};

/// Decimal places of a commission share split off a flipping fill.
const SPLIT_DP: u32 = 16;

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Bought first.
    Long,
    /// Sold first.
    Short,
}

/// One closed round trip, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRecord {
    /// The strategy.
    pub strategy_id: StrategyId,
    /// Instrument symbol.
    pub instrument: String,
    /// Long or short.
    pub direction: Direction,
    /// Time of the opening fill (RFC 3339, UTC).
    pub entry_time: String,
    /// Time of the closing fill (RFC 3339, UTC).
    pub exit_time: String,
    /// Quantity opened (Σ of the entry fills).
    pub qty: Decimal,
    /// Quantity-weighted mean entry price.
    pub entry_price: Decimal,
    /// Quantity-weighted mean exit price.
    pub exit_price: Decimal,
    /// Fills in the round trip (a flipping fill counts in both).
    pub fills: u32,
    /// PnL realised, before commissions.
    pub gross_pnl: Decimal,
    /// Commissions of its fills.
    pub commission: Decimal,
    /// Gross PnL − commission.
    pub net_pnl: Decimal,
}

/// A round trip still open.
#[derive(Debug, Clone)]
struct Open {
    direction: Direction,
    entry_time: Timestamp,
    entry_qty: Decimal,
    entry_notional: Decimal,
    exit_qty: Decimal,
    exit_notional: Decimal,
    fills: u32,
    commission: Decimal,
    /// The position's realized PnL when the round trip opened.
    realized_before: Decimal,
}

impl Open {
    fn new(side: Side, time: Timestamp, qty: Decimal, price: Decimal, realized: Decimal) -> Self {
        Self {
            direction: match side {
                Side::Buy => Direction::Long,
                Side::Sell => Direction::Short,
            },
            entry_time: time,
            entry_qty: qty,
            entry_notional: qty * price,
            exit_qty: Decimal::ZERO,
            exit_notional: Decimal::ZERO,
            fills: 1,
            commission: Decimal::ZERO,
            realized_before: realized,
        }
    }
}

/// One fill, with what the round-trip book needs to know about it.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    /// When.
    pub time: Timestamp,
    /// The strategy (its index keys the book, its id names the trade).
    pub strategy: (usize, &'a StrategyId),
    /// The instrument and its symbol.
    pub instrument: (InstrumentId, &'a str),
    /// Buy or sell.
    pub side: Side,
    /// Quantity filled (positive).
    pub qty: Decimal,
    /// Fill price.
    pub price: Decimal,
    /// Commission charged.
    pub commission: Decimal,
}

/// Open round trips per (strategy, instrument), and the closed ones.
#[derive(Debug, Default)]
pub struct RoundTrips {
    open: BTreeMap<(usize, InstrumentId), Open>,
    closed: Vec<TradeRecord>,
}

impl RoundTrips {
    /// Books a fill, given the strategy's position in the instrument after
    /// it (`qty`) and that position's realized PnL so far (`realized`).
    /// Returns whether it closed a round trip.
    pub fn on_fill(&mut self, fill: &Fill<'_>, qty: Decimal, realized: Decimal) -> bool {
        let key = (fill.strategy.0, fill.instrument.0);
        let signed = fill.side.sign() * fill.qty;
        let before = qty - signed;
        let open = match self.open.get_mut(&key) {
            Some(open) if !before.is_zero() => open,
            _ => {
                let mut open = Open::new(fill.side, fill.time, fill.qty, fill.price, realized);
                open.commission = fill.commission;
                self.open.insert(key, open);
                return false;
            }
        };
        if before.is_sign_positive() == signed.is_sign_positive() {
            open.entry_qty += fill.qty;
            open.entry_notional += fill.qty * fill.price;
            open.commission += fill.commission;
            open.fills += 1;
            return false;
        }
        let closing = fill.qty.min(before.abs());
        let share = if closing == fill.qty {
            fill.commission
        } else {
            (fill.commission * closing / fill.qty).round_dp(SPLIT_DP)
        };
        open.exit_qty += closing;
        open.exit_notional += closing * fill.price;
        open.commission += share;
        open.fills += 1;
        if !qty.is_zero() && qty.is_sign_positive() == before.is_sign_positive() {
            return false;
        }
        let done = self.open.remove(&key).expect("looked up above");
        let gross_pnl = realized - done.realized_before;
        self.closed.push(TradeRecord {
            strategy_id: fill.strategy.1.clone(),
            instrument: fill.instrument.1.to_owned(),
            direction: done.direction,
            entry_time: format_time(done.entry_time),
            exit_time: format_time(fill.time),
            qty: done.entry_qty,
            entry_price: done.entry_notional / done.entry_qty,
            exit_price: done.exit_notional / done.exit_qty,
            fills: done.fills,
            gross_pnl,
            commission: done.commission,
            net_pnl: gross_pnl - done.commission,
        });
        if !qty.is_zero() {
            // Flipped: the rest of the fill opens the next round trip.
            let mut next = Open::new(
                fill.side,
                fill.time,
                fill.qty - closing,
                fill.price,
                realized,
            );
            next.commission = fill.commission - share;
            self.open.insert(key, next);
        }
        true
    }

    /// The closed round trips, in the order they closed.
    pub fn closed(&self) -> &[TradeRecord] {
        &self.closed
    }

    /// The closed round trips.
    pub fn into_closed(self) -> Vec<TradeRecord> {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// Plays fills with the position (qty, realized PnL) after each, as
    /// inventory books them (worked out by hand in the test).
    fn play(fills: &[(Side, &str, &str, &str, &str, &str)]) -> Vec<TradeRecord> {
        let id = StrategyId::new("s");
        let mut book = RoundTrips::default();
        for (i, (side, qty, price, commission, after, realized)) in fills.iter().enumerate() {
            let fill = Fill {
                time: i as i64 * 3_600_000_000_000,
                strategy: (0, &id),
                instrument: (InstrumentId(0), "EURUSD"),
                side: *side,
                qty: d(qty),
                price: d(price),
                commission: d(commission),
            };
            book.on_fill(&fill, d(after), d(realized));
        }
        book.into_closed()
    }

    #[test]
    fn round_trip_and_flip() {
        let trades = play(&[
            (Side::Buy, "2", "1.10", "0.2", "2", "0"),
            (Side::Buy, "2", "1.20", "0.2", "4", "0"),
            // releases cost 4.6 / 4: realizes 1.30 − 1.15
            (Side::Sell, "1", "1.30", "0.1", "3", "0.15"),
            // closes the remaining 3 long (cost 3.45, realizes 0.30) and opens
            // 1 short: commission 3/4 | 1/4
            (Side::Sell, "4", "1.25", "0.4", "-1", "0.45"),
            (Side::Buy, "1", "1.00", "0.1", "0", "0.70"),
        ]);
        assert_eq!(trades.len(), 2);
        let long = &trades[0];
        assert_eq!(long.direction, Direction::Long);
        assert_eq!((long.qty, long.entry_price), (d("4"), d("1.15")));
        // exits: 1 @ 1.30 and 3 @ 1.25
        assert_eq!(long.exit_price, d("1.2625"));
        assert_eq!(long.gross_pnl, d("0.45"));
        assert_eq!(long.commission, d("0.8"));
        assert_eq!(long.net_pnl, d("-0.35"));
        assert_eq!(long.fills, 4);
        let short = &trades[1];
        assert_eq!(short.direction, Direction::Short);
        assert_eq!(
            (short.qty, short.entry_price, short.exit_price),
            (d("1"), d("1.25"), d("1.00"))
        );
        assert_eq!((short.gross_pnl, short.commission), (d("0.25"), d("0.2")));
        assert_eq!(short.entry_time, long.exit_time);
    }
}
