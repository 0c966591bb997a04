//! A mutex: `acquire` takes the lock, `release` gives it back (Knossos's `mutex`).
//!
//! An `acquire` can happen only while the lock is free and a `release` only while it is
//! held; outputs carry nothing. Operations partition by key, so a history of several
//! independent locks (Jepsen's `independent` keys) is checked as that many mutexes, and
//! operations without a key form one.

use crate::check::linearizability::Model;
use crate::history::{Func, Operation};

/// A mutex operation as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// Take the lock.
    Acquire,
    /// Give it back.
    Release,
}

/// A lock held by at most one client at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Op = MutexOp;

    fn name(&self) -> &str {
        "mutex"
    }

    fn init(&self) -> bool {
        false
    }

    fn prepare(&self, op: &Operation) -> Result<MutexOp, String> {
        match op.f {
            Func::Acquire => Ok(MutexOp::Acquire),
            Func::Release => Ok(MutexOp::Release),
            f => Err(format!(
                "the mutex model accepts acquire and release, not {f}"
            )),
        }
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn describe_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_taken_only_when_free_and_given_back_only_when_held() {
        let m = Mutex;
        assert_eq!(m.step(&false, &MutexOp::Acquire), Some(true));
        assert_eq!(m.step(&true, &MutexOp::Acquire), None);
        assert_eq!(m.step(&true, &MutexOp::Release), Some(false));
        assert_eq!(m.step(&false, &MutexOp::Release), None);
    }
}
