//! The aimer: carries out the plan's aimed faults ([`crate::plan::aims`]) during chaos.
//!
//! A process that reaches an aim's event records a hit ([`super::world`]); the aimer, a
//! future the supervisor polls beside the fault schedule, wakes when the handler returns
//! — at the same simulated instant — and strikes that process: a crash (restarted after
//! `restart_ms`) or an isolation from the other servers (healed after `heal_ms`). It
//! records each as the ordinary fault it is, so the trace and the timeline show it.
//!
//! An aim strikes only where the fault schedule could: a crashable server that is up,
//! and for a crash, not beyond `faults.crash.max_down` processes down. The schedule's own
//! faults that no longer apply afterwards (a crash of a process the aimer took down, a
//! restart of one it brought back) are skipped by the supervisor.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use madsim::runtime::Handle;
use madsim::task::NodeId;

use super::driver::Shared;
use super::trace::{Event, Phase};
use super::world::NodeStatus;
use super::{apply_fault, System};
use crate::plan::{aims, AimAct, FaultAction, Plan, Role};
use crate::scenario::PartitionShape;

/// Resolves with the next hit (aim index, process), or when the world halts (`None`).
struct NextHit<'a, S: System> {
    shared: &'a Shared<S>,
}

impl<S: System> Future for NextHit<'_, S> {
    type Output = Option<(usize, usize)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut world = self.shared.lock();
        if world.core.halted {
            return Poll::Ready(None);
        }
        if !world.core.aim_hits.is_empty() {
            return Poll::Ready(Some(world.core.aim_hits.remove(0)));
        }
        world.core.aim_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Carry out the aims of `plan` as they are hit; never resolves (the supervisor drops it
/// when chaos ends, and the heal undoes whatever is still in effect).
pub(super) async fn aimer<S: System>(shared: &Shared<S>, plan: &Plan<S>, ids: &[NodeId]) {
    let mut partitions = BTreeMap::new();
    // Each aim fires at most once: the loop is bounded by their number.
    for _ in 0..plan.head.aims.len() {
        let Some((i, node)) = (NextHit { shared }).await else {
            break;
        };
        let aim = &plan.head.aims[i];
        let struck = strike(shared, plan, ids, (&aim.act, i, node), &mut partitions);
        let Some((undo_after_ms, undo)) = struck else {
            continue;
        };
        shared
            .time
            .sleep(Duration::from_millis(undo_after_ms))
            .await;
        undo_strike(shared, ids, undo, node, &mut partitions);
    }
    std::future::pending::<()>().await;
}

/// The aimer's partitions in force, by id (their links, to restore them).
type Partitions = BTreeMap<u32, Vec<(usize, usize)>>;

/// What undoes a strike.
enum Undo {
    Restart,
    Heal { id: u32 },
}

/// Strike `node` as `act` says, if the schedule could; returns when and how to undo it.
fn strike<S: System>(
    shared: &Shared<S>,
    plan: &Plan<S>,
    ids: &[NodeId],
    (act, aim, node): (&AimAct, usize, usize),
    partitions: &mut Partitions,
) -> Option<(u64, Undo)> {
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    let head = &plan.head;
    let spec = &head.nodes[node];
    if world.core.halted
        || world.core.phase != Phase::Chaos
        || spec.role != Role::Server
        || !spec.crashable
        || world.core.status[node] != NodeStatus::Up
    {
        return None;
    }
    let (action, after_ms, undo) = match *act {
        AimAct::Crash { restart_ms } => {
            let servers_down = (0..head.nodes.len())
                .filter(|&k| head.nodes[k].role == Role::Server)
                .filter(|&k| world.core.status[k] == NodeStatus::Down)
                .count() as u64;
            if servers_down >= head.params.faults.crash.max_down {
                return None;
            }
            (FaultAction::Crash { node }, restart_ms, Undo::Restart)
        }
        AimAct::Isolate { heal_ms } => {
            let id = aims::PARTITION_ID_BASE + aim as u32;
            let others =
                (0..head.nodes.len()).filter(|&k| k != node && head.nodes[k].role == Role::Server);
            let blocked = others.flat_map(|k| [(node, k), (k, node)]).collect();
            let shape = PartitionShape::Isolate;
            let action = FaultAction::Partition { id, shape, blocked };
            (action, heal_ms, Undo::Heal { id })
        }
    };
    world.core.trace.push(
        now_ns,
        Event::Fault {
            fault: action.clone(),
        },
    );
    apply_fault(shared, &mut world, &action, ids, partitions, now_ns);
    Some((after_ms, undo))
}

/// Undo a strike if chaos still runs and the process is as the strike left it (the heal
/// undoes everything at chaos end; the schedule may have restarted it meanwhile).
fn undo_strike<S: System>(
    shared: &Shared<S>,
    ids: &[NodeId],
    undo: Undo,
    node: usize,
    partitions: &mut Partitions,
) {
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    if world.core.halted || world.core.phase != Phase::Chaos {
        return;
    }
    let action = match undo {
        Undo::Restart if world.core.status[node] != NodeStatus::Down => return,
        Undo::Restart => FaultAction::Restart { node },
        Undo::Heal { id } => FaultAction::Heal { id },
    };
    world.core.trace.push(
        now_ns,
        Event::Fault {
            fault: action.clone(),
        },
    );
    let restart = apply_fault(shared, &mut world, &action, ids, partitions, now_ns);
    // The restarted node boots at once and takes the world's lock: release it first.
    drop(world);
    if let Some(id) = restart {
        Handle::current().restart(id);
    }
}
