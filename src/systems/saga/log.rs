//! The saga log: the coordinator's durable record of every saga, replicated with Raft.
//!
//! Each entry is one fact the coordinator learned or decided: a saga started, a step was
//! sent (logged *before* the command leaves), a step's answer arrived, a compensation was
//! sent or acknowledged, a service released its semantic locks. Applying an entry moves
//! the saga along a small state machine, the same on every replica:
//!
//! ```text
//! Running ──every step ok──▶ Completed
//!    │ a step failed for good (or stayed busy too often)
//!    ▼
//! Compensating ──no step in flight, every ok step compensated──▶ Compensated
//! ```
//!
//! A retriable step that fails, and a step refused as busy (semantic lock), is retried
//! with a new attempt: a new idempotency key, since the old key's answer is recorded. Since the log holds every
//! decision, a new leader knows exactly which commands may be in flight and re-sends
//! them: nothing is decided twice, nothing forgotten.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use super::flow::{Flow, Service, StepOutcome};
use super::SagaId;
use crate::systems::components::clients::ReqId;
use crate::systems::components::raft::{self, StateMachine};

/// How a saga (or 2PC transaction) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaResult {
    /// Every step took effect.
    Completed,
    /// It failed and every step that took effect was undone.
    Compensated,
    /// 2PC: committed at every participant.
    Committed,
    /// 2PC: aborted everywhere.
    Aborted,
}

impl SagaResult {
    /// As the history records it.
    pub fn name(self) -> &'static str {
        match self {
            SagaResult::Completed => "completed",
            SagaResult::Compensated => "compensated",
            SagaResult::Committed => "committed",
            SagaResult::Aborted => "aborted",
        }
    }
}

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Running its steps, level by level.
    Running,
    /// A step failed: undoing what took effect.
    Compensating,
    /// Done: every step took effect.
    Completed,
    /// Done: undone.
    Compensated,
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepState {
    /// Not (or no longer) in flight: to be sent.
    Idle,
    /// Sent: the answer is unknown until it arrives.
    Sent,
    /// It took effect.
    Ok,
    /// It failed for good; nothing changed.
    Failed(&'static str),
}

/// Where one step's compensation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompState {
    /// Not needed (yet).
    None,
    /// Sent: retried until acknowledged.
    Sent,
    /// Acknowledged.
    Done,
}

/// One step of a saga.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepRun {
    /// The current attempt (a retriable step's retries get new keys).
    pub attempt: u32,
    /// Progress.
    pub state: StepState,
    /// Its compensation's progress.
    pub comp: CompState,
    /// Times the service answered busy.
    pub busy: u32,
}

/// One saga.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SagaRun {
    /// The client request that started it (to answer it).
    pub req: ReqId,
    /// Flow and arguments.
    pub flow: Flow,
    /// Its steps, in flow order.
    pub steps: Vec<StepRun>,
    /// Where it is.
    pub phase: Phase,
    /// Services that must still release its semantic locks.
    pub releases: BTreeSet<Service>,
}

impl SagaRun {
    /// Whether it has ended (completed or compensated).
    pub fn ended(&self) -> bool {
        matches!(self.phase, Phase::Completed | Phase::Compensated)
    }

    /// How it ended.
    pub fn result(&self) -> Option<SagaResult> {
        match self.phase {
            Phase::Completed => Some(SagaResult::Completed),
            Phase::Compensated => Some(SagaResult::Compensated),
            Phase::Running | Phase::Compensating => None,
        }
    }

    fn in_flight(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.state == StepState::Sent || s.comp == CompState::Sent)
    }

    /// Compensating is over: nothing in flight, every step that took effect undone.
    fn fully_compensated(&self) -> bool {
        !self.in_flight()
            && self
                .steps
                .iter()
                .all(|s| s.state != StepState::Ok || s.comp == CompState::Done)
    }
}

/// A saga-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// A new leader's first entry.
    Noop,
    /// A saga began.
    Start {
        /// The saga.
        saga: SagaId,
        /// The client request that started it (to answer it).
        req: ReqId,
        /// Flow and arguments.
        flow: Flow,
    },
    /// A step's command is about to be sent.
    Sent {
        /// The saga.
        saga: SagaId,
        /// Which step of its flow.
        step: u8,
        /// The attempt sent.
        attempt: u32,
    },
    /// A step's definite answer (or busy) arrived.
    Answered {
        /// The saga.
        saga: SagaId,
        /// Which step of its flow.
        step: u8,
        /// The attempt answered.
        attempt: u32,
        /// The service's answer.
        outcome: StepOutcome,
    },
    /// A compensation is about to be sent.
    CompSent {
        /// The saga.
        saga: SagaId,
        /// The step it undoes.
        step: u8,
    },
    /// A compensation was acknowledged.
    CompDone {
        /// The saga.
        saga: SagaId,
        /// The step it undid.
        step: u8,
    },
    /// A service released the saga's semantic locks.
    Released {
        /// The saga.
        saga: SagaId,
        /// The service that released them.
        service: Service,
    },
}

impl Payload {
    /// The saga it is about.
    pub fn saga(&self) -> Option<SagaId> {
        match self {
            Payload::Noop => None,
            Payload::Start { saga, .. }
            | Payload::Sent { saga, .. }
            | Payload::Answered { saga, .. }
            | Payload::CompSent { saga, .. }
            | Payload::CompDone { saga, .. }
            | Payload::Released { saga, .. } => Some(*saga),
        }
    }
}

/// Rules every replica applies alike (from the scenario).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Busy answers before a step fails.
    pub busy_retries_max: u32,
    /// Whether ended sagas must have their locks released.
    pub semantic_lock: bool,
}

/// What applying an entry means for the leader.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// The saga it moved, to drive on.
    pub saga: Option<SagaId>,
    /// The saga ended now: answer its client.
    pub ended: Option<(ReqId, SagaResult)>,
}

/// Every saga the coordinator knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SagaLog {
    /// By id.
    pub sagas: BTreeMap<SagaId, SagaRun>,
    /// Entries applied.
    pub applied: u64,
    /// Digest chain over applied entries.
    pub chain: u64,
}

impl StateMachine for SagaLog {
    type Payload = Payload;
    fn noop() -> Payload {
        Payload::Noop
    }
    fn applied(&self) -> u64 {
        self.applied
    }
    fn chain(&self) -> u64 {
        self.chain
    }
}

impl SagaLog {
    /// Apply entry `index` (0 for an entry kept only in memory: the `no-saga-log` bug).
    pub fn apply(&mut self, index: u64, payload: &Payload, rules: Rules) -> Effects {
        if index > 0 {
            assert_eq!(
                index,
                self.applied + 1,
                "entries apply in order without gaps"
            );
            self.applied = index;
        }
        self.chain = raft::chain(self.chain, payload);
        let mut effects = Effects {
            saga: payload.saga(),
            ended: None,
        };
        if let Payload::Start { saga, req, flow } = payload {
            self.sagas.entry(*saga).or_insert_with(|| SagaRun {
                req: *req,
                flow: flow.clone(),
                steps: vec![
                    StepRun {
                        attempt: 0,
                        state: StepState::Idle,
                        comp: CompState::None,
                        busy: 0,
                    };
                    flow.steps().len()
                ],
                phase: Phase::Running,
                releases: BTreeSet::new(),
            });
            return effects;
        }
        let Some(run) = payload.saga().and_then(|s| self.sagas.get_mut(&s)) else {
            return effects;
        };
        let was_ended = run.ended();
        advance(run, payload, rules);
        if !was_ended && run.ended() {
            if rules.semantic_lock {
                run.releases = run.flow.steps().iter().map(|s| s.service).collect();
            }
            effects.ended = run.result().map(|r| (run.req, r));
        }
        effects
    }

    /// Sagas not yet ended.
    pub fn unfinished(&self) -> impl Iterator<Item = (&SagaId, &SagaRun)> {
        self.sagas.iter().filter(|(_, s)| !s.ended())
    }
}

/// Move a saga on by one entry about it.
fn advance(run: &mut SagaRun, payload: &Payload, rules: Rules) {
    match *payload {
        Payload::Sent { step, attempt, .. } => {
            let s = &mut run.steps[step as usize];
            if s.state == StepState::Idle && s.attempt == attempt {
                s.state = StepState::Sent;
            }
        }
        Payload::Answered {
            step,
            attempt,
            outcome,
            ..
        } => answered(run, step as usize, attempt, outcome, rules),
        Payload::CompSent { step, .. } => {
            let s = &mut run.steps[step as usize];
            if s.comp == CompState::None {
                s.comp = CompState::Sent;
            }
        }
        Payload::CompDone { step, .. } => {
            let s = &mut run.steps[step as usize];
            if s.comp == CompState::Sent {
                s.comp = CompState::Done;
            }
        }
        Payload::Released { service, .. } => {
            run.releases.remove(&service);
        }
        Payload::Noop | Payload::Start { .. } => {}
    }
    match run.phase {
        Phase::Running if run.steps.iter().all(|s| s.state == StepState::Ok) => {
            run.phase = Phase::Completed
        }
        Phase::Compensating if run.fully_compensated() => run.phase = Phase::Compensated,
        _ => {}
    }
}

fn answered(run: &mut SagaRun, step: usize, attempt: u32, outcome: StepOutcome, rules: Rules) {
    let retriable = run.flow.steps()[step].retriable;
    let s = &mut run.steps[step];
    if s.state != StepState::Sent || s.attempt != attempt {
        return; // a late duplicate of an answer already logged
    }
    let failed = match outcome {
        StepOutcome::Ok => {
            s.state = StepState::Ok;
            None
        }
        StepOutcome::Busy => {
            s.busy += 1;
            s.attempt += 1;
            s.state = StepState::Idle;
            (s.busy >= rules.busy_retries_max).then_some("busy too long")
        }
        StepOutcome::Failed(_) if retriable => {
            // Forward recovery: try again, as a new attempt with its own key.
            s.attempt += 1;
            s.state = StepState::Idle;
            None
        }
        StepOutcome::Failed(reason) => Some(reason),
    };
    if let Some(reason) = failed {
        s.state = StepState::Failed(reason);
        if run.phase == Phase::Running {
            run.phase = Phase::Compensating;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        busy_retries_max: 2,
        semantic_lock: true,
    };
    const S: SagaId = SagaId { client: 0, n: 1 };

    fn order() -> SagaLog {
        let mut log = SagaLog::default();
        let flow = Flow::Order {
            customer: "cust0".into(),
            item: "item0".into(),
            qty: 2,
        };
        let req = ReqId { client: 4, seq: 1 };
        log.apply(1, &Payload::Start { saga: S, req, flow }, RULES);
        log
    }

    fn feed(log: &mut SagaLog, entries: &[Payload]) -> Effects {
        let mut last = Effects::default();
        for e in entries {
            last = log.apply(log.applied + 1, e, RULES);
        }
        last
    }

    fn sent(step: u8, attempt: u32) -> Payload {
        Payload::Sent {
            saga: S,
            step,
            attempt,
        }
    }

    fn answer(step: u8, attempt: u32, outcome: StepOutcome) -> Payload {
        Payload::Answered {
            saga: S,
            step,
            attempt,
            outcome,
        }
    }

    #[test]
    fn every_step_ok_completes_and_asks_for_releases() {
        let mut log = order();
        let ok = StepOutcome::Ok;
        let end = feed(
            &mut log,
            &[
                sent(0, 0),
                sent(1, 0),
                answer(0, 0, ok),
                answer(1, 0, ok),
                sent(2, 0),
                answer(2, 0, ok),
            ],
        );
        let run = &log.sagas[&S];
        assert_eq!(run.phase, Phase::Completed);
        assert_eq!(end.ended, Some((run.req, SagaResult::Completed)));
        assert_eq!(
            run.releases.len(),
            3,
            "every service releases its semantic locks"
        );
        // A late duplicate of an answer changes nothing.
        let again = feed(&mut log, &[answer(2, 0, StepOutcome::Failed("late"))]);
        assert_eq!(again.ended, None);
        assert_eq!(log.sagas[&S].phase, Phase::Completed);
    }

    #[test]
    fn a_failure_waits_for_answers_in_flight_then_compensates_what_took_effect() {
        let mut log = order();
        feed(
            &mut log,
            &[
                sent(0, 0),
                sent(1, 0),
                answer(1, 0, StepOutcome::Failed("card declined")),
            ],
        );
        assert_eq!(log.sagas[&S].phase, Phase::Compensating);
        let ended = feed(
            &mut log,
            &[
                answer(0, 0, StepOutcome::Ok),
                Payload::CompSent { saga: S, step: 0 },
            ],
        );
        assert_eq!(ended.ended, None, "step 0 took effect: not undone yet");
        let end = feed(&mut log, &[Payload::CompDone { saga: S, step: 0 }]);
        assert_eq!(log.sagas[&S].phase, Phase::Compensated);
        assert!(matches!(end.ended, Some((_, SagaResult::Compensated))));
    }

    #[test]
    fn busy_and_retriable_failures_retry_under_new_attempts() {
        let mut log = order();
        feed(&mut log, &[sent(0, 0), answer(0, 0, StepOutcome::Busy)]);
        let s = &log.sagas[&S].steps[0];
        assert_eq!((s.state, s.attempt, s.busy), (StepState::Idle, 1, 1));
        feed(&mut log, &[sent(0, 1), answer(0, 1, StepOutcome::Busy)]);
        assert_eq!(
            log.sagas[&S].steps[0].state,
            StepState::Failed("busy too long")
        );
        assert_eq!(
            log.sagas[&S].phase,
            Phase::Compensated,
            "nothing took effect: nothing to undo"
        );

        let mut log = order();
        let ok = StepOutcome::Ok;
        feed(
            &mut log,
            &[
                sent(0, 0),
                sent(1, 0),
                answer(0, 0, ok),
                answer(1, 0, ok),
                sent(2, 0),
            ],
        );
        feed(
            &mut log,
            &[answer(2, 0, StepOutcome::Failed("carrier busy"))],
        );
        let ship = &log.sagas[&S].steps[2];
        assert_eq!(
            (ship.state, ship.attempt),
            (StepState::Idle, 1),
            "shipping is retried"
        );
        assert_eq!(log.sagas[&S].phase, Phase::Running);
    }
}
