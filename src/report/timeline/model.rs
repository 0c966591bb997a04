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
use crate::plan::{FaultAction, Plan, Role};
use crate::scenario::PartitionShape;
use crate::sim::trace::{Event, Phase};
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
    /// Build the model of one execution.
    pub fn build(plan: &Plan, exec: &Execution) -> Model {
        let trace = exec.trace.events();
        let last_event_ns = trace.last().map_or(0, |e| e.t_ns);
        let end_ms = ms(exec.end_ns.max(last_event_ns)).max(1.0);

        let mut counts = Counts {
            events: trace.len(),
            ..Counts::default()
        };
        let mut settled = None;
        let mut phase_starts: Vec<(&'static str, f64)> = Vec::new();
        let mut downs: Vec<NodeSpan> = Vec::new();
        let mut pauses: Vec<NodeSpan> = Vec::new();
        let mut open_down: BTreeMap<usize, usize> = BTreeMap::new();
        let mut open_pause: BTreeMap<usize, usize> = BTreeMap::new();
        let mut partitions: Vec<PartitionSpan> = Vec::new();
        let mut open_partition: BTreeMap<u32, usize> = BTreeMap::new();
        let mut clogs: Vec<ClogSpan> = Vec::new();
        let mut open_clog: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        let mut messages: Vec<Message> = Vec::new();
        let mut by_id: BTreeMap<u64, usize> = BTreeMap::new();
        let mut raw_labels: Vec<&'static str> = Vec::new();
        let mut boots = Vec::new();
        let mut notes = Vec::new();
        let mut panics = Vec::new();
        let mut syncs = Vec::new();

        for (i, te) in trace.iter().enumerate() {
            let t = ms(te.t_ns);
            match &te.event {
                Event::Phase { phase } => phase_starts.push((
                    match phase {
                        Phase::Chaos => "chaos",
                        Phase::Heal => "heal",
                    },
                    t,
                )),
                Event::Fault { fault } => {
                    let kind = match fault {
                        FaultAction::Partition {
                            id, shape, blocked, ..
                        } => {
                            open_partition.insert(*id, partitions.len());
                            partitions.push(PartitionSpan {
                                id: *id,
                                shape: *shape,
                                blocked: blocked.clone(),
                                t0: t,
                                t1: end_ms,
                                row: 0,
                                open: true,
                            });
                            Some("partition")
                        }
                        FaultAction::Heal { id } => {
                            if let Some(at) = open_partition.remove(id) {
                                partitions[at].t1 = t;
                                partitions[at].open = false;
                            }
                            None
                        }
                        FaultAction::Crash { node } => {
                            open_down.insert(*node, downs.len());
                            downs.push(NodeSpan::starting(*node, t, end_ms));
                            Some("crash")
                        }
                        // The process is down until it has booted again (below).
                        FaultAction::Restart { .. } => None,
                        FaultAction::Pause { node } => {
                            open_pause.insert(*node, pauses.len());
                            pauses.push(NodeSpan::starting(*node, t, end_ms));
                            Some("pause")
                        }
                        FaultAction::Resume { node } => {
                            if let Some(at) = open_pause.remove(node) {
                                pauses[at].t1 = t;
                                pauses[at].open = false;
                            }
                            None
                        }
                        FaultAction::Clog { from, to, until_ms } => {
                            open_clog.insert((*from, *to), clogs.len());
                            clogs.push(ClogSpan {
                                from: *from,
                                to: *to,
                                t0: t,
                                t1: end_ms,
                                until_ms: *until_ms,
                                row: 0,
                                open: true,
                            });
                            Some("clog")
                        }
                        FaultAction::Unclog { from, to } => {
                            if let Some(at) = open_clog.remove(&(*from, *to)) {
                                clogs[at].t1 = t;
                                clogs[at].open = false;
                            }
                            None
                        }
                    };
                    // Count faults, not their ends (heal, restart, resume, unclog).
                    if let Some(kind) = kind {
                        *counts.faults.entry(kind).or_insert(0) += 1;
                    }
                }
                Event::Send {
                    id,
                    from,
                    to,
                    label,
                    arrive_ns,
                    held,
                } => {
                    counts.sent += 1;
                    if let Some(h) = held {
                        *counts.held.entry(hold_reason(*h)).or_insert(0) += 1;
                    }
                    if !raw_labels.contains(label) {
                        raw_labels.push(label);
                    }
                    let text = exec
                        .trace
                        .event_json(i)
                        .get("msg")
                        .and_then(|m| m.as_str())
                        .map(str::to_string);
                    by_id.insert(*id, messages.len());
                    messages.push(Message {
                        id: *id,
                        copy_of: None,
                        from: *from,
                        to: *to,
                        label: raw_labels.iter().position(|l| l == label).unwrap_or(0),
                        t0: t,
                        t1: ms(*arrive_ns),
                        arrive: ms(*arrive_ns),
                        held: *held,
                        fate: Fate::InFlight,
                        text,
                    });
                }
                Event::Duplicate {
                    id,
                    copy,
                    arrive_ns,
                } => {
                    counts.duplicates += 1;
                    if let Some(&orig) = by_id.get(id) {
                        let original = &messages[orig];
                        let dup = Message {
                            id: *copy,
                            copy_of: Some(*id),
                            t0: t,
                            t1: ms(*arrive_ns),
                            arrive: ms(*arrive_ns),
                            held: None,
                            fate: Fate::InFlight,
                            ..original.clone()
                        };
                        by_id.insert(*copy, messages.len());
                        messages.push(dup);
                    }
                }
                Event::Drop { id, reason } => {
                    *counts.drops.entry(drop_reason(*reason)).or_insert(0) += 1;
                    if let Some(&at) = by_id.get(id) {
                        let m = &mut messages[at];
                        m.fate = Fate::Dropped(*reason, t);
                        // A message dropped on arrival ends where it arrived (a receiver
                        // that was down drops its queue only at the crash or restart).
                        m.t1 = m.arrive.min(t).max(m.t0);
                    }
                }
                Event::Deliver { id, .. } => {
                    counts.delivered += 1;
                    if let Some(&at) = by_id.get(id) {
                        messages[at].fate = Fate::Delivered;
                        messages[at].t1 = t;
                    }
                }
                Event::Boot { node, incarnation } => {
                    if let Some(at) = open_down.remove(node) {
                        downs[at].t1 = t;
                        downs[at].open = false;
                        downs[at].incarnation = Some(*incarnation);
                    }
                    if *incarnation > 1 {
                        boots.push(Mark {
                            node: *node,
                            t,
                            text: format!("boot: incarnation {incarnation} recovers from disk"),
                        });
                    }
                }
                Event::DiskSync { node, file, writes } => {
                    counts.syncs += 1;
                    syncs.push(Mark {
                        node: *node,
                        t,
                        text: format!("fsync {file}: {writes} write(s) durable"),
                    });
                }
                Event::DiskLoss {
                    node,
                    file,
                    lost,
                    kept,
                    torn,
                } => {
                    if let Some(&at) = open_down.get(node) {
                        downs[at].losses.push((file, *lost, *kept, *torn));
                    }
                }
                Event::Invoke { .. } | Event::Return { .. } => {}
                Event::Note { node, label, value } => notes.push(Mark {
                    node: *node,
                    t,
                    text: format!("{label} = {value}"),
                }),
                Event::Panic { node, message } => panics.push(Mark {
                    node: *node,
                    t,
                    text: message.clone(),
                }),
                Event::End { settled: s } => settled = Some(*s),
            }
        }
        counts.in_flight = messages.iter().filter(|m| m.fate == Fate::InFlight).count() as u64;
        for m in &mut messages {
            if m.fate == Fate::InFlight {
                m.t1 = m.t1.min(end_ms);
            }
        }

        // Labels sorted by name so that colours and filters do not depend on which kind
        // of message happened to be sent first.
        let mut labels = raw_labels.clone();
        labels.sort_unstable();
        for m in &mut messages {
            let name = raw_labels[m.label];
            m.label = labels.iter().position(|l| *l == name).unwrap_or(0);
        }

        let phases = phase_starts
            .iter()
            .enumerate()
            .map(|(i, &(name, t0))| {
                let t1 = phase_starts.get(i + 1).map_or(end_ms, |p| p.1);
                (name, t0, t1)
            })
            .collect();

        // Network lane rows: partitions first, clogs below them.
        let (prow, pn) = assign_rows(&partitions.iter().map(|p| (p.t0, p.t1)).collect::<Vec<_>>());
        for (p, row) in partitions.iter_mut().zip(prow) {
            p.row = row;
        }
        let (crow, cn) = assign_rows(&clogs.iter().map(|c| (c.t0, c.t1)).collect::<Vec<_>>());
        for (c, row) in clogs.iter_mut().zip(crow) {
            c.row = pn + row;
        }

        // Operations: one lane per client process, rows so that bars never overlap.
        let ops_hist = &exec.history.ops;
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
        let span_of = |op: &Operation| {
            let t0 = ms(op.call);
            let t1 = op.ret.map_or(end_ms, ms).max(t0);
            (t0, t1)
        };
        let mut by_client: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, op) in ops_hist.iter().enumerate() {
            let client = usize::try_from(op.client).unwrap_or(usize::MAX);
            by_client.entry(client).or_default().push(i);
            *counts.ops.entry(status_name(op.status)).or_insert(0) += 1;
        }
        let mut op_row = vec![0usize; ops_hist.len()];
        let mut rows_of: BTreeMap<usize, usize> = BTreeMap::new();
        for (&client, list) in &mut by_client {
            list.sort_by_key(|&i| (ops_hist[i].call, i));
            let spans: Vec<(f64, f64)> = list.iter().map(|&i| span_of(&ops_hist[i])).collect();
            let (rows, n) = assign_rows(&spans);
            for (&i, row) in list.iter().zip(rows) {
                op_row[i] = row;
            }
            rows_of.insert(client, n);
        }

        // Lanes: network, the plan's processes, then any client the plan does not name.
        let mut lanes = Vec::new();
        let mut node_lane = BTreeMap::new();
        let net_rows = (pn + cn).max(1);
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
        let extra: Vec<usize> = by_client
            .keys()
            .copied()
            .filter(|&c| c >= plan.nodes.len())
            .collect();
        let processes = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.name.clone(), role_name(n.role)))
            .chain(extra.into_iter().map(|c| {
                let name = if c == usize::MAX {
                    "client ?".to_string()
                } else {
                    format!("client {c}")
                };
                (c, name, "client")
            }));
        for (node, name, role) in processes {
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

        let ops = ops_hist
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let client = usize::try_from(op.client).unwrap_or(usize::MAX);
                let (t0, t1) = span_of(op);
                OpBar {
                    index: i,
                    lane: node_lane.get(&client).copied().unwrap_or(0),
                    row: op_row[i],
                    t0,
                    t1,
                    flagged_by: flagged.get(&i).cloned().unwrap_or_default(),
                }
            })
            .collect();

        Model {
            end_ms,
            settled,
            phases,
            lanes,
            node_lane,
            height: y,
            ops,
            downs,
            pauses,
            partitions,
            clogs,
            messages,
            labels,
            boots,
            notes,
            panics,
            syncs,
            counts,
        }
    }

    /// The lane of process `node`, if it has one.
    pub fn lane_of(&self, node: usize) -> Option<&Lane> {
        self.node_lane.get(&node).map(|&i| &self.lanes[i])
    }
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
