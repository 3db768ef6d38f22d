// Shared by the `counter` and `counter-v2` plugins (each `include!`s it and
// exports one version), so that the two components differ only in `V`.

use cracktrader_guest::{Config, Info, Intent, Side, Strategy, View};

/// Counts the bars of its instrument and, every `every` bars, buys `V` lots
/// tagged `v{V}:{count}`. Its state is the count, in a format numbered `V`;
/// it restores formats up to its own and refuses newer ones.
///
/// Parameters: `instrument` (required), `every` (default 10). Other
/// parameters are ignored.
#[derive(Debug)]
pub struct Counter<const V: u8> {
    instrument: u32,
    lot: i64,
    every: u64,
    count: u64,
}

impl<const V: u8> Strategy for Counter<V> {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        let symbol: String = config.param("instrument")?;
        let instrument = config.require_instrument(&symbol)?;
        let every: u64 = config.param_or("every", 10)?;
        if every == 0 {
            return Err("parameter 'every' must be at least 1".to_string());
        }
        let counter = Counter {
            instrument: instrument.id,
            lot: instrument.lot_size,
            every,
            count: 0,
        };
        let info = Info {
            name: "counter".to_string(),
            version: format!("{V}.0.0"),
            subscriptions: vec![symbol],
            warmup: 0,
        };
        Ok((counter, info))
    }

    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>) {
        if view.bar(self.instrument).is_none() {
            return;
        }
        self.count += 1;
        if self.count.is_multiple_of(self.every) {
            intents.push(Intent::market(
                self.instrument,
                Side::Buy,
                self.lot * i64::from(V),
                format!("v{V}:{}", self.count),
            ));
        }
    }

    fn save_state(&self) -> Vec<u8> {
        let mut state = vec![V];
        state.extend_from_slice(&self.count.to_le_bytes());
        state
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let (&format, count) = state.split_first().ok_or("empty state")?;
        if format > V {
            return Err(format!(
                "state format {format} is newer than this version ({V}) understands"
            ));
        }
        let count: [u8; 8] = count
            .try_into()
            .map_err(|_| format!("state of {} bytes, expected 9", state.len()))?;
        self.count = u64::from_le_bytes(count);
        Ok(())
    }
}
