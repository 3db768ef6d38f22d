//! Live market data: what venue streams deliver, cut into steps.
//!
//! Venue stream tasks send [`MarketEvent`]s as they arrive; a step is
//! everything queued when the session asks for the next one, with at most
//! one bar per instrument (a second bar of the same instrument starts the
//! next step). The feed ends when the session is told to stop, every
//! stream is gone, or a venue broke what its streams promise ([`Halts`]).
//!
//! A venue's clock only moves forward: per instrument, each bar opens after
//! the previous one and no trade is older than the one before. An input
//! that goes back (a venue restarted without its state replays from the
//! start) is never clamped into the present: it halts the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::StepData;
use crate::model::{format_time, InstrumentId, Timestamp};
use crate::model::{Bar, Quote, Trade};

/// How often a waiting feed looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// One market input from a live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    /// A closed bar (kline).
    Bar(Bar),
    /// A new best bid/offer.
    Quote(Quote),
    /// A trade print.
    Trade(Trade),
}

impl MarketEvent {
    fn time(&self) -> Timestamp {
        match self {
            Self::Bar(b) => b.time,
            Self::Quote(q) => q.time,
            Self::Trade(t) => t.time,
        }
    }
}

/// Breaks of a venue's contract found while a live session runs (its
/// clock went back, it forgot orders it had accepted), shared by the feed
/// and the venue adapters. Raising one stops the session: no step, hence
/// no intent, follows it; the session ends with the discrepancies.
#[derive(Debug, Clone)]
pub struct Halts {
    found: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Halts {
    /// Halts that set `stop` (the session's stop flag) when raised.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            found: Arc::default(),
            stop,
        }
    }

    /// Records `discrepancy` and stops the session.
    pub fn raise(&self, discrepancy: String) {
        tracing::error!("halt: {discrepancy}");
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(discrepancy);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether any was raised.
    pub fn raised(&self) -> bool {
        !self
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Every discrepancy raised, in order.
    pub fn discrepancies(&self) -> Vec<String> {
        self.found.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Steps cut from live streams.
#[derive(Debug)]
pub struct LiveFeed {
    events: Receiver<MarketEvent>,
    /// The runtime the venue streams run on: it lives as long as the feed.
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
    stop: Arc<AtomicBool>,
    halts: Halts,
    held: Option<MarketEvent>,
    last_time: Timestamp,
    /// Per instrument, the open time of its last bar and the time of its
    /// last trade.
    clocks: HashMap<InstrumentId, (Option<Timestamp>, Option<Timestamp>)>,
    received: usize,
}

impl LiveFeed {
    /// A feed of what `events` delivers, ending once `stop` is set or a
    /// halt is raised.
    pub fn new(events: Receiver<MarketEvent>, stop: Arc<AtomicBool>) -> Self {
        Self {
            events,
            _runtime: None,
            halts: Halts::new(Arc::clone(&stop)),
            stop,
            held: None,
            last_time: Timestamp::MIN,
            clocks: HashMap::new(),
            received: 0,
        }
    }

    /// The halts of this feed: the venue adapters raise theirs here too.
    pub fn halts(&self) -> Halts {
        self.halts.clone()
    }

    /// Keeps `runtime`, on which the streams feeding this run, alive with the feed.
    pub fn with_runtime(mut self, runtime: Arc<tokio::runtime::Runtime>) -> Self {
        self._runtime = Some(runtime);
        self
    }

    /// How many inputs have arrived so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Waits for the next inputs and fills `out` with them; `None` once
    /// stopped, every stream has ended, or an input went back in time (a
    /// halt is raised). The step's time is the latest input time seen.
    pub fn next_step(&mut self, out: &mut StepData) -> Option<Timestamp> {
        out.clear();
        if self.halts.raised() {
            return None;
        }
        let first = match self.held.take() {
            Some(event) => event,
            None => loop {
                if self.stop.load(Ordering::Relaxed) {
                    return None;
                }
                match self.events.recv_timeout(POLL) {
                    Ok(event) => break event,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            },
        };
        self.advance_clock(&first)?;
        let mut time = first.time();
        self.push(first, out);
        while let Ok(event) = self.events.try_recv() {
            if let MarketEvent::Bar(bar) = event {
                if out.bars.iter().any(|b| b.instrument == bar.instrument) {
                    self.held = Some(event);
                    break;
                }
            }
            self.advance_clock(&event)?;
            time = time.max(event.time());
            self.push(event, out);
        }
        out.bars.sort_by_key(|b| b.instrument);
        out.quotes.sort_by_key(|q| q.instrument);
        // Stable: prints of one instrument keep their order.
        out.trades.sort_by_key(|t| t.instrument);
        self.last_time = time.max(self.last_time);
        Some(self.last_time)
    }

    /// Moves the instrument's clock to `event`, or raises a halt (and
    /// gives `None`) if the event does not come after what was seen.
    fn advance_clock(&mut self, event: &MarketEvent) -> Option<()> {
        let (instrument, kind, time) = match event {
            MarketEvent::Bar(b) => (b.instrument, "bar", b.time),
            MarketEvent::Trade(t) => (t.instrument, "trade", t.time),
            // A book ticker carries no time: the stream stamps it with the
            // latest market time it saw, which never goes back.
            MarketEvent::Quote(_) => return Some(()),
        };
        let (bars, trades) = self.clocks.entry(instrument).or_default();
        // Bars of an instrument each open later; trades may share a time.
        let (last, strict) = match event {
            MarketEvent::Bar(_) => (bars, true),
            _ => (trades, false),
        };
        if let Some(previous) = *last {
            if time < previous || (strict && time == previous) {
                self.halts.raise(format!(
                    "live data of instrument {}: a {kind} at {} after one at {}; the venue's clock went back (did it restart and lose its state?)",
                    instrument.0,
                    format_time(time),
                    format_time(previous)
                ));
                return None;
            }
        }
        *last = Some(time);
        Some(())
    }

    fn push(&mut self, event: MarketEvent, out: &mut StepData) {
        self.received += 1;
        match event {
            MarketEvent::Bar(b) => out.bars.push(b),
            // The latest quote of an instrument replaces earlier ones.
            MarketEvent::Quote(q) => {
                match out.quotes.iter_mut().find(|x| x.instrument == q.instrument) {
                    Some(x) => *x = q,
                    None => out.quotes.push(q),
                }
            }
            MarketEvent::Trade(t) => out.trades.push(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstrumentId;

    fn bar(i: u32, time: Timestamp) -> MarketEvent {
        MarketEvent::Bar(Bar {
            instrument: InstrumentId(i),
            time,
            open: 1,
            high: 2,
            low: 1,
            close: 2,
            volume: 5,
        })
    }

    #[test]
    fn a_step_holds_one_bar_per_instrument() {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut feed = LiveFeed::new(rx, Arc::clone(&stop));
        for e in [bar(1, 10), bar(0, 10), bar(0, 20), bar(1, 15)] {
            tx.send(e).unwrap();
        }
        let mut out = StepData::default();
        assert_eq!(feed.next_step(&mut out), Some(10));
        let ids: Vec<u32> = out.bars.iter().map(|b| b.instrument.0).collect();
        assert_eq!(ids, [0, 1]);
        assert_eq!(feed.next_step(&mut out), Some(20));
        assert_eq!(out.bars.len(), 2, "bar(0, 20) and bar(1, 15)");
        stop.store(true, Ordering::Relaxed);
        assert_eq!(feed.next_step(&mut out), None);
        drop(tx);
        assert_eq!(feed.received(), 4);
        assert!(!feed.halts().raised());
    }

    #[test]
    fn a_bar_that_goes_back_or_repeats_halts_the_feed() {
        for late in [5, 10] {
            let (tx, rx) = std::sync::mpsc::channel();
            let stop = Arc::new(AtomicBool::new(false));
            let mut feed = LiveFeed::new(rx, Arc::clone(&stop));
            for e in [bar(0, 10), bar(0, late), bar(0, 30)] {
                tx.send(e).unwrap();
            }
            let mut out = StepData::default();
            assert_eq!(feed.next_step(&mut out), Some(10));
            assert_eq!(feed.next_step(&mut out), None, "bar at {late}");
            let halts = feed.halts().discrepancies();
            assert_eq!(halts.len(), 1);
            assert!(halts[0].contains("clock went back"), "{halts:?}");
            assert!(stop.load(Ordering::Relaxed), "the session is told to stop");
            // Halted for good: what follows is not stepped.
            assert_eq!(feed.next_step(&mut out), None);
        }
    }
}
