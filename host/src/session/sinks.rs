//! Where the session's events go: the post-trade recorder and the attached
//! sinks (a journal), the state a checkpoint or the session's end carries,
//! and the strategy swap a journal rebuild needs.

use std::any::Any;

use super::*;

/// The recorder, which every session has, and the attached sinks.
pub(super) struct Sinks {
    pub(super) recorder: Recorder,
    pub(super) attached: Vec<Box<dyn EventSink>>,
}

impl Sinks {
    /// Hands `event` to every sink.
    pub(super) fn emit(&mut self, event: &EngineEvent<'_>) {
        self.recorder.record(event);
        for sink in &mut self.attached {
            sink.record(event);
        }
    }

    /// Whether a sink can take no more events.
    pub(super) fn halted(&self) -> bool {
        self.attached.iter().any(|s| s.halted())
    }
}

impl Session {
    /// Sends every event from here on to `sink` too.
    pub fn attach_sink(&mut self, sink: Box<dyn EventSink>) {
        self.services.sinks.attached.push(sink);
    }

    /// The first attached sink of type `T`.
    pub fn sink<T: EventSink>(&self) -> Option<&T> {
        self.services
            .sinks
            .attached
            .iter()
            .find_map(|s| (s.as_ref() as &dyn Any).downcast_ref())
    }

    /// The first attached sink of type `T`, mutably.
    pub fn sink_mut<T: EventSink>(&mut self) -> Option<&mut T> {
        self.services
            .sinks
            .attached
            .iter_mut()
            .find_map(|s| (s.as_mut() as &mut dyn Any).downcast_mut())
    }

    /// Detaches the first sink of type `T` and gives it back.
    pub fn take_sink<T: EventSink>(&mut self) -> Option<T> {
        let attached = &mut self.services.sinks.attached;
        let index = attached
            .iter()
            .position(|s| (s.as_ref() as &dyn Any).is::<T>())?;
        let sink: Box<dyn Any> = attached.remove(index);
        sink.downcast().ok().map(|sink| *sink)
    }

    /// Ends the event stream: every sink gets [`EngineEvent::End`] with
    /// the strategies' saved states.
    pub fn end_events(&mut self) {
        let state = SessionState {
            strategies: saved_states(&mut self.registrations),
            inventory: &self.services.inventory,
            book: &self.services.book,
        };
        self.services.sinks.emit(&EngineEvent::End(&state));
    }

    /// sha256 of each registration's plugin at the start, in session-file order.
    pub fn plugins(&self) -> impl Iterator<Item = &str> {
        self.registrations.iter().map(|r| r.record.sha256.as_str())
    }

    /// Puts `strategy` in place of registration `index`'s, returning the old one.
    pub fn replace_strategy(
        &mut self,
        index: usize,
        strategy: Box<dyn Strategy>,
    ) -> Box<dyn Strategy> {
        std::mem::replace(&mut self.registrations[index].strategy, strategy)
    }

    /// Ends a step, with a checkpoint first if a sink wants one.
    pub(super) fn end_step(&mut self) {
        let sinks = &mut self.services.sinks;
        if sinks.attached.iter().any(|s| s.checkpoint_due()) {
            let state = SessionState {
                strategies: saved_states(&mut self.registrations),
                inventory: &self.services.inventory,
                book: &self.services.book,
            };
            sinks.emit(&EngineEvent::Checkpoint(&state));
            // A resume restores instances from here, which hold no account
            // yet: the next views carry it in full, in the first run as in a
            // resume, so that both see the same views.
            for reg in &mut self.registrations {
                reg.account_sent = false;
            }
        }
        self.services.sinks.emit(&EngineEvent::StepEnd);
    }
}

/// Each registration's saved state (none for a quarantined one).
fn saved_states(registrations: &mut [Registration]) -> Vec<StrategyState<'_>> {
    registrations
        .iter_mut()
        .map(|r| StrategyState {
            strategy_id: &r.attribution.strategy_id,
            state: match r.quarantined {
                Some(_) => Ok(Vec::new()),
                None => r.strategy.save_state(),
            },
            quarantined: r.quarantined.as_deref(),
        })
        .collect()
}
