//! State coordinator: folds market inputs into one immutable snapshot per
//! step, from which [`crate::views`] cuts each strategy's filtered view.
//!
//! The coordinator reuses one snapshot's storage from step to step, and each
//! registration reuses its view's lists, so the step loop does not allocate
//! once buffers have grown; during a step the snapshot is only ever lent out
//! immutably.

use crate::market_data::live::LiveFeed;
use crate::market_data::{MarketData, StepCursor, StepData};
use crate::model::{Bar, Quote, Trade};
use crate::model::{InstrumentId, SnapshotId, Timestamp};

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
pub enum MarketFeed {
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

impl From<MarketData> for MarketFeed {
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
    feed: MarketFeed,
    snapshot: Snapshot,
}

impl StateCoordinator {
    /// A coordinator over `feed` for a session of `instruments` instruments.
    pub fn new(feed: MarketFeed, instruments: usize) -> Self {
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
            MarketFeed::Stored { data, .. } => data.bar_count(),
            MarketFeed::Live(feed) => feed.received(),
        }
    }

    /// Folds the next step's inputs into a new snapshot; `None` at the end
    /// (live: once stopped).
    pub fn advance(&mut self) -> Option<&Snapshot> {
        let snapshot = &mut self.snapshot;
        snapshot.time = match &mut self.feed {
            MarketFeed::Stored { data, cursor } => cursor.next_step(data, &mut snapshot.data)?,
            MarketFeed::Live(feed) => feed.next_step(&mut snapshot.data)?,
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
