//! Reference data: the instruments a session knows, with their trading rules
//! (tick size, lot size, minimum notional) and currencies.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::config::{decimal, Problems};
use crate::execution::MAX_AMOUNT;
use crate::model::{Currency, InstrumentId};

/// One `[[instruments]]` entry of the session file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Symbol used everywhere else in the session file, e.g. `EURUSD`.
    pub symbol: String,
    /// The `[[venues]]` entry whose exchange info gives the fields below
    /// that are left out (and checks those that are given).
    pub venue: Option<String>,
    /// The asset bought or sold, e.g. `EUR`.
    pub base_currency: Option<String>,
    /// The currency prices are quoted in, e.g. `USD`.
    pub quote_currency: Option<String>,
    /// Smallest price increment. Prices in data and orders must be multiples.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub tick_size: Option<Decimal>,
    /// Smallest quantity increment. Order quantities must be multiples.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub lot_size: Option<Decimal>,
    /// Smallest order notional (qty × price) in the quote currency. Default 0.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub min_notional: Option<Decimal>,
}

/// An instrument with its trading rules, as the rest of the host sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// Session-wide index.
    pub id: InstrumentId,
    /// Symbol from the session file.
    pub symbol: String,
    /// The asset bought or sold.
    pub base_currency: Currency,
    /// The currency prices are quoted in.
    pub quote_currency: Currency,
    /// Smallest price increment.
    pub tick_size: Decimal,
    /// Smallest quantity increment.
    pub lot_size: Decimal,
    /// Smallest order notional in the quote currency.
    pub min_notional: Decimal,
    /// Decimal places of prices on the plugin boundary (those of `tick_size`).
    pub price_scale: u8,
    /// Decimal places of quantities on the plugin boundary (those of `lot_size`).
    pub qty_scale: u8,
}

impl Instrument {
    /// Whether `price` is a positive multiple of the tick size.
    pub fn is_valid_price(&self, price: Decimal) -> bool {
        price > Decimal::ZERO && is_multiple(price, self.tick_size)
    }

    /// Whether `qty` is a positive multiple of the lot size.
    pub fn is_valid_qty(&self, qty: Decimal) -> bool {
        qty > Decimal::ZERO && is_multiple(qty, self.lot_size)
    }
}

/// Whether `value` is a multiple of `step`; checked, as `value` may be any
/// number a guest sent.
fn is_multiple(value: Decimal, step: Decimal) -> bool {
    value.checked_rem(step).is_some_and(|r| r.is_zero())
}

/// Every instrument of a session, looked up by id or symbol.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    instruments: Vec<Instrument>,
    by_symbol: BTreeMap<String, InstrumentId>,
}

/// Most decimal places of a tick or lot size: at 18, a boundary integer
/// still holds values up to 9.2 (an `i64` has 18 whole digits).
pub const MAX_SCALE: u8 = 18;

/// Decimal places that a positive step size such as 0.00001 implies.
fn scale_of(step: Decimal) -> u8 {
    // Decimal scales are at most 28, so this never truncates.
    step.normalize().scale() as u8
}

impl ReferenceData {
    /// Builds reference data from the session file's instruments, reporting
    /// every invalid field into `problems`.
    pub fn from_config(configs: &[InstrumentConfig], problems: &mut Problems) -> Self {
        let mut data = ReferenceData::default();
        for (index, cfg) in configs.iter().enumerate() {
            let at = format!("instruments[{index}] ({})", cfg.symbol);
            if cfg.symbol.is_empty() {
                problems.push(format!("instruments[{index}].symbol: must not be empty"));
            }
            if data.by_symbol.contains_key(&cfg.symbol) {
                problems.push(format!("{at}: symbol defined twice"));
                continue;
            }
            let missing = |field: &str| {
                format!("{at}.{field}: missing; give it, or name a [[venues]] entry in `venue` to load it from the venue's exchange info")
            };
            let (Some(base), Some(quote), Some(tick_size), Some(lot_size)) = (
                cfg.base_currency.as_ref(),
                cfg.quote_currency.as_ref(),
                cfg.tick_size,
                cfg.lot_size,
            ) else {
                for (field, given) in [
                    ("base_currency", cfg.base_currency.is_some()),
                    ("quote_currency", cfg.quote_currency.is_some()),
                    ("tick_size", cfg.tick_size.is_some()),
                    ("lot_size", cfg.lot_size.is_some()),
                ] {
                    if !given {
                        problems.push(missing(field));
                    }
                }
                continue;
            };
            let min_notional = cfg.min_notional.unwrap_or_default();
            for (field, value) in [("tick_size", tick_size), ("lot_size", lot_size)] {
                if value <= Decimal::ZERO {
                    problems.push(format!("{at}.{field}: must be positive, got {value}"));
                } else if scale_of(value) > MAX_SCALE {
                    problems.push(format!(
                        "{at}.{field}: {value} has {} decimal places; at most {MAX_SCALE} are supported, as prices and quantities cross the plugin boundary as 64-bit integers at that precision",
                        scale_of(value)
                    ));
                }
            }
            for (field, value) in [
                ("tick_size", tick_size),
                ("lot_size", lot_size),
                ("min_notional", min_notional),
            ] {
                if value > MAX_AMOUNT {
                    problems.push(format!(
                        "{at}.{field}: must be at most {MAX_AMOUNT}, got {value}"
                    ));
                }
            }
            if min_notional < Decimal::ZERO {
                problems.push(format!(
                    "{at}.min_notional: must not be negative, got {min_notional}"
                ));
            }
            let id = InstrumentId(index as u32);
            data.by_symbol.insert(cfg.symbol.clone(), id);
            data.instruments.push(Instrument {
                id,
                symbol: cfg.symbol.clone(),
                base_currency: Currency::new(base.clone()),
                quote_currency: Currency::new(quote.clone()),
                tick_size,
                lot_size,
                min_notional,
                price_scale: scale_of(tick_size),
                qty_scale: scale_of(lot_size),
            });
        }
        data
    }

    /// The instrument with this id.
    ///
    /// # Panics
    /// If the id did not come from this reference data.
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.instruments[id.0 as usize]
    }

    /// The instrument with this symbol, if any.
    pub fn by_symbol(&self, symbol: &str) -> Option<&Instrument> {
        self.by_symbol.get(symbol).map(|id| self.get(*id))
    }

    /// The instrument trading `base` against `quote` (a currency pair), if any.
    pub fn pair(&self, base: &Currency, quote: &Currency) -> Option<&Instrument> {
        self.instruments
            .iter()
            .find(|i| &i.base_currency == base && &i.quote_currency == quote)
    }

    /// All instruments, in id order.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether there are no instruments.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eurusd() -> InstrumentConfig {
        InstrumentConfig {
            symbol: "EURUSD".into(),
            venue: None,
            base_currency: Some("EUR".into()),
            quote_currency: Some("USD".into()),
            tick_size: Some("0.00001".parse().unwrap()),
            lot_size: Some("1".parse().unwrap()),
            min_notional: Some("1".parse().unwrap()),
        }
    }

    #[test]
    fn scales_follow_step_sizes() {
        let mut problems = Problems::default();
        let data = ReferenceData::from_config(&[eurusd()], &mut problems);
        assert!(problems.is_empty());
        let inst = data.by_symbol("EURUSD").unwrap();
        assert_eq!((inst.price_scale, inst.qty_scale), (5, 0));
        assert!(inst.is_valid_price("1.07219".parse().unwrap()));
        assert!(!inst.is_valid_price("1.072195".parse().unwrap()));
        assert!(!inst.is_valid_qty("0.5".parse().unwrap()));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut bad = eurusd();
        bad.tick_size = Some(Decimal::ZERO);
        bad.lot_size = Some(Decimal::NEGATIVE_ONE);
        let mut problems = Problems::default();
        ReferenceData::from_config(&[bad, eurusd()], &mut problems);
        let text = problems.to_string();
        assert!(
            text.contains("instruments[0] (EURUSD).tick_size: must be positive"),
            "{text}"
        );
        assert!(
            text.contains("instruments[0] (EURUSD).lot_size: must be positive"),
            "{text}"
        );
        assert!(
            text.contains("instruments[1] (EURUSD): symbol defined twice"),
            "{text}"
        );
    }
}
