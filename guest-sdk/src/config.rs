//! Reading parameters and granted instruments from the [`Config`] given to
//! `init`. Errors name the parameter and the offending value, ready to be
//! returned from [`Strategy::init`](crate::Strategy::init).

use std::fmt::Display;
use std::str::FromStr;

use crate::{Config, Instrument};

impl Config {
    /// The text of parameter `key`, if the session file sets it (the first
    /// occurrence if it appears more than once).
    pub fn raw_param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Required parameter `key`, parsed with [`FromStr`].
    pub fn param<T>(&self, key: &str) -> Result<T, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self
            .raw_param(key)
            .ok_or_else(|| format!("missing required parameter '{key}'"))?;
        parse_param(key, text)
    }

    /// Optional parameter `key`, parsed with [`FromStr`]; `default` if the
    /// session file does not set it. A value that is set but does not parse
    /// is still an error.
    pub fn param_or<T>(&self, key: &str, default: T) -> Result<T, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw_param(key)
            .map_or(Ok(default), |text| parse_param(key, text))
    }

    /// The granted instrument with this symbol, if any.
    pub fn instrument(&self, symbol: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }

    /// The granted instrument with this symbol, or an error listing what was
    /// granted.
    pub fn require_instrument(&self, symbol: &str) -> Result<&Instrument, String> {
        self.instrument(symbol).ok_or_else(|| {
            let granted: Vec<&str> = self.instruments.iter().map(|i| i.symbol.as_str()).collect();
            format!(
                "instrument '{symbol}' is not granted to this strategy (granted: {})",
                if granted.is_empty() {
                    "none".to_string()
                } else {
                    granted.join(", ")
                }
            )
        })
    }
}

fn parse_param<T>(key: &str, text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse()
        .map_err(|err| format!("parameter '{key}': invalid value '{text}': {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decimal;

    fn instrument(id: u32, symbol: &str) -> Instrument {
        Instrument {
            id,
            symbol: symbol.to_string(),
            base_currency: symbol[..3].to_string(),
            quote_currency: symbol[3..].to_string(),
            price_scale: 5,
            qty_scale: 0,
            tick_size: 1,
            lot_size: 1,
            min_notional: Decimal::new(0, 0),
        }
    }

    fn config() -> Config {
        Config {
            strategy_id: "s1".to_string(),
            params: vec![
                ("fast".to_string(), "10".to_string()),
                ("slow".to_string(), "ten".to_string()),
                ("fast".to_string(), "11".to_string()),
            ],
            instruments: vec![instrument(4, "EURUSD"), instrument(9, "GBPUSD")],
        }
    }

    #[test]
    fn reads_parameters() {
        let config = config();
        assert_eq!(config.raw_param("fast"), Some("10"));
        assert_eq!(config.param::<u32>("fast"), Ok(10));
        assert_eq!(config.param_or::<u32>("fast", 3), Ok(10));
        assert_eq!(config.param_or::<u32>("period", 3), Ok(3));
        assert_eq!(config.param::<String>("slow"), Ok("ten".to_string()));
    }

    #[test]
    fn errors_name_the_parameter_and_value() {
        let config = config();
        assert_eq!(
            config.param::<u32>("quantity"),
            Err("missing required parameter 'quantity'".to_string())
        );
        let invalid =
            Err("parameter 'slow': invalid value 'ten': invalid digit found in string".to_string());
        assert_eq!(config.param::<u32>("slow"), invalid);
        assert_eq!(config.param_or::<u32>("slow", 30), invalid);
    }

    #[test]
    fn finds_granted_instruments_by_symbol() {
        let config = config();
        assert_eq!(config.instrument("GBPUSD").map(|i| i.id), Some(9));
        assert!(config.instrument("USDJPY").is_none());
        assert_eq!(
            config.require_instrument("USDJPY").unwrap_err(),
            "instrument 'USDJPY' is not granted to this strategy (granted: EURUSD, GBPUSD)"
        );
        let none = Config {
            instruments: Vec::new(),
            ..config
        };
        assert_eq!(
            none.require_instrument("EURUSD").unwrap_err(),
            "instrument 'EURUSD' is not granted to this strategy (granted: none)"
        );
    }
}
