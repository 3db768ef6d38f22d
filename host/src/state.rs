//! State coordinator: folds market inputs into one immutable snapshot per
//! step and cuts each strategy's filtered view from it.
//!
//! The coordinator reuses one snapshot's storage from step to step, and each
//! registration reuses its view's lists, so the step loop does not allocate
//! once buffers have grown; during a step the snapshot is only ever lent out
//! immutably.

use crate::market_data::live::LiveFeed;
use crate::market_data::{MarketData, StepCursor, StepData};
use crate::model::{Bar, Quote, Trade};
use crate::model::{InstrumentId, SnapshotId, Timestamp};
use crate::plugin_api::wit;

/// The state of the market at one step.
#[derive(Debug, Clone)]
pub struct Snapshot {
    id: SnapshotId,
    time: Timestamp,
    data: StepData,
    last: Vec<Option<Bar>>,
    last_quote: Vec<Option<Quote>>,
}

impl Snapshot {
    /// Identifies this step.
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// Time of this step.
    pub fn time(&self) -> Timestamp {
        self.time
    }

    /// Bars completed at this step, in instrument order.
    pub fn bars(&self) -> &[Bar] {
        &self.data.bars
    }

    /// The bar of `instrument` completed at this step, if any.
    pub fn bar(&self, instrument: InstrumentId) -> Option<&Bar> {
        self.data.bars.iter().find(|b| b.instrument == instrument)
    }

    /// Quotes at this step, in instrument order.
    pub fn quotes(&self) -> &[Quote] {
        &self.data.quotes
    }

    /// Trades printed at this step, in instrument order.
    pub fn all_trades(&self) -> &[Trade] {
        &self.data.trades
    }

    /// The quote of `instrument` at this step, if any.
    pub fn quote(&self, instrument: InstrumentId) -> Option<&Quote> {
        self.data.quotes.iter().find(|q| q.instrument == instrument)
    }

    /// The latest quote of `instrument` up to this step, if any.
    pub fn last_quote(&self, instrument: InstrumentId) -> Option<&Quote> {
        self.last_quote[instrument.0 as usize].as_ref()
    }

    /// Trades of `instrument` printed at this step.
    pub fn trades(&self, instrument: InstrumentId) -> &[Trade] {
        let trades = &self.data.trades;
        let start = trades.partition_point(|t| t.instrument < instrument);
        let end = trades.partition_point(|t| t.instrument <= instrument);
        &trades[start..end]
    }

    /// The last price of `instrument` up to this step: the close of its
    /// latest bar, else the mid of its latest quote.
    pub fn mark(&self, instrument: InstrumentId) -> Option<i64> {
        self.last_bar(instrument).map(|b| b.close).or_else(|| {
            self.last_quote(instrument)
                .map(|q| (q.bid + q.ask).div_euclid(2))
        })
    }

    /// The latest bar of `instrument` up to this step, if any.
    pub fn last_bar(&self, instrument: InstrumentId) -> Option<&Bar> {
        self.last[instrument.0 as usize].as_ref()
    }
}

/// Where a session's market inputs come from.
#[derive(Debug)]
pub enum Feed {
    /// Stored data, replayed step by step (backtest, paper).
    Stored {
        /// The data.
        data: MarketData,
        /// How far the replay has come.
        cursor: StepCursor,
    },
    /// Venue streams, as they arrive.
    Live(LiveFeed),
}

impl From<MarketData> for Feed {
    fn from(data: MarketData) -> Self {
        Self::Stored {
            cursor: data.steps(),
            data,
        }
    }
}

/// Drives market data through snapshots.
#[derive(Debug)]
pub struct StateCoordinator {
    feed: Feed,
    snapshot: Snapshot,
}

impl StateCoordinator {
    /// A coordinator over `feed` for a session of `instruments` instruments.
    pub fn new(feed: Feed, instruments: usize) -> Self {
        Self {
            feed,
            snapshot: Snapshot {
                id: SnapshotId(0),
                time: Timestamp::MIN,
                data: StepData::default(),
                last: vec![None; instruments],
                last_quote: vec![None; instruments],
            },
        }
    }

    /// Total bars the session will replay (live: received so far).
    pub fn bar_count(&self) -> usize {
        match &self.feed {
            Feed::Stored { data, .. } => data.bar_count(),
            Feed::Live(feed) => feed.received(),
        }
    }

    /// Folds the next step's inputs into a new snapshot; `None` at the end
    /// (live: once stopped).
    pub fn advance(&mut self) -> Option<&Snapshot> {
        let snapshot = &mut self.snapshot;
        snapshot.time = match &mut self.feed {
            Feed::Stored { data, cursor } => cursor.next_step(data, &mut snapshot.data)?,
            Feed::Live(feed) => feed.next_step(&mut snapshot.data)?,
        };
        snapshot.id = SnapshotId(snapshot.id.0 + 1);
        for bar in &snapshot.data.bars {
            snapshot.last[bar.instrument.0 as usize] = Some(*bar);
        }
        for quote in &snapshot.data.quotes {
            snapshot.last_quote[quote.instrument.0 as usize] = Some(*quote);
        }
        Some(&self.snapshot)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

/// Fills the market part of a strategy's view: snapshot id, time and the
/// bars, quotes and trades of subscribed instruments (`subscribed[i]` for
/// instrument `i`). Returns whether any subscribed data is present.
pub fn fill_market_view(view: &mut wit::View, snapshot: &Snapshot, subscribed: &[bool]) -> bool {
    let wanted = |i: InstrumentId| subscribed[i.0 as usize];
    view.snapshot_id = snapshot.id.0;
    view.time = snapshot.time;
    view.quotes.clear();
    view.quotes.extend(
        snapshot
            .data
            .quotes
            .iter()
            .filter(|q| wanted(q.instrument))
            .map(|q| wit::Quote {
                instrument: q.instrument.0,
                time: q.time,
                bid: q.bid,
                bid_size: q.bid_size,
                ask: q.ask,
                ask_size: q.ask_size,
            }),
    );
    view.trades.clear();
    view.trades.extend(
        snapshot
            .data
            .trades
            .iter()
            .filter(|t| wanted(t.instrument))
            .map(|t| wit::Trade {
                instrument: t.instrument.0,
                time: t.time,
                price: t.price,
                size: t.size,
            }),
    );
    view.bars.clear();
    view.bars.extend(
        snapshot
            .data
            .bars
            .iter()
            .filter(|b| subscribed[b.instrument.0 as usize])
            .map(|b| wit::Bar {
                instrument: b.instrument.0,
                time: b.time,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
            }),
    );
    !(view.bars.is_empty() && view.quotes.is_empty() && view.trades.is_empty())
}

/// An empty view, to be filled step by step.
pub fn empty_view() -> wit::View {
    wit::View {
        snapshot_id: 0,
        time: 0,
        bars: Vec::new(),
        quotes: Vec::new(),
        trades: Vec::new(),
        account: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(instrument: u32, time: i64) -> Bar {
        Bar {
            instrument: InstrumentId(instrument),
            time,
            open: 1,
            high: 2,
            low: 1,
            close: 2,
            volume: 3,
        }
    }

    #[test]
    fn views_carry_only_subscribed_bars() {
        let data = MarketData::new(vec![vec![bar(0, 10)], vec![bar(1, 10), bar(1, 20)]]);
        let mut coordinator = StateCoordinator::new(data.into(), 2);
        let mut view = empty_view();
        let snapshot = coordinator.advance().unwrap();
        assert_eq!((snapshot.id(), snapshot.bars().len()), (SnapshotId(1), 2));
        assert!(fill_market_view(&mut view, snapshot, &[false, true]));
        assert_eq!(
            view.bars.iter().map(|b| b.instrument).collect::<Vec<_>>(),
            vec![1]
        );
        let snapshot = coordinator.advance().unwrap();
        assert!(
            !fill_market_view(&mut view, snapshot, &[true, false]),
            "instrument 0 has no bar at 20"
        );
        assert_eq!(snapshot.last_bar(InstrumentId(0)).map(|b| b.time), Some(10));
        assert!(coordinator.advance().is_none());
    }
}
