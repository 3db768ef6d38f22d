//! Injectable faults: set on the command line (`--fault name=value`) or at
//! runtime (`POST /emulator/faults`), counted deterministically per API key so
//! that tests are reproducible.

use std::collections::HashMap;

use serde::Serialize;

/// The faults in force. Zero / false disables a fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Faults {
    /// Every REST response is delayed this many milliseconds.
    pub latency_ms: u64,
    /// Every Nth signed REST request of a key is answered 429 (-1003, `Retry-After: 1`) unprocessed.
    pub http_429_every: u64,
    /// Every Nth order request (POST/DELETE `/api/v3/order`) of a key is answered 503 (-1001) unprocessed.
    pub http_5xx_every: u64,
    /// Every Nth POST `/api/v3/order` of a key is processed but answered 504 (-1007).
    pub lost_response_every: u64,
    /// Every WebSocket connection is dropped (no close frame) after this many messages sent on it.
    pub drop_ws_every: u64,
    /// Every user-data event is sent twice.
    pub duplicate_events: bool,
    /// User-data events are delivered with each adjacent pair swapped.
    pub reorder_events: bool,
}

/// An unknown fault name or a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The name is not a fault.
    #[error("unknown fault '{0}' (known: latency_ms, http_429_every, http_5xx_every, lost_response_every, drop_ws_every, duplicate_events, reorder_events)")]
    Unknown(String),
    /// The value does not parse for that fault.
    #[error("fault {name}: invalid value '{value}' (expected {expected})")]
    Value {
        /// Fault name.
        name: String,
        /// The value given.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A `--fault` argument without `=`.
    #[error("fault '{0}': expected name=value")]
    Syntax(String),
}

impl Faults {
    /// Sets one fault from its name and textual value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), FaultError> {
        let number = |slot: &mut u64| {
            *slot = value.parse().map_err(|_| FaultError::Value {
                name: name.into(),
                value: value.into(),
                expected: "a non-negative integer",
            })?;
            Ok(())
        };
        let flag = |slot: &mut bool| {
            *slot = value.parse().map_err(|_| FaultError::Value {
                name: name.into(),
                value: value.into(),
                expected: "true or false",
            })?;
            Ok(())
        };
        match name {
            "latency_ms" => number(&mut self.latency_ms),
            "http_429_every" => number(&mut self.http_429_every),
            "http_5xx_every" => number(&mut self.http_5xx_every),
            "lost_response_every" => number(&mut self.lost_response_every),
            "drop_ws_every" => number(&mut self.drop_ws_every),
            "duplicate_events" => flag(&mut self.duplicate_events),
            "reorder_events" => flag(&mut self.reorder_events),
            _ => Err(FaultError::Unknown(name.into())),
        }
    }

    /// Sets a fault from a `name=value` argument.
    pub fn set_arg(&mut self, arg: &str) -> Result<(), FaultError> {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| FaultError::Syntax(arg.into()))?;
        self.set(name.trim(), value.trim())
    }

    /// Applies a JSON object of faults (values as numbers, booleans or strings).
    pub fn apply_json(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), FaultError> {
        let mut updated = self.clone();
        for (name, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            updated.set(name, &text)?;
        }
        *self = updated;
        Ok(())
    }
}

/// Which counted fault a request may trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    /// `http_429_every`
    Http429,
    /// `http_5xx_every`
    Http5xx,
    /// `lost_response_every`
    LostResponse,
}

/// Per-key request counters for the every-Nth faults.
#[derive(Debug, Default)]
pub struct Counters {
    counts: HashMap<(Counted, String), u64>,
}

impl Counters {
    /// Counts one request of `key` for `fault`; true when it is the Nth.
    pub fn hit(&mut self, fault: Counted, key: &str, every: u64) -> bool {
        if every == 0 {
            return false;
        }
        let count = self.counts.entry((fault, key.to_owned())).or_default();
        *count += 1;
        (*count).is_multiple_of(every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_counts() {
        let mut f = Faults::default();
        f.set_arg("http_5xx_every=3").unwrap();
        f.set_arg("duplicate_events=true").unwrap();
        assert_eq!(f.http_5xx_every, 3);
        assert!(f.duplicate_events);
        assert!(matches!(f.set_arg("bogus=1"), Err(FaultError::Unknown(_))));
        assert!(matches!(
            f.set_arg("latency_ms=x"),
            Err(FaultError::Value { .. })
        ));
        let mut c = Counters::default();
        let hits: Vec<bool> = (0..6).map(|_| c.hit(Counted::Http5xx, "k", 3)).collect();
        assert_eq!(hits, [false, false, true, false, false, true]);
        assert!(!c.hit(Counted::Http5xx, "other", 3));
    }
}
