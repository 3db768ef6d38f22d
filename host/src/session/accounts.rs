//! The account half of every view, and what the venues and risk need to
//! know of accounts: free funds, reserved cash, margin, valuation and PnL.

use super::*;

impl Services {
    /// What venue `index` may spend and sell, from inventory.
    pub(super) fn funds(&self, index: usize) -> Funds {
        let account = self.inventory.account(index);
        let mut positions = BTreeMap::new();
        for (strategy, &acc) in self.strategy_account.iter().enumerate() {
            if acc != index {
                continue;
            }
            for (i, p) in self.inventory.positions(strategy).iter().enumerate() {
                if !p.qty.is_zero() {
                    positions.insert((strategy, InstrumentId(i as u32)), p.qty);
                }
            }
        }
        Funds {
            margin: matches!(account.kind, AccountKind::Margin { .. }),
            cash: account.balances.clone(),
            positions,
        }
    }

    /// Cash of execution context `index` in `currency` reserved by working
    /// buy orders (cash accounts), from the order book's running sums: the
    /// cost does not grow with the orders a strategy has placed.
    pub(super) fn reserved_cash(
        &self,
        index: usize,
        currency: &Currency,
        snapshot: &Snapshot,
    ) -> Decimal {
        let route = &self.routes[index];
        self.book
            .working(index)
            .filter(|((_, instrument, buy, _), _)| {
                *buy && &self.reference.get(*instrument).quote_currency == currency
            })
            .fold(Decimal::ZERO, |sum, ((_, instrument, _, _), w)| {
                let mark = self.mark(snapshot, *instrument);
                sum.saturating_add(risk::working_cost(w, mark, route.fees(), route.slippage()))
            })
    }

    /// Equity and margin used of execution context `index`, in its base
    /// currency; working orders that add exposure hold margin too.
    pub(super) fn margin_state(&self, index: usize, snapshot: &Snapshot) -> (Decimal, Decimal) {
        let account = self.inventory.account(index);
        let mark = |i| self.mark(snapshot, i);
        let value = self.inventory.valuation(
            Some(index),
            &account.base_currency,
            &self.reference,
            &self.rates,
            mark,
        );
        let AccountKind::Margin { leverage } = account.kind else {
            return (value.equity, Decimal::ZERO);
        };
        let working = self
            .book
            .working(index)
            .filter(|((_, _, _, reduce_only), _)| !reduce_only)
            .fold(Decimal::ZERO, |sum, ((_, instrument, _, _), w)| {
                let inst = self.reference.get(*instrument);
                let notional = risk::working_notional(w, mark(inst.id));
                let converted = self.rates.convert(
                    notional,
                    &inst.quote_currency,
                    &account.base_currency,
                    &self.reference,
                    mark,
                );
                sum.saturating_add(converted / leverage)
            });
        (value.equity, value.margin_used.saturating_add(working))
    }

    /// Account `account` (every account, if `None`) valued in the session
    /// currency at this snapshot's prices.
    pub(super) fn account_value(&self, account: Option<usize>, snapshot: &Snapshot) -> Valuation {
        self.inventory
            .valuation(account, &self.currency, &self.reference, &self.rates, |i| {
                self.mark(snapshot, i)
            })
    }

    /// Strategy `strategy`'s PnL before fees (realized plus unrealized, in
    /// the session currency) and whether it holds any position.
    pub(super) fn strategy_pnl(&self, strategy: usize, snapshot: &Snapshot) -> (Decimal, bool) {
        let mark = |i| self.mark(snapshot, i);
        let (mut pnl, mut open) = (Decimal::ZERO, false);
        for (i, p) in self.inventory.positions(strategy).iter().enumerate() {
            let inst = self.reference.get(InstrumentId(i as u32));
            let unrealized = if p.qty.is_zero() {
                Decimal::ZERO
            } else {
                open = true;
                mark(inst.id).map_or(Decimal::ZERO, |m| p.qty * m - p.cost)
            };
            pnl += self.rates.convert(
                p.realized_pnl + unrealized,
                &inst.quote_currency,
                &self.currency,
                &self.reference,
                mark,
            );
        }
        (pnl, open)
    }

    /// Sets the account part of a view: the full account when it may have
    /// changed since the strategy's previous step (see `wit/strategy.wit`),
    /// else `None`.
    pub(super) fn fill_account_view(&self, reg: &mut Registration, snapshot: &Snapshot) {
        let a = &reg.attribution;
        let open = self.book.open_orders(a.strategy_index);
        if reg.account_sent && reg.pending.is_empty() && open.clone().next().is_none() {
            reg.view.account = None;
            return;
        }
        reg.account_sent = true;
        let positions = self
            .inventory
            .positions(a.strategy_index)
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.qty.is_zero())
            .map(|(i, p)| {
                let inst = self.reference.get(InstrumentId(i as u32));
                PositionView {
                    instrument: inst.id,
                    // Positions are sums of lot multiples: exact at qty scale.
                    qty: to_scaled(p.qty, inst.qty_scale).unwrap_or(i64::MAX),
                    avg_price: p.avg_price().unwrap_or_default(),
                }
            })
            .collect();
        let index = a.execution_index;
        let account = self.inventory.account(index);
        let margin = matches!(account.kind, AccountKind::Margin { .. });
        let balances = account
            .balances
            .iter()
            .map(|(currency, total)| BalanceView {
                currency: currency.to_string(),
                total: *total,
                free: if margin {
                    *total
                } else {
                    total.saturating_sub(self.reserved_cash(index, currency, snapshot))
                },
            })
            .collect();
        let (equity, margin_used) = self.margin_state(index, snapshot);
        let open_orders = open.map(|o| open_order_view(o, &self.reference)).collect();
        reg.view.account = Some(AccountView {
            base_currency: account.base_currency.to_string(),
            equity,
            margin_used,
            positions,
            balances,
            open_orders,
            reports: std::mem::take(&mut reg.pending),
        });
    }

    /// The latest price of `instrument` in `snapshot`, as a decimal.
    pub(super) fn mark(&self, snapshot: &Snapshot, instrument: InstrumentId) -> Option<Decimal> {
        snapshot
            .mark(instrument)
            .map(|p| from_scaled(p, self.reference.get(instrument).price_scale))
    }
}

/// A working order as its strategy sees it.
fn open_order_view(o: &Order, reference: &ReferenceData) -> OpenOrderView {
    let inst = reference.get(o.request.instrument);
    let price = |p: Decimal| to_scaled(p, inst.price_scale).unwrap_or(i64::MAX);
    let qty = |q: Decimal| to_scaled(q, inst.qty_scale).unwrap_or(i64::MAX);
    let r = &o.request;
    OpenOrderView {
        id: o.id,
        instrument: inst.id,
        side: r.side,
        order_type: r.order_type.map(price),
        time_in_force: r.tif,
        qty: qty(r.qty),
        filled_qty: qty(o.filled_qty),
        status: o.status,
        triggered: o.triggered,
        reduce_only: r.reduce_only,
        post_only: r.post_only,
        client_tag: r.client_tag.clone(),
    }
}
