//! Operations of unknown outcome the search leaves out, because no completed operation
//! could ever tell them apart from never having happened.
//!
//! An `Info` operation may take effect any time after its call, or never. Every one the
//! search keeps multiplies what it may have to explore — the configurations with it
//! linearized and without, at every point — which is the search's exponential case on one
//! object. Two kinds are dropped up front, each choice exact:
//!
//! * read-only ones (a read nobody saw): they change nothing, so never happening is as
//!   good as happening;
//! * those the model names ([`Model::unobservable_unknowns`]), e.g. a key-value append
//!   whose text no get returned: any get after it and before the next put would contain
//!   the text, so there is none, and what it changed is gone before anyone looks.

use super::search::PartOp;
use super::Model;

/// Per operation of the partition: whether the search leaves it out.
pub(crate) fn unknowns<M: Model>(model: &M, ops: &[PartOp<'_, M::Op>]) -> Vec<bool> {
    let mut dropped: Vec<bool> = (ops.iter())
        .map(|p| p.ret.is_none() && model.is_read_only(p.op))
        .collect();
    let candidates: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].ret.is_none() && !dropped[i])
        .collect();
    if candidates.is_empty() {
        return dropped;
    }
    let completed: Vec<&M::Op> = (ops.iter())
        .filter(|p| p.ret.is_some())
        .map(|p| p.op)
        .collect();
    let unknown: Vec<&M::Op> = candidates.iter().map(|&i| ops[i].op).collect();
    let flags = model.unobservable_unknowns(&unknown, &completed);
    assert_eq!(
        flags.len(),
        candidates.len(),
        "the model answers for every unknown operation"
    );
    for (&i, drop) in candidates.iter().zip(flags) {
        dropped[i] = drop;
    }
    dropped
}
