//! Inventory: where fills are applied to positions and cash. Cash belongs to
//! an execution context (account); positions belong to a strategy within it,
//! so each strategy's results can be attributed.
//!
//! Everything is `rust_decimal`. A position keeps its cost basis rather than
//! an average price, so closing a position releases exactly its cost and
//! realized PnL of a round trip is exact.
//!
//! Accounts hold one balance per currency: a fill moves the balance of the
//! instrument's quote currency. Equity is converted into one currency with
//! [`Rates`]: the marks of currency-pair instruments (EURUSD gives EUR→USD)
//! or rates configured in the session file.
//!
//! Invariant (checked by tests at every step): for each account and
//! currency, `balance == starting + Σ sells − Σ buys − Σ commissions`, and
//! equity is cash plus the marked value of every position.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::execution::orders::OrderReport;
use crate::model::{Currency, ExecutionId, InstrumentId, Side};
use crate::reference_data::ReferenceData;

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
    ///
    /// Saturating: exact for every amount a venue's checked fill can leave
    /// (cash and position fit), and never a panic beyond.
    fn apply(&mut self, side: Side, qty: Decimal, price: Decimal) {
        let signed = side.sign() * qty;
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            self.qty = self.qty.saturating_add(signed);
            self.cost = self.cost.saturating_add(signed.saturating_mul(price));
            return;
        }
        // Reducing (and perhaps flipping): release cost pro rata. A partial
        // release is rounded to RELEASE_DP places so that it, the remaining
        // cost and the realized PnL all stay exact under later additions.
        let closing = qty.min(self.qty.abs());
        let released = if closing == self.qty.abs() {
            self.cost
        } else {
            self.cost
                .saturating_mul(closing)
                .checked_div(self.qty.abs())
                .unwrap_or(self.cost)
                .round_dp(RELEASE_DP)
        };
        let direction = -side.sign();
        let proceeds = (direction * closing).saturating_mul(price);
        self.realized_pnl = self
            .realized_pnl
            .saturating_add(proceeds.saturating_sub(released));
        self.qty += side.sign() * closing;
        self.cost = self.cost.saturating_sub(released);
        let opening = qty - closing;
        if !opening.is_zero() {
            self.qty = self.qty.saturating_add(side.sign() * opening);
            self.cost = self
                .cost
                .saturating_add((side.sign() * opening).saturating_mul(price));
        }
    }
}

/// What an account may do with money it does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum AccountKind {
    /// Spot: no borrowing, no short positions.
    Cash,
    /// Borrowing and short positions, up to `leverage` × equity of exposure.
    Margin {
        /// Exposure allowed per unit of equity.
        leverage: Decimal,
    },
}

/// Cash and totals of one execution context, per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The execution context.
    pub id: ExecutionId,
    /// Currency equity and margin are valued in.
    pub base_currency: Currency,
    /// Cash or margin.
    pub kind: AccountKind,
    /// Balances at the start.
    pub starting: BTreeMap<Currency, Decimal>,
    /// Balances now (a margin account's may be negative).
    pub balances: BTreeMap<Currency, Decimal>,
    /// Fees paid, per currency.
    pub commissions: BTreeMap<Currency, Decimal>,
}

impl Account {
    /// An account holding `starting` balances.
    pub fn new(
        id: ExecutionId,
        base_currency: Currency,
        kind: AccountKind,
        starting: BTreeMap<Currency, Decimal>,
    ) -> Self {
        Self {
            id,
            base_currency,
            kind,
            balances: starting.clone(),
            starting,
            commissions: BTreeMap::new(),
        }
    }

    /// Balance in `currency` (zero if never held).
    pub fn balance(&self, currency: &Currency) -> Decimal {
        self.balances.get(currency).copied().unwrap_or_default()
    }
}

/// All accounts and positions of a session.
#[derive(Debug, Clone)]
pub struct Inventory {
    accounts: Vec<Account>,
    /// `positions[strategy][instrument]`.
    positions: Vec<Vec<Position>>,
    /// Account index of each strategy.
    strategy_account: Vec<usize>,
}

/// Money of the session (or one account) at one moment, in one currency.
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
    /// Σ |position qty × mark| / leverage over margin accounts.
    pub margin_used: Decimal,
}

impl Inventory {
    /// Inventory with these accounts and no positions; `strategy_account[s]`
    /// is the account of strategy `s`.
    pub fn new(accounts: Vec<Account>, strategy_account: Vec<usize>, instruments: usize) -> Self {
        Self {
            accounts,
            positions: vec![vec![Position::default(); instruments]; strategy_account.len()],
            strategy_account,
        }
    }

    /// Applies a report: only fills change inventory. The fill moves the
    /// quote currency of the instrument.
    pub fn apply(&mut self, report: &OrderReport, quote_currency: &Currency) {
        let Some(fill) = report.fill else { return };
        let a = &report.attribution;
        let account = &mut self.accounts[a.execution_index];
        // The same sums the simulator checked before filling; saturating
        // for a venue's own numbers.
        let flow = (report.request.side.sign() * fill.qty)
            .saturating_mul(fill.price)
            .saturating_add(fill.commission);
        let cash = account.balances.entry(quote_currency.clone()).or_default();
        *cash = cash.saturating_sub(flow);
        let fees = account
            .commissions
            .entry(quote_currency.clone())
            .or_default();
        *fees = fees.saturating_add(fill.commission);
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

    /// Values account `account` (or every account, if `None`) in `currency`.
    /// `price(i)` is the mark of instrument `i` in its quote currency;
    /// positions without one are valued at cost.
    pub fn valuation(
        &self,
        account: Option<usize>,
        currency: &Currency,
        reference: &ReferenceData,
        rates: &Rates,
        price: impl Fn(InstrumentId) -> Option<Decimal> + Copy,
    ) -> Valuation {
        let convert = |amount: Decimal, from: &Currency| {
            rates.convert(amount, from, currency, reference, price)
        };
        let mut value = Valuation::default();
        for (index, acc) in self.accounts.iter().enumerate() {
            if account.is_some_and(|a| a != index) {
                continue;
            }
            // Saturating throughout: balances are bounded by validation and
            // fills by the venue, but marks come from market data, and a
            // valuation must never take the session down.
            for (c, v) in &acc.balances {
                value.cash = value.cash.saturating_add(convert(*v, c));
            }
            let leverage = match acc.kind {
                AccountKind::Cash => None,
                AccountKind::Margin { leverage } => Some(leverage),
            };
            let strategies = self
                .strategy_account
                .iter()
                .enumerate()
                .filter(|(_, a)| **a == index);
            for (strategy, _) in strategies {
                for (i, p) in self.positions[strategy].iter().enumerate() {
                    if p.qty.is_zero() {
                        continue;
                    }
                    let inst = reference.get(InstrumentId(i as u32));
                    let marked = price(inst.id).map_or(p.cost, |m| p.qty.saturating_mul(m));
                    let marked = convert(marked, &inst.quote_currency);
                    let cost = convert(p.cost, &inst.quote_currency);
                    value.position_value = value.position_value.saturating_add(marked);
                    value.unrealized_pnl = value
                        .unrealized_pnl
                        .saturating_add(marked.saturating_sub(cost));
                    if let Some(leverage) = leverage {
                        value.margin_used =
                            value.margin_used.saturating_add(marked.abs() / leverage);
                    }
                }
            }
        }
        value.equity = value.cash.saturating_add(value.position_value);
        value
    }
}

/// Conversion between currencies: from the marks of currency-pair
/// instruments (data-provided), else from configured rates.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    /// `(base, quote) → price of one base in quote`.
    configured: BTreeMap<(Currency, Currency), Decimal>,
}

impl Rates {
    /// Rates with these configured pairs.
    pub fn new(configured: BTreeMap<(Currency, Currency), Decimal>) -> Self {
        Self { configured }
    }

    /// Whether `from` can be converted to `to` at all (by a pair instrument
    /// or a configured rate, either way round).
    pub fn has_path(&self, from: &Currency, to: &Currency, reference: &ReferenceData) -> bool {
        from == to
            || [(from, to), (to, from)].into_iter().any(|(b, q)| {
                self.configured.contains_key(&(b.clone(), q.clone()))
                    || reference.pair(b, q).is_some()
            })
    }

    /// One unit of `base` in `quote`, if known now.
    fn rate(
        &self,
        base: &Currency,
        quote: &Currency,
        reference: &ReferenceData,
        price: impl Fn(InstrumentId) -> Option<Decimal>,
    ) -> Option<Decimal> {
        reference
            .pair(base, quote)
            .and_then(|inst| price(inst.id))
            .or_else(|| self.configured.get(&(base.clone(), quote.clone())).copied())
    }

    /// `amount` of `from` in `to`. Zero converts without a rate; a missing
    /// rate (excluded by session validation) counts as zero.
    pub fn convert(
        &self,
        amount: Decimal,
        from: &Currency,
        to: &Currency,
        reference: &ReferenceData,
        price: impl Fn(InstrumentId) -> Option<Decimal> + Copy,
    ) -> Decimal {
        if from == to || amount.is_zero() {
            return amount;
        }
        // Saturating, like valuations: rates come from market data.
        if let Some(rate) = self.rate(from, to, reference, price) {
            return amount.saturating_mul(rate);
        }
        match self.rate(to, from, reference, price) {
            Some(rate) if !rate.is_zero() => amount.checked_div(rate).unwrap_or(
                if amount.is_sign_negative() == rate.is_sign_negative() {
                    Decimal::MAX
                } else {
                    Decimal::MIN
                },
            ),
            _ => {
                tracing::warn!("no rate to convert {from} to {to}; {amount} {from} counted as 0");
                Decimal::ZERO
            }
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
