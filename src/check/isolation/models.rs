//! Anomalies and the consistency models that forbid them.
//!
//! An anomaly found in a history rules out every model that forbids it *or anything it
//! implies*: a G0 cycle (write cycle) is also a G1c cycle, a G-single cycle (one
//! anti-dependency) is also G-nonadjacent, G2-item and G2, and any cycle without process
//! or real-time edges is trivially one of its `-process` and `-realtime` variants. The
//! tables here follow Adya's definitions and Elle's reading of them (Kingsbury & Alvaro,
//! VLDB 2020): each model lists what it forbids, its weaker models' prohibitions
//! included, and [`Model::forbids`] closes a found anomaly over [`Anomaly::implies`].

use crate::catalog::{catalogue, Named};

catalogue! {
    /// A kind of anomaly the isolation checker reports, named as Elle names it, in report
    /// order (the worst kinds of each family first).
    pub enum Anomaly {
        /// a cycle of write-write edges
        G0 = "G0",
        /// a read of a value written by a transaction that aborted
        G1a = "G1a",
        /// a read of a transaction's intermediate state: a value it later overwrote
        G1b = "G1b",
        /// a cycle of write-write and write-read edges (circular information flow)
        G1c = "G1c",
        /// a cycle with exactly one read-write (anti-dependency) edge (read skew)
        GSingle = "G-single",
        /// a cycle with read-write edges, no two of them adjacent
        GNonadjacent = "G-nonadjacent",
        /// a cycle with at least one read-write edge on items (write skew and worse)
        G2Item = "G2-item",
        /// G0 with the edges of one process's order
        G0Process = "G0-process",
        /// G1c with process edges
        G1cProcess = "G1c-process",
        /// G-single with process edges
        GSingleProcess = "G-single-process",
        /// G-nonadjacent with process edges
        GNonadjacentProcess = "G-nonadjacent-process",
        /// G2-item with process edges
        G2ItemProcess = "G2-item-process",
        /// G0 with real-time edges
        G0Realtime = "G0-realtime",
        /// G1c with real-time edges
        G1cRealtime = "G1c-realtime",
        /// G-single with real-time edges (a stale read, transactionally)
        GSingleRealtime = "G-single-realtime",
        /// G-nonadjacent with real-time edges
        GNonadjacentRealtime = "G-nonadjacent-realtime",
        /// G2-item with real-time edges
        G2ItemRealtime = "G2-item-realtime",
        /// a transaction's read disagrees with its own earlier reads and writes
        Internal = "internal",
        /// a read holds the same element twice
        DuplicateElements = "duplicate-elements",
        /// two reads of a key are not prefixes of one another: no single order of appends
        IncompatibleOrder = "incompatible-order",
        /// a read holds a value no transaction wrote
        GarbageRead = "garbage-read",
    }
}

use Anomaly::*;

/// The models `--consistency-model` accepts, weakest first.
pub const MODELS: &[Model] = <Model as Named>::ALL;

impl Anomaly {
    /// The anomalies this one is directly also an instance of.
    pub fn implies(self) -> &'static [Anomaly] {
        match self {
            G0 => &[G1c, G0Process],
            G1c => &[G1cProcess],
            GSingle => &[GNonadjacent, G2Item, GSingleProcess],
            GNonadjacent => &[GNonadjacentProcess],
            G2Item => &[G2ItemProcess],
            G0Process => &[G1cProcess, G0Realtime],
            G1cProcess => &[G1cRealtime],
            GSingleProcess => &[GNonadjacentProcess, G2ItemProcess, GSingleRealtime],
            GNonadjacentProcess => &[GNonadjacentRealtime],
            G2ItemProcess => &[G2ItemRealtime],
            G0Realtime => &[G1cRealtime],
            GSingleRealtime => &[GNonadjacentRealtime, G2ItemRealtime],
            // Two reads that no one order of appends explains: one of them saw a state
            // that never committed (Elle counts it as a dirty read).
            IncompatibleOrder => &[G1a],
            _ => &[],
        }
    }

    /// This anomaly and everything it implies, transitively.
    pub fn closure(self) -> Vec<Anomaly> {
        let mut out = vec![self];
        let mut i = 0;
        // Each anomaly enters once; the table is finite and acyclic.
        while i < out.len() {
            for &next in out[i].implies() {
                if !out.contains(&next) {
                    out.push(next);
                }
            }
            i += 1;
        }
        out
    }
}

catalogue! {
    /// A consistency model a history can be checked against, named as on the command line.
    pub enum Model {
        /// Adya's PL-1: no write cycles
        ReadUncommitted = "read-uncommitted",
        /// PL-2: no G1 (aborted, intermediate or circular reads)
        ReadCommitted = "read-committed",
        /// PL-2.99: no G1, no G2-item
        RepeatableRead = "repeatable-read",
        /// Adya's PL-SI: no G1, no G-single or G-nonadjacent, transactions internally consistent
        SnapshotIsolation = "snapshot-isolation",
        /// PL-3 (conflict serializable): no G1, no G2
        Serializable = "serializable",
        /// snapshot isolation that also respects each process's order
        StrongSessionSnapshotIsolation = "strong-session-snapshot-isolation",
        /// serializable, respecting each process's order
        StrongSessionSerializable = "strong-session-serializable",
        /// snapshot isolation respecting real time
        StrongSnapshotIsolation = "strong-snapshot-isolation",
        /// PL-SS: serializable in an order that respects real time
        StrictSerializable = "strict-serializable",
    }
}

impl Model {
    /// The model named `name`; `strong-serializable` is `strict-serializable`, as in Elle.
    pub fn parse(name: &str) -> Option<Model> {
        if name == "strong-serializable" {
            return Some(Model::StrictSerializable);
        }
        Model::from_name(name)
    }

    /// What the model forbids, its weaker models' prohibitions included, in groups.
    pub fn prohibited(self) -> &'static [&'static [Anomaly]] {
        // Write cycles, and elements no single history of appends explains.
        const PL1: &[Anomaly] = &[G0, DuplicateElements, GarbageRead];
        const G1: &[Anomaly] = &[G1a, G1b, G1c];
        // Adya's PL-SI; Cerone's internal consistency.
        const SI: &[Anomaly] = &[Internal, GSingle, GNonadjacent];
        const G2: &[Anomaly] = &[G2Item];
        const SESSION_SI: &[Anomaly] = &[G1cProcess, GNonadjacentProcess];
        const SESSION_G2: &[Anomaly] = &[G2ItemProcess];
        const REALTIME_SI: &[Anomaly] = &[G1cRealtime, GNonadjacentRealtime];
        const REALTIME_G2: &[Anomaly] = &[G2ItemRealtime];
        match self {
            Model::ReadUncommitted => &[PL1],
            Model::ReadCommitted => &[PL1, G1],
            Model::RepeatableRead => &[PL1, G1, G2],
            Model::SnapshotIsolation => &[PL1, G1, SI],
            Model::Serializable => &[PL1, G1, SI, G2],
            Model::StrongSessionSnapshotIsolation => &[PL1, G1, SI, SESSION_SI],
            Model::StrongSessionSerializable => &[PL1, G1, SI, G2, SESSION_SI, SESSION_G2],
            Model::StrongSnapshotIsolation => &[PL1, G1, SI, SESSION_SI, REALTIME_SI],
            Model::StrictSerializable => &[
                PL1,
                G1,
                SI,
                G2,
                SESSION_SI,
                SESSION_G2,
                REALTIME_SI,
                REALTIME_G2,
            ],
        }
    }

    /// Whether a history with `anomaly` breaks this model.
    pub fn forbids(self, anomaly: Anomaly) -> bool {
        let prohibited = self.prohibited();
        (anomaly.closure().iter()).any(|a| prohibited.iter().any(|group| group.contains(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stronger_model_forbids_everything_a_weaker_one_does() {
        let chains: &[&[Model]] = &[
            &[
                Model::ReadUncommitted,
                Model::ReadCommitted,
                Model::RepeatableRead,
                Model::Serializable,
                Model::StrongSessionSerializable,
                Model::StrictSerializable,
            ],
            &[
                Model::ReadCommitted,
                Model::SnapshotIsolation,
                Model::StrongSessionSnapshotIsolation,
                Model::StrongSnapshotIsolation,
                Model::StrictSerializable,
            ],
            &[Model::SnapshotIsolation, Model::Serializable],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                for &a in Anomaly::ALL {
                    assert!(
                        !pair[0].forbids(a) || pair[1].forbids(a),
                        "{} forbids {} but the stronger {} does not",
                        pair[0].name(),
                        a.name(),
                        pair[1].name()
                    );
                }
            }
        }
    }

    #[test]
    fn write_skew_breaks_serializability_but_not_snapshot_isolation() {
        assert!(Model::Serializable.forbids(G2Item));
        assert!(Model::RepeatableRead.forbids(G2Item));
        assert!(!Model::SnapshotIsolation.forbids(G2Item));
        assert!(Model::SnapshotIsolation.forbids(GSingle));
        assert!(!Model::ReadCommitted.forbids(GSingle));
    }

    #[test]
    fn a_realtime_cycle_breaks_only_the_models_that_respect_real_time() {
        assert!(Model::StrictSerializable.forbids(GSingleRealtime));
        assert!(Model::StrongSnapshotIsolation.forbids(GSingleRealtime));
        assert!(!Model::Serializable.forbids(GSingleRealtime));
        assert!(!Model::StrongSessionSerializable.forbids(GSingleRealtime));
        // A plain cycle is a real-time one too.
        assert!(Model::StrictSerializable.forbids(G0));
        assert!(Model::ReadCommitted.forbids(IncompatibleOrder));
        assert!(!Model::ReadUncommitted.forbids(IncompatibleOrder));
    }

    #[test]
    fn names_round_trip_and_strong_serializable_is_strict() {
        for &m in MODELS {
            assert_eq!(Model::parse(m.name()), Some(m));
        }
        assert_eq!(
            Model::parse("strong-serializable"),
            Some(Model::StrictSerializable)
        );
        assert_eq!(Model::parse("linearizable"), None);
    }
}
