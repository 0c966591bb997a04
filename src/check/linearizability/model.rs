//! Sequential specifications: what an object does when operations run one at a time.
//!
//! The checker asks one question of a model, over and over: "in this state, can this
//! operation happen with the output it had, and if so, what is the state afterwards?"
//! ([`Model::step`]). Everything else is preparation and hints:
//!
//! * [`Model::prepare`] turns each history [`Operation`] into the model's own compact
//!   [`Model::Op`] once, up front, refusing operations the model does not understand — so
//!   `step` never has to look at [`Value`](crate::history::Value)s or fail on bad input;
//! * [`Model::partition_key`] splits the history into independent parts (P-compositionality:
//!   a history is linearizable iff each part is), e.g. one per key of a key-value store;
//! * [`Model::is_read_only`] marks operations that never change the state (reads, failed
//!   compare-and-sets), which lets the search take them greedily and drop unobserved ones;
//! * [`Model::can_become_possible`] lets the search give up early on a branch where an
//!   operation that must still happen never can (a read of a value nothing will write).
//!
//! An operation whose [`Status`](crate::history::Status) is `Info` has no known output:
//! `prepare` must turn it into an op that accepts any output (see
//! [`Operation::known_output`]).
//!
//! # Non-deterministic models
//!
//! When one operation may lead to several states (a queue that may hand out any of its
//! items, a step whose output is unknown and matters), implement
//! [`NondeterministicModel`] instead and check with [`PowerSet`]: its states are the sets of
//! states the object may be in, which is again a deterministic model.

use crate::history::Operation;
use std::fmt::Debug;
use std::hash::Hash;

/// A deterministic sequential specification. See the module docs.
pub trait Model {
    /// A state of the object (of one partition, if the model partitions).
    type State: Clone + Eq + Hash + Debug;
    /// An operation as the model sees it. Two operations with equal `Op`s must behave the
    /// same in every state (the search exploits this symmetry for `Info` operations).
    type Op: Clone + Eq + Hash + Debug;

    /// The model's name, for messages (`register`, `kv`, ...).
    fn name(&self) -> &str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The model's view of `op`, or why the model does not accept it. Called once for
    /// every operation that is not `Fail` (those never happened and are dropped).
    fn prepare(&self, op: &Operation) -> Result<Self::Op, String>;

    /// The partition `op` belongs to: operations with different keys never interact, and
    /// each partition is checked on its own starting from [`Model::init`]. `None` (the
    /// default for every operation) is one partition like any other key.
    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        let _ = op;
        None
    }

    /// The state after `op` runs in `state`, or `None` if `op` cannot happen there (with
    /// its recorded output).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether `op` leaves the state unchanged whenever it can happen (a read, a
    /// compare-and-set that reports it did not swap). Only say `true` when it holds in
    /// every state: the search then linearizes such an op as soon as it can without trying
    /// alternatives, and drops it entirely when its output is unknown. Default `false`.
    fn is_read_only(&self, op: &Self::Op) -> bool {
        let _ = op;
        false
    }

    /// Which operations of unknown outcome (`unknown`, none of them read-only) no
    /// completed operation of the partition (`completed`) could ever tell apart from
    /// never having happened: the search drops them, as it drops unknown read-only ones.
    /// Only say `true` when, in every linearization where such an operation takes effect,
    /// removing it leaves every completed operation possible with its recorded output.
    /// The default keeps them all.
    ///
    /// For example, a key-value append whose text no get ever returned: any get after it
    /// and before the next put would contain the text, so there is none, and what it
    /// changed is gone before anyone looks.
    fn unobservable_unknowns(&self, unknown: &[&Self::Op], completed: &[&Self::Op]) -> Vec<bool> {
        let _ = completed;
        vec![false; unknown.len()]
    }

    /// An optional pruning hint. `op` cannot happen in `state`, but it has not returned
    /// yet, so it must happen later, after some of the operations in `later` (the
    /// state-changing operations that may still take effect before `op` must). Return
    /// `false` only if no sequence of those operations can lead to a state where `op` is
    /// possible: the search then abandons this branch at once instead of discovering the
    /// dead end when `op`'s return comes. The default, `true`, never prunes.
    ///
    /// For example, a key-value `get` that saw `"ab"` cannot be satisfied from `"ax"`
    /// unless a `put` of a prefix of `"ab"` is still to come: appends only extend.
    fn can_become_possible<'a>(
        &self,
        state: &Self::State,
        op: &Self::Op,
        later: impl Iterator<Item = &'a Self::Op>,
    ) -> bool
    where
        Self::Op: 'a,
    {
        let _ = (state, op, later);
        true
    }

    /// A short human description of a state, for explanations.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// A sequential specification where a step may lead to several states. Check it through
/// [`PowerSet`].
pub trait NondeterministicModel {
    /// A state of the object.
    type State: Clone + Ord + Hash + Debug;
    /// An operation as the model sees it (see [`Model::Op`]).
    type Op: Clone + Eq + Hash + Debug;

    /// The model's name, for messages.
    fn name(&self) -> &str;

    /// The possible initial states (at least one).
    fn init(&self) -> Vec<Self::State>;

    /// See [`Model::prepare`].
    fn prepare(&self, op: &Operation) -> Result<Self::Op, String>;

    /// See [`Model::partition_key`].
    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        let _ = op;
        None
    }

    /// Every state `op` may lead to from `state`; empty if it cannot happen there.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Vec<Self::State>;

    /// A short human description of a state.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// The deterministic model of the sets of states a [`NondeterministicModel`] may be in
/// (the subset construction): a step maps a set to the union of its members' successors,
/// and is impossible only when that union is empty. States are kept sorted and
/// deduplicated, so equal sets compare equal.
#[derive(Debug, Clone, Default)]
pub struct PowerSet<N>(pub N);

impl<N: NondeterministicModel> Model for PowerSet<N> {
    type State = Vec<N::State>;
    type Op = N::Op;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn init(&self) -> Vec<N::State> {
        let mut states = self.0.init();
        states.sort_unstable();
        states.dedup();
        states
    }

    fn prepare(&self, op: &Operation) -> Result<N::Op, String> {
        self.0.prepare(op)
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        self.0.partition_key(op)
    }

    fn step(&self, states: &Vec<N::State>, op: &N::Op) -> Option<Vec<N::State>> {
        let mut next: Vec<N::State> = states.iter().flat_map(|s| self.0.step(s, op)).collect();
        if next.is_empty() {
            return None;
        }
        next.sort_unstable();
        next.dedup();
        Some(next)
    }

    fn describe_state(&self, states: &Vec<N::State>) -> String {
        let parts: Vec<String> = states.iter().map(|s| self.0.describe_state(s)).collect();
        format!("one of {{{}}}", parts.join(", "))
    }
}
