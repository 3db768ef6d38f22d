//! Operator actions on a running session, applied between two steps, and
//! the read model the control plane serves (`crate::control_plane`).
//!
//! Every action is journalled as an `operator_action` record after the
//! events it caused, with its outcome, so that a replay re-applies it at the
//! same step boundary and reproduces the same events.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Control, ControlError, Session};
use crate::config::Mode;
use crate::events::EngineEvent;
use crate::intents::{PlaceOrder, Proposal};
use crate::model::OrderStatus;
use crate::model::{format_time, to_scaled, InstrumentId, OrderId, Side, StrategyId};
use crate::model::{OrderType, TimeInForce};
use crate::risk::RiskLimits;

/// Who the journal names for actions that come through the control plane.
pub const OPERATOR: &str = "operator";

/// Client tag of the orders a flatten sends.
pub const FLATTEN_TAG: &str = "flatten";

/// An operator's action on a running session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorAction {
    /// The kill switch: no strategy is called from the next step on (so no
    /// new intents); working orders are cancelled if `cancel_orders`.
    Kill {
        /// Also cancel every working order of every strategy.
        cancel_orders: bool,
    },
    /// Lifts the kill switch.
    Resume,
    /// Puts a disabled strategy back in the step loop, or restarts a
    /// quarantined one (a fresh instance, `init` again).
    Enable {
        /// The registration.
        strategy_id: StrategyId,
    },
    /// Pauses a strategy: it is not called; its working orders stay working.
    Disable {
        /// The registration.
        strategy_id: StrategyId,
    },
    /// Quarantines a strategy (its `on_quarantine` order policy applies).
    Quarantine {
        /// The registration.
        strategy_id: StrategyId,
        /// Why, for the event.
        reason: String,
    },
    /// Asks the hot reloader to reload a strategy's plugin file.
    Reload {
        /// The registration.
        strategy_id: StrategyId,
    },
    /// Cancels a strategy's working orders (every strategy's, if `None`) and
    /// sends reduce-only market orders that close its positions.
    Flatten {
        /// The registration, or every one.
        strategy_id: Option<StrategyId>,
    },
}

impl OperatorAction {
    /// The strategy the action targets, if one.
    pub fn strategy_id(&self) -> Option<&StrategyId> {
        match self {
            Self::Enable { strategy_id }
            | Self::Disable { strategy_id }
            | Self::Quarantine { strategy_id, .. }
            | Self::Reload { strategy_id } => Some(strategy_id),
            Self::Flatten { strategy_id } => strategy_id.as_ref(),
            Self::Kill { .. } | Self::Resume => None,
        }
    }
}

/// Why an operator action was not applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActionError {
    /// Unknown strategy, quarantine of a quarantined one, failed restart.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// Kill while the kill switch is on.
    #[error("the kill switch is already on")]
    AlreadyKilled,
    /// Resume while the kill switch is off.
    #[error("the kill switch is off")]
    NotKilled,
    /// Disable of a disabled strategy.
    #[error("strategy {0} is already disabled")]
    AlreadyDisabled(StrategyId),
    /// Enable of a strategy that is running.
    #[error("strategy {0} is running (neither disabled nor quarantined)")]
    Running(StrategyId),
    /// The reload could not be asked for.
    #[error("{0}")]
    Reload(String),
}

impl ActionError {
    /// Whether the action named a strategy the session does not have.
    pub fn is_unknown_strategy(&self) -> bool {
        matches!(self, Self::Control(ControlError::UnknownStrategy(_)))
    }
}

/// The operator's switches: the kill switch and each strategy's pause.
#[derive(Debug, Default)]
pub(super) struct Operator {
    killed: bool,
    /// Indexed by registration; grown on first disable.
    disabled: Vec<bool>,
}

impl Operator {
    /// Whether registration `index` is kept out of the step loop by the operator.
    pub(super) fn holds(&self, index: usize) -> bool {
        self.killed || self.disabled.get(index).copied().unwrap_or(false)
    }

    fn disabled(&self, index: usize) -> bool {
        self.disabled.get(index).copied().unwrap_or(false)
    }

    fn set_disabled(&mut self, index: usize, value: bool) {
        if self.disabled.len() <= index {
            self.disabled.resize(index + 1, false);
        }
        self.disabled[index] = value;
    }
}

impl Session {
    /// Applies an operator's action between steps and journals it (as
    /// `who` did it) with its outcome. `reload` asks the hot reloader for a
    /// strategy's plugin. Returns the last step run before the action took
    /// effect: it holds from the step after.
    pub fn operate(
        &mut self,
        who: &str,
        action: &OperatorAction,
        reload: impl FnOnce(&StrategyId) -> Result<(), String>,
    ) -> Result<u64, ActionError> {
        let result = self.apply_action(action, reload);
        let step = self.snapshot_id();
        let refusal = result.as_ref().err().map(ToString::to_string);
        self.services.sinks.emit(&EngineEvent::Operator {
            who,
            step,
            action,
            refusal: refusal.as_deref(),
        });
        match &result {
            Ok(()) => tracing::info!(who, ?action, step, "operator action applied"),
            Err(e) => tracing::warn!(who, ?action, step, "operator action refused: {e}"),
        }
        result.map(|()| step)
    }

    fn apply_action(
        &mut self,
        action: &OperatorAction,
        reload: impl FnOnce(&StrategyId) -> Result<(), String>,
    ) -> Result<(), ActionError> {
        let index = action
            .strategy_id()
            .map(|id| self.index_of(id))
            .transpose()?;
        let time = self.coordinator.snapshot().time();
        match action {
            OperatorAction::Kill { cancel_orders } => {
                if self.operator.killed {
                    return Err(ActionError::AlreadyKilled);
                }
                self.operator.killed = true;
                if *cancel_orders {
                    for reg in &mut self.registrations {
                        self.services
                            .cancel_orders(reg, None, time, "cancelled: kill switch");
                    }
                }
            }
            OperatorAction::Resume => {
                if !self.operator.killed {
                    return Err(ActionError::NotKilled);
                }
                self.operator.killed = false;
                // Fills may have happened while they were not called.
                for reg in &mut self.registrations {
                    reg.account_sent = false;
                }
            }
            OperatorAction::Disable { strategy_id } => {
                let index = index.expect("a strategy action");
                if self.operator.disabled(index) {
                    return Err(ActionError::AlreadyDisabled(strategy_id.clone()));
                }
                self.operator.set_disabled(index, true);
            }
            OperatorAction::Enable { strategy_id } => {
                let index = index.expect("a strategy action");
                let disabled = self.operator.disabled(index);
                if self.registrations[index].quarantined.is_some() {
                    self.control(Control::Enable {
                        strategy_id: strategy_id.clone(),
                    })?;
                } else if !disabled {
                    return Err(ActionError::Running(strategy_id.clone()));
                }
                self.operator.set_disabled(index, false);
                self.registrations[index].account_sent = false;
            }
            OperatorAction::Quarantine {
                strategy_id,
                reason,
            } => self.control(Control::Quarantine {
                strategy_id: strategy_id.clone(),
                reason: reason.clone(),
            })?,
            OperatorAction::Reload { strategy_id } => {
                reload(strategy_id).map_err(ActionError::Reload)?;
            }
            OperatorAction::Flatten { .. } => match index {
                Some(index) => self.flatten(index),
                None => (0..self.registrations.len()).for_each(|i| self.flatten(i)),
            },
        }
        Ok(())
    }

    fn index_of(&self, strategy_id: &StrategyId) -> Result<usize, ActionError> {
        self.registrations
            .iter()
            .position(|r| &r.attribution.strategy_id == strategy_id)
            .ok_or_else(|| ControlError::UnknownStrategy(strategy_id.clone()).into())
    }

    /// Cancels registration `index`'s working orders and sends reduce-only
    /// market orders that close its positions, through the strategy's own
    /// stamping, risk and execution path.
    fn flatten(&mut self, index: usize) {
        let snapshot = self.coordinator.snapshot();
        let time = snapshot.time();
        let services = &mut self.services;
        let reg = &mut self.registrations[index];
        services.cancel_orders(reg, None, time, "cancelled: operator flatten");
        let closing: Vec<Proposal> = services
            .inventory
            .positions(index)
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.qty.is_zero())
            .map(|(i, p)| {
                let inst = services.reference.get(InstrumentId(i as u32));
                Proposal::Place(PlaceOrder {
                    instrument: inst.id,
                    side: if p.qty > Decimal::ZERO {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                    order_type: OrderType::Market,
                    time_in_force: TimeInForce::Gtc,
                    // Positions are sums of lot multiples: exact at qty scale.
                    qty: to_scaled(p.qty.abs(), inst.qty_scale).unwrap_or(i64::MAX),
                    reduce_only: true,
                    post_only: false,
                    client_tag: FLATTEN_TAG.to_owned(),
                })
            })
            .collect();
        for intent in closing {
            services.handle_intent(reg, snapshot, intent);
        }
    }

    /// The session as the control plane shows it, after the last step.
    pub fn overview(&self) -> Overview {
        let snapshot = self.coordinator.snapshot();
        let s = &self.services;
        let strategies = self
            .registrations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (state, cause) = match (&r.quarantined, self.operator.disabled(i)) {
                    (Some(cause), _) => (RunState::Quarantined, Some(cause.clone())),
                    (None, true) => (RunState::Disabled, None),
                    (None, false) => (RunState::Running, None),
                };
                StrategyOverview {
                    strategy_id: r.attribution.strategy_id.clone(),
                    state,
                    cause,
                    name: r.record.name.clone(),
                    version: r.record.version.clone(),
                    sha256: r.record.sha256.clone(),
                    plugin: r.record.plugin.clone(),
                    plugin_versions: r.record.versions.len(),
                    execution_id: r.attribution.execution_id.to_string(),
                    route_id: r.attribution.route_id.to_string(),
                    risk: r.risk.clone(),
                }
            })
            .collect();
        let positions = self
            .registrations
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                s.inventory
                    .positions(i)
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !p.qty.is_zero() || !p.realized_pnl.is_zero())
                    .map(move |(inst, p)| PositionOverview {
                        strategy_id: r.attribution.strategy_id.clone(),
                        instrument: s.reference.get(InstrumentId(inst as u32)).symbol.clone(),
                        qty: p.qty,
                        avg_price: p.avg_price(),
                        realized_pnl: p.realized_pnl,
                    })
            })
            .collect();
        let orders = s
            .book
            .open()
            .map(|o| OrderOverview {
                order_id: o.id,
                strategy_id: o.attribution.strategy_id.clone(),
                instrument: s.reference.get(o.request.instrument).symbol.clone(),
                side: o.request.side,
                order_type: o.request.order_type,
                time_in_force: o.request.tif,
                qty: o.request.qty,
                filled_qty: o.filled_qty,
                status: o.status,
                client_tag: o.request.client_tag.clone(),
            })
            .collect();
        let step = snapshot.id().0;
        Overview {
            name: self.name.clone(),
            mode: self.mode,
            step,
            market_time: (step > 0).then(|| format_time(snapshot.time())),
            equity: (step > 0).then(|| s.account_value(None, snapshot).equity),
            currency: s.currency.to_string(),
            killed: self.operator.killed,
            strategies,
            positions,
            orders,
        }
    }
}

/// Where a strategy is, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Called at each step with data (unless the kill switch is on).
    Running,
    /// Paused by an operator.
    Disabled,
    /// Taken out by a fault or an operator.
    Quarantined,
}

/// The session as the control plane shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Session name (the control plane's runtime id).
    pub name: String,
    /// Its mode.
    pub mode: Mode,
    /// The last step run (0 before the first).
    pub step: u64,
    /// Market time of that step (RFC 3339).
    pub market_time: Option<String>,
    /// Equity of every account, in `currency`, at that step's prices.
    pub equity: Option<Decimal>,
    /// The session currency.
    pub currency: String,
    /// Whether the kill switch is on.
    pub killed: bool,
    /// The registrations, in session-file order.
    pub strategies: Vec<StrategyOverview>,
    /// Each strategy's positions (open, or with realised PnL).
    pub positions: Vec<PositionOverview>,
    /// Working orders.
    pub orders: Vec<OrderOverview>,
}

/// A registration in the [`Overview`].
#[derive(Debug, Clone, Serialize)]
pub struct StrategyOverview {
    /// The registration.
    pub strategy_id: StrategyId,
    /// Running, disabled or quarantined.
    pub state: RunState,
    /// Why it is quarantined.
    pub cause: Option<String>,
    /// Name its running version gave in `init`.
    pub name: String,
    /// Version its running version gave in `init`.
    pub version: String,
    /// sha256 of the running plugin.
    pub sha256: String,
    /// Plugin path as in the session file.
    pub plugin: String,
    /// Plugin versions run so far (1 + hot reloads).
    pub plugin_versions: usize,
    /// Its execution context.
    pub execution_id: String,
    /// Its route.
    pub route_id: String,
    /// Its risk limits.
    pub risk: RiskLimits,
}

/// A position in the [`Overview`].
#[derive(Debug, Clone, Serialize)]
pub struct PositionOverview {
    /// The strategy holding it.
    pub strategy_id: StrategyId,
    /// Instrument symbol.
    pub instrument: String,
    /// Signed quantity.
    pub qty: Decimal,
    /// Average entry price of the open quantity.
    pub avg_price: Option<Decimal>,
    /// PnL realised so far, before commissions.
    pub realized_pnl: Decimal,
}

/// A working order in the [`Overview`].
#[derive(Debug, Clone, Serialize)]
pub struct OrderOverview {
    /// Host order id.
    pub order_id: OrderId,
    /// The strategy it belongs to.
    pub strategy_id: StrategyId,
    /// Instrument symbol.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Filled so far.
    pub filled_qty: Decimal,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// The tag it was sent with.
    pub client_tag: String,
}
