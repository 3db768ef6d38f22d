//! The event stream: the session's journal records, kept in a bounded ring
//! for queries and broadcast to live followers. The stream is fed by the
//! journal itself, so the two cannot disagree; records older than the ring
//! are in the journal file.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::journal::{Envelope, Tap};

/// Records kept for queries and for followers that start late.
pub const RING_CAPACITY: usize = 10_000;

/// Records a follower may fall behind by before its stream is ended (it
/// resumes with `Last-Event-ID`).
const LIVE_CAPACITY: usize = 4096;

/// One journal record, encoded once.
#[derive(Debug)]
pub struct Record {
    /// Its journal sequence.
    pub sequence: u64,
    /// Its event kind (`intents`, `order_report`, `operator_action`…).
    pub kind: String,
    /// Its strategy, where it has one.
    pub strategy_id: Option<String>,
    /// The envelope as JSON, as in the journal.
    pub json: String,
}

impl Record {
    fn new(envelope: &Envelope) -> Self {
        let value = serde_json::to_value(envelope).expect("journal records serialise");
        let kind = value["event"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self {
            sequence: envelope.sequence,
            kind,
            strategy_id: envelope.strategy_id.clone(),
            json: value.to_string(),
        }
    }
}

/// The ring and the broadcast.
#[derive(Debug)]
pub struct EventLog {
    ring: Mutex<VecDeque<Arc<Record>>>,
    capacity: usize,
    live: broadcast::Sender<Arc<Record>>,
}

impl EventLog {
    /// An empty log keeping the last `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    fn push(&self, record: Record) {
        let record = Arc::new(record);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(Arc::clone(&record));
        // Under the ring's lock, so that a follower sees each record once:
        // either in its backlog or live. No follower is not an error.
        let _ = self.live.send(record);
    }

    /// The records `filter` selects, at most `limit`.
    pub fn query(&self, filter: &Filter, limit: usize) -> Vec<Arc<Record>> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter()
            .filter(|r| filter.matches(r))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The records `filter` selects now, and every later record.
    pub fn follow(&self, filter: &Filter) -> (Vec<Arc<Record>>, broadcast::Receiver<Arc<Record>>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live.subscribe();
        let backlog = ring.iter().filter(|r| filter.matches(r)).cloned().collect();
        (backlog, live)
    }
}

/// The journal's tap into an [`EventLog`].
#[derive(Debug)]
pub struct EventLogTap(pub Arc<EventLog>);

impl Tap for EventLogTap {
    fn record(&mut self, envelope: &Envelope) {
        self.0.push(Record::new(envelope));
    }
}

/// Which records a query or a follower wants (`?strategy=&kind=&since=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only records of this strategy.
    pub strategy: Option<String>,
    /// Only records of these kinds (comma-separated).
    pub kind: Option<String>,
    /// Only records after this sequence.
    pub since: u64,
}

impl Filter {
    /// Whether `record` is selected.
    pub fn matches(&self, record: &Record) -> bool {
        record.sequence > self.since
            && self
                .strategy
                .as_ref()
                .is_none_or(|s| record.strategy_id.as_ref() == Some(s))
            && self
                .kind
                .as_ref()
                .is_none_or(|kinds| kinds.split(',').any(|k| k.trim() == record.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Event, Ids, Source};
    use crate::model::StrategyId;

    fn envelope(sequence: u64, strategy: Option<&str>) -> Envelope {
        let ids = strategy.map_or_else(Ids::default, |s| Ids::strategy(&StrategyId::new(s)));
        Envelope::new(
            sequence,
            0,
            Source::Strategy,
            ids,
            Event::View {
                snapshot_id: sequence,
                hash: String::new(),
            },
        )
    }

    #[test]
    fn filters_select_by_strategy_kind_and_sequence() {
        let log = EventLog::new(3);
        let mut feed = EventLogTap(Arc::new(log));
        for (i, s) in [None, Some("a"), Some("b"), Some("a")]
            .into_iter()
            .enumerate()
        {
            feed.record(&envelope(i as u64 + 1, s));
        }
        let log = &feed.0;
        let sequences = |f: &Filter, limit| -> Vec<u64> {
            log.query(f, limit).iter().map(|r| r.sequence).collect()
        };
        // The ring keeps the last three.
        assert_eq!(sequences(&Filter::default(), 10), [2, 3, 4]);
        assert_eq!(sequences(&Filter::default(), 2), [2, 3]);
        let a = Filter {
            strategy: Some("a".into()),
            ..Filter::default()
        };
        assert_eq!(sequences(&a, 10), [2, 4]);
        assert_eq!(sequences(&Filter { since: 2, ..a }, 10), [4]);
        let kinds = |k: &str| Filter {
            kind: Some(k.into()),
            ..Filter::default()
        };
        assert_eq!(sequences(&kinds("view"), 10), [2, 3, 4]);
        assert_eq!(sequences(&kinds("intents, view"), 10), [2, 3, 4]);
        assert!(sequences(&kinds("intents"), 10).is_empty());
    }

    #[test]
    fn a_follower_gets_the_backlog_then_each_new_record_once() {
        let mut feed = EventLogTap(Arc::new(EventLog::new(10)));
        feed.record(&envelope(1, Some("a")));
        let (backlog, mut live) = feed.0.follow(&Filter::default());
        feed.record(&envelope(2, Some("a")));
        assert_eq!(backlog.iter().map(|r| r.sequence).collect::<Vec<_>>(), [1]);
        assert_eq!(live.try_recv().unwrap().sequence, 2);
        assert!(live.try_recv().is_err());
        let json: serde_json::Value = serde_json::from_str(&backlog[0].json).unwrap();
        assert_eq!(json["strategy_id"], "a");
        assert_eq!(json["event"]["kind"], "view");
    }
}
