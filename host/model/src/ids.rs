//! Identifiers: names from configuration and host-assigned numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier taken from configuration.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// Names one strategy registration in a session.
    StrategyId
);
string_id!(
    /// Names an execution context: venue + account + mode.
    ExecutionId
);
string_id!(
    /// Names a path to a venue for an execution context.
    RouteId
);
string_id!(
    /// A currency code such as `USD`.
    Currency
);

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// Session-wide index of an instrument in reference data.
    InstrumentId(u32)
);
numeric_id!(
    /// Host-assigned order identifier, unique within a session.
    OrderId(u64)
);
numeric_id!(
    /// Host-assigned intent identifier, unique within a session.
    IntentId(u64)
);
numeric_id!(
    /// Identifies one snapshot (one step) of a session.
    SnapshotId(u64)
);
