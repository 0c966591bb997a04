//! `inventory` — a stock service tested with faultline from its own crate.
//!
//! One store process keeps the stock of each SKU; clients list SKUs, restock them,
//! reserve units and count what is left, over faultline's flaky network. A client
//! re-sends a request it got no answer to under the same request id, so the store must
//! apply each request once: it logs every change with its request id, fsyncs before it
//! answers, answers a retry from that log, and rebuilds stock and answers from the log
//! after a crash.
//!
//! Planted bug `reserve-twice-on-retry`: the store forgets the request id of a
//! reservation, so a retried reservation takes the units again.
//!
//! Checks: `linearizability` (the history against faultline's bank model: listing opens
//! an account, restocking deposits, reserving withdraws, counting reads) and
//! `each_request_once` (no request id twice in the store's final log).

use std::collections::BTreeMap;

use faultline::catalog::catalogue;
use faultline::check::linearizability::{Budget, ModelKind};
use faultline::check::{linearizability_outcome, CheckOutcome, Verdict};
use faultline::disk::Slot;
use faultline::history::{Func, Status, Value};
use faultline::knob::knob_section;
use faultline::plan::workload::ops_of;
use faultline::plan::{ClientOp, Draw, NodeSpec, Plan, Role, Spec};
use faultline::scenario::{Params, WorkloadParams};
use faultline::sim::{Ctx, Message, Process, SimOutput, System, View};
use faultline::systems::components::clients::{ClientCore, ClientTimer, Request};
use faultline::systems::Plugin;
use serde::{Deserialize, Serialize};

/// What a run hands the checks: the store's log at the end (`None`: the store was down).
type Out = SimOutput<Option<Vec<(usize, u64)>>, ()>;

/// The system, for [`faultline::cli::main_with`].
pub static SYSTEM: Plugin<Inventory> = Plugin::NEW;

knob_section! {
    /// `[inventory]`: settings of the stock service.
    InventorySection => InventoryParams at "inventory" {}
}

catalogue! {
    /// Planted bugs.
    pub enum Bug {
        /// the store does not remember reservations' request ids: a retry reserves again
        ReserveTwiceOnRetry = "reserve-twice-on-retry",
    }
}

catalogue! {
    /// Checks.
    pub enum Check: checks {
        /// the history is linearizable (bank model: list, restock, reserve, count)
        Linearizability = "linearizability" (Safety),
        /// no request id is in the store's final log twice
        EachRequestOnce = "each_request_once" (Safety),
    }
}

catalogue! {
    /// Workloads.
    pub enum Workload {
        /// list, restock, reserve and count over `workload.keys` SKUs
        Shop = "shop",
    }
}

/// What a client asks (units from 1 to 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Start selling a SKU (stock 0). Recorded as the bank model's `open`.
    List(String),
    /// Add units. Recorded as `deposit`.
    Restock(String, i64),
    /// Take units if there are enough. Recorded as `withdraw`.
    Reserve(String, i64),
    /// How many units are left. Recorded as `read`.
    Count(String),
}

impl Request for Op {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        let (f, sku, input) = match self {
            Op::List(sku) => (Func::Open, sku, Value::Nil),
            Op::Restock(sku, n) => (Func::Deposit, sku, Value::Int(*n)),
            Op::Reserve(sku, n) => (Func::Withdraw, sku, Value::Int(*n)),
            Op::Count(sku) => (Func::Read, sku, Value::Nil),
        };
        vec![ctx.invoke(f, Some(sku.clone()), input)]
    }
}

/// A change the store logged: the client, its request id, the operation.
#[derive(Debug, Clone)]
pub struct Entry(usize, u64, Op);

/// Messages: a request (client → store) and its answer.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → store.
    Ask(u64, Op),
    /// Store → client: the answer to request `seq`.
    Answer(u64, Value),
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Ask(..) => "ask",
            Msg::Answer(..) => "answer",
        }
    }
}

/// The store's state, all of it rebuilt from its log.
#[derive(Debug, Default)]
pub struct Store {
    stock: BTreeMap<String, i64>,
    answered: BTreeMap<(usize, u64), Value>,
}

/// A process: the store (node 0) or a client.
#[derive(Debug)]
pub enum Proc {
    /// The store.
    Store(Store),
    /// A client.
    Client(ClientCore<Op>),
}

/// The system, configured from a plan.
pub struct Inventory {
    clients: BTreeMap<usize, Vec<ClientOp<Op>>>,
    workload: WorkloadParams,
    reserve_twice: bool,
}

const LOG: &str = "log";

impl Store {
    /// Apply a change (not a count) and return its answer.
    fn apply(&mut self, op: &Op) -> Value {
        let stock = &mut self.stock;
        let applied = match op {
            Op::List(sku) => !stock.contains_key(sku) && stock.insert(sku.clone(), 0).is_none(),
            Op::Restock(sku, n) => stock.get_mut(sku).map(|s| *s += n).is_some(),
            Op::Reserve(sku, n) => {
                stock.get_mut(sku).filter(|s| **s >= *n).map(|s| *s -= n).is_some()
            }
            Op::Count(_) => unreachable!("counts change nothing and are not logged"),
        };
        assert!(self.stock.values().all(|&s| s >= 0), "stock below zero");
        Value::Bool(applied)
    }

    /// At boot: replay the log, cutting a torn last record.
    fn recover(ctx: &mut Ctx<'_, Inventory>) -> Store {
        let log: Vec<Entry> = ctx.disk().read(LOG).iter().map_while(Slot::ok).cloned().collect();
        ctx.disk().truncate(LOG, log.len());
        let mut store = Store::default();
        for Entry(client, seq, op) in &log {
            let answer = store.apply(op);
            store.answered.insert((*client, *seq), answer);
        }
        store
    }

    fn on_ask(&mut self, ctx: &mut Ctx<'_, Inventory>, from: usize, seq: u64, op: Op) {
        let forget = ctx.system().reserve_twice && matches!(op, Op::Reserve(..));
        let answer = match (&op, self.answered.get(&(from, seq))) {
            (Op::Count(sku), _) => self.stock.get(sku).map_or(Value::Nil, |&s| Value::Int(s)),
            (_, Some(answer)) if !forget => answer.clone(), // a retry: the same answer
            _ => {
                let answer = self.apply(&op);
                ctx.disk().append(LOG, Entry(from, seq, op));
                ctx.disk().sync(LOG); // durable before anyone hears of it
                self.answered.insert((from, seq), answer.clone());
                answer
            }
        };
        ctx.send(from, Msg::Answer(seq, answer));
    }
}

impl Spec for Inventory {
    const NAME: &'static str = "inventory";
    type Section = InventorySection;
    type Params = InventoryParams;
    type Op = Op;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn topology(params: &Params, _: &InventoryParams, _: Workload) -> Vec<NodeSpec> {
        let clients = NodeSpec::clients(params.topology.clients);
        std::iter::once(NodeSpec::server("store")).chain(clients).collect()
    }

    fn operation(_: Workload, d: &mut Draw<'_>) -> Op {
        let sku = format!("sku{}", d.rng.index(d.params.keys as usize));
        let units = d.rng.range_u64(1, 5) as i64;
        let reads = d.params.read_probability;
        match (d.index, d.rng.unit()) {
            (0, _) => Op::List(sku),
            (_, r) if r < reads => Op::Count(sku),
            (_, r) if r < reads + (1.0 - reads) * 0.6 => Op::Reserve(sku, units),
            _ => Op::Restock(sku, units),
        }
    }
}

impl System for Inventory {
    const ABOUT: &'static str =
        "a stock service: idempotent reservations logged and fsynced before the answer";
    type Msg = Msg;
    type Timer = ClientTimer;
    type Record = Entry;
    type Proc = Proc;
    /// The store's log at the end: who asked what (`None`: the store was down).
    type Final = Option<Vec<(usize, u64)>>;
    type Observation = ();

    fn new(plan: &Plan<Self>) -> Self {
        let clients = plan.head.nodes_with(Role::Client);
        Inventory {
            clients: (clients.iter().enumerate())
                .map(|(c, &n)| (n, ops_of(&plan.workload, c)))
                .collect(),
            workload: plan.head.params.workload.clone(),
            reserve_twice: plan.has_bug(Bug::ReserveTwiceOnRetry),
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        match self.clients.get(&ctx.node()) {
            Some(ops) => {
                let mut core = ClientCore::new(ops.clone(), &self.workload);
                core.start(ctx, |t| t);
                Proc::Client(core)
            }
            None => Proc::Store(Store::recover(ctx)),
        }
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        view.procs.iter().all(|p| match p {
            Some(Proc::Client(c)) => c.idle(),
            Some(Proc::Store(_)) => true,
            None => false,
        })
    }

    fn finish(&self, view: &View<'_, Self>) -> Self::Final {
        view.procs[0].as_ref()?;
        let log = view.disks[0].read(LOG).iter().map_while(Slot::ok);
        Some(log.map(|Entry(client, seq, _)| (*client, *seq)).collect())
    }

    fn check(plan: &Plan<Self>, out: &Out, check: Check, budget: &Budget) -> CheckOutcome {
        let name = faultline::catalog::Named::name(check);
        let Some(Some(log)) = &out.finals else {
            let why = "the store was down at the end";
            return CheckOutcome::fail(name, Verdict::Liveness, why, vec![]);
        };
        let names = plan.head.names();
        match check {
            Check::Linearizability => {
                linearizability_outcome(name, &out.history, ModelKind::Bank, budget, &names)
            }
            Check::EachRequestOnce => {
                let mut sorted = log.clone();
                sorted.sort_unstable();
                let Some(twice) = sorted.windows(2).find(|w| w[0] == w[1]) else {
                    return CheckOutcome::pass(name, format!("{} requests, each once", log.len()));
                };
                let (client, seq) = twice[0];
                let why = format!("request {seq} of {} is in the store's log twice", names[client]);
                CheckOutcome::fail(name, Verdict::Violation, why, vec![])
            }
        }
    }
}

impl Process<Inventory> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, Inventory>, from: usize, msg: Msg) {
        match (self, msg) {
            (Proc::Store(store), Msg::Ask(seq, op)) => store.on_ask(ctx, from, seq, op),
            (Proc::Client(core), Msg::Answer(seq, answer)) => {
                if let Some(done) = core.on_reply(ctx, seq, |t| t) {
                    ctx.complete(done.history[0], Status::Ok, answer);
                }
            }
            (proc, msg) => panic!("{msg:?} reached {proc:?}"),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Inventory>, timer: ClientTimer) {
        if let Proc::Client(core) = self {
            if let Some(out) = core.on_timer(ctx, timer, |t| t) {
                ctx.send(0, Msg::Ask(out.seq, out.op));
            }
        }
    }
}
