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

use crate::execution::orders::{Fill, VenueEvent, VenueEventKind};
use crate::execution::{FeeSchedule, Latency};
use crate::intents::{Amendment, OrderRequest, TimeInForce};
use crate::market_data::{Bar, Quote, Trade};
use crate::model::{from_scaled, Currency, InstrumentId, OrderId, Side, Timestamp};
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
        self.positions.get(&(strategy, instrument)).copied().unwrap_or_default()
    }

    fn apply(&mut self, strategy: usize, inst: &Instrument, side: Side, fill: &Fill) {
        let cash = self.cash.entry(inst.quote_currency.clone()).or_default();
        *cash -= side.sign() * fill.qty * fill.price + fill.commission;
        *self.positions.entry((strategy, inst.id)).or_default() += side.sign() * fill.qty;
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
            TimeInForce::Day => Some((time.div_euclid(NANOS_PER_DAY) + 1) * NANOS_PER_DAY),
            TimeInForce::Gtc | TimeInForce::Ioc | TimeInForce::Fok => None,
        };
        let mut order = VenueOrder {
            id,
            strategy,
            active_from: time + self.latency.submit_nanos(),
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
        if let (true, Some(limit), Some(touch)) =
            (order.request.post_only, order.request.order_type.limit(), touch)
        {
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
        order.cancel_at = Some((time + cancel_latency, reason.to_owned()));
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
                out.push(order.event(order.active_from, VenueEventKind::Accepted));
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
                let notional = qty * opp.price;
                let rate = if opp.maker { fees.maker } else { fees.taker };
                let fixed = if order.filled.is_zero() { fees.per_order } else { Decimal::ZERO };
                let fill = Fill {
                    qty,
                    price: opp.price,
                    commission: notional * rate + fixed,
                    maker: opp.maker,
                };
                let cost = notional + fill.commission;
                let cash = funds.cash.get(&inst.quote_currency).copied().unwrap_or_default();
                if side == Side::Buy && !funds.margin && cost > cash {
                    let reason = format!("insufficient cash at fill: cost {cost} exceeds cash {cash}");
                    out.push(order.event(time, VenueEventKind::Cancelled(reason)));
                    return true;
                }
                funds.apply(order.strategy, inst, side, &fill);
                *taken.entry(inst.id).or_default() += qty;
                order.filled += qty;
                out.push(order.event(time, VenueEventKind::Fill(fill)));
                if order.remaining().is_zero() {
                    return true;
                }
            }
        }
        if first_chance && matches!(order.request.tif, TimeInForce::Ioc | TimeInForce::Fok) {
            let reason = format!(
                "{} remainder of {} not filled at its first opportunity",
                if order.request.tif == TimeInForce::Ioc { "IOC" } else { "FOK" },
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
        Side::Buy => to_tick(price * (Decimal::ONE + slippage), tick, RoundingStrategy::AwayFromZero),
        Side::Sell => to_tick(price * (Decimal::ONE - slippage), tick, RoundingStrategy::ToZero),
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
        trades.iter().find(|t| stop_hit(side, stop, price(t.price)))?;
        order.triggered = true;
        out.push(order.event(time, VenueEventKind::Triggered));
    }
    // Taking the top of the book.
    let top = quote.map(|q| match side {
        Side::Buy => (price(q.ask), qty(q.ask_size)),
        Side::Sell => (price(q.bid), qty(q.bid_size)),
    });
    let limit = order.request.order_type.limit();
    if let Some((touch, size)) = top.filter(|(touch, _)| limit.is_none_or(|l| crosses(side, l, *touch))) {
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
