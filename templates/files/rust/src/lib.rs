//! {{name}}: buys `quantity` when the close rises above its simple moving
//! average over `period` bars and sells the position when it falls below.
//!
//! Build: {{build}}

use cracktrader_guest::indicators::Sma;
use cracktrader_guest::{log, Config, Decimal, Info, Instrument, Intent, LogLevel, Side, Strategy, View};

pub struct Template {
    instrument: Instrument,
    /// Target position, scaled by the instrument's `qty_scale`.
    quantity: i64,
    sma: Sma,
}

impl Strategy for Template {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        let symbol: String = config.param("instrument")?;
        let instrument = config.require_instrument(&symbol)?.clone();
        let quantity = instrument.qty_from_decimal(&config.param::<Decimal>("quantity")?)?;
        let period: u32 = config.param_or("period", 20)?;
        if period == 0 {
            return Err("parameter 'period' must be at least 1, got 0".to_string());
        }
        log(LogLevel::Info, &format!("trading {symbol} with SMA({period})"));
        let info = Info {
            name: "{{name}}".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            subscriptions: vec![symbol],
            warmup: period,
        };
        let sma = Sma::new(period as usize);
        Ok((Template { instrument, quantity, sma }, info))
    }

    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>) {
        let id = self.instrument.id;
        let Some(bar) = view.bar(id) else { return };
        let close = self.instrument.price_to_f64(bar.close);
        let Some(average) = self.sma.update(close) else { return };
        let position = view.position(id);
        if close > average && position == 0 && view.open_qty(id, Side::Buy) == 0 {
            intents.push(Intent::market(id, Side::Buy, self.quantity, "entry"));
        } else if close < average && position > 0 && view.open_qty(id, Side::Sell) == 0 {
            intents.push(Intent::market(id, Side::Sell, position, "exit"));
        }
    }
}

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(Template);
