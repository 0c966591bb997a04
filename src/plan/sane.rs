//! Whether a plan read from a file makes sense as a run: its faults in time order inside
//! the chaos phase, each acting on a world where it can (a heal of a partition in force, a
//! restart of a crashed process, a clog of a link between two processes), and its client
//! operations in time order inside the chaos phase.
//!
//! Drawn plans hold all of this by construction ([`super::faults`], [`super::workload`]);
//! a plan written by hand, or edited, is checked here before it runs, so that a mistake is
//! an error at the value's place in the file, never an overflow, a run that simulates until
//! the events limit, or an operation silently dropped.

use super::{FaultAction, Head, TimedAction};

/// What is wrong, and where in the plan (`faults[3].at_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The value's path in `plan.json`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// What the schedule has done so far to each process and link.
#[derive(Default)]
struct World {
    crashed: Vec<bool>,
    paused: Vec<bool>,
    partitions: Vec<u32>,
    clogs: Vec<(usize, usize)>,
}

/// Check the fault schedule against the phases and the processes.
pub fn check_faults(head: &Head) -> Result<(), Problem> {
    let n = head.nodes.len();
    let chaos_ms = head.params.phases.chaos_ms;
    let name = |i: usize| {
        head.nodes
            .get(i)
            .map_or(format!("process {i}"), |p| format!("`{}`", p.name))
    };
    let mut world = World {
        crashed: vec![false; n],
        paused: vec![false; n],
        ..World::default()
    };
    let mut last_ms = 0;
    for (i, t) in head.faults.iter().enumerate() {
        let at = |field: &str, message: String| Problem {
            path: format!("faults[{i}]{field}"),
            message,
        };
        if t.at_ms > chaos_ms {
            return Err(at(
                ".at_ms",
                format!(
                    "a fault at {} ms, after the chaos phase ends ({chaos_ms} ms): faults happen during chaos",
                    t.at_ms
                ),
            ));
        }
        if t.at_ms < last_ms {
            return Err(at(
                ".at_ms",
                format!(
                    "a fault at {} ms after one at {last_ms} ms: faults are listed in time order",
                    t.at_ms
                ),
            ));
        }
        last_ms = t.at_ms;
        world
            .apply(t, chaos_ms, &name)
            .map_err(|(field, message)| at(&format!(".action{field}"), message))?;
    }
    Ok(())
}

/// Why an action cannot happen now: the field at fault, the reason.
type Refusal = (String, String);

fn refuse(field: &str, message: String) -> Result<(), Refusal> {
    Err((field.to_string(), message))
}

/// A clog from `at_ms` ends after it starts and by the end of chaos.
fn clog_ends_in_chaos(at_ms: u64, until_ms: u64, chaos_ms: u64) -> Result<(), Refusal> {
    if until_ms < at_ms || until_ms > chaos_ms {
        return refuse(
            ".until_ms",
            format!(
                "a clog until {until_ms} ms: it ends after it starts ({at_ms} ms) and by the end of chaos ({chaos_ms} ms)"
            ),
        );
    }
    Ok(())
}

impl World {
    /// Apply one action, or say why it cannot happen now (the field at fault, the reason).
    fn apply(
        &mut self,
        t: &TimedAction,
        chaos_ms: u64,
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), Refusal> {
        use FaultAction::*;
        match t.action {
            Partition {
                id, ref blocked, ..
            } => self.partition(id, blocked, name),
            Heal { id } => self.heal(id),
            Crash { node } | Pause { node } | Restart { node } | Resume { node } => {
                self.process(&t.action, node, name)
            }
            Clog { from, to, until_ms } => {
                self.clog(from, to, name)?;
                clog_ends_in_chaos(t.at_ms, until_ms, chaos_ms)
            }
            Unclog { from, to } => self.unclog(from, to, name),
        }
    }

    fn partition(
        &mut self,
        id: u32,
        blocked: &[(usize, usize)],
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), Refusal> {
        if self.partitions.contains(&id) {
            return refuse(".id", format!("partition #{id} is already in force"));
        }
        if blocked.is_empty() {
            return refuse(".blocked", format!("partition #{id} cuts no link"));
        }
        if let Some(k) = blocked.iter().position(|&(a, b)| a == b) {
            let (a, _) = blocked[k];
            let message = format!("a link from {} to itself cannot be cut", name(a));
            return refuse(&format!(".blocked[{k}]"), message);
        }
        self.partitions.push(id);
        Ok(())
    }

    fn heal(&mut self, id: u32) -> Result<(), Refusal> {
        let Some(k) = self.partitions.iter().position(|&p| p == id) else {
            return refuse(
                ".id",
                format!("heal of partition #{id}, which is not in force"),
            );
        };
        self.partitions.swap_remove(k);
        Ok(())
    }

    /// A crash, pause, restart or resume of `node`.
    fn process(
        &mut self,
        action: &FaultAction,
        node: usize,
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), Refusal> {
        use FaultAction::*;
        let (crashed, paused) = (self.crashed[node], self.paused[node]);
        match action {
            Crash { .. } | Pause { .. } if crashed || paused => {
                let state = if crashed { "crashed" } else { "paused" };
                return refuse(".node", format!("{} is already {state}", name(node)));
            }
            Restart { .. } if !crashed => {
                let message = format!(
                    "restart of {}, which is running (crash it first)",
                    name(node)
                );
                return refuse(".node", message);
            }
            Resume { .. } if !paused => {
                let message = format!("resume of {}, which is not paused", name(node));
                return refuse(".node", message);
            }
            Crash { .. } => self.crashed[node] = true,
            Pause { .. } => self.paused[node] = true,
            Restart { .. } => self.crashed[node] = false,
            Resume { .. } => self.paused[node] = false,
            _ => unreachable!("only process actions come here"),
        }
        Ok(())
    }

    fn clog(
        &mut self,
        from: usize,
        to: usize,
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), Refusal> {
        if from == to {
            return refuse(
                ".to",
                format!("a clog of the link from {} to itself", name(from)),
            );
        }
        if self.clogs.contains(&(from, to)) {
            return refuse(
                ".from",
                format!("the link {} → {} is already clogged", name(from), name(to)),
            );
        }
        self.clogs.push((from, to));
        Ok(())
    }

    fn unclog(
        &mut self,
        from: usize,
        to: usize,
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), Refusal> {
        let Some(k) = self.clogs.iter().position(|&l| l == (from, to)) else {
            let message = format!(
                "unclog of the link {} → {}, which is not clogged",
                name(from),
                name(to)
            );
            return refuse(".from", message);
        };
        self.clogs.swap_remove(k);
        Ok(())
    }
}

/// Check the client operations: each inside the chaos phase (a client starts operations
/// only then), each client's in time order. `ops` gives each operation's client and time.
pub fn check_workload(head: &Head, ops: &[(usize, u64)]) -> Result<(), Problem> {
    let chaos_ms = head.params.phases.chaos_ms;
    let mut last: Vec<(usize, u64)> = Vec::new(); // (client, latest time so far)
    for (i, &(client, at_ms)) in ops.iter().enumerate() {
        let at = |message: String| Problem {
            path: format!("workload[{i}].at_ms"),
            message,
        };
        if at_ms >= chaos_ms {
            return Err(at(format!(
                "an operation at {at_ms} ms, at or after the end of the chaos phase ({chaos_ms} ms): clients start operations only during chaos"
            )));
        }
        match last.iter_mut().find(|(c, _)| *c == client) {
            Some((_, prev)) if at_ms < *prev => {
                return Err(at(format!(
                    "an operation of client {client} at {at_ms} ms after one at {prev} ms: a client's operations are listed in time order"
                )))
            }
            Some((_, prev)) => *prev = at_ms,
            None => last.push((client, at_ms)),
        }
    }
    Ok(())
}

/// Check the fault points' windows: each inside the chaos phase, ending after it starts.
pub fn check_points(head: &Head) -> Result<(), Problem> {
    let chaos_ms = head.params.phases.chaos_ms;
    for (i, p) in head.fault_points.iter().enumerate() {
        if p.from_ms >= p.until_ms || p.until_ms > chaos_ms {
            return Err(Problem {
                path: format!("fault_points[{i}].until_ms"),
                message: format!(
                    "a window {}..{} ms: it must end after it starts and by the end of chaos ({chaos_ms} ms)",
                    p.from_ms, p.until_ms
                ),
            });
        }
    }
    Ok(())
}

/// Check each process's clock offset against `faults.clock.skew_ms_max`.
pub fn check_clocks(head: &Head) -> Result<(), Problem> {
    let max = head.params.faults.clock.skew_ms_max;
    for (i, &skew) in head.clock_skew_ms.iter().enumerate() {
        if skew.unsigned_abs() > max {
            return Err(Problem {
                path: format!("clock_skew_ms[{i}]"),
                message: format!(
                    "a clock offset of {skew} ms, beyond `faults.clock.skew_ms_max` ({max} ms)"
                ),
            });
        }
    }
    Ok(())
}
