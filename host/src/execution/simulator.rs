//! The historical execution simulator behind a backtest or paper route: a
//! venue that accepts, triggers, fills, cancels and expires orders against
//! the session's market data and reports each change as a [`VenueEvent`].
//!
//! The fill rules are documented in full in `docs/execution.md`; in short:
//!
//! * **Timing.** An order placed at step *n* reaches the venue after the
//!   route's submit latency and is matched from the first later step whose
//!   time is at or after that (never on the data it was decided on). A
//!   cancel takes effect after the cancel latency; the order can fill
//!   meanwhile. Activations, cancels and expiries due at a step happen
//!   before that step's data is matched.
//! * **Bars.** The price path inside a bar is assumed to be open → nearer
//!   extreme → farther extreme → close. Market orders fill at the open;
//!   limits fill at the open if it is already through them (a gap, taker),
//!   else at the limit if the path reaches it (maker); stops trigger where
//!   the path crosses the stop (at the open on a gap) and fill there as
//!   market orders; stop-limits then rest as limits on the rest of the path.
//!   An optional participation cap limits the quantity filled per bar to a
//!   fraction of the bar's volume; the rest fills on later bars.
//! * **Quotes and trades.** Market orders take the top of the book, up to
//!   its size; limits that are marketable on arrival do the same, else they
//!   rest and fill when a trade prints through them, or at them once the
//!   quantity that was queued ahead at that price has traded. Stops trigger
//!   on trades.
//! * **Money.** Taker fills of market and stop orders move against the order
//!   by the slippage and are rounded to the tick away from its favour. Fees
//!   are the maker or taker rate × notional, plus a fixed fee on an order's
//!   first fill. A cash account cannot spend more than it holds: a buy that
//!   would is cancelled at fill time.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::execution::orders::{VenueEvent, VenueEventKind};
use crate::execution::{FeeSchedule, Latency};
use crate::model::Fill;
use crate::model::{from_scaled, Currency, InstrumentId, OrderId, Side, Timestamp};
use crate::model::{Amendment, OrderRequest, TimeInForce};
use crate::model::{Bar, Quote, Trade};
use crate::reference_data::{Instrument, ReferenceData};
use crate::state::Snapshot;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Money and positions of one execution context as the venue checks them
/// while filling: updated fill by fill within a step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funds {
    /// Margin accounts may borrow; cash accounts may not.
    pub margin: bool,
    /// Balance per currency.
    pub cash: BTreeMap<Currency, Decimal>,
    /// Position per (strategy index, instrument).
    pub positions: BTreeMap<(usize, InstrumentId), Decimal>,
}

impl Funds {
    fn position(&self, strategy: usize, instrument: InstrumentId) -> Decimal {
        self.positions
            .get(&(strategy, instrument))
            .copied()
            .unwrap_or_default()
    }

    fn cash(&self, currency: &Currency) -> Decimal {
        self.cash.get(currency).copied().unwrap_or_default()
    }

    /// The cash and position `fill` would leave, or `None` if either does
    /// not fit a decimal (inventory books the same sums, so it cannot
    /// overflow on a fill the venue made).
    fn after(
        &self,
        strategy: usize,
        inst: &Instrument,
        side: Side,
        fill: &Fill,
    ) -> Option<(Decimal, Decimal)> {
        let notional = fill.qty.checked_mul(fill.price)?;
        let flow = (side.sign() * notional).checked_add(fill.commission)?;
        let cash = self.cash(&inst.quote_currency).checked_sub(flow)?;
        let position = self
            .position(strategy, inst.id)
            .checked_add(side.sign() * fill.qty)?;
        Some((cash, position))
    }

    fn set(&mut self, strategy: usize, inst: &Instrument, (cash, position): (Decimal, Decimal)) {
        self.cash.insert(inst.quote_currency.clone(), cash);
        self.positions.insert((strategy, inst.id), position);
    }
}

/// An order as the venue holds it.
#[derive(Debug, Clone)]
struct VenueOrder {
    id: OrderId,
    strategy: usize,
    request: OrderRequest,
    /// When it reaches the venue; matched from then on.
    active_from: Timestamp,
    accepted: bool,
    /// When a requested cancel takes effect, and why it was requested.
    cancel_at: Option<(Timestamp, String)>,
    /// When it expires (GTD, DAY).
    expires_at: Option<Timestamp>,
    filled: Decimal,
    triggered: bool,
    /// Whether it has had its first chance to fill (IOC/FOK expire after it).
    matched_once: bool,
    /// Quantity queued ahead at the order's limit price (quotes/trades).
    queue_ahead: Decimal,
    events: u64,
}

impl VenueOrder {
    fn remaining(&self) -> Decimal {
        self.request.qty - self.filled
    }

    fn event(&mut self, time: Timestamp, kind: VenueEventKind) -> VenueEvent {
        self.events += 1;
        VenueEvent {
            order_id: self.id,
            event_id: self.events,
            time,
            kind,
        }
    }
}

/// A price the order can trade at, with the quantity available there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opportunity {
    price: Decimal,
    /// `None`: unlimited (bars without a participation cap).
    available: Option<Decimal>,
    maker: bool,
}

/// Simulated venue of one execution context.
#[derive(Debug, Clone)]
pub struct Simulator {
    fees: FeeSchedule,
    slippage: Decimal,
    latency: Latency,
    participation: Option<Decimal>,
    orders: Vec<VenueOrder>,
    /// The venue's own order numbering.
    accepted: u64,
}

impl Simulator {
    /// A venue with these fees, slippage (fraction of price, taker fills of
    /// market and stop orders), latency and volume participation cap.
    pub fn new(
        fees: FeeSchedule,
        slippage: Decimal,
        latency: Latency,
        participation: Option<Decimal>,
    ) -> Self {
        Self {
            fees,
            slippage,
            latency,
            participation,
            orders: Vec::new(),
            accepted: 0,
        }
    }

    /// The fee schedule.
    pub fn fees(&self) -> &FeeSchedule {
        &self.fees
    }

    /// Slippage as a fraction of price.
    pub fn slippage(&self) -> Decimal {
        self.slippage
    }

    /// Receives a new order at `time`. A post-only order that would take
    /// liquidity at `touch` (the best opposite price now) is rejected.
    pub fn submit(
        &mut self,
        id: OrderId,
        strategy: usize,
        request: OrderRequest,
        time: Timestamp,
        touch: Option<Decimal>,
        out: &mut Vec<VenueEvent>,
    ) {
        let expires_at = match request.tif {
            TimeInForce::Gtd(until) => Some(until),
            TimeInForce::Day => (time.div_euclid(NANOS_PER_DAY) + 1).checked_mul(NANOS_PER_DAY),
            TimeInForce::Gtc | TimeInForce::Ioc | TimeInForce::Fok => None,
        };
        let mut order = VenueOrder {
            id,
            strategy,
            // Latencies are bounded by validation; a time past the end of
            // the representable range is simply never reached.
            active_from: time.saturating_add(self.latency.submit_nanos()),
            accepted: false,
            cancel_at: None,
            expires_at,
            filled: Decimal::ZERO,
            triggered: false,
            matched_once: false,
            queue_ahead: Decimal::ZERO,
            events: 0,
            request,
        };
        if let (true, Some(limit), Some(touch)) = (
            order.request.post_only,
            order.request.order_type.limit(),
            touch,
        ) {
            if crosses(order.request.side, limit, touch) {
                let reason = format!("post-only limit {limit} would take liquidity at {touch}");
                out.push(order.event(time, VenueEventKind::Rejected(reason)));
                return;
            }
        }
        self.orders.push(order);
    }

    fn owned(&mut self, id: OrderId, strategy: usize) -> Option<&mut VenueOrder> {
        self.orders
            .iter_mut()
            .find(|o| o.id == id && o.strategy == strategy && o.cancel_at.is_none())
    }

    /// A strategy's cancel of its order `id`, effective after the cancel
    /// latency. `Err` names why it cannot be cancelled.
    pub fn cancel(
        &mut self,
        id: OrderId,
        strategy: usize,
        time: Timestamp,
        reason: &str,
        out: &mut Vec<VenueEvent>,
    ) -> Result<(), String> {
        let cancel_latency = self.latency.cancel_nanos();
        let order = self
            .owned(id, strategy)
            .ok_or_else(|| format!("no working order {id}"))?;
        order.cancel_at = Some((time.saturating_add(cancel_latency), reason.to_owned()));
        if cancel_latency == 0 {
            self.settle_cancels(time, out);
        }
        Ok(())
    }

    /// Cancels every working order of `strategy` (on `instrument`, if
    /// given); returns the ids.
    pub fn cancel_all(
        &mut self,
        strategy: usize,
        instrument: Option<InstrumentId>,
        time: Timestamp,
        reason: &str,
        out: &mut Vec<VenueEvent>,
    ) -> Vec<OrderId> {
        let ids: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|o| {
                o.strategy == strategy
                    && o.cancel_at.is_none()
                    && instrument.is_none_or(|i| o.request.instrument == i)
            })
            .map(|o| o.id)
            .collect();
        for &id in &ids {
            // Every id was just found working.
            let _ = self.cancel(id, strategy, time, reason, out);
        }
        ids
    }

    /// A strategy's change to its working order `id`, effective at once.
    pub fn replace(
        &mut self,
        id: OrderId,
        strategy: usize,
        amendment: &Amendment,
        time: Timestamp,
        out: &mut Vec<VenueEvent>,
    ) -> Result<(), String> {
        let order = self
            .owned(id, strategy)
            .ok_or_else(|| format!("no working order {id}"))?;
        if !order.accepted {
            return Err(format!("order {id} has not reached the venue yet"));
        }
        let qty = amendment.qty.unwrap_or(order.request.qty);
        if qty <= order.filled {
            return Err(format!(
                "new qty {qty} is not above the {} already filled",
                order.filled
            ));
        }
        let order_type = amendment.apply_to(order.request.order_type)?;
        if order.request.order_type.limit() != order_type.limit() {
            // A new price loses the place in the queue.
            order.queue_ahead = Decimal::ZERO;
        }
        order.request.qty = qty;
        order.request.order_type = order_type;
        out.push(order.event(time, VenueEventKind::Replaced { qty, order_type }));
        Ok(())
    }

    fn settle_cancels(&mut self, time: Timestamp, out: &mut Vec<VenueEvent>) {
        self.orders.retain_mut(|o| {
            if let Some((_, reason)) = o.cancel_at.take_if(|(at, _)| *at <= time) {
                out.push(o.event(time, VenueEventKind::Cancelled(reason)));
                false
            } else {
                true
            }
        });
    }

    /// Matches working orders against snapshot `snapshot`: acceptances,
    /// cancels and expiries due first, then triggers and fills. `funds` is
    /// the context's money before this step's fills.
    pub fn on_market(
        &mut self,
        snapshot: &Snapshot,
        reference: &ReferenceData,
        funds: &mut Funds,
        out: &mut Vec<VenueEvent>,
    ) {
        if self.orders.is_empty() {
            return;
        }
        let time = snapshot.time();
        self.settle_cancels(time, out);
        // Quantity already given to earlier orders at this step, per
        // instrument, for the participation cap.
        let mut taken: BTreeMap<InstrumentId, Decimal> = BTreeMap::new();
        let mut index = 0;
        while index < self.orders.len() {
            let order = &mut self.orders[index];
            if order.active_from > time {
                index += 1;
                continue;
            }
            if !order.accepted {
                order.accepted = true;
                self.accepted += 1;
                let venue_order_id = format!("sim-{}", self.accepted);
                out.push(order.event(order.active_from, VenueEventKind::Accepted(venue_order_id)));
                let inst = reference.get(order.request.instrument);
                order.queue_ahead = queue_at_arrival(order, snapshot, inst);
            }
            if let Some(at) = order.expires_at.filter(|at| *at <= time) {
                let reason = format!("time in force ended at {}", crate::model::format_time(at));
                out.push(order.event(time, VenueEventKind::Expired(reason)));
                self.orders.remove(index);
                continue;
            }
            let done = self.match_order(index, snapshot, reference, funds, &mut taken, out);
            if done {
                self.orders.remove(index);
            } else {
                index += 1;
            }
        }
    }

    /// Matches one order; returns whether it is finished at the venue.
    fn match_order(
        &mut self,
        index: usize,
        snapshot: &Snapshot,
        reference: &ReferenceData,
        funds: &mut Funds,
        taken: &mut BTreeMap<InstrumentId, Decimal>,
        out: &mut Vec<VenueEvent>,
    ) -> bool {
        let (slippage, participation) = (self.slippage, self.participation);
        let fees = self.fees.clone();
        let order = &mut self.orders[index];
        let inst = reference.get(order.request.instrument);
        let market = Market::of(snapshot, inst);
        if market.is_none() {
            return false;
        }
        let time = snapshot.time();
        let side = order.request.side;
        let opportunity = match market {
            Market::Bar(bar) => {
                bar_opportunity(order, bar, inst, slippage, participation, taken, time, out)
            }
            Market::Ticks { quote, trades } => {
                tick_opportunity(order, quote, trades, inst, time, out)
            }
            Market::None => None,
        };
        let first_chance = !order.matched_once;
        order.matched_once = true;
        let mut qty = order.remaining();
        if let Some(opp) = opportunity {
            if let Some(available) = opp.available {
                qty = qty.min(available);
            }
            if order.request.reduce_only {
                let position = funds.position(order.strategy, inst.id);
                let reducible = match side {
                    Side::Buy if position < Decimal::ZERO => -position,
                    Side::Sell if position > Decimal::ZERO => position,
                    _ => Decimal::ZERO,
                };
                if reducible.is_zero() {
                    let reason = "reduce-only order would increase the position".to_owned();
                    out.push(order.event(time, VenueEventKind::Cancelled(reason)));
                    return true;
                }
                qty = qty.min(reducible);
            }
            let fok_short = order.request.tif == TimeInForce::Fok && qty < order.remaining();
            if qty > Decimal::ZERO && !fok_short {
                let rate = if opp.maker { fees.maker } else { fees.taker };
                let fixed = if order.filled.is_zero() {
                    fees.per_order
                } else {
                    Decimal::ZERO
                };
                // Guest quantities can be anything an s64 holds: a fill
                // whose money does not fit is refused, never computed.
                let fill = qty.checked_mul(opp.price).and_then(|notional| {
                    let commission = notional.checked_mul(rate)?.checked_add(fixed)?;
                    let fill = Fill {
                        qty,
                        price: opp.price,
                        commission,
                        maker: opp.maker,
                    };
                    let after = funds.after(order.strategy, inst, side, &fill)?;
                    Some((fill, notional.checked_add(commission)?, after))
                });
                let Some((fill, cost, after)) = fill else {
                    let reason = format!(
                        "a fill of {qty} at {} is out of the range of amounts the venue books",
                        opp.price
                    );
                    out.push(order.event(time, VenueEventKind::Cancelled(reason)));
                    return true;
                };
                let cash = funds.cash(&inst.quote_currency);
                if side == Side::Buy && !funds.margin && cost > cash {
                    let reason =
                        format!("insufficient cash at fill: cost {cost} exceeds cash {cash}");
                    out.push(order.event(time, VenueEventKind::Cancelled(reason)));
                    return true;
                }
                funds.set(order.strategy, inst, after);
                let taken = taken.entry(inst.id).or_default();
                *taken = taken.saturating_add(qty);
                order.filled += qty;
                out.push(order.event(time, VenueEventKind::Fill(fill)));
                if order.remaining().is_zero() {
                    return true;
                }
                if order.request.reduce_only && funds.position(order.strategy, inst.id).is_zero() {
                    let reason = "reduce-only order cancelled: the position is flat".to_owned();
                    out.push(order.event(time, VenueEventKind::Cancelled(reason)));
                    return true;
                }
            }
        }
        if first_chance && matches!(order.request.tif, TimeInForce::Ioc | TimeInForce::Fok) {
            let reason = format!(
                "{} remainder of {} not filled at its first opportunity",
                if order.request.tif == TimeInForce::Ioc {
                    "IOC"
                } else {
                    "FOK"
                },
                order.remaining()
            );
            out.push(order.event(time, VenueEventKind::Expired(reason)));
            return true;
        }
        false
    }

    /// Whether the venue holds no orders (nothing to match).
    pub fn is_idle(&self) -> bool {
        self.orders.is_empty()
    }
}

/// What the market offers one instrument at a step.
enum Market<'a> {
    Bar(&'a Bar),
    Ticks {
        quote: Option<&'a Quote>,
        trades: &'a [Trade],
    },
    None,
}

impl<'a> Market<'a> {
    fn of(snapshot: &'a Snapshot, inst: &Instrument) -> Self {
        if let Some(bar) = snapshot.bar(inst.id) {
            return Market::Bar(bar);
        }
        let trades = snapshot.trades(inst.id);
        // Between quotes the book is the last one seen.
        let quote = snapshot.last_quote(inst.id);
        if trades.is_empty() && snapshot.quote(inst.id).is_none() {
            return Market::None;
        }
        Market::Ticks { quote, trades }
    }

    fn is_none(&self) -> bool {
        matches!(self, Market::None)
    }
}

/// Whether a `side` order at `limit` trades against the opposite price `touch`.
fn crosses(side: Side, limit: Decimal, touch: Decimal) -> bool {
    match side {
        Side::Buy => limit >= touch,
        Side::Sell => limit <= touch,
    }
}

/// Whether the market at `price` has reached a `side` stop at `stop`.
fn stop_hit(side: Side, stop: Decimal, price: Decimal) -> bool {
    match side {
        Side::Buy => price >= stop,
        Side::Sell => price <= stop,
    }
}

fn to_tick(price: Decimal, tick: Decimal, rounding: RoundingStrategy) -> Decimal {
    (price / tick).round_dp_with_strategy(0, rounding) * tick
}

/// `price` moved against a taker order by `slippage`, on the tick grid.
fn slipped(side: Side, price: Decimal, slippage: Decimal, tick: Decimal) -> Decimal {
    match side {
        Side::Buy => to_tick(
            price * (Decimal::ONE + slippage),
            tick,
            RoundingStrategy::AwayFromZero,
        ),
        Side::Sell => to_tick(
            price * (Decimal::ONE - slippage),
            tick,
            RoundingStrategy::ToZero,
        ),
    }
}

/// The bar's assumed path: open, the extreme nearer the open, the other
/// extreme, close (ties go high first).
fn bar_path(bar: &Bar, inst: &Instrument) -> [Decimal; 4] {
    let p = |v| from_scaled(v, inst.price_scale);
    let (open, high, low, close) = (p(bar.open), p(bar.high), p(bar.low), p(bar.close));
    if high - open <= open - low {
        [open, high, low, close]
    } else {
        [open, low, high, close]
    }
}

/// Where along `path` (from point `from`) the price first reaches `hit`:
/// the point's index and the price there (`target` itself inside a segment).
fn first_touch(
    path: &[Decimal; 4],
    from: usize,
    start: Decimal,
    target: Decimal,
    reached: impl Fn(Decimal) -> bool,
) -> Option<(usize, Decimal)> {
    if reached(start) {
        return Some((from, start));
    }
    path[from + 1..]
        .iter()
        .position(|p| reached(*p))
        .map(|i| (from + 1 + i, target))
}

#[allow(clippy::too_many_arguments)]
fn bar_opportunity(
    order: &mut VenueOrder,
    bar: &Bar,
    inst: &Instrument,
    slippage: Decimal,
    participation: Option<Decimal>,
    taken: &BTreeMap<InstrumentId, Decimal>,
    time: Timestamp,
    out: &mut Vec<VenueEvent>,
) -> Option<Opportunity> {
    let side = order.request.side;
    let path = bar_path(bar, inst);
    let available = participation.map(|rate| {
        let cap = from_scaled(bar.volume, inst.qty_scale) * rate;
        let cap = (cap / inst.lot_size).floor() * inst.lot_size;
        (cap - taken.get(&inst.id).copied().unwrap_or_default()).max(Decimal::ZERO)
    });
    // Where the order becomes live on this bar's path, and at what price.
    let (mut at, mut price) = (0, path[0]);
    if let (Some(stop), false) = (order.request.order_type.stop(), order.triggered) {
        let (i, p) = first_touch(&path, 0, path[0], stop, |q| stop_hit(side, stop, q))?;
        order.triggered = true;
        out.push(order.event(time, VenueEventKind::Triggered));
        (at, price) = (i, p);
    }
    let opportunity = match order.request.order_type.limit() {
        None => Opportunity {
            price: slipped(side, price, slippage, inst.tick_size),
            available,
            maker: false,
        },
        Some(limit) => {
            let through = |q: Decimal| crosses(side, limit, q);
            let (i, p) = first_touch(&path, at, price, limit, through)?;
            Opportunity {
                price: p,
                available,
                // Marketable where it became live: it took liquidity.
                maker: i != at,
            }
        }
    };
    Some(opportunity)
}

fn tick_opportunity(
    order: &mut VenueOrder,
    quote: Option<&Quote>,
    trades: &[Trade],
    inst: &Instrument,
    time: Timestamp,
    out: &mut Vec<VenueEvent>,
) -> Option<Opportunity> {
    let side = order.request.side;
    let price = |v| from_scaled(v, inst.price_scale);
    let qty = |v| from_scaled(v, inst.qty_scale);
    if let (Some(stop), false) = (order.request.order_type.stop(), order.triggered) {
        trades
            .iter()
            .find(|t| stop_hit(side, stop, price(t.price)))?;
        order.triggered = true;
        out.push(order.event(time, VenueEventKind::Triggered));
    }
    // Taking the top of the book.
    let top = quote.map(|q| match side {
        Side::Buy => (price(q.ask), qty(q.ask_size)),
        Side::Sell => (price(q.bid), qty(q.bid_size)),
    });
    let limit = order.request.order_type.limit();
    if let Some((touch, size)) =
        top.filter(|(touch, _)| limit.is_none_or(|l| crosses(side, l, *touch)))
    {
        return Some(Opportunity {
            price: touch,
            available: Some(size),
            maker: false,
        });
    }
    // Resting: trades through the limit fill it; trades at it first use up
    // the queue ahead.
    let limit = limit?;
    let mut available = Decimal::ZERO;
    for trade in trades {
        let (p, size) = (price(trade.price), qty(trade.size));
        let through = match side {
            Side::Buy => p < limit,
            Side::Sell => p > limit,
        };
        if through {
            available += size;
        } else if p == limit {
            let used = size.min(order.queue_ahead);
            order.queue_ahead -= used;
            available += size - used;
        }
    }
    (available > Decimal::ZERO).then_some(Opportunity {
        price: limit,
        available: Some(available),
        maker: true,
    })
}

/// Quantity displayed at a resting limit's price when it arrives: the
/// queue it joins behind (quotes/trades data only).
fn queue_at_arrival(order: &VenueOrder, snapshot: &Snapshot, inst: &Instrument) -> Decimal {
    let (Some(limit), Some(quote)) = (
        order.request.order_type.limit(),
        snapshot.last_quote(inst.id),
    ) else {
        return Decimal::ZERO;
    };
    let (best, size) = match order.request.side {
        Side::Buy => (quote.bid, quote.bid_size),
        Side::Sell => (quote.ask, quote.ask_size),
    };
    if from_scaled(best, inst.price_scale) == limit {
        from_scaled(size, inst.qty_scale)
    } else {
        Decimal::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Problems;
    use crate::market_data::{MarketData, Series};
    use crate::model::OrderType;
    use crate::reference_data::InstrumentConfig;
    use crate::state::StateCoordinator;

    const MS: i64 = 1_000_000;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn reference() -> ReferenceData {
        let config = InstrumentConfig {
            symbol: "X".into(),
            venue: None,
            base_currency: Some("X".into()),
            quote_currency: Some("USD".into()),
            tick_size: Some(d("0.01")),
            lot_size: Some(d("1")),
            min_notional: None,
        };
        ReferenceData::from_config(&[config], &mut Problems::default())
    }

    fn bar(step: i64, [o, h, l, c]: [i64; 4], volume: i64) -> Bar {
        Bar {
            instrument: InstrumentId(0),
            time: step * MS,
            open: o,
            high: h,
            low: l,
            close: c,
            volume,
        }
    }

    fn order(side: Side, order_type: OrderType, qty: i64) -> OrderRequest {
        OrderRequest {
            instrument: InstrumentId(0),
            side,
            order_type,
            tif: TimeInForce::Gtc,
            qty: Decimal::from(qty),
            reduce_only: false,
            post_only: false,
            client_tag: String::new(),
        }
    }

    fn limit(p: &str) -> OrderType {
        OrderType::Limit { price: d(p) }
    }

    fn stop(p: &str) -> OrderType {
        OrderType::Stop { stop: d(p) }
    }

    fn sim() -> Simulator {
        let fees = FeeSchedule {
            maker: Decimal::ZERO,
            taker: Decimal::ZERO,
            per_order: Decimal::ZERO,
        };
        Simulator::new(fees, Decimal::ZERO, Latency::default(), None)
    }

    /// Places `orders` (step, request) after matching that step, runs every
    /// step of `data`, and returns each event as (step, kind).
    fn run(
        mut sim: Simulator,
        data: Vec<Series>,
        orders: Vec<(i64, OrderRequest)>,
        funds: &mut Funds,
    ) -> Vec<(i64, VenueEventKind)> {
        let reference = reference();
        let mut coordinator = StateCoordinator::new(MarketData::from_series(data).into(), 1);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut next_id = 0;
        while let Some(snapshot) = coordinator.advance() {
            let step = snapshot.time() / MS;
            sim.on_market(snapshot, &reference, funds, &mut out);
            for (s, request) in orders.iter().filter(|(s, _)| *s == step) {
                next_id += 1;
                let touch = snapshot.mark(InstrumentId(0)).map(|p| from_scaled(p, 2));
                sim.submit(
                    OrderId(next_id),
                    0,
                    request.clone(),
                    s * MS,
                    touch,
                    &mut out,
                );
            }
            seen.extend(out.drain(..).map(|e| (step, e.kind)));
        }
        seen
    }

    fn cash(amount: &str) -> Funds {
        Funds {
            margin: false,
            cash: [(Currency::new("USD"), d(amount))].into(),
            positions: BTreeMap::new(),
        }
    }

    fn fill(qty: i64, price: &str, maker: bool) -> VenueEventKind {
        VenueEventKind::Fill(Fill {
            qty: Decimal::from(qty),
            price: d(price),
            commission: Decimal::ZERO,
            maker,
        })
    }

    /// Step 0 is where orders are placed; step 1 opens at 100.00, dips to
    /// 99.00 first (nearer the open), then rises to 102.00, closes 101.00.
    fn bars() -> Vec<Series> {
        vec![Series::Bars(vec![
            bar(0, [10000, 10000, 10000, 10000], 1000),
            bar(1, [10000, 10200, 9900, 10100], 1000),
            bar(2, [10100, 10100, 10100, 10100], 1000),
        ])]
    }

    /// Events of one order placed at step 0 on [`bars`], after its acceptance.
    fn outcome(sim_: Simulator, request: OrderRequest) -> Vec<(i64, VenueEventKind)> {
        let events = run(sim_, bars(), vec![(0, request)], &mut cash("1000000"));
        assert_eq!(
            events.first(),
            Some(&(1, VenueEventKind::Accepted("sim-1".into()))),
            "{events:?}"
        );
        events[1..].to_vec()
    }

    #[test]
    fn bar_fill_rules_for_every_order_type() {
        use Side::{Buy, Sell};
        let triggered = (1, VenueEventKind::Triggered);
        type Events = Vec<(i64, VenueEventKind)>;
        let cases: Vec<(&str, OrderRequest, Events)> = vec![
            (
                "market at the open",
                order(Buy, OrderType::Market, 10),
                vec![(1, fill(10, "100", false))],
            ),
            (
                "limit touched inside the bar",
                order(Buy, limit("99.50"), 10),
                vec![(1, fill(10, "99.50", true))],
            ),
            (
                "marketable limit at the open",
                order(Buy, limit("101"), 10),
                vec![(1, fill(10, "100", false))],
            ),
            (
                "limit never reached",
                order(Buy, limit("98.99"), 10),
                vec![],
            ),
            (
                "sell limit reached on the way up",
                order(Sell, limit("101.50"), 10),
                vec![(1, fill(10, "101.50", true))],
            ),
            (
                "buy stop crossed on the way up",
                order(Buy, stop("101.50"), 10),
                vec![triggered.clone(), (1, fill(10, "101.50", false))],
            ),
            (
                "sell stop crossed on the dip",
                order(Sell, stop("99.50"), 10),
                vec![triggered.clone(), (1, fill(10, "99.50", false))],
            ),
            (
                "buy stop gapped through at the open",
                order(Buy, stop("99.50"), 10),
                vec![triggered.clone(), (1, fill(10, "100", false))],
            ),
            ("stop never reached", order(Buy, stop("102.01"), 10), vec![]),
            (
                "stop-limit marketable where it triggers",
                order(
                    Buy,
                    OrderType::StopLimit {
                        stop: d("101.50"),
                        limit: d("101.60"),
                    },
                    10,
                ),
                vec![triggered.clone(), (1, fill(10, "101.50", false))],
            ),
            (
                "stop-limit resting after the trigger, filled later in the bar",
                order(
                    Sell,
                    OrderType::StopLimit {
                        stop: d("99.50"),
                        limit: d("99.80"),
                    },
                    10,
                ),
                vec![triggered.clone(), (1, fill(10, "99.80", true))],
            ),
            (
                "stop-limit gapped through, its limit reached on the dip",
                order(
                    Buy,
                    OrderType::StopLimit {
                        stop: d("99.50"),
                        limit: d("99.00"),
                    },
                    10,
                ),
                vec![triggered.clone(), (1, fill(10, "99.00", true))],
            ),
            (
                "stop-limit triggered but its limit never reached",
                order(
                    Buy,
                    OrderType::StopLimit {
                        stop: d("99.50"),
                        limit: d("98.99"),
                    },
                    10,
                ),
                vec![triggered.clone()],
            ),
        ];
        for (name, request, want) in cases {
            assert_eq!(outcome(sim(), request), want, "{name}");
        }
    }

    #[test]
    fn slippage_and_fees() {
        let fees = FeeSchedule {
            maker: d("0.001"),
            taker: d("0.002"),
            per_order: d("1"),
        };
        let slipped = Simulator::new(fees.clone(), d("0.001"), Latency::default(), None);
        // 100 × 1.001 = 100.10; taker fee 10 × 100.10 × 0.002 = 2.002, + 1 fixed.
        let want = Fill {
            qty: d("10"),
            price: d("100.10"),
            commission: d("3.002"),
            maker: false,
        };
        assert_eq!(
            outcome(slipped.clone(), order(Side::Buy, OrderType::Market, 10)),
            vec![(1, VenueEventKind::Fill(want))]
        );
        // Limits never slip; maker fee 10 × 99.50 × 0.001 = 0.995, + 1 fixed.
        let want = Fill {
            qty: d("10"),
            price: d("99.50"),
            commission: d("1.995"),
            maker: true,
        };
        assert_eq!(
            outcome(slipped, order(Side::Buy, limit("99.50"), 10)),
            vec![(1, VenueEventKind::Fill(want))]
        );
    }

    #[test]
    fn time_in_force() {
        let with = |tif, order_type, qty| OrderRequest {
            tif,
            ..order(Side::Buy, order_type, qty)
        };
        // IOC with nothing to fill expires at its first chance.
        let events = outcome(sim(), with(TimeInForce::Ioc, limit("98.99"), 10));
        assert!(
            matches!(events.as_slice(), [(1, VenueEventKind::Expired(r))] if r.contains("IOC")),
            "{events:?}"
        );
        // IOC fills what the participation cap allows (10% of 1000) and expires the rest.
        let capped = Simulator::new(
            sim().fees,
            Decimal::ZERO,
            Latency::default(),
            Some(d("0.1")),
        );
        let events = outcome(
            capped.clone(),
            with(TimeInForce::Ioc, OrderType::Market, 150),
        );
        assert_eq!(events[0], (1, fill(100, "100", false)));
        assert!(
            matches!(&events[1], (1, VenueEventKind::Expired(r)) if r.contains("remainder of 50")),
            "{events:?}"
        );
        // FOK: all or nothing.
        let events = outcome(
            capped.clone(),
            with(TimeInForce::Fok, OrderType::Market, 150),
        );
        assert!(
            matches!(events.as_slice(), [(1, VenueEventKind::Expired(r))] if r.contains("FOK")),
            "{events:?}"
        );
        assert_eq!(
            outcome(
                capped.clone(),
                with(TimeInForce::Fok, OrderType::Market, 100)
            ),
            vec![(1, fill(100, "100", false))]
        );
        // GTC under the cap fills across bars.
        assert_eq!(
            outcome(capped, with(TimeInForce::Gtc, OrderType::Market, 150)),
            vec![(1, fill(100, "100", false)), (2, fill(50, "101", false))]
        );
        // GTD ending at step 1 expires before step 1 is matched.
        let events = outcome(sim(), with(TimeInForce::Gtd(MS), OrderType::Market, 10));
        assert!(
            matches!(events.as_slice(), [(1, VenueEventKind::Expired(_))]),
            "{events:?}"
        );
        // DAY: placed on day 0, still alive on day 0, expired on day 1.
        let day = 86_400_000 * MS / MS;
        let data = vec![Series::Bars(vec![
            bar(0, [10000, 10000, 10000, 10000], 1000),
            bar(1, [10000, 10000, 10000, 10000], 1000),
            bar(day, [10000, 10000, 9000, 10000], 1000),
        ])];
        let events = run(
            sim(),
            data,
            vec![(0, with(TimeInForce::Day, limit("95"), 10))],
            &mut cash("100000"),
        );
        assert!(
            matches!(events.as_slice(), [(1, VenueEventKind::Accepted(_)), (s, VenueEventKind::Expired(_))] if *s == day),
            "{events:?}"
        );
    }

    #[test]
    fn flags_latency_and_cash() {
        // Post-only that would take at the last price (100) is rejected.
        let post = |p| OrderRequest {
            post_only: true,
            ..order(Side::Buy, limit(p), 10)
        };
        let events = run(
            sim(),
            bars(),
            vec![(0, post("100.50"))],
            &mut cash("100000"),
        );
        assert!(
            matches!(events.as_slice(), [(0, VenueEventKind::Rejected(r))] if r.contains("post-only")),
            "{events:?}"
        );
        assert_eq!(
            outcome(sim(), post("99.50")),
            vec![(1, fill(10, "99.50", true))]
        );
        // Reduce-only fills are capped at the position, and cancelled when flat.
        let reduce = OrderRequest {
            reduce_only: true,
            ..order(Side::Sell, OrderType::Market, 10)
        };
        let mut funds = cash("0");
        funds.positions.insert((0, InstrumentId(0)), d("4"));
        let events = run(sim(), bars(), vec![(0, reduce.clone())], &mut funds);
        assert_eq!(events[1], (1, fill(4, "100", false)));
        assert!(
            matches!(&events[2], (1, VenueEventKind::Cancelled(r)) if r.contains("flat")),
            "{events:?}"
        );
        let events = run(sim(), bars(), vec![(0, reduce)], &mut cash("0"));
        assert!(
            matches!(&events[1], (1, VenueEventKind::Cancelled(r)) if r.contains("increase")),
            "{events:?}"
        );
        // Submit latency of 2 ms: not at the venue for step 1, filled at step 2's open.
        let slow = Simulator::new(
            sim().fees,
            Decimal::ZERO,
            Latency {
                submit_ms: 2,
                cancel_ms: 0,
            },
            None,
        );
        let events = run(
            slow,
            bars(),
            vec![(0, order(Side::Buy, OrderType::Market, 10))],
            &mut cash("100000"),
        );
        assert_eq!(
            events,
            vec![
                (2, VenueEventKind::Accepted("sim-1".into())),
                (2, fill(10, "101", false))
            ]
        );
        // A buy costing more than the cash is cancelled at fill time.
        let events = run(
            sim(),
            bars(),
            vec![(0, order(Side::Buy, OrderType::Market, 10))],
            &mut cash("999"),
        );
        assert!(
            matches!(&events[1], (1, VenueEventKind::Cancelled(r)) if r.contains("insufficient cash")),
            "{events:?}"
        );
    }

    #[test]
    fn cancel_latency_lets_the_order_fill_meanwhile() {
        let reference = reference();
        for (latency, want_fill) in [(0, false), (1, false), (2, true)] {
            let mut sim = Simulator::new(
                sim().fees,
                Decimal::ZERO,
                Latency {
                    submit_ms: 0,
                    cancel_ms: latency,
                },
                None,
            );
            let mut coordinator = StateCoordinator::new(MarketData::from_series(bars()).into(), 1);
            let mut out = Vec::new();
            let mut funds = cash("100000");
            coordinator.advance();
            sim.submit(
                OrderId(1),
                0,
                order(Side::Buy, OrderType::Market, 10),
                0,
                None,
                &mut out,
            );
            sim.cancel(OrderId(1), 0, 0, "by strategy", &mut out)
                .unwrap();
            assert_eq!(
                sim.cancel(OrderId(1), 0, 0, "again", &mut out).unwrap_err(),
                "no working order 1"
            );
            while let Some(snapshot) = coordinator.advance() {
                sim.on_market(snapshot, &reference, &mut funds, &mut out);
            }
            let filled = out
                .iter()
                .any(|e| matches!(e.kind, VenueEventKind::Fill(_)));
            let cancelled = out
                .iter()
                .any(|e| matches!(e.kind, VenueEventKind::Cancelled(_)));
            assert_eq!(
                (filled, cancelled),
                (want_fill, !want_fill),
                "cancel latency {latency} ms: {out:?}"
            );
        }
    }

    #[test]
    fn quotes_and_trades() {
        let quote = |step, bid, bid_size, ask, ask_size| Quote {
            instrument: InstrumentId(0),
            time: step * MS,
            bid,
            bid_size,
            ask,
            ask_size,
        };
        let trade = |step, price, size| Trade {
            instrument: InstrumentId(0),
            time: step * MS,
            price,
            size,
        };
        let data = || {
            vec![
                Series::Quotes(vec![
                    quote(0, 9990, 5, 10010, 3),
                    quote(1, 9990, 5, 10010, 3),
                    quote(2, 9990, 5, 10020, 10),
                ]),
                Series::Trades(vec![
                    trade(3, 9990, 4),
                    trade(4, 9990, 3),
                    trade(5, 9980, 10),
                ]),
            ]
        };
        // A market buy takes the 3 offered at 100.10, then the rest at the next ask.
        let events = run(
            sim(),
            data(),
            vec![(0, order(Side::Buy, OrderType::Market, 5))],
            &mut cash("100000"),
        );
        assert_eq!(
            events,
            vec![
                (1, VenueEventKind::Accepted("sim-1".into())),
                (1, fill(3, "100.10", false)),
                (2, fill(2, "100.20", false))
            ]
        );
        // A buy limit joining the bid at 99.90 waits behind the 5 there: a
        // print of 4 leaves 1 ahead, a print of 3 fills 2, a print through fills the rest.
        let events = run(
            sim(),
            data(),
            vec![(0, order(Side::Buy, limit("99.90"), 10))],
            &mut cash("100000"),
        );
        assert_eq!(
            events,
            vec![
                (1, VenueEventKind::Accepted("sim-1".into())),
                (4, fill(2, "99.90", true)),
                (5, fill(8, "99.90", true))
            ]
        );
    }
}
