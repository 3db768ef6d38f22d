//! Step 2: the venues act on the step's data, and their events run through
//! the order state machine into inventory (**where fills are applied to
//! positions and cash**), post-trade and the owning strategy.

use super::*;

impl Services {
    /// Step 2: the venues act on this step's data; their events are applied
    /// to the order book, inventory and post-trade, and routed.
    pub(super) fn execute_fills(
        &mut self,
        snapshot: &Snapshot,
        registrations: &mut [Registration],
    ) {
        let mut events = std::mem::take(&mut self.events);
        for index in 0..self.routes.len() {
            if self.routes[index].is_idle() {
                continue;
            }
            let mut funds = self.funds(index);
            self.routes[index].on_market(snapshot, &self.reference, &mut funds, &mut events);
            for event in events.drain(..) {
                if let Some(report) = self.book.apply(&event) {
                    let owner = report.attribution.strategy_index;
                    self.publish(&report, &mut registrations[owner]);
                }
            }
        }
        self.events = events;
    }

    /// Applies the events a venue emitted for `reg`'s request.
    pub(super) fn apply_events(&mut self, reg: &mut Registration) {
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            if let Some(report) = self.book.apply(&event) {
                self.publish(&report, reg);
            }
        }
        self.events = events;
    }

    /// Applies a report to inventory, records it and queues it for its strategy.
    pub(super) fn publish(&mut self, report: &OrderReport, reg: &mut Registration) {
        let inst = self
            .reference
            .instruments()
            .get(report.request.instrument.0 as usize);
        if let Some(inst) = inst {
            self.inventory.apply(report, &inst.quote_currency);
        }
        let a = &report.attribution;
        // A report about an order id the strategy does not have names no
        // instrument; it carries no fill, so no position is involved.
        let none = Position::default();
        let position = inst.map_or(&none, |i| self.inventory.position(a.strategy_index, i.id));
        self.sinks.emit(&EngineEvent::Report {
            report,
            instrument: inst,
            position,
            account: self.inventory.account(a.execution_index),
        });
        let (qty_scale, price_scale) = inst.map_or((0, 0), |i| (i.qty_scale, i.price_scale));
        let (fill_qty, fill_price, commission, maker) =
            report.fill.map_or((0, 0, Decimal::ZERO, false), |f| {
                (
                    to_scaled(f.qty, qty_scale).unwrap_or(i64::MAX),
                    to_scaled(f.price, price_scale).unwrap_or(i64::MAX),
                    f.commission,
                    f.maker,
                )
            });
        reg.pending.push(ReportView {
            sequence: report.sequence,
            order_id: report.order_id,
            instrument: report.request.instrument,
            side: report.request.side,
            kind: report.kind,
            status: report.status,
            client_tag: report.request.client_tag.clone(),
            fill_qty,
            fill_price,
            maker,
            commission,
            reason: report.reason.clone(),
            time: report.time,
        });
    }
}
