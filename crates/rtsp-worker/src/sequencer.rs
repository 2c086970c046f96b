//! Puts a stream's outcomes back in order: frames finish out of order (batches in flight at
//! once, drops from the batcher, events from the camera), trackers and consumers need them in
//! the order they happened. Pure logic, no I/O.
//!
//! Every item gets a sequence number when it enters the pipeline ([`Sequencer::issue`]); its
//! outcome is reported once, whenever it is known ([`Sequencer::resolve`]); outcomes come out
//! of [`Sequencer::pop`] in sequence order, each exactly once, as soon as everything before it
//! is resolved.

use std::collections::BTreeMap;

/// What went wrong with a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceError {
    /// Never issued.
    NotIssued(u64),
    /// Resolved before.
    AlreadyResolved(u64),
}

/// Releases resolved outcomes in the order their sequence numbers were issued.
#[derive(Debug)]
pub(crate) struct Sequencer<T> {
    /// The next number to issue.
    issued: u64,
    /// The next number to release.
    next: u64,
    /// Resolved, not yet released.
    ready: BTreeMap<u64, T>,
}

impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Self {
            issued: 0,
            next: 0,
            ready: BTreeMap::new(),
        }
    }
}

impl<T> Sequencer<T> {
    /// A sequence number for an item entering the pipeline.
    pub(crate) fn issue(&mut self) -> u64 {
        let n = self.issued;
        self.issued += 1;
        n
    }

    /// Reports the outcome of `seq`.
    pub(crate) fn resolve(&mut self, seq: u64, outcome: T) -> Result<(), SequenceError> {
        if seq >= self.issued {
            return Err(SequenceError::NotIssued(seq));
        }
        if seq < self.next || self.ready.contains_key(&seq) {
            return Err(SequenceError::AlreadyResolved(seq));
        }
        self.ready.insert(seq, outcome);
        Ok(())
    }

    /// The next outcome in sequence order, if it and everything before it are resolved.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let entry = self.ready.first_entry()?;
        if *entry.key() != self.next {
            return None;
        }
        self.next += 1;
        Some(entry.remove())
    }

    /// Issued and not yet released (waiting for an outcome, or for an earlier one).
    #[cfg(test)]
    pub(crate) fn unreleased(&self) -> u64 {
        self.issued - self.next
    }

    /// Checks the internal invariants; for tests.
    #[cfg(test)]
    fn check_invariants(&self) {
        assert!(self.next <= self.issued);
        assert!(
            self.ready
                .keys()
                .all(|&k| k >= self.next && k < self.issued)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn releases_in_order_once_the_gap_closes() {
        let mut s = Sequencer::default();
        let (a, b, c) = (s.issue(), s.issue(), s.issue());
        s.resolve(c, "c").unwrap();
        s.resolve(b, "b").unwrap();
        assert_eq!(s.pop(), None, "a is not resolved yet");
        assert_eq!(s.unreleased(), 3);
        s.resolve(a, "a").unwrap();
        assert_eq!(
            [s.pop(), s.pop(), s.pop(), s.pop()],
            [Some("a"), Some("b"), Some("c"), None]
        );
        assert_eq!(
            s.resolve(b, "again"),
            Err(SequenceError::AlreadyResolved(b))
        );
        assert_eq!(s.resolve(9, "x"), Err(SequenceError::NotIssued(9)));
        assert_eq!(s.unreleased(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random interleavings of issues, resolutions in any order and pops: every outcome
        /// comes out once, in issue order, never before its predecessors.
        #[test]
        fn outcomes_come_out_once_in_issue_order(
            ops in prop::collection::vec((0u8..3, any::<prop::sample::Index>()), 0..200),
        ) {
            let mut s = Sequencer::default();
            let mut pending: Vec<u64> = Vec::new();
            let mut resolved: Vec<u64> = Vec::new();
            let mut out: Vec<u64> = Vec::new();
            for (op, idx) in ops {
                match op {
                    0 => pending.push(s.issue()),
                    1 if !pending.is_empty() => {
                        let seq = pending.swap_remove(idx.index(pending.len()));
                        s.resolve(seq, seq).unwrap();
                        resolved.push(seq);
                    }
                    _ => {
                        while let Some(v) = s.pop() {
                            out.push(v);
                        }
                    }
                }
                s.check_invariants();
                // Released: a prefix 0..k with nothing unresolved before any of it.
                prop_assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64));
                prop_assert!(out.iter().all(|v| resolved.contains(v)));
            }
            for seq in pending.drain(..) {
                s.resolve(seq, seq).unwrap();
            }
            while let Some(v) = s.pop() {
                out.push(v);
            }
            prop_assert_eq!(out.len() as u64, s.issued);
            prop_assert_eq!(s.unreleased(), 0);
        }
    }
}
