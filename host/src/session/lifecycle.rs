//! A strategy's lifecycle in the session: its lifecycle events, where a
//! failing strategy **is quarantined** (`quarantine`), and a fresh instance
//! for one re-enabled or reloaded.

use super::*;

impl Services {
    /// Emits a strategy lifecycle event.
    pub(super) fn on_event(
        &mut self,
        time: crate::model::Timestamp,
        id: &StrategyId,
        kind: EventKind,
        cause: String,
    ) {
        self.sinks.emit(&EngineEvent::Lifecycle {
            time,
            strategy_id: id,
            kind,
            cause: &cause,
        });
    }

    /// Takes `reg` out of the step loop and applies its order policy.
    pub(super) fn quarantine(
        &mut self,
        reg: &mut Registration,
        time: crate::model::Timestamp,
        cause: String,
    ) {
        let a = Arc::clone(&reg.attribution);
        tracing::warn!(strategy_id = %a.strategy_id, "strategy quarantined: {cause}");
        self.on_event(time, &a.strategy_id, EventKind::Quarantined, cause.clone());
        if reg.on_quarantine == OrderPolicy::CancelOrders {
            self.cancel_orders(reg, None, time, "cancelled: strategy quarantined");
        }
        reg.quarantined = Some(cause);
    }
}

/// Restarts a quarantined strategy: fresh instance, `init`, subscriptions.
pub(super) fn restart(
    reg: &mut Registration,
    reference: &ReferenceData,
) -> Result<(), SessionError> {
    let strategy_id = &reg.attribution.strategy_id;
    let failed = |source| SessionError::Strategy {
        strategy_id: strategy_id.clone(),
        cause: source,
    };
    reg.strategy.reset().map_err(failed)?;
    let info = reg.strategy.init(&reg.config).map_err(failed)?;
    reg.subscribed = subscriptions(&info, &reg.granted, reference, strategy_id)?;
    reg.view = View::default();
    reg.account_sent = false;
    Ok(())
}

/// Which instruments a strategy subscribed to in `init`; each must be granted.
pub(super) fn subscriptions(
    info: &StrategyInfo,
    granted: &[bool],
    reference: &ReferenceData,
    strategy_id: &StrategyId,
) -> Result<Vec<bool>, SessionError> {
    let mut subscribed = vec![false; reference.len()];
    for symbol in &info.subscriptions {
        let refuse = |reason| SessionError::Subscription {
            strategy_id: strategy_id.clone(),
            symbol: symbol.clone(),
            reason,
        };
        let inst = reference
            .by_symbol(symbol)
            .ok_or_else(|| refuse("unknown instrument"))?;
        if !granted[inst.id.0 as usize] {
            return Err(refuse("instrument not granted to this strategy"));
        }
        subscribed[inst.id.0 as usize] = true;
    }
    Ok(subscribed)
}
