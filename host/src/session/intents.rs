//! Where a strategy's intents go: stamped, granted, **risk-checked**
//! (`risk_check`), then placed, cancelled or replaced at the route; every
//! refusal reported back to the strategy.

use super::*;

impl Services {
    /// Stamps, risk-checks and executes one intent of `reg`.
    pub(super) fn handle_intent(
        &mut self,
        reg: &mut Registration,
        snapshot: &Snapshot,
        raw: Proposal,
    ) {
        let strategy_index = reg.attribution.strategy_index;
        let book = &self.book;
        let intent = match self.stamper.stamp(
            raw,
            &reg.attribution,
            snapshot.id(),
            snapshot.time(),
            &reg.granted,
            &self.reference,
            |id| {
                book.get(id)
                    .filter(|o| o.is_open() && o.attribution.strategy_index == strategy_index)
                    .map(|o| NamedOrder {
                        instrument: o.request.instrument,
                        side: o.request.side,
                        client_tag: o.request.client_tag.clone(),
                    })
            },
        ) {
            Ok(intent) => intent,
            Err(refused) => {
                tracing::debug!(strategy_id = %reg.attribution.strategy_id, "intent refused: {}", refused.reason);
                self.sinks.emit(&EngineEvent::Refused {
                    time: snapshot.time(),
                    attribution: &reg.attribution,
                    intent_id: refused.intent_id,
                    order_id: refused.order_id,
                    reason: &refused.reason,
                });
                self.report_refused(reg, snapshot, refused);
                return;
            }
        };
        let time = intent.time;
        let execution_index = reg.attribution.execution_index;
        match intent.action.clone() {
            Action::Place { order_id, request } => {
                let approved = match self.risk_check(reg, snapshot, intent, &request, None) {
                    risk::Decision::Approved(approved) => approved,
                    risk::Decision::Refused { intent, refusal } => {
                        let refusal = refusal.to_string();
                        self.sinks.emit(&EngineEvent::Risk {
                            intent: &intent,
                            refusal: Some(&refusal),
                        });
                        let report = self.book.reject(order_id, &intent, request, refusal);
                        self.publish(&report, reg);
                        return;
                    }
                };
                self.sinks.emit(&EngineEvent::Risk {
                    intent: approved.intent(),
                    refusal: None,
                });
                let report = self
                    .book
                    .submit(order_id, approved.intent(), request.clone());
                self.publish(&report, reg);
                let touch = self.touch(snapshot, &request);
                self.routes[execution_index].submit(
                    order_id,
                    strategy_index,
                    request,
                    time,
                    touch,
                    &mut self.events,
                );
                self.apply_events(reg);
            }
            Action::Cancel { order_id } => {
                let approved = risk::approve_cancel(intent);
                self.sinks.emit(&EngineEvent::Risk {
                    intent: approved.intent(),
                    refusal: None,
                });
                if !self.cancel_order(reg, order_id, time, CANCELLED_BY_STRATEGY) {
                    let reason = format!(
                        "no working order {order_id} of strategy {}",
                        reg.attribution.strategy_id
                    );
                    self.refuse_request(
                        reg,
                        approved.intent(),
                        ReportKind::CancelRejected,
                        order_id,
                        reason,
                    );
                }
            }
            Action::CancelAll { instrument } => {
                let approved = risk::approve_cancel(intent);
                self.sinks.emit(&EngineEvent::Risk {
                    intent: approved.intent(),
                    refusal: None,
                });
                self.cancel_orders(reg, instrument, time, CANCELLED_BY_STRATEGY);
            }
            Action::Replace {
                order_id,
                amendment,
            } => {
                // The stamper found the order open and owned.
                let Some(order) = self.book.get(order_id).cloned() else {
                    return;
                };
                let mut request = order.request.clone();
                let amended = amendment.apply_to(request.order_type);
                let result = amended.and_then(|order_type| {
                    request.order_type = order_type;
                    request.qty = amendment.qty.unwrap_or(request.qty);
                    match self.risk_check(reg, snapshot, intent.clone(), &request, Some(&order)) {
                        risk::Decision::Approved(_) => self.routes[execution_index].replace(
                            order_id,
                            strategy_index,
                            &amendment,
                            time,
                            &mut self.events,
                        ),
                        risk::Decision::Refused { refusal, .. } => Err(refusal.to_string()),
                    }
                });
                self.sinks.emit(&EngineEvent::Risk {
                    intent: &intent,
                    refusal: result.as_ref().err().map(String::as_str),
                });
                match result {
                    Ok(()) => self.apply_events(reg),
                    Err(reason) => self.refuse_request(
                        reg,
                        &intent,
                        ReportKind::ReplaceRejected,
                        order_id,
                        reason,
                    ),
                }
            }
        }
    }

    /// Requests the cancel of `reg`'s open order `order_id`; `false` if it
    /// has no such open order at its venue.
    pub(super) fn cancel_order(
        &mut self,
        reg: &mut Registration,
        order_id: OrderId,
        time: crate::model::Timestamp,
        reason: &str,
    ) -> bool {
        let a = &reg.attribution;
        let owned = self
            .book
            .get(order_id)
            .is_some_and(|o| o.attribution.strategy_index == a.strategy_index);
        if !owned {
            return false;
        }
        let (execution_index, strategy_index) = (a.execution_index, a.strategy_index);
        let sent = self.routes[execution_index].cancel(
            order_id,
            strategy_index,
            time,
            reason,
            &mut self.events,
        );
        if sent.is_err() {
            // A venue may have reported news about the order meanwhile (a fill).
            self.apply_events(reg);
            return false;
        }
        if let Some(report) = self.book.request_cancel(order_id, time) {
            self.publish(&report, reg);
        }
        self.apply_events(reg);
        true
    }

    /// Cancels every open order of `reg` (on `instrument`, if given).
    pub(super) fn cancel_orders(
        &mut self,
        reg: &mut Registration,
        instrument: Option<InstrumentId>,
        time: crate::model::Timestamp,
        reason: &str,
    ) {
        let ids: Vec<OrderId> = self
            .book
            .open_orders(reg.attribution.strategy_index)
            .filter(|o| instrument.is_none_or(|i| o.request.instrument == i))
            .map(|o| o.id)
            .collect();
        for id in ids {
            self.cancel_order(reg, id, time, reason);
        }
    }

    /// Reports a refused cancel or replace to the strategy and post-trade.
    pub(super) fn refuse_request(
        &mut self,
        reg: &mut Registration,
        intent: &Intent,
        kind: ReportKind,
        order_id: OrderId,
        reason: String,
    ) {
        let report = self
            .book
            .refuse_request(kind, order_id, intent, None, reason);
        self.publish(&report, reg);
    }

    /// Reports an intent the stamper refused back to its strategy.
    pub(super) fn report_refused(
        &mut self,
        reg: &mut Registration,
        snapshot: &Snapshot,
        refused: crate::intents::Refused,
    ) {
        let sequence = self.book.next_sequence();
        reg.pending.push(ReportView {
            sequence,
            order_id: refused.order_id,
            instrument: refused.instrument,
            side: refused.side,
            kind: match refused.what {
                RefusedKind::Place => ReportKind::Rejected,
                RefusedKind::Replace => ReportKind::ReplaceRejected,
            },
            status: OrderStatus::Rejected,
            client_tag: refused.client_tag,
            fill_qty: 0,
            fill_price: 0,
            maker: false,
            commission: Decimal::ZERO,
            reason: refused.reason,
            time: snapshot.time(),
        });
    }

    /// The best price on the other side of `request` now: the ask for a
    /// buy, the bid for a sell, else the last price.
    pub(super) fn touch(&self, snapshot: &Snapshot, request: &OrderRequest) -> Option<Decimal> {
        let inst = self.reference.get(request.instrument);
        let quote = snapshot.last_quote(inst.id).map(|q| match request.side {
            Side::Buy => q.ask,
            Side::Sell => q.bid,
        });
        quote
            .map(|p| from_scaled(p, inst.price_scale))
            .or_else(|| self.mark(snapshot, inst.id))
    }

    /// Risk decision on `request`; `replacing` is the order it would replace
    /// (its own working quantity does not count against it).
    pub(super) fn risk_check(
        &self,
        reg: &Registration,
        snapshot: &Snapshot,
        intent: Intent,
        request: &OrderRequest,
        replacing: Option<&Order>,
    ) -> risk::Decision {
        let a = &reg.attribution;
        let index = a.execution_index;
        let simulator = &self.routes[index];
        let mut working_buys =
            self.book
                .working_qty(a.strategy_index, request.instrument, Side::Buy);
        let mut working_sells =
            self.book
                .working_qty(a.strategy_index, request.instrument, Side::Sell);
        // A replace's own working quantity does not count against it.
        if let Some(order) = replacing {
            match order.request.side {
                Side::Buy => working_buys -= order.remaining(),
                Side::Sell => working_sells -= order.remaining(),
            }
        }
        let instrument = self.reference.get(request.instrument);
        let account = self.inventory.account(index);
        let account_risk = match account.kind {
            AccountKind::Cash => {
                let currency = &instrument.quote_currency;
                let mut free = account
                    .balance(currency)
                    .saturating_sub(self.reserved_cash(index, currency, snapshot));
                if let Some(order) = replacing.filter(|o| o.request.side == Side::Buy) {
                    // The replaced order's reservation is released by the replace.
                    let price = order
                        .request
                        .order_type
                        .limit()
                        .or(order.request.order_type.stop())
                        .or_else(|| self.mark(snapshot, instrument.id))
                        .unwrap_or_default();
                    let cost = risk::estimated_cost(
                        order.request.order_type,
                        order.remaining(),
                        price,
                        simulator.fees(),
                        simulator.slippage(),
                    );
                    free = free.saturating_add(cost.unwrap_or_default());
                }
                risk::AccountRisk::Cash { free_cash: free }
            }
            AccountKind::Margin { leverage } => {
                let (equity, margin_used) = self.margin_state(index, snapshot);
                let mark = |i| self.mark(snapshot, i);
                let quote_rate = self.rates.convert(
                    Decimal::ONE,
                    &instrument.quote_currency,
                    &account.base_currency,
                    &self.reference,
                    mark,
                );
                risk::AccountRisk::Margin {
                    equity,
                    margin_used,
                    leverage,
                    quote_rate,
                }
            }
        };
        let ctx = RiskContext {
            instrument,
            mark: self.mark(snapshot, request.instrument),
            position: self
                .inventory
                .position(a.strategy_index, request.instrument)
                .qty,
            working_buys,
            working_sells,
            account: account_risk,
            fees: simulator.fees(),
            slippage: simulator.slippage(),
            limits: &reg.risk,
            open_orders: self
                .book
                .open_count(a.strategy_index)
                .saturating_sub(usize::from(replacing.is_some())),
        };
        risk::check(intent, request, &ctx)
    }
}
