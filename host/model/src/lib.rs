//! The domain vocabulary every part of the Cracktrader host shares:
//! identifiers, sides, time, market data, the order vocabulary, and the
//! exact conversion between decimals and the plugin boundary's scaled
//! integers.
//!
//! It depends on no other crate of the project: everything above it may use
//! it, it uses nothing above.
#![deny(missing_docs)]

mod ids;
mod market;
mod order;
mod scaled;
mod side;
mod time;

pub use ids::{
    Currency, ExecutionId, InstrumentId, IntentId, OrderId, RouteId, SnapshotId, StrategyId,
};
pub use market::{Bar, Quote, Trade};
pub use order::{Amendment, Fill, OrderRequest, OrderStatus, OrderType, ReportKind, TimeInForce};
pub use scaled::{from_scaled, to_scaled, ScaleError};
pub use side::Side;
pub use time::{format_time, from_millis, Timestamp};
