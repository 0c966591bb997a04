//! The event-sourced state machine of one shard: commands in, events out.
//!
//! Event sourcing splits a write in two. **Deciding** turns a command into events: it
//! validates the command against the current state and may draw randomness (an event
//! id, a transfer id) and read the clock (a timestamp) — so deciding the same command
//! twice need not give the same events. **Applying** folds events into state and is a
//! pure function. That is why the replicated log holds *events*, decided once by the
//! leader: every replica applies the same events and reaches the same state. (The
//! `replicate-commands` bug logs the command instead and lets each replica decide for
//! itself; with their own randomness and clocks the replicas drift apart.)
//!
//! The state holds key-value pairs (the kv workload) and account balances (the bank
//! workload), each with the id and time of the event that last changed it; the session
//! table that makes retried requests idempotent (apply-time dedup: an entry whose request
//! was already applied is skipped, so a request logged twice, e.g. around a leader change,
//! takes effect once); and both sides of cross-shard transfers (two-phase commit whose
//! coordinator state lives here, replicated like everything else). An account in an
//! unresolved transfer is *locked*: debits and reads of it wait until the transfer
//! resolves, which keeps every account's history linearizable; credits commute and pass.
//!
//! Every applied entry extends a digest chain over the effects it had, so two replicas
//! that applied the same entries to the same effect have the same chain value.

#[cfg(test)]
mod tests;
mod types;

pub use types::*;

use std::hash::{Hash, Hasher};

use crate::history::Value;
use crate::systems::components::raft::StateMachine;

impl StateMachine for Ledger {
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

impl Ledger {
    /// The balance of an account (0 if never used).
    pub fn balance(&self, account: &str) -> i64 {
        self.balances.get(account).map_or(0, |v| v.value)
    }

    /// The value of a key (`""` if never written).
    pub fn value(&self, key: &str) -> String {
        self.kv
            .get(key)
            .map_or_else(String::new, |v| v.value.clone())
    }

    /// Whether an unresolved transfer locks `account`.
    pub fn locked(&self, account: &str) -> bool {
        self.coord
            .values()
            .any(|t| t.state == CoordState::Started && t.from == account)
            || self
                .part
                .values()
                .any(|t| t.state == PartState::Prepared && t.to == account)
    }

    /// Whether an account is open.
    pub fn is_open(&self, account: &str) -> bool {
        self.balances.contains_key(account)
    }

    /// Whether any transfer this shard knows is unfinished.
    pub fn transfers_pending(&self) -> bool {
        self.coord.values().any(|t| t.state != CoordState::Done)
            || self.part.values().any(|t| t.state == PartState::Prepared)
    }

    /// The answer to a read, from this state.
    pub fn read(&self, command: &Command) -> OpResult {
        match command {
            Command::Get { key } => OpResult::Value(Value::Str(self.value(key))),
            Command::Read { account } => OpResult::Value(
                self.balances
                    .get(account)
                    .map_or(Value::Nil, |v| Value::Int(v.value)),
            ),
            other => panic!("read() of a write command {other:?}"),
        }
    }

    /// Dedup by session: is `req` new, a retry of the last request, or outdated?
    fn session_check(&self, req: ReqId) -> Option<Decision> {
        let session = self.sessions.get(&req.client)?;
        if req.seq < session.seq {
            return Some(Decision::Ignore);
        }
        if req.seq == session.seq {
            return Some(match &session.result {
                Some(result) => Decision::Reply(result.clone()),
                None => Decision::Ignore,
            });
        }
        None
    }

    /// Decide a client command against this (the leader's latest) state.
    pub fn decide(&self, req: ReqId, command: &Command, d: &mut Decider<'_>) -> Decision {
        if let Some(decision) = self.session_check(req) {
            return decision;
        }
        match command {
            Command::Get { .. } => read(req, command),
            Command::Read { account } if self.locked(account) => Decision::Park,
            Command::Read { .. } => read(req, command),
            Command::Put { key, value } => done(
                req,
                vec![Event::Put {
                    key: key.clone(),
                    value: value.clone(),
                    meta: d.meta(),
                }],
                OpResult::Value(Value::Nil),
            ),
            Command::Append { key, value } => done(
                req,
                vec![Event::Appended {
                    key: key.clone(),
                    value: value.clone(),
                    meta: d.meta(),
                }],
                OpResult::Value(Value::Nil),
            ),
            Command::Open { account } => self.decide_open(req, account, d),
            Command::Deposit { account, amount } => self.decide_deposit(req, account, *amount, d),
            Command::Withdraw { account, amount } => self.decide_withdraw(req, account, *amount, d),
            Command::Transfer { from, to, amount } => {
                self.decide_transfer(req, from, to, *amount, d)
            }
        }
    }

    fn decide_open(&self, req: ReqId, account: &str, d: &mut Decider<'_>) -> Decision {
        if self.is_open(account) {
            return done(req, vec![], applied(false));
        }
        let opened = Event::Opened {
            account: account.to_string(),
            meta: d.meta(),
        };
        done(req, vec![opened], applied(true))
    }

    fn decide_deposit(
        &self,
        req: ReqId,
        account: &str,
        amount: i64,
        d: &mut Decider<'_>,
    ) -> Decision {
        if !self.is_open(account) {
            return done(req, vec![], applied(false));
        }
        let deposited = Event::Deposited {
            account: account.to_string(),
            amount,
            meta: d.meta(),
        };
        done(req, vec![deposited], applied(true))
    }

    fn decide_withdraw(
        &self,
        req: ReqId,
        account: &str,
        amount: i64,
        d: &mut Decider<'_>,
    ) -> Decision {
        if !self.is_open(account) {
            return done(req, vec![], applied(false));
        }
        if self.locked(account) {
            return Decision::Park;
        }
        if self.balance(account) >= amount {
            let withdrew = Event::Withdrew {
                account: account.to_string(),
                amount,
                meta: d.meta(),
            };
            return done(req, vec![withdrew], applied(true));
        }
        let refused = Event::WithdrawRefused {
            account: account.to_string(),
            amount,
        };
        done(req, vec![refused], applied(false))
    }

    /// A transfer within the shard is decided here; across shards it starts a two-phase
    /// commit, since the other side decides whether `to` takes it.
    fn decide_transfer(
        &self,
        req: ReqId,
        from: &str,
        to: &str,
        amount: i64,
        d: &mut Decider<'_>,
    ) -> Decision {
        if !self.is_open(from) {
            return done(req, vec![], OpResult::SOURCE_REFUSED);
        }
        if self.locked(from) {
            return Decision::Park;
        }
        if self.balance(from) < amount {
            let refused = Event::TransferRefused {
                from: from.to_string(),
                to: to.to_string(),
                amount,
            };
            return done(req, vec![refused], OpResult::SOURCE_REFUSED);
        }
        let to_shard = super::shard_of(to, d.shards);
        if to_shard == d.shard {
            if !self.is_open(to) {
                return done(req, vec![], OpResult::DESTINATION_REFUSED);
            }
            let moved = Event::Transferred {
                from: from.to_string(),
                to: to.to_string(),
                amount,
                meta: d.meta(),
            };
            return done(req, vec![moved], OpResult::APPLIED);
        }
        let meta = d.meta();
        Decision::Append(Payload::Events {
            req: Some(req),
            events: vec![Event::TxnStarted {
                txn: meta.id,
                req,
                from: from.to_string(),
                to: to.to_string(),
                to_shard,
                amount,
                meta,
            }],
            reply: None,
        })
    }

    /// Apply one committed entry. `d` is only used for the `replicate-commands` bug's
    /// command entries, which each replica decides for itself.
    pub fn apply(&mut self, entry: &LogEntry, d: &mut Decider<'_>) -> Vec<Effect> {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "entries must be applied in order without gaps"
        );
        self.applied = entry.index;
        let mut effects = Vec::new();
        let mut hasher = crate::sim::StableHasher::default();
        self.chain.hash(&mut hasher);
        match &entry.payload {
            Payload::Noop => 0u8.hash(&mut hasher),
            Payload::Read { req, command } => {
                if self.session_check(*req).is_none() {
                    let result = self.read(command);
                    result.hash(&mut hasher);
                    self.answer(*req, Some(result), &mut effects);
                }
            }
            Payload::Events { req, events, reply } => {
                let duplicate = req.is_some_and(|r| self.session_check(r).is_some());
                if !duplicate {
                    if let Some(req) = req {
                        self.answer(*req, reply.clone(), &mut effects);
                    }
                    self.apply_events(events, &mut hasher, &mut effects);
                }
            }
            Payload::Command { req, command } => {
                if self.session_check(*req).is_none() {
                    self.apply_command(*req, command, d, &mut hasher, &mut effects);
                }
            }
        }
        self.chain = hasher.finish();
        effects
    }

    /// Record `req`'s answer in its session (none yet while a transfer is pending) and,
    /// when there is one, answer it.
    fn answer(&mut self, req: ReqId, result: Option<OpResult>, effects: &mut Vec<Effect>) {
        self.sessions.insert(
            req.client,
            Session {
                seq: req.seq,
                result: result.clone(),
            },
        );
        if let Some(result) = result {
            effects.push(Effect::Reply(req, result));
        }
    }

    fn apply_events(
        &mut self,
        events: &[Event],
        hasher: &mut crate::sim::StableHasher,
        effects: &mut Vec<Effect>,
    ) {
        for event in events {
            event.hash(hasher);
            self.apply_event(event, effects);
        }
    }

    /// The `replicate-commands` bug's path: decide here, with this replica's randomness
    /// and clock.
    fn apply_command(
        &mut self,
        req: ReqId,
        command: &Command,
        d: &mut Decider<'_>,
        hasher: &mut crate::sim::StableHasher,
        effects: &mut Vec<Effect>,
    ) {
        match self.decide(req, command, d) {
            Decision::Append(Payload::Events { events, reply, .. }) => {
                self.answer(req, reply, effects);
                self.apply_events(&events, hasher, effects);
            }
            Decision::Append(Payload::Read { command, .. }) => {
                let result = self.read(&command);
                self.answer(req, Some(result), effects);
            }
            // A locked account: this replica refuses where another may not.
            _ => self.answer(req, Some(OpResult::Aborted), effects),
        }
    }

    fn credit(&mut self, account: &str, amount: i64, meta: Meta) {
        let Some(entry) = self.balances.get_mut(account) else {
            panic!("money moved on account {account}, which is not open");
        };
        entry.value += amount;
        entry.meta = meta;
    }

    fn debit(&mut self, account: &str, amount: i64, meta: Meta) {
        let balance = self.balance(account);
        assert!(
            balance >= amount,
            "account {account} would go negative: balance {balance}, debit {amount}"
        );
        self.credit(account, -amount, meta);
    }

    fn apply_event(&mut self, event: &Event, effects: &mut Vec<Effect>) {
        match event {
            Event::Opened { account, meta } => {
                assert!(!self.is_open(account), "account {account} opened twice");
                self.balances.insert(
                    account.clone(),
                    Versioned {
                        value: 0,
                        meta: *meta,
                    },
                );
            }
            Event::Put { key, value, meta } => {
                self.kv.insert(
                    key.clone(),
                    Versioned {
                        value: value.clone(),
                        meta: *meta,
                    },
                );
            }
            Event::Appended { key, value, meta } => {
                let entry = self.kv.entry(key.clone()).or_insert(Versioned {
                    value: String::new(),
                    meta: *meta,
                });
                entry.value.push_str(value);
                entry.meta = *meta;
            }
            Event::Deposited {
                account,
                amount,
                meta,
            } => {
                self.credit(account, *amount, *meta);
                self.deposited += amount;
            }
            Event::Withdrew {
                account,
                amount,
                meta,
            } => {
                self.debit(account, *amount, *meta);
                self.withdrawn += amount;
            }
            Event::WithdrawRefused { .. } | Event::TransferRefused { .. } => {}
            Event::Transferred {
                from,
                to,
                amount,
                meta,
            } => {
                self.debit(from, *amount, *meta);
                self.credit(to, *amount, *meta);
            }
            _ => self.apply_txn_event(event, effects),
        }
    }

    /// The events of cross-shard transfers, on either side.
    fn apply_txn_event(&mut self, event: &Event, effects: &mut Vec<Effect>) {
        match event {
            Event::TxnStarted {
                txn,
                req,
                from,
                to,
                to_shard,
                amount,
                ..
            } => {
                assert!(
                    !self.coord.contains_key(txn),
                    "transfer {txn} started twice"
                );
                self.coord.insert(
                    *txn,
                    CoordTxn {
                        req: *req,
                        from: from.clone(),
                        to: to.clone(),
                        to_shard: *to_shard,
                        amount: *amount,
                        state: CoordState::Started,
                    },
                );
                effects.push(Effect::SendPrepare(*txn));
            }
            Event::TxnDecided {
                txn,
                commit,
                refused,
            } => self.txn_decided(*txn, *commit, *refused, effects),
            Event::TxnDone { txn } => {
                if let Some(t) = self.coord.get_mut(txn) {
                    assert!(
                        t.state != CoordState::Started,
                        "transfer {txn} done before decided"
                    );
                    t.state = CoordState::Done;
                }
            }
            Event::TxnPrepared {
                txn,
                to,
                amount,
                coordinator,
            } => self.txn_voted(
                *txn,
                to,
                *amount,
                *coordinator,
                PartState::Prepared,
                effects,
            ),
            Event::TxnRefused { txn, coordinator } => {
                self.txn_voted(*txn, "", 0, *coordinator, PartState::Aborted, effects)
            }
            Event::TxnApplied {
                txn,
                commit,
                coordinator,
            } => self.txn_applied(*txn, *commit, *coordinator, effects),
            other => unreachable!("{other:?} is not a transfer event"),
        }
    }

    /// Coordinator: the decision (commit debits `from`); the first decision stands.
    fn txn_decided(&mut self, txn: TxnId, commit: bool, refused: bool, effects: &mut Vec<Effect>) {
        let Some(t) = self.coord.get(&txn).cloned() else {
            panic!("decision for unknown transfer {txn}");
        };
        if t.state != CoordState::Started {
            return; // decided twice (two leaders' retries): the first decision stands
        }
        let meta = Meta { id: txn, at_ms: 0 };
        if commit {
            self.debit(&t.from, t.amount, meta);
        }
        let state = if commit {
            CoordState::Committed
        } else {
            CoordState::Aborted
        };
        self.coord.get_mut(&txn).expect("present").state = state;
        let result = match (commit, refused) {
            (true, _) => OpResult::APPLIED,
            (false, true) => OpResult::DESTINATION_REFUSED,
            (false, false) => OpResult::ABORTED,
        };
        if let Some(session) = self.sessions.get_mut(&t.req.client) {
            if session.seq == t.req.seq {
                session.result = Some(result.clone());
            }
        }
        effects.push(Effect::Reply(t.req, result));
        effects.push(Effect::SendDecision(txn));
        effects.push(Effect::Unlocked);
    }

    /// Participant: its vote, prepared (`to` locked) or refused; a transfer is voted on
    /// once (prepared twice, or the abort came first: the first stands).
    fn txn_voted(
        &mut self,
        txn: TxnId,
        to: &str,
        amount: i64,
        coordinator: usize,
        state: PartState,
        effects: &mut Vec<Effect>,
    ) {
        if self.part.contains_key(&txn) {
            return;
        }
        let part = PartTxn {
            to: to.to_string(),
            amount,
            coordinator,
            state,
        };
        self.part.insert(txn, part);
        effects.push(Effect::AckPrepared(txn));
    }

    /// Participant: the decision (commit credits `to`); `to` is unlocked.
    fn txn_applied(
        &mut self,
        txn: TxnId,
        commit: bool,
        coordinator: usize,
        effects: &mut Vec<Effect>,
    ) {
        match self.part.get(&txn).cloned() {
            Some(t) if t.state == PartState::Prepared => {
                if commit {
                    self.credit(&t.to, t.amount, Meta { id: txn, at_ms: 0 });
                }
                self.part.get_mut(&txn).expect("present").state = if commit {
                    PartState::Committed
                } else {
                    PartState::Aborted
                };
                effects.push(Effect::Unlocked);
            }
            Some(_) => {}
            None => {
                assert!(!commit, "commit of transfer {txn} that never prepared here");
                let aborted = PartTxn {
                    to: String::new(),
                    amount: 0,
                    coordinator,
                    state: PartState::Aborted,
                };
                self.part.insert(txn, aborted);
            }
        }
        effects.push(Effect::AckDecision(txn));
    }
}

/// Decide a request with these events and this answer. Every answer goes through the
/// log with the request it answers (even a refusal with no events), so a retry after a
/// leader change gets the same answer.
fn done(req: ReqId, events: Vec<Event>, reply: OpResult) -> Decision {
    Decision::Append(Payload::Events {
        req: Some(req),
        events,
        reply: Some(reply),
    })
}

/// A consistent read: ordered by the log, answered when applied.
fn read(req: ReqId, command: &Command) -> Decision {
    Decision::Append(Payload::Read {
        req,
        command: command.clone(),
    })
}

fn applied(b: bool) -> OpResult {
    OpResult::Value(Value::Bool(b))
}
