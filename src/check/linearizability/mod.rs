//! Linearizability checking.
//!
//! A history is *linearizable* for a sequential model if every operation can be given a
//! point in time between its invocation and its completion such that, run one at a time
//! in the order of those points, the model produces exactly the outputs the clients saw.
//! Operations that failed (`Fail`) never happened and are dropped; operations with an
//! unknown outcome (`Info`) may take effect at any point after their invocation, or never.
//!
//! [`check_history`] checks a history against one of the built-in models ([`ModelKind`]);
//! [`check_with_model`] against any [`Model`] (and, through [`PowerSet`], any
//! [`NondeterministicModel`]). The answer is three-valued ([`Verdict`]): valid, invalid
//! with an [`Explanation`], or unknown when the [`Budget`] ran out first.
//!
//! How it works: the history is split into independent partitions by the model's
//! [`Model::partition_key`] (a history is linearizable iff each partition is —
//! Herlihy and Wing's locality, "P-compositionality" in Horn and Kroening's terms), and
//! each partition is searched with the Wing–Gong–Lowe algorithm (see `search`'s
//! module docs for the algorithm and faultline's refinements). Partitions are checked in
//! key order, and the first invalid one is reported.
//!
//! # Determinism
//!
//! The verdict, the explanation and the step count are pure functions of the history and
//! the model: the search explores candidates in a fixed order, its hash tables use a
//! fixed hash function and are never iterated, and the step budget
//! ([`Budget::max_steps`]) counts model transitions tried. Only the wall-clock budget
//! ([`Budget::wall`]) depends on timing, and only in that it may turn the verdict into
//! [`Verdict::Unknown`].

mod dropped;
mod model;
pub mod models;
mod search;
mod tables;

pub use model::{Model, NondeterministicModel, PowerSet};
pub use models::{Bank, CasRegister, Kv, MultiRegister, Mutex, Register};

use crate::history::{History, Status};
use search::{Meter, Outcome, PartOp, Poll, Search, Stop};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The built-in models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// [`Register`]: read and write.
    Register,
    /// [`CasRegister`]: read, write and compare-and-set.
    CasRegister,
    /// [`Kv`]: get, put and append on string keys.
    Kv,
    /// [`Bank`]: deposit, withdraw and read on accounts.
    Bank,
    /// [`MultiRegister`]: transactions of reads and writes over keyed registers
    /// (Knossos's `multi-register`).
    MultiRegister,
    /// [`Mutex`]: acquire and release (Knossos's `mutex`).
    Mutex,
}

impl ModelKind {
    /// Every built-in model.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Bank,
        ModelKind::MultiRegister,
        ModelKind::Mutex,
    ];

    /// The model's name: `register`, `cas-register`, `kv`, `bank`, `multi-register` or
    /// `mutex`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Bank => "bank",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Mutex => "mutex",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model name that is not one of the built-in models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown model `{0}`; expected one of register, cas-register, kv, bank, multi-register, mutex"
)]
pub struct UnknownModel(pub String);

impl FromStr for ModelKind {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<ModelKind, UnknownModel> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownModel(s.to_string()))
    }
}

/// How much work a check may do before answering [`Verdict::Unknown`]. The default has
/// no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// At most this many search steps (model transitions tried), over all partitions.
    /// Deterministic: the same history and model always stop at the same point.
    pub max_steps: Option<u64>,
    /// At most this much wall-clock time. Not deterministic; meant for interactive use.
    pub wall: Option<Duration>,
    /// At most this many bytes of search state allocated at once (counted by faultline's
    /// allocator on the checking thread). Deterministic, like the step budget: the same
    /// history allocates the same amounts. Seeds set it from `limits.memory_mb_max`.
    pub memory_bytes_max: Option<u64>,
    /// What sets the memory budget, named when it runs out (`limits.memory_mb_max` in a
    /// seed, `--memory-mb-max` for `faultline check`).
    pub memory_knob: &'static str,
    /// Bytes held outside the search (what the process held before it started) that
    /// count against `memory_bytes_max` too.
    pub memory_held_bytes: u64,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// How many partitions the history was split into.
    pub partitions: usize,
    /// Search steps spent (model transitions tried).
    pub steps: u64,
}

/// Valid, invalid (with why), or unknown (with why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Verdict {
    /// The history is linearizable.
    Valid,
    /// The history is not linearizable.
    Invalid(Explanation),
    /// The budget ran out before an answer.
    Unknown(UnknownReason),
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The partition that is not linearizable (`None`: the operations without a key, or
    /// a model that does not partition).
    pub key: Option<String>,
    /// The longest linearizable prefix found: indices into `history.ops`, in
    /// linearization order.
    pub prefix: Vec<usize>,
    /// The operations that could come next after the prefix but cannot take effect
    /// there: indices into `history.ops`, in invocation order.
    pub stuck: Vec<usize>,
    /// A sentence naming the operations involved.
    pub message: String,
}

/// Which budget ran out, and in which partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum UnknownReason {
    /// [`Budget::max_steps`] ran out.
    StepBudget {
        /// The budget.
        max_steps: u64,
        /// The partition being searched.
        key: Option<String>,
    },
    /// [`Budget::memory_bytes_max`] ran out.
    MemoryBudget {
        /// The budget, in MiB.
        memory_mb_max: u64,
        /// What sets it.
        knob: &'static str,
        /// The partition being searched.
        key: Option<String>,
    },
    /// [`Budget::wall`] ran out.
    WallBudget {
        /// The budget, in milliseconds.
        wall_ms: u64,
        /// The partition being searched.
        key: Option<String>,
    },
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, key) = match self {
            UnknownReason::StepBudget { max_steps, key } => {
                (format!("the step budget ({max_steps} steps) ran out"), key)
            }
            UnknownReason::WallBudget { wall_ms, key } => {
                (format!("the time budget ({wall_ms} ms) ran out"), key)
            }
            UnknownReason::MemoryBudget {
                memory_mb_max,
                knob,
                key,
            } => (
                format!("the memory budget ({memory_mb_max} MB, {knob}) ran out"),
                key,
            ),
        };
        f.write_str(&what)?;
        match key {
            Some(key) => write!(f, " while checking key {key:?}"),
            None => Ok(()),
        }
    }
}

/// A history the model cannot check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum ModelError {
    /// The model does not accept this operation.
    #[error("operation {index} ({op}) is not accepted by the {model} model: {reason}")]
    Rejected {
        /// Index in `history.ops`.
        index: usize,
        /// The operation, described.
        op: String,
        /// The model's name.
        model: String,
        /// Why.
        reason: String,
    },
    /// The operation is inconsistent whatever the model.
    #[error("operation {index} ({op}) is malformed: {reason}")]
    Malformed {
        /// Index in `history.ops`.
        index: usize,
        /// The operation, described.
        op: String,
        /// Why.
        reason: String,
    },
    /// A partition has more operations than the checker can number.
    #[error("a partition has {ops} operations; the checker handles at most {max}")]
    TooLarge {
        /// Operations in the partition.
        ops: usize,
        /// The limit.
        max: usize,
    },
}

/// Check `history` against the built-in `model`.
pub fn check_history(
    history: &History,
    model: ModelKind,
    budget: &Budget,
) -> Result<Report, ModelError> {
    match model {
        ModelKind::Register => check_with_model(history, &Register, budget),
        ModelKind::CasRegister => check_with_model(history, &CasRegister, budget),
        ModelKind::Kv => check_with_model(history, &Kv, budget),
        ModelKind::Bank => check_with_model(history, &Bank, budget),
        ModelKind::MultiRegister => check_with_model(history, &MultiRegister, budget),
        ModelKind::Mutex => check_with_model(history, &Mutex, budget),
    }
}

/// A partition: its key and its operations.
type Group<'a, Op> = (Option<&'a str>, Vec<PartOp<'a, Op>>);

/// Check `history` against any [`Model`].
pub fn check_with_model<M: Model>(
    history: &History,
    model: &M,
    budget: &Budget,
) -> Result<Report, ModelError> {
    // The meter starts before the preparation, so the memory budget covers it too.
    let meter = Meter::new(budget);
    let prepared = prepare_all(history, model)?;
    let groups = partition(history, model, &prepared)?;
    if let Some(explanation) = refute_up_front(history, model, &groups) {
        return Ok(Report {
            verdict: Verdict::Invalid(explanation),
            partitions: groups.len(),
            steps: 0,
        });
    }
    Ok(search_rounds(history, model, &groups, budget, meter))
}

/// The most operations the up-front refutation looks at in all (then it leaves the
/// decision to the search, as before).
const REFUTE_SCAN_MAX: u64 = 200_000_000;

/// A refutation before any search: a completed operation that cannot happen in the
/// initial state, and that no operation invoked before it returned could make possible
/// (the model's [`Model::can_become_possible`]) — e.g. a read of a value never written,
/// or one that returned before any write of its value was invoked. Such a history is not
/// linearizable whatever else it holds, and the search would only find that out after
/// trying every order of the rest (exponential with many indeterminate operations).
fn refute_up_front<M: Model>(
    history: &History,
    model: &M,
    groups: &[Group<'_, M::Op>],
) -> Option<Explanation> {
    let init = model.init();
    let mut scanned = 0u64;
    for (key, ops) in groups {
        let mut by_call: Vec<&PartOp<'_, M::Op>> = ops.iter().collect();
        by_call.sort_by_key(|o| o.call);
        let mut candidates: Vec<(u64, &PartOp<'_, M::Op>)> = (ops.iter())
            .filter_map(|o| o.ret.map(|r| (r, o)))
            .filter(|(_, o)| model.step(&init, o.op).is_none())
            .collect();
        candidates.sort_by_key(|(r, o)| (*r, o.index));
        // Earlier-returning candidates first: once an operation is explained, an equal
        // one that returns later is too (more operations may precede it), so it is skipped.
        // Distinct operations, numbered; `explained[id]` once one of them is explained.
        let mut distinct: tables::Interner<&M::Op> = tables::Interner::new();
        let mut explained: Vec<bool> = Vec::new();
        for (ret, op) in candidates {
            let (id, _) = distinct.intern(op.op);
            let id = id as usize;
            if explained.len() <= id {
                explained.resize(id + 1, false);
            }
            if explained[id] {
                continue;
            }
            // Invoked no later than it returned: they may take effect before it.
            let k = by_call.partition_point(|o| o.call <= ret);
            scanned += k as u64;
            if scanned > REFUTE_SCAN_MAX {
                return None;
            }
            // The most recent first: what explains a read is usually just before it.
            let before = (by_call[..k].iter().rev())
                .filter(|o| o.index != op.index)
                .map(|o| o.op);
            if model.can_become_possible(&init, op.op, before) {
                explained[id] = true;
                continue;
            }
            return Some(refutation(history, model, *key, op.index, &init));
        }
    }
    None
}

fn refutation<M: Model>(
    history: &History,
    model: &M,
    key: Option<&str>,
    index: usize,
    init: &M::State,
) -> Explanation {
    Explanation {
        key: key.map(str::to_string),
        prefix: Vec::new(),
        stuck: vec![index],
        message: format!(
            "{}not linearizable. #{index} {} cannot take effect: it cannot happen in the initial state ({}), and no operation invoked before it returned can make it possible (found before any search)",
            key.map(|k| format!("key {k:?}: ")).unwrap_or_default(),
            history.ops[index],
            model.describe_state(init)
        ),
    }
}

/// Prepare every operation that may have happened (`None` for failed ones); refuse what
/// cannot be checked.
fn prepare_all<M: Model>(history: &History, model: &M) -> Result<Vec<Option<M::Op>>, ModelError> {
    let mut prepared: Vec<Option<M::Op>> = Vec::with_capacity(history.ops.len());
    for (index, op) in history.ops.iter().enumerate() {
        if op.status == Status::Fail {
            prepared.push(None);
            continue;
        }
        let malformed = |reason: &str| ModelError::Malformed {
            index,
            op: op.to_string(),
            reason: reason.to_string(),
        };
        match (op.status, op.ret) {
            (Status::Ok, None) => {
                return Err(malformed("an ok operation must have a return time"));
            }
            (Status::Ok, Some(ret)) if ret < op.call => {
                return Err(malformed("it returns before it is called"));
            }
            _ => {}
        }
        let prepared_op = model.prepare(op).map_err(|reason| ModelError::Rejected {
            index,
            op: op.to_string(),
            model: model.name().to_string(),
            reason,
        })?;
        prepared.push(Some(prepared_op));
    }

    Ok(prepared)
}

/// Split the prepared operations into partitions by key.
fn partition<'a, M: Model>(
    history: &'a History,
    model: &M,
    prepared: &'a [Option<M::Op>],
) -> Result<Vec<Group<'a, M::Op>>, ModelError> {
    // Partition: number the keys in order of appearance (hashing each key once), then
    // order the partitions by key. Within a partition, operations stay in history order.
    let mut keys: tables::Interner<Option<&str>> = tables::Interner::new();
    let mut groups: Vec<Group<'_, M::Op>> = Vec::new();
    for (index, op) in history.ops.iter().enumerate() {
        let Some(model_op) = prepared[index].as_ref() else {
            continue;
        };
        let key = model.partition_key(op);
        let (id, new) = keys.intern(key);
        if new {
            groups.push((key, Vec::new()));
        }
        if let Some((_, ops)) = groups.get_mut(id as usize) {
            ops.push(PartOp {
                index,
                op: model_op,
                call: op.call,
                ret: match op.status {
                    Status::Info => None,
                    Status::Ok | Status::Fail => op.ret,
                },
            });
        }
    }
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some((_, ops)) = groups.iter().find(|(_, ops)| ops.len() > search::MAX_OPS) {
        return Err(ModelError::TooLarge {
            ops: ops.len(),
            max: search::MAX_OPS,
        });
    }

    Ok(groups)
}

/// Search the partitions in rounds until one fails, all pass, or the budget runs out.
fn search_rounds<M: Model>(
    history: &History,
    model: &M,
    groups: &[Group<'_, M::Op>],
    budget: &Budget,
    mut meter: Meter,
) -> Report {
    let partitions = groups.len();
    // Partitions are searched in rounds, in key order, each round giving every partition
    // still undecided a quarter more steps than the previous one. A violation in any
    // partition decides the whole history, so a partition that fails quickly is not kept
    // waiting behind one whose search is long (the others spend at most about a quarter
    // more than it did), and yet the schedule — hence the verdict — depends only on step
    // counts. Searches are created in the first round, so partitions decided within their
    // first slice free their memory before the next is built, and a partition with a
    // single possible order (no overlapping operations) skips the search altogether.
    let mut searches: Vec<Option<Search<'_, '_, M>>> = Vec::with_capacity(groups.len());
    let mut active: Vec<usize> = (0..groups.len()).collect();
    let mut slice = FIRST_SLICE;
    while !active.is_empty() {
        let mut still = Vec::with_capacity(active.len());
        for &i in &active {
            let (key, ops) = &groups[i];
            let until = meter.steps.saturating_add(slice);
            let poll = if searches.len() <= i {
                let (search, poll) = first_visit(model, ops, &mut meter, until);
                searches.push(search);
                poll
            } else {
                match searches[i].as_mut() {
                    Some(search) => search.run(&mut meter, until),
                    None => continue,
                }
            };
            let outcome = match poll {
                Poll::Paused => {
                    still.push(i);
                    continue;
                }
                Poll::Done(Outcome::Linearizable) => {
                    searches[i] = None;
                    continue;
                }
                Poll::Done(outcome) => outcome,
            };
            return Report {
                verdict: verdict_of(history, *key, outcome, budget),
                partitions,
                steps: meter.steps,
            };
        }
        active = still;
        slice = slice.saturating_mul(5) / 4;
    }
    Report {
        verdict: Verdict::Valid,
        partitions,
        steps: meter.steps,
    }
}

/// A partition's first slice: one with a single possible order needs no search; otherwise
/// the search is built (and kept, if undecided, for the next rounds).
fn first_visit<'m, 'h, M: Model>(
    model: &'m M,
    ops: &'h [PartOp<'h, M::Op>],
    meter: &mut Meter,
    until: u64,
) -> (Option<Search<'m, 'h, M>>, Poll) {
    if let Some(outcome) = search::sequential(model, ops, meter) {
        return (None, Poll::Done(outcome));
    }
    let mut search = Search::new(model, ops);
    // A search's tables are sized by its partition: look at memory now.
    let poll = match meter.memory_exhausted(0) {
        Some(stop) => Poll::Done(Outcome::Stopped(stop)),
        None => search.run(meter, until),
    };
    (Some(search), poll)
}

/// The verdict of the whole history once a partition's search ends without a
/// linearization: a violation, or unknown when a budget ran out.
fn verdict_of(history: &History, key: Option<&str>, outcome: Outcome, budget: &Budget) -> Verdict {
    let stop = match outcome {
        Outcome::Linearizable => return Verdict::Valid,
        Outcome::Violation(v) => {
            let message = describe_violation(history, key, &v);
            return Verdict::Invalid(Explanation {
                key: key.map(str::to_string),
                prefix: v.prefix,
                stuck: v.stuck,
                message,
            });
        }
        Outcome::Stopped(stop) => stop,
    };
    let key = key.map(str::to_string);
    Verdict::Unknown(match stop {
        Stop::Steps => UnknownReason::StepBudget {
            max_steps: budget.max_steps.unwrap_or(0),
            key,
        },
        Stop::Wall => UnknownReason::WallBudget {
            wall_ms: budget
                .wall
                .map_or(0, |w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
            key,
        },
        Stop::Memory => UnknownReason::MemoryBudget {
            memory_mb_max: budget.memory_bytes_max.unwrap_or(0) >> 20,
            knob: if budget.memory_knob.is_empty() {
                "the memory budget"
            } else {
                budget.memory_knob
            },
            key,
        },
    })
}

/// Steps each partition gets in the first round (then 25% more each round).
const FIRST_SLICE: u64 = 1 << 10;

/// The explanation's sentence.
fn describe_violation(history: &History, key: Option<&str>, v: &search::Violation) -> String {
    let describe = |i: usize| match history.ops.get(i) {
        Some(op) => format!("#{i} {op}"),
        None => format!("#{i}"),
    };
    let stuck: Vec<String> = v.stuck.iter().map(|&i| describe(i)).collect();
    let mut s = String::new();
    if let Some(key) = key {
        s.push_str(&format!("key {key:?}: "));
    }
    s.push_str("not linearizable. ");
    match v.prefix.last() {
        None => s.push_str(&format!("From the initial state {}, ", v.state)),
        Some(&last) => s.push_str(&format!(
            "The longest linearizable prefix found has {} operation{}, ending with {}, \
             and leaves the state at {}; after it, ",
            v.prefix.len(),
            if v.prefix.len() == 1 { "" } else { "s" },
            describe(last),
            v.state
        )),
    }
    if v.doomed {
        s.push_str(&stuck.join("; "));
        s.push_str(
            " cannot take effect, and none of the operations that may still take effect \
             before it returns can make it possible",
        );
        s.push('.');
        return s;
    }
    s.push_str("none of the operations that may come next can take effect: ");
    s.push_str(&stuck.join("; "));
    s.push('.');
    s
}
