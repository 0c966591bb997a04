//! kv_register behind faultline's interfaces: how it plans a seed ([`Spec`]), runs and is
//! judged ([`System`]); process dispatch.

use super::replica::LOG;
use super::{
    checks, client_timer, topology, Backup, Bug, Check, Client, Entry, KvFinal, KvRegister,
    KvRegisterParams, KvRegisterSection, Msg, Primary, Proc, Replica, Timer, Workload,
};
use std::collections::BTreeMap;

use crate::check::fit::HistoryFile;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Status, Value};
use crate::plan::workload::ops_of;
use crate::plan::{Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{Periodic, SystemLoad, Worst};
use crate::scenario::Params;
use crate::sim::{Ctx, Process, SimOutput, System, View};
use crate::systems::components::clients::ClientCore;
use crate::systems::components::workload::kv::{self, KvOp};

impl Spec for KvRegister {
    const NAME: &'static str = "kv_register";
    type Section = KvRegisterSection;
    type Params = KvRegisterParams;
    type Op = KvOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(
        section: &KvRegisterSection,
        swarm: bool,
        seed: u64,
        _: &Params,
    ) -> KvRegisterParams {
        section.resolve(swarm, seed)
    }

    fn topology(params: &Params, _own: &KvRegisterParams, _: Workload) -> Vec<NodeSpec> {
        topology(params)
    }

    fn operation(workload: Workload, draw: &mut Draw<'_>) -> KvOp {
        match workload {
            Workload::Kv => kv::draw(draw),
        }
    }
}

impl System for KvRegister {
    const ABOUT: &'static str = "replicated key-value store with a fixed primary: group commit, fsync before ack, majority replication, request dedup, recovery from disk";
    const PROBES: &'static [&'static [&'static str]] = &[
        crate::systems::components::clients::PROBES,
        &[
            "torn_log_tail_cut",
            "recovered_nonempty_log",
            "read_deferred_after_recovery",
            "duplicate_write_request",
            "backup_log_gap",
        ],
    ];

    fn load(section: &KvRegisterSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let fast = section.corner(swarm, false);
        let backups = worst.replicas.saturating_sub(1) as f64;
        SystemLoad {
            // Request and reply, a group-commit flush, a log shipment and its ack per backup.
            events_per_op: 3.0 + 2.0 * backups,
            periodic: vec![Periodic::every(
                format!("log shipments to {backups} backup(s)"),
                "kv_register.replicate_interval_ms",
                1,
                fast.replicate_interval_ms,
                1.0 + 2.0 * backups,
            )],
            conflicts: Vec::new(),
        }
    }

    fn history_files(plan: &Plan<Self>, _: &crate::history::History) -> Vec<HistoryFile> {
        let model = crate::check::linearizability::ModelKind::Kv;
        vec![crate::sim::linearizable_history(
            plan,
            |c| *c == Check::Linearizability,
            model,
        )]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<KvFinal, ()>,
        check: Check,
        budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check, budget)
    }

    type Msg = Msg;
    type Timer = Timer;
    type Record = Entry;
    type Proc = Proc;
    type Final = KvFinal;
    type Observation = ();

    fn new(plan: &Plan<Self>) -> Self {
        let clients = plan.head.nodes_with(Role::Client);
        KvRegister {
            replicas: plan.head.nodes_with(Role::Server),
            params: plan.params.clone(),
            workload: plan.head.params.workload.clone(),
            client_ops: clients
                .iter()
                .enumerate()
                .map(|(c, &node)| (node, ops_of(&plan.workload, c)))
                .collect(),
            no_fsync: plan.has_bug(Bug::NoFsync),
            follower_reads: plan.has_bug(Bug::FollowerReads),
            no_dedup: plan.has_bug(Bug::NoDedup),
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        let node = ctx.node();
        if let Some(ops) = self.client_ops.get(&node) {
            let mut core = ClientCore::new(ops.clone(), &self.workload);
            core.start(ctx, client_timer);
            return Proc::Client(Client { core });
        }
        let state = Replica::recover(ctx);
        if node == self.replicas[0] {
            let mut sessions = BTreeMap::new();
            for (i, e) in state.log.iter().enumerate() {
                sessions.insert(e.client, (e.seq, i as u64));
            }
            let len = state.log.len() as u64;
            let mut primary = Primary {
                state,
                synced: len,
                recovered: len,
                sessions,
                waiting: BTreeMap::new(),
                deferred_reads: Vec::new(),
                matched: BTreeMap::new(),
                next: self.replicas[1..].iter().map(|&r| (r, len)).collect(),
                flush_pending: false,
            };
            ctx.set_timer(Timer::Replicate, self.params.replicate_interval_ms);
            self.try_commit(&mut primary, ctx);
            Proc::Primary(primary)
        } else {
            Proc::Backup(Backup { state })
        }
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        self.unsettled(view).is_empty()
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        let logs = (view.procs.iter().flatten()).filter_map(|p| match p {
            Proc::Primary(p) => Some((true, p.state.log.len())),
            Proc::Backup(b) => Some((false, b.state.log.len())),
            Proc::Client(_) => None,
        });
        let (mut primary, mut slowest) = (None, None::<usize>);
        for (is_primary, len) in logs {
            if is_primary {
                primary = Some(len);
            } else {
                slowest = Some(slowest.map_or(len, |s| s.min(len)));
            }
        }
        if let (Some(p), Some(b)) = (primary, slowest) {
            out.push((
                "replication lag of the slowest backup (entries)",
                p.saturating_sub(b) as f64,
            ));
        }
    }

    fn finish(&self, view: &View<'_, Self>) -> KvFinal {
        let replicas = self
            .replicas
            .iter()
            .map(|&r| {
                let state = match &view.procs[r] {
                    Some(Proc::Primary(p)) => Some(p.state.clone()),
                    Some(Proc::Backup(b)) => Some(b.state.clone()),
                    _ => None,
                };
                (r, state)
            })
            .collect();
        KvFinal {
            replicas,
            unsettled: self.unsettled(view),
        }
    }
}

impl Process<KvRegister> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, KvRegister>, from: usize, msg: Msg) {
        let system = ctx.system();
        match self {
            Proc::Primary(p) => system.on_primary_msg(p, ctx, from, msg),
            Proc::Backup(b) => system.on_backup_msg(b, ctx, from, msg),
            Proc::Client(c) => {
                if let Msg::Response { seq, value } = msg {
                    if let Some(done) = c.core.on_reply(ctx, seq, client_timer) {
                        let output = value.map_or(Value::Nil, Value::Str);
                        for op in done.history {
                            ctx.complete(op, Status::Ok, output.clone());
                        }
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, KvRegister>, timer: Timer) {
        let system = ctx.system();
        match (self, timer) {
            (Proc::Primary(p), Timer::Flush) => {
                p.flush_pending = false;
                if !system.no_fsync {
                    ctx.disk().sync(LOG);
                }
                p.synced = p.state.log.len() as u64;
                system.replicate(p, ctx);
                system.try_commit(p, ctx);
            }
            (Proc::Primary(p), Timer::Replicate) => {
                system.replicate(p, ctx);
                ctx.set_timer(Timer::Replicate, system.params.replicate_interval_ms);
            }
            (Proc::Client(c), Timer::Client(t)) => {
                if let Some(out) = c.core.on_timer(ctx, t, client_timer) {
                    system.send_request(ctx, out);
                }
            }
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}
