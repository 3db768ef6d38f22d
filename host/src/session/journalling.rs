//! The session's journal: attaching one, closing it, checkpoints at a
//! step's end, and the strategy swap a journal rebuild needs.

use super::*;

/// Journal hooks: attaching a journal, checkpoints, and the strategy swap a
/// journal rebuild needs (`crate::journal::replay`).
impl Session {
    /// Journals every event from here on.
    pub fn attach_journal(&mut self, journal: Journal) {
        self.services.journal = Some(journal);
    }

    /// The attached journal, if any.
    pub fn journal(&self) -> Option<&Journal> {
        self.services.journal.as_ref()
    }

    /// Records the end of the session in the attached journal and closes it.
    pub fn close_journal(&mut self) -> Option<Result<JournalSummary, JournalError>> {
        let journal = self.services.journal.take()?;
        let (states, host) = journal_state(&mut self.registrations, &self.services);
        Some(journal.finish(states, host))
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

    /// Ends a step in the journal, with a checkpoint if one is due.
    pub(super) fn journal_step_end(&mut self) {
        if !self
            .services
            .journal
            .as_ref()
            .is_some_and(Journal::checkpoint_due)
        {
            if let Some(j) = &mut self.services.journal {
                j.end_step();
            }
            return;
        }
        let (states, host) = journal_state(&mut self.registrations, &self.services);
        if let Some(j) = &mut self.services.journal {
            j.checkpoint(states, host);
            j.end_step();
        }
        // A resume restores instances from here, which hold no account yet:
        // the next views carry it in full, in the first run as in a resume,
        // so that both see the same views.
        for reg in &mut self.registrations {
            reg.account_sent = false;
        }
    }
}

/// Each registration's saved state, and the host state.
fn journal_state<'a>(
    registrations: &'a mut [Registration],
    s: &Services,
) -> (Vec<StrategyState<'a>>, serde_json::Value) {
    let host = journal::host_state(&s.inventory, registrations.len(), &s.book);
    let states = registrations
        .iter_mut()
        .map(|r| StrategyState {
            strategy_id: &r.attribution.strategy_id,
            state: match r.quarantined {
                Some(_) => Ok(Vec::new()),
                None => r.strategy.save_state(),
            },
            quarantined: r.quarantined.as_deref(),
        })
        .collect();
    (states, host)
}
