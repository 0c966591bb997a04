//! From a trace to things with a place on the page.
//!
//! The trace is a flat list of instants ("node 2 crashed at 1838 ms", "node 2 booted at
//! 1868 ms", "message 41 delivered"). A timeline wants *intervals* and *lines*: the time
//! node 2 was down, the flight of message 41 from its sender to its receiver, the extent
//! of partition 3. [`Model::build`] makes one pass over the trace, pairs the instants up
//! (crash with the next boot, pause with resume, partition with heal, clog with unclog,
//! send with deliver or drop), and lays the result out on lanes: one lane for the network
//! faults, then one lane per process in plan order (servers, infrastructure, clients).
//!
//! Client operations come from the history rather than the trace, since the history holds
//! the final word on each one (notably `Info` operations, which never return). A client
//! lane has as many rows as it needs so that no two bars overlap: a client that gave up
//! on an operation starts the next one while the first is still open-ended.
//!
//! Everything is kept in `Vec`s and `BTreeMap`s in trace order, so the same execution
//! always yields the same model, and so the same bytes once rendered.
//!
//! Times are in milliseconds of simulated time (`f64`); vertical positions are pixels.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Operation, Status};
use crate::net::{DropReason, HoldReason};
use crate::plan::{AnyPlan, FaultAction, Role};
use crate::scenario::PartitionShape;
use crate::sim::trace::{Cause, Event, Phase};
use crate::systems::Execution;

/// Height of one operation row on a client lane.
pub const ROW_H: f64 = 20.0;
/// Gap between two rows of a client lane.
pub const ROW_GAP: f64 = 5.0;
/// Padding above and below the rows of a lane.
pub const LANE_PAD: f64 = 11.0;
/// Height of a lane without operation rows (servers, infrastructure).
pub const NODE_LANE_H: f64 = 52.0;
/// Height of one row of the network lane.
pub const NET_ROW_H: f64 = 15.0;

/// Nanoseconds to milliseconds.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What a lane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    /// Partitions and clogged links.
    Network,
    /// One process (index into the plan's nodes, or a client the plan does not name).
    Node(usize),
}

/// One horizontal lane.
#[derive(Debug, Clone)]
pub struct Lane {
    /// What it shows.
    pub kind: LaneKind,
    /// Display name.
    pub name: String,
    /// Role, for the label and the styling.
    pub role: &'static str,
    /// Top (px).
    pub y: f64,
    /// Height (px).
    pub h: f64,
}

impl Lane {
    /// Where message lines start and end on this lane.
    pub fn wire(&self) -> f64 {
        self.y + self.h / 2.0
    }

    /// Top of row `row` (operation rows, or network rows).
    pub fn row_y(&self, row: usize, row_h: f64) -> f64 {
        self.y + LANE_PAD + row as f64 * (row_h + ROW_GAP)
    }
}

/// A client operation, placed.
#[derive(Debug, Clone)]
pub struct OpBar {
    /// History index.
    pub index: usize,
    /// Lane index.
    pub lane: usize,
    /// Row within the lane.
    pub row: usize,
    /// Invocation (ms).
    pub t0: f64,
    /// Return (ms), or the end of the run for an operation that never returned.
    pub t1: f64,
    /// Failing checks that name this operation.
    pub flagged_by: Vec<String>,
    /// Messages that serve it ([`Message::serves`]).
    pub messages: usize,
    /// Unsynced writes made for it that a crash lost.
    pub lost_writes: usize,
}

/// A process state over an interval: down (crash → boot) or paused (pause → resume).
#[derive(Debug, Clone)]
pub struct NodeSpan {
    /// Process.
    pub node: usize,
    /// Start (ms).
    pub t0: f64,
    /// End (ms): the boot after the crash, the resume, or the end of the run.
    pub t1: f64,
    /// Whether it was still in effect when the run ended.
    pub open: bool,
    /// What the crash did to the disk: (file, lost, kept, torn).
    pub losses: Vec<(&'static str, u64, u64, bool)>,
    /// Incarnation that started at `t1` (for down spans closed by a boot).
    pub incarnation: Option<u32>,
}

impl NodeSpan {
    /// A span that starts at `t` and lasts until the end of the run unless closed.
    fn starting(node: usize, t: f64, end_ms: f64) -> Self {
        NodeSpan {
            node,
            t0: t,
            t1: end_ms,
            open: true,
            losses: Vec::new(),
            incarnation: None,
        }
    }
}

/// A partition from its start to its heal.
#[derive(Debug, Clone)]
pub struct PartitionSpan {
    /// Partition number.
    pub id: u32,
    /// Shape it was generated from.
    pub shape: PartitionShape,
    /// Cut directed links.
    pub blocked: Vec<(usize, usize)>,
    /// Start (ms).
    pub t0: f64,
    /// Heal (ms), or the end of the run.
    pub t1: f64,
    /// Row on the network lane.
    pub row: usize,
    /// Whether it was still in effect when the run ended.
    pub open: bool,
}

impl PartitionSpan {
    /// A partition that starts at `t` and lasts until the end of the run unless healed.
    fn starting(
        id: u32,
        shape: PartitionShape,
        blocked: Vec<(usize, usize)>,
        t: f64,
        end_ms: f64,
    ) -> Self {
        PartitionSpan {
            id,
            shape,
            blocked,
            t0: t,
            t1: end_ms,
            row: 0,
            open: true,
        }
    }

    /// Processes touched by a cut link, in index order.
    pub fn nodes(&self) -> BTreeSet<usize> {
        self.blocked.iter().flat_map(|&(a, b)| [a, b]).collect()
    }
}

/// A clogged link from its clog to its unclog.
#[derive(Debug, Clone)]
pub struct ClogSpan {
    /// Sender.
    pub from: usize,
    /// Receiver.
    pub to: usize,
    /// Start (ms).
    pub t0: f64,
    /// Unclog (ms), or the end of the run.
    pub t1: f64,
    /// Planned release (ms).
    pub until_ms: u64,
    /// Row on the network lane.
    pub row: usize,
    /// Whether it was still in effect when the run ended.
    pub open: bool,
}

impl ClogSpan {
    /// A clog of the link `from → to` that starts at `t` and lasts until the end of the
    /// run unless unclogged; it was planned to last until `until_ms`.
    fn starting((from, to): (usize, usize), until_ms: u64, t: f64, end_ms: f64) -> Self {
        ClogSpan {
            from,
            to,
            t0: t,
            t1: end_ms,
            until_ms,
            row: 0,
            open: true,
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// It reached the receiver's handler (at the line's end).
    Delivered,
    /// It was dropped, at the time given.
    Dropped(DropReason, f64),
    /// Still in flight (or queued) when the run ended.
    InFlight,
}

/// One message (or duplicate copy), from send to fate.
#[derive(Debug, Clone)]
pub struct Message {
    /// Message id (the copy's own id for a duplicate).
    pub id: u64,
    /// For a duplicate: the original's id.
    pub copy_of: Option<u64>,
    /// Sender.
    pub from: usize,
    /// Receiver.
    pub to: usize,
    /// Index into [`Model::labels`].
    pub label: usize,
    /// Sent (ms); for a copy, when the network made it.
    pub t0: f64,
    /// Where the line ends (ms): delivery, or the arrival at which it was dropped.
    pub t1: f64,
    /// Scheduled arrival (ms).
    pub arrive: f64,
    /// Why it arrived late, if it did.
    pub held: Option<HoldReason>,
    /// What became of it.
    pub fate: Fate,
    /// Its content (full trace level only).
    pub text: Option<String>,
    /// The client operation it serves: the one whose invocation started the chain of
    /// handlers that sent it (full trace level only; see [`crate::sim::Cause`]).
    pub serves: Option<usize>,
}

/// A disk write that was not fsynced when its process crashed, and that the crash lost.
#[derive(Debug, Clone)]
pub struct LostWrite {
    /// Process.
    pub node: usize,
    /// File.
    pub file: &'static str,
    /// When it was written (ms).
    pub t: f64,
    /// When the crash lost it (ms).
    pub crash_t: f64,
    /// The client operation it served, if any.
    pub serves: Option<usize>,
}

impl Message {
    /// Dropped before it left the sender (random loss, or a link already cut).
    pub fn dropped_at_send(&self) -> bool {
        matches!(self.fate, Fate::Dropped(_, at) if at == self.t0 && self.arrive == self.t0)
    }
}

/// A point event on a process lane.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Process.
    pub node: usize,
    /// When (ms).
    pub t: f64,
    /// Short text.
    pub text: String,
}

/// Counts for the header.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Trace events.
    pub events: usize,
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages (and copies) delivered.
    pub delivered: u64,
    /// Copies made.
    pub duplicates: u64,
    /// Drops by reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// Held messages by reason.
    pub held: BTreeMap<&'static str, u64>,
    /// Messages still in flight at the end.
    pub in_flight: u64,
    /// Faults by kind (partition, crash, pause, clog; not their ends).
    pub faults: BTreeMap<&'static str, u64>,
    /// Operations by status.
    pub ops: BTreeMap<&'static str, u64>,
    /// fsyncs.
    pub syncs: u64,
}

/// Everything the page and the overview draw.
#[derive(Debug, Clone)]
pub struct Model {
    /// End of the run (ms).
    pub end_ms: f64,
    /// Whether the run settled.
    pub settled: Option<bool>,
    /// Phases: (name, start, end) in ms.
    pub phases: Vec<(&'static str, f64, f64)>,
    /// Lanes, top to bottom.
    pub lanes: Vec<Lane>,
    /// Lane of each process (plan nodes, then clients the plan does not name).
    pub node_lane: BTreeMap<usize, usize>,
    /// Total height of the lanes (px).
    pub height: f64,
    /// Operations, in history order.
    pub ops: Vec<OpBar>,
    /// Down intervals.
    pub downs: Vec<NodeSpan>,
    /// Pauses.
    pub pauses: Vec<NodeSpan>,
    /// Partitions.
    pub partitions: Vec<PartitionSpan>,
    /// Clogged links.
    pub clogs: Vec<ClogSpan>,
    /// Messages and copies, in send order.
    pub messages: Vec<Message>,
    /// Message labels, sorted.
    pub labels: Vec<&'static str>,
    /// Restarts (boots after the first).
    pub boots: Vec<Mark>,
    /// System notes.
    pub notes: Vec<Mark>,
    /// Panics.
    pub panics: Vec<Mark>,
    /// fsyncs.
    pub syncs: Vec<Mark>,
    /// Unsynced writes that crashes lost.
    pub lost_writes: Vec<LostWrite>,
    /// Counts.
    pub counts: Counts,
}

/// Name of a drop reason, as in the trace.
pub fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Loss => "loss",
        DropReason::Partition => "partition",
        DropReason::NodeDown => "node_down",
    }
}

/// Name of a hold reason, as in the trace.
pub fn hold_reason(reason: HoldReason) -> &'static str {
    match reason {
        HoldReason::Reorder => "reorder",
        HoldReason::Clog => "clog",
    }
}

/// Name of a partition shape, as in scenario files.
pub fn shape_name(shape: PartitionShape) -> &'static str {
    match shape {
        PartitionShape::Isolate => "isolate",
        PartitionShape::Split => "split",
        PartitionShape::Ring => "ring",
        PartitionShape::Bridge => "bridge",
        PartitionShape::OneWay => "one_way",
    }
}

/// Name of an operation status, as in histories.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Fail => "fail",
        Status::Info => "info",
    }
}

/// Name of a role, as on lane labels.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Infra => "infra",
        Role::Client => "client",
    }
}

/// Put intervals on rows so that none overlap: each goes on the first row free at its
/// start. `spans` are (start, end) in the order to place them; returns each one's row
/// and the number of rows.
fn assign_rows(spans: &[(f64, f64)]) -> (Vec<usize>, usize) {
    let mut row_end: Vec<f64> = Vec::new();
    let rows = spans
        .iter()
        .map(
            |&(t0, t1)| match row_end.iter().position(|&end| end <= t0) {
                Some(row) => {
                    row_end[row] = t1;
                    row
                }
                None => {
                    row_end.push(t1);
                    row_end.len() - 1
                }
            },
        )
        .collect();
    (rows, row_end.len())
}

impl Model {
    /// Build the model of one execution: one pass over the trace for the phases, faults,
    /// messages and marks (`TracePass`), then the operations from the history, then the
    /// lanes that hold them all.
    pub fn build(plan: &dyn AnyPlan, exec: &Execution) -> Model {
        let last_event_ns = exec.trace.events().next_back().map_or(0, |e| e.t_ns);
        let end_ms = ms(exec.end_ns.max(last_event_ns)).max(1.0);

        let mut pass = TracePass::new(exec, end_ms);
        for (i, te) in exec.trace.events().enumerate() {
            pass.event(i, ms(te.t_ns), &te.event);
        }
        let labels = pass.settle_messages();
        let phases = pass.phases();
        let net_rows = pass.place_network_faults();

        // Operations: one lane per client process, rows so that bars never overlap.
        let ops_hist = &exec.history.ops;
        for op in ops_hist {
            *pass.counts.ops.entry(status_name(op.status)).or_insert(0) += 1;
        }
        let (op_row, rows_of) = op_rows(ops_hist, end_ms);
        let (lanes, node_lane, height) = lay_out_lanes(plan, net_rows, &rows_of);
        let mut ops = op_bars(exec, end_ms, &op_row, &node_lane);
        count_serving(&mut ops, &pass.messages, &pass.lost);

        Model {
            end_ms,
            settled: pass.settled,
            phases,
            lanes,
            node_lane,
            height,
            ops,
            downs: pass.downs,
            pauses: pass.pauses,
            partitions: pass.partitions,
            clogs: pass.clogs,
            messages: pass.messages,
            labels,
            boots: pass.boots,
            notes: pass.notes,
            panics: pass.panics,
            syncs: pass.syncs,
            lost_writes: pass.lost,
            counts: pass.counts,
        }
    }

    /// The lane of process `node`, if it has one.
    pub fn lane_of(&self, node: usize) -> Option<&Lane> {
        self.node_lane.get(&node).map(|&i| &self.lanes[i])
    }
}

/// The one pass over the trace, which pairs its instants up into spans and lines.
///
/// Besides what it has gathered so far, it keeps the spans still open (by process,
/// partition number or link) and every message by id, so that the instant that ends one
/// (a boot, a heal, a delivery) finds it. Whatever is still open when the trace ends
/// lasts until the end of the run.
struct TracePass<'a> {
    /// The execution whose trace this is (message contents are read from it).
    exec: &'a Execution,
    /// End of the run (ms): where a span still open at the end stops.
    end_ms: f64,
    counts: Counts,
    settled: Option<bool>,
    /// Start of each phase, in order: a phase lasts until the next one starts.
    phase_starts: Vec<(&'static str, f64)>,
    downs: Vec<NodeSpan>,
    /// Index into `downs` of each crashed process that has not booted again.
    open_down: BTreeMap<usize, usize>,
    pauses: Vec<NodeSpan>,
    /// Index into `pauses` of each paused process.
    open_pause: BTreeMap<usize, usize>,
    partitions: Vec<PartitionSpan>,
    /// Index into `partitions` of each partition not yet healed, by number.
    open_partition: BTreeMap<u32, usize>,
    clogs: Vec<ClogSpan>,
    /// Index into `clogs` of each clogged link.
    open_clog: BTreeMap<(usize, usize), usize>,
    messages: Vec<Message>,
    /// Index into `messages` of each message or copy, by id.
    by_id: BTreeMap<u64, usize>,
    /// Labels in order of first send: [`Message::label`] indexes this until
    /// [`TracePass::settle_messages`] sorts them.
    raw_labels: Vec<&'static str>,
    boots: Vec<Mark>,
    notes: Vec<Mark>,
    panics: Vec<Mark>,
    syncs: Vec<Mark>,
    /// The operation each message serves, by message id ([`Message::serves`]).
    serves: BTreeMap<u64, usize>,
    /// Disk writes taken in so far (an index into the trace's writes).
    writes_seen: usize,
    /// Unsynced writes (indices into the trace's writes) by process and file.
    unsynced: BTreeMap<(usize, &'static str), Vec<usize>>,
    lost: Vec<LostWrite>,
}

/// The operation each message serves: a message sent while a client invoked an operation
/// serves it, and so does one sent while handling a message that serves it. Causes refer
/// to earlier messages only, so one pass in send order resolves every chain.
fn serving(exec: &Execution) -> BTreeMap<u64, usize> {
    let mut serves = BTreeMap::new();
    for &(id, cause) in exec.trace.causes() {
        let op = match cause {
            Cause::Op(op) => Some(op),
            Cause::Msg(parent) => serves.get(&parent).copied(),
        };
        if let Some(op) = op {
            serves.insert(id, op);
        }
    }
    serves
}

/// How many messages serve each operation and how many of its writes were lost (bars
/// are in history order, one per operation).
fn count_serving(ops: &mut [OpBar], messages: &[Message], lost: &[LostWrite]) {
    let at = |ops: &[OpBar], i: usize| ops.binary_search_by_key(&i, |b| b.index).ok();
    for m in messages {
        if let Some(b) = m.serves.and_then(|i| at(ops, i)) {
            ops[b].messages += 1;
        }
    }
    for w in lost {
        if let Some(b) = w.serves.and_then(|i| at(ops, i)) {
            ops[b].lost_writes += 1;
        }
    }
}

impl<'a> TracePass<'a> {
    /// A pass that has seen nothing yet of the trace of `exec`.
    fn new(exec: &'a Execution, end_ms: f64) -> Self {
        TracePass {
            exec,
            end_ms,
            counts: Counts {
                events: exec.trace.len(),
                ..Counts::default()
            },
            settled: None,
            phase_starts: Vec::new(),
            downs: Vec::new(),
            open_down: BTreeMap::new(),
            pauses: Vec::new(),
            open_pause: BTreeMap::new(),
            partitions: Vec::new(),
            open_partition: BTreeMap::new(),
            clogs: Vec::new(),
            open_clog: BTreeMap::new(),
            messages: Vec::new(),
            by_id: BTreeMap::new(),
            raw_labels: Vec::new(),
            boots: Vec::new(),
            notes: Vec::new(),
            panics: Vec::new(),
            syncs: Vec::new(),
            serves: serving(exec),
            writes_seen: 0,
            unsynced: BTreeMap::new(),
            lost: Vec::new(),
        }
    }

    /// Take in the disk writes made before trace event `i`: unsynced until a sync or a
    /// crash of their file.
    fn writes_before(&mut self, i: usize) {
        let writes = self.exec.trace.writes();
        while let Some(w) = writes.get(self.writes_seen).filter(|w| w.at_event <= i) {
            self.unsynced
                .entry((w.node, w.file))
                .or_default()
                .push(self.writes_seen);
            self.writes_seen += 1;
        }
    }

    /// Take in trace event `i`, which happened at `t` (ms).
    fn event(&mut self, i: usize, t: f64, event: &Event) {
        self.writes_before(i);
        match event {
            Event::Phase { phase } => {
                let name = match phase {
                    Phase::Chaos => "chaos",
                    Phase::Heal => "heal",
                };
                self.phase_starts.push((name, t));
            }
            Event::Fault { fault } => self.fault(t, fault),
            Event::Send {
                id,
                from,
                to,
                label,
                arrive_ns,
                held,
            } => {
                let label = self.label_index(label);
                let msg = Message {
                    id: *id,
                    copy_of: None,
                    from: *from,
                    to: *to,
                    label,
                    t0: t,
                    t1: ms(*arrive_ns),
                    arrive: ms(*arrive_ns),
                    held: *held,
                    fate: Fate::InFlight,
                    text: None,
                    serves: self.serves.get(id).copied(),
                };
                self.sent(i, msg);
            }
            Event::Duplicate {
                id,
                copy,
                arrive_ns,
            } => self.duplicated(t, *id, *copy, ms(*arrive_ns)),
            Event::Drop { id, reason } => self.dropped(t, *id, *reason),
            Event::Deliver { id, .. } => self.delivered(t, *id),
            Event::Boot { node, incarnation } => self.booted(t, *node, *incarnation),
            Event::DiskSync { node, file, writes } => self.synced(t, *node, file, *writes),
            Event::DiskLoss {
                node,
                file,
                lost,
                kept,
                torn,
            } => self.lost_writes(t, *node, (*file, *lost, *kept, *torn)),
            Event::Invoke { .. } | Event::Return { .. } => {}
            Event::Note { .. } | Event::Panic { .. } | Event::Limit { .. } => self.mark(t, event),
            Event::End { settled } => self.settled = Some(*settled),
        }
    }

    /// A note, a panic or a stop at a resource limit: a mark on its process's lane.
    fn mark(&mut self, t: f64, event: &Event) {
        match event {
            Event::Note { node, label, value } => self.notes.push(Mark {
                node: *node,
                t,
                text: format!("{label} = {value}"),
            }),
            Event::Panic { node, message } => self.panics.push(Mark {
                node: *node,
                t,
                text: message.clone(),
            }),
            Event::Limit { node, limit } => self.notes.push(Mark {
                node: *node,
                t,
                text: format!(
                    "resource limit reached: `{}`; the run stopped here",
                    limit.knob()
                ),
            }),
            _ => {}
        }
    }

    /// A fault opens a span (on the network lane or a process lane); its end (heal,
    /// resume, unclog) closes the span it opened.
    fn fault(&mut self, t: f64, fault: &FaultAction) {
        let kind = match fault {
            FaultAction::Partition {
                id, shape, blocked, ..
            } => {
                self.open_partition.insert(*id, self.partitions.len());
                let span = PartitionSpan::starting(*id, *shape, blocked.clone(), t, self.end_ms);
                self.partitions.push(span);
                Some("partition")
            }
            FaultAction::Heal { id } => {
                if let Some(at) = self.open_partition.remove(id) {
                    self.partitions[at].t1 = t;
                    self.partitions[at].open = false;
                }
                None
            }
            FaultAction::Crash { node } => {
                self.open_down.insert(*node, self.downs.len());
                self.downs.push(NodeSpan::starting(*node, t, self.end_ms));
                Some("crash")
            }
            // The process is down until it has booted again (see `booted`).
            FaultAction::Restart { .. } => None,
            FaultAction::Pause { node } => {
                self.open_pause.insert(*node, self.pauses.len());
                self.pauses.push(NodeSpan::starting(*node, t, self.end_ms));
                Some("pause")
            }
            FaultAction::Resume { node } => {
                if let Some(at) = self.open_pause.remove(node) {
                    self.pauses[at].t1 = t;
                    self.pauses[at].open = false;
                }
                None
            }
            FaultAction::Clog { from, to, until_ms } => {
                self.open_clog.insert((*from, *to), self.clogs.len());
                let span = ClogSpan::starting((*from, *to), *until_ms, t, self.end_ms);
                self.clogs.push(span);
                Some("clog")
            }
            FaultAction::Unclog { from, to } => {
                if let Some(at) = self.open_clog.remove(&(*from, *to)) {
                    self.clogs[at].t1 = t;
                    self.clogs[at].open = false;
                }
                None
            }
        };
        // Count faults, not their ends (heal, restart, resume, unclog).
        if let Some(kind) = kind {
            *self.counts.faults.entry(kind).or_insert(0) += 1;
        }
    }

    /// The index of `label` in `raw_labels`, adding it on its first use.
    fn label_index(&mut self, label: &'static str) -> usize {
        if !self.raw_labels.contains(&label) {
            self.raw_labels.push(label);
        }
        self.raw_labels
            .iter()
            .position(|l| *l == label)
            .unwrap_or(0)
    }

    /// A message handed to the network (trace event `i`): in flight until delivered or
    /// dropped. Its content is in the trace only at the full trace level.
    fn sent(&mut self, i: usize, mut msg: Message) {
        self.counts.sent += 1;
        if let Some(h) = msg.held {
            *self.counts.held.entry(hold_reason(h)).or_insert(0) += 1;
        }
        msg.text = self
            .exec
            .trace
            .event_json(i)
            .get("msg")
            .and_then(|m| m.as_str())
            .map(str::to_string);
        self.by_id.insert(msg.id, self.messages.len());
        self.messages.push(msg);
    }

    /// The network made copy `copy` of message `id` at `t`, due at `arrive` (ms): a
    /// message of its own, between the same processes, with the same label and content.
    fn duplicated(&mut self, t: f64, id: u64, copy: u64, arrive: f64) {
        self.counts.duplicates += 1;
        if let Some(&orig) = self.by_id.get(&id) {
            let dup = Message {
                id: copy,
                copy_of: Some(id),
                t0: t,
                t1: arrive,
                arrive,
                held: None,
                fate: Fate::InFlight,
                ..self.messages[orig].clone()
            };
            self.by_id.insert(copy, self.messages.len());
            self.messages.push(dup);
        }
    }

    /// Message (or copy) `id` was dropped at `t`.
    fn dropped(&mut self, t: f64, id: u64, reason: DropReason) {
        *self.counts.drops.entry(drop_reason(reason)).or_insert(0) += 1;
        if let Some(&at) = self.by_id.get(&id) {
            let m = &mut self.messages[at];
            m.fate = Fate::Dropped(reason, t);
            // A message dropped on arrival ends where it arrived (a receiver that was
            // down drops its queue only at the crash or restart).
            m.t1 = m.arrive.min(t).max(m.t0);
        }
    }

    /// Message (or copy) `id` reached its receiver's handler at `t`.
    fn delivered(&mut self, t: f64, id: u64) {
        self.counts.delivered += 1;
        if let Some(&at) = self.by_id.get(&id) {
            self.messages[at].fate = Fate::Delivered;
            self.messages[at].t1 = t;
        }
    }

    /// A process started: this ends its down span if it had crashed, and a restart (any
    /// boot after the first) gets a mark.
    fn booted(&mut self, t: f64, node: usize, incarnation: u32) {
        if let Some(at) = self.open_down.remove(&node) {
            self.downs[at].t1 = t;
            self.downs[at].open = false;
            self.downs[at].incarnation = Some(incarnation);
        }
        if incarnation > 1 {
            self.boots.push(Mark {
                node,
                t,
                text: format!("boot: incarnation {incarnation} recovers from disk"),
            });
        }
    }

    /// An fsync of `file`: a tick on the process's lane.
    fn synced(&mut self, t: f64, node: usize, file: &'static str, writes: u64) {
        self.counts.syncs += 1;
        self.unsynced.remove(&(node, file));
        self.syncs.push(Mark {
            node,
            t,
            text: format!("fsync {file}: {writes} write(s) durable"),
        });
    }

    /// What a crash did to a file's unsynced writes, (file, lost, kept, torn): told in
    /// the tooltip of the down span that crash opened.
    /// The writes it lost are the last `lost` of the file's unsynced ones (a crash keeps a
    /// prefix of them): each becomes a [`LostWrite`].
    fn lost_writes(&mut self, t: f64, node: usize, loss: (&'static str, u64, u64, bool)) {
        if let Some(&at) = self.open_down.get(&node) {
            self.downs[at].losses.push(loss);
        }
        let pending = self.unsynced.remove(&(node, loss.0)).unwrap_or_default();
        let kept = pending.len().saturating_sub(loss.1 as usize);
        let writes = self.exec.trace.writes();
        for &w in &pending[kept..] {
            let write = &writes[w];
            let serves = match write.cause {
                Some(Cause::Op(op)) => Some(op),
                Some(Cause::Msg(id)) => self.serves.get(&id).copied(),
                None => None,
            };
            self.lost.push(LostWrite {
                node,
                file: write.file,
                t: ms(write.t_ns),
                crash_t: t,
                serves,
            });
        }
    }

    /// Once the trace is over: count the messages still in flight and end their lines at
    /// the end of the run, and renumber the labels in name order. Returns the labels.
    fn settle_messages(&mut self) -> Vec<&'static str> {
        self.counts.in_flight = self
            .messages
            .iter()
            .filter(|m| m.fate == Fate::InFlight)
            .count() as u64;
        for m in &mut self.messages {
            if m.fate == Fate::InFlight {
                m.t1 = m.t1.min(self.end_ms);
            }
        }
        // Labels sorted by name so that colours and filters do not depend on which kind
        // of message happened to be sent first.
        let mut labels = self.raw_labels.clone();
        labels.sort_unstable();
        for m in &mut self.messages {
            let name = self.raw_labels[m.label];
            m.label = labels.iter().position(|l| *l == name).unwrap_or(0);
        }
        labels
    }

    /// The phases as (name, start, end): each lasts until the next one starts, the last
    /// one until the end of the run.
    fn phases(&self) -> Vec<(&'static str, f64, f64)> {
        let starts = &self.phase_starts;
        starts
            .iter()
            .enumerate()
            .map(|(i, &(name, t0))| {
                let t1 = starts.get(i + 1).map_or(self.end_ms, |p| p.1);
                (name, t0, t1)
            })
            .collect()
    }

    /// Give each partition and clog a row on the network lane: partitions first, clogs
    /// below them. Returns how many rows the lane needs (at least one, even if empty).
    fn place_network_faults(&mut self) -> usize {
        let spans: Vec<_> = self.partitions.iter().map(|p| (p.t0, p.t1)).collect();
        let (prow, pn) = assign_rows(&spans);
        for (p, row) in self.partitions.iter_mut().zip(prow) {
            p.row = row;
        }
        let spans: Vec<_> = self.clogs.iter().map(|c| (c.t0, c.t1)).collect();
        let (crow, cn) = assign_rows(&spans);
        for (c, row) in self.clogs.iter_mut().zip(crow) {
            c.row = pn + row;
        }
        (pn + cn).max(1)
    }
}

/// The process index of an operation's client (`usize::MAX` if it does not fit).
fn op_client(op: &Operation) -> usize {
    usize::try_from(op.client).unwrap_or(usize::MAX)
}

/// When an operation ran (ms): from its call to its return, or to the end of the run if
/// it never returned.
fn op_span(op: &Operation, end_ms: f64) -> (f64, f64) {
    let t0 = ms(op.call);
    let t1 = op.ret.map_or(end_ms, ms).max(t0);
    (t0, t1)
}

/// Rows on the client lanes: each client's operations in call order, each on the first
/// row free at its call. Returns the row of every operation (by history index) and how
/// many rows each client with operations needs.
fn op_rows(ops: &[Operation], end_ms: f64) -> (Vec<usize>, BTreeMap<usize, usize>) {
    let mut by_client: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_client.entry(op_client(op)).or_default().push(i);
    }
    let mut op_row = vec![0usize; ops.len()];
    let mut rows_of = BTreeMap::new();
    for (client, mut list) in by_client {
        list.sort_by_key(|&i| (ops[i].call, i));
        let spans: Vec<(f64, f64)> = list.iter().map(|&i| op_span(&ops[i], end_ms)).collect();
        let (rows, n) = assign_rows(&spans);
        for (&i, row) in list.iter().zip(rows) {
            op_row[i] = row;
        }
        rows_of.insert(client, n);
    }
    (op_row, rows_of)
}

/// The failing checks that name each operation (by history index), in check order.
fn flagged_ops(exec: &Execution) -> BTreeMap<usize, Vec<String>> {
    let mut flagged: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for check in &exec.checks {
        if check.verdict != crate::check::Verdict::Pass {
            for &op in &check.ops {
                let names = flagged.entry(op).or_default();
                if !names.contains(&check.check) {
                    names.push(check.check.clone());
                }
            }
        }
    }
    flagged
}

/// The bars of the history's operations, in history order, each on its client's lane
/// and on the row `op_row` gives it.
fn op_bars(
    exec: &Execution,
    end_ms: f64,
    op_row: &[usize],
    node_lane: &BTreeMap<usize, usize>,
) -> Vec<OpBar> {
    let flagged = flagged_ops(exec);
    exec.history
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let (t0, t1) = op_span(op, end_ms);
            OpBar {
                index: i,
                lane: node_lane.get(&op_client(op)).copied().unwrap_or(0),
                row: op_row[i],
                t0,
                t1,
                flagged_by: flagged.get(&i).cloned().unwrap_or_default(),
                messages: 0,
                lost_writes: 0,
            }
        })
        .collect()
}

/// Lay the lanes out top to bottom: the network lane with `net_rows` rows, then one lane
/// per process (see [`processes`]), each as tall as its operation rows (`rows_of`) need.
/// Returns the lanes, the lane of each process and the total height (px).
fn lay_out_lanes(
    plan: &dyn AnyPlan,
    net_rows: usize,
    rows_of: &BTreeMap<usize, usize>,
) -> (Vec<Lane>, BTreeMap<usize, usize>, f64) {
    let mut lanes = Vec::new();
    let mut node_lane = BTreeMap::new();
    let mut y = 0.0;
    let net_h = 2.0 * LANE_PAD + net_rows as f64 * (NET_ROW_H + ROW_GAP) - ROW_GAP;
    lanes.push(Lane {
        kind: LaneKind::Network,
        name: "network".into(),
        role: "faults",
        y,
        h: net_h,
    });
    y += net_h;
    for (node, name, role) in processes(plan, rows_of.keys().copied()) {
        let rows = rows_of.get(&node).copied().unwrap_or(0);
        let h = if rows == 0 {
            NODE_LANE_H
        } else {
            (2.0 * LANE_PAD + rows as f64 * (ROW_H + ROW_GAP) - ROW_GAP).max(NODE_LANE_H)
        };
        node_lane.insert(node, lanes.len());
        lanes.push(Lane {
            kind: LaneKind::Node(node),
            name,
            role,
            y,
            h,
        });
        y += h;
    }
    (lanes, node_lane, y)
}

/// The processes that get a lane, in order, as (index, name, role): the plan's, then
/// any of `clients` (those with operations) that the plan does not name.
fn processes(
    plan: &dyn AnyPlan,
    clients: impl Iterator<Item = usize>,
) -> Vec<(usize, String, &'static str)> {
    let nodes = &plan.head().nodes;
    let named = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i, n.name.clone(), role_name(n.role)));
    let extra = clients.filter(|&c| c >= nodes.len()).map(|c| {
        let name = if c == usize::MAX {
            "client ?".to_string()
        } else {
            format!("client {c}")
        };
        (c, name, "client")
    });
    named.chain(extra).collect()
}

#[cfg(test)]
mod tests {
    use super::assign_rows;

    #[test]
    fn rows_stack_only_overlapping_spans() {
        let (rows, n) = assign_rows(&[(0.0, 10.0), (5.0, 100.0), (10.0, 20.0), (30.0, 40.0)]);
        assert_eq!(rows, vec![0, 1, 0, 0]);
        assert_eq!(n, 2);
        let (rows, n) = assign_rows(&[]);
        assert!(rows.is_empty());
        assert_eq!(n, 0);
    }
}
