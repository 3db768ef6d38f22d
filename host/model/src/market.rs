//! Market data: bars, quotes and trade prints, as scaled integers.

use serde::{Deserialize, Serialize};

use crate::{InstrumentId, Timestamp};

/// Best bid and ask of an instrument, scaled like [`Bar`] prices and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The instrument.
    pub instrument: InstrumentId,
    /// When the book looked like this.
    pub time: Timestamp,
    /// Best bid.
    pub bid: i64,
    /// Quantity at the best bid.
    pub bid_size: i64,
    /// Best ask.
    pub ask: i64,
    /// Quantity at the best ask.
    pub ask_size: i64,
}

/// One trade print, scaled like [`Bar`] prices and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The instrument.
    pub instrument: InstrumentId,
    /// When it printed.
    pub time: Timestamp,
    /// Price.
    pub price: i64,
    /// Quantity.
    pub size: i64,
}

/// One OHLCV bar. Prices are integers scaled by the instrument's
/// `price_scale`, volume by its `qty_scale`: exact, and exactly what crosses
/// the plugin boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Open time of the bar.
    pub time: Timestamp,
    /// First price.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Last price.
    pub close: i64,
    /// Traded volume.
    pub volume: i64,
}
