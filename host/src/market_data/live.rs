//! Live market data: what venue streams deliver, cut into steps.
//!
//! Venue stream tasks send [`MarketEvent`]s as they arrive; a step is
//! everything queued when the session asks for the next one, with at most
//! one bar per instrument (a second bar of the same instrument starts the
//! next step). The feed ends when the session is told to stop or every
//! stream is gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::{Bar, Quote, StepData, Trade};
use crate::model::Timestamp;

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

/// Steps cut from live streams.
#[derive(Debug)]
pub struct LiveFeed {
    events: Receiver<MarketEvent>,
    /// The runtime the venue streams run on: it lives as long as the feed.
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
    stop: Arc<AtomicBool>,
    held: Option<MarketEvent>,
    last_time: Timestamp,
    received: usize,
}

impl LiveFeed {
    /// A feed of what `events` delivers, ending once `stop` is set.
    pub fn new(events: Receiver<MarketEvent>, stop: Arc<AtomicBool>) -> Self {
        Self {
            events,
            _runtime: None,
            stop,
            held: None,
            last_time: Timestamp::MIN,
            received: 0,
        }
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
    /// stopped or every stream has ended. Step times never go back: an
    /// input older than the last step is stamped with the last step's time.
    pub fn next_step(&mut self, out: &mut StepData) -> Option<Timestamp> {
        out.clear();
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
        let mut time = first.time();
        self.push(first, out);
        while let Ok(event) = self.events.try_recv() {
            if let MarketEvent::Bar(bar) = event {
                if out.bars.iter().any(|b| b.instrument == bar.instrument) {
                    self.held = Some(event);
                    break;
                }
            }
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
    fn a_step_holds_one_bar_per_instrument_and_time_never_goes_back() {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut feed = LiveFeed::new(rx, Arc::clone(&stop));
        for e in [bar(1, 10), bar(0, 10), bar(0, 20), bar(1, 5)] {
            tx.send(e).unwrap();
        }
        let mut out = StepData::default();
        assert_eq!(feed.next_step(&mut out), Some(10));
        let ids: Vec<u32> = out.bars.iter().map(|b| b.instrument.0).collect();
        assert_eq!(ids, [0, 1]);
        assert_eq!(feed.next_step(&mut out), Some(20));
        assert_eq!(out.bars.len(), 2, "bar(0, 20) and the late bar(1, 5)");
        stop.store(true, Ordering::Relaxed);
        assert_eq!(feed.next_step(&mut out), None);
        drop(tx);
        assert_eq!(feed.received(), 4);
    }
}
