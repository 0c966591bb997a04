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

impl World {
    /// Apply one action, or say why it cannot happen now (the field at fault, the reason).
    fn apply(
        &mut self,
        t: &TimedAction,
        chaos_ms: u64,
        name: &dyn Fn(usize) -> String,
    ) -> Result<(), (String, String)> {
        use FaultAction::*;
        let bad = |field: &str, message: String| Err((field.to_string(), message));
        match t.action {
            Partition {
                id, ref blocked, ..
            } => {
                if self.partitions.contains(&id) {
                    return bad(".id", format!("partition #{id} is already in force"));
                }
                if blocked.is_empty() {
                    return bad(".blocked", format!("partition #{id} cuts no link"));
                }
                if let Some(k) = blocked.iter().position(|&(a, b)| a == b) {
                    let (a, _) = blocked[k];
                    let message = format!("a link from {} to itself cannot be cut", name(a));
                    return bad(&format!(".blocked[{k}]"), message);
                }
                self.partitions.push(id);
            }
            Heal { id } => {
                let Some(k) = self.partitions.iter().position(|&p| p == id) else {
                    return bad(
                        ".id",
                        format!("heal of partition #{id}, which is not in force"),
                    );
                };
                self.partitions.swap_remove(k);
            }
            Crash { node } | Pause { node } if self.crashed[node] || self.paused[node] => {
                let state = if self.crashed[node] {
                    "crashed"
                } else {
                    "paused"
                };
                return bad(".node", format!("{} is already {state}", name(node)));
            }
            Crash { node } => self.crashed[node] = true,
            Pause { node } => self.paused[node] = true,
            Restart { node } if !self.crashed[node] => {
                return bad(
                    ".node",
                    format!(
                        "restart of {}, which is running (crash it first)",
                        name(node)
                    ),
                );
            }
            Restart { node } => self.crashed[node] = false,
            Resume { node } if !self.paused[node] => {
                return bad(
                    ".node",
                    format!("resume of {}, which is not paused", name(node)),
                );
            }
            Resume { node } => self.paused[node] = false,
            Clog { from, to, until_ms } => {
                if from == to {
                    return bad(
                        ".to",
                        format!("a clog of the link from {} to itself", name(from)),
                    );
                }
                if self.clogs.contains(&(from, to)) {
                    return bad(
                        ".from",
                        format!("the link {} → {} is already clogged", name(from), name(to)),
                    );
                }
                if until_ms < t.at_ms || until_ms > chaos_ms {
                    return bad(
                        ".until_ms",
                        format!(
                            "a clog until {until_ms} ms: it ends after it starts ({} ms) and by the end of chaos ({chaos_ms} ms)",
                            t.at_ms
                        ),
                    );
                }
                self.clogs.push((from, to));
            }
            Unclog { from, to } => {
                let Some(k) = self.clogs.iter().position(|&l| l == (from, to)) else {
                    return bad(
                        ".from",
                        format!(
                            "unclog of the link {} → {}, which is not clogged",
                            name(from),
                            name(to)
                        ),
                    );
                };
                self.clogs.swap_remove(k);
            }
        }
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
