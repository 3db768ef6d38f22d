//! Inventory: where fills are applied to positions and cash. Cash belongs to
//! an execution context (account); positions belong to a strategy within it,
//! so each strategy's results can be attributed.
//!
//! Everything is `rust_decimal`. A position keeps its cost basis rather than
//! an average price, so closing a position releases exactly its cost and
//! realized PnL of a round trip is exact.
//!
//! Invariant (checked by tests at every step): for each account,
//! `cash == starting cash + Σ sells − Σ buys − Σ commissions`, and equity is
//! cash plus the marked value of every position.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::execution::orders::OrderReport;
use crate::model::{Currency, ExecutionId, InstrumentId, Side};

/// Decimal places of cost released by a partial reduction.
const RELEASE_DP: u32 = 16;

/// A strategy's holding of one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Signed quantity: positive long, negative short.
    pub qty: Decimal,
    /// Cost of the open quantity (signed like `qty`).
    pub cost: Decimal,
    /// PnL realised by reducing the position, before commissions.
    pub realized_pnl: Decimal,
}

impl Position {
    /// Average entry price of the open quantity, if any.
    pub fn avg_price(&self) -> Option<Decimal> {
        (!self.qty.is_zero()).then(|| self.cost / self.qty)
    }

    /// Applies a fill of `qty` (positive) at `price`.
    fn apply(&mut self, side: Side, qty: Decimal, price: Decimal) {
        let signed = side.sign() * qty;
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            self.qty += signed;
            self.cost += signed * price;
            return;
        }
        // Reducing (and perhaps flipping): release cost pro rata. A partial
        // release is rounded to RELEASE_DP places so that it, the remaining
        // cost and the realized PnL all stay exact under later additions.
        let closing = qty.min(self.qty.abs());
        let released = if closing == self.qty.abs() {
            self.cost
        } else {
            (self.cost * closing / self.qty.abs()).round_dp(RELEASE_DP)
        };
        let direction = -side.sign();
        self.realized_pnl += direction * closing * price - released;
        self.qty += side.sign() * closing;
        self.cost -= released;
        let opening = qty - closing;
        if !opening.is_zero() {
            self.qty += side.sign() * opening;
            self.cost += side.sign() * opening * price;
        }
    }
}

/// Cash and totals of one execution context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The execution context.
    pub id: ExecutionId,
    /// Currency of the cash.
    pub currency: Currency,
    /// Cash at the start.
    pub starting_cash: Decimal,
    /// Cash now.
    pub cash: Decimal,
    /// Commissions paid.
    pub commissions: Decimal,
}

/// All accounts and positions of a session.
#[derive(Debug, Clone)]
pub struct Inventory {
    accounts: Vec<Account>,
    /// `positions[strategy][instrument]`.
    positions: Vec<Vec<Position>>,
}

/// Money of the session (or one account) at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Valuation {
    /// Cash.
    pub cash: Decimal,
    /// Σ position qty × mark.
    pub position_value: Decimal,
    /// Cash + position value.
    pub equity: Decimal,
    /// Position value − cost basis of the open positions.
    pub unrealized_pnl: Decimal,
}

impl Inventory {
    /// Inventory with these accounts and no positions for `strategies`
    /// strategies over `instruments` instruments.
    pub fn new(accounts: Vec<Account>, strategies: usize, instruments: usize) -> Self {
        Self {
            accounts,
            positions: vec![vec![Position::default(); instruments]; strategies],
        }
    }

    /// Applies a report: only fills change inventory.
    pub fn apply(&mut self, report: &OrderReport) {
        let Some(fill) = report.fill else { return };
        let a = &report.attribution;
        let account = &mut self.accounts[a.execution_index];
        let notional = fill.qty * fill.price;
        match report.request.side {
            Side::Buy => account.cash -= notional,
            Side::Sell => account.cash += notional,
        }
        account.cash -= fill.commission;
        account.commissions += fill.commission;
        self.positions[a.strategy_index][report.request.instrument.0 as usize].apply(
            report.request.side,
            fill.qty,
            fill.price,
        );
    }

    /// The account of an execution context, by index.
    pub fn account(&self, index: usize) -> &Account {
        &self.accounts[index]
    }

    /// Every account.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// A strategy's position in an instrument.
    pub fn position(&self, strategy: usize, instrument: InstrumentId) -> &Position {
        &self.positions[strategy][instrument.0 as usize]
    }

    /// A strategy's positions, indexed by instrument.
    pub fn positions(&self, strategy: usize) -> &[Position] {
        &self.positions[strategy]
    }

    /// Values the whole session with `mark(instrument)` prices (positions
    /// without a mark are valued at cost).
    pub fn valuation(&self, mark: impl Fn(InstrumentId) -> Option<Decimal>) -> Valuation {
        let cash: Decimal = self.accounts.iter().map(|a| a.cash).sum();
        let (mut position_value, mut cost) = (Decimal::ZERO, Decimal::ZERO);
        for per_instrument in &self.positions {
            for (i, p) in per_instrument.iter().enumerate() {
                if !p.qty.is_zero() {
                    position_value += mark(InstrumentId(i as u32)).map_or(p.cost, |m| p.qty * m);
                    cost += p.cost;
                }
            }
        }
        Valuation {
            cash,
            position_value,
            equity: cash + position_value,
            unrealized_pnl: position_value - cost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip_realizes_exactly() {
        let mut p = Position::default();
        p.apply(Side::Buy, d("3"), d("10"));
        p.apply(Side::Buy, d("1"), d("11"));
        assert_eq!(p.avg_price(), Some(d("10.25")));
        p.apply(Side::Sell, d("2"), d("12"));
        assert_eq!(
            (p.qty, p.cost, p.realized_pnl),
            (d("2"), d("20.5"), d("3.5"))
        );
        p.apply(Side::Sell, d("3"), d("9"));
        assert_eq!((p.qty, p.cost, p.realized_pnl), (d("-1"), d("-9"), d("1")));
    }

    proptest! {
        /// Cash + cost basis + realized PnL is conserved: the money spent on a
        /// position is either still in its cost or has come back as PnL.
        #[test]
        fn fills_conserve_value(fills in proptest::collection::vec((any::<bool>(), 1i64..100, 1i64..1000), 1..40)) {
            let mut p = Position::default();
            let mut cash = Decimal::ZERO;
            for (buy, qty, price) in fills {
                let (side, qty, price) = (if buy { Side::Buy } else { Side::Sell }, Decimal::from(qty), Decimal::new(price, 2));
                cash -= side.sign() * qty * price;
                p.apply(side, qty, price);
                prop_assert_eq!(cash + p.cost - p.realized_pnl, Decimal::ZERO);
            }
        }
    }
}
