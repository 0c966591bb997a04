//! Anomalies and the consistency models that forbid them.
//!
//! An anomaly found in a history rules out every model that forbids it *or anything it
//! implies*: a G0 cycle (write cycle) is also a G1c cycle, a G-single cycle (one
//! anti-dependency) is also G-nonadjacent, G2-item and G2, and any cycle without process
//! or real-time edges is trivially one of its `-process` and `-realtime` variants. The
//! tables here follow Adya's definitions and Elle's reading of them (Kingsbury & Alvaro,
//! VLDB 2020): each model lists what it forbids, its weaker models' prohibitions
//! included, and [`Model::forbids`] closes a found anomaly over [`Anomaly::implies`].

use serde::Serialize;

/// A kind of anomaly the isolation checker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    /// A cycle of write-write edges.
    G0,
    /// A read of a value written by a transaction that aborted.
    G1a,
    /// A read of a transaction's intermediate state: a value it later overwrote.
    G1b,
    /// A cycle of write-write and write-read edges (circular information flow).
    G1c,
    /// A cycle with exactly one read-write (anti-dependency) edge (read skew).
    GSingle,
    /// A cycle with read-write edges, no two of them adjacent.
    GNonadjacent,
    /// A cycle with at least one read-write edge on items (write skew and worse).
    G2Item,
    /// [`Anomaly::G0`] with the edges of one process's order.
    G0Process,
    /// [`Anomaly::G1c`] with process edges.
    G1cProcess,
    /// [`Anomaly::GSingle`] with process edges.
    GSingleProcess,
    /// [`Anomaly::GNonadjacent`] with process edges.
    GNonadjacentProcess,
    /// [`Anomaly::G2Item`] with process edges.
    G2ItemProcess,
    /// [`Anomaly::G0`] with real-time edges.
    G0Realtime,
    /// [`Anomaly::G1c`] with real-time edges.
    G1cRealtime,
    /// [`Anomaly::GSingle`] with real-time edges (a stale read, transactionally).
    GSingleRealtime,
    /// [`Anomaly::GNonadjacent`] with real-time edges.
    GNonadjacentRealtime,
    /// [`Anomaly::G2Item`] with real-time edges.
    G2ItemRealtime,
    /// A transaction's read disagrees with its own earlier reads and appends.
    Internal,
    /// A read holds the same element twice.
    DuplicateElements,
    /// Two reads of a key are not prefixes of one another: no single order of appends.
    IncompatibleOrder,
    /// A read holds an element no transaction appended.
    GarbageRead,
}

use Anomaly::*;

impl Serialize for Anomaly {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The models `--consistency-model` accepts, weakest first.
pub const MODELS: [Model; 9] = [
    Model::ReadUncommitted,
    Model::ReadCommitted,
    Model::RepeatableRead,
    Model::SnapshotIsolation,
    Model::Serializable,
    Model::StrongSessionSnapshotIsolation,
    Model::StrongSessionSerializable,
    Model::StrongSnapshotIsolation,
    Model::StrictSerializable,
];

impl Anomaly {
    /// Every anomaly, in report order (the worst kinds of each family first).
    pub const ALL: [Anomaly; 21] = [
        G0,
        G1a,
        G1b,
        G1c,
        GSingle,
        GNonadjacent,
        G2Item,
        G0Process,
        G1cProcess,
        GSingleProcess,
        GNonadjacentProcess,
        G2ItemProcess,
        G0Realtime,
        G1cRealtime,
        GSingleRealtime,
        GNonadjacentRealtime,
        G2ItemRealtime,
        Internal,
        DuplicateElements,
        IncompatibleOrder,
        GarbageRead,
    ];

    /// Its name, as Elle writes it (`G-single-realtime`).
    pub fn name(self) -> &'static str {
        match self {
            G0 => "G0",
            G1a => "G1a",
            G1b => "G1b",
            G1c => "G1c",
            GSingle => "G-single",
            GNonadjacent => "G-nonadjacent",
            G2Item => "G2-item",
            G0Process => "G0-process",
            G1cProcess => "G1c-process",
            GSingleProcess => "G-single-process",
            GNonadjacentProcess => "G-nonadjacent-process",
            G2ItemProcess => "G2-item-process",
            G0Realtime => "G0-realtime",
            G1cRealtime => "G1c-realtime",
            GSingleRealtime => "G-single-realtime",
            GNonadjacentRealtime => "G-nonadjacent-realtime",
            G2ItemRealtime => "G2-item-realtime",
            Internal => "internal",
            DuplicateElements => "duplicate-elements",
            IncompatibleOrder => "incompatible-order",
            GarbageRead => "garbage-read",
        }
    }

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

/// A consistency model a history can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    /// Adya's PL-1: no write cycles.
    ReadUncommitted,
    /// PL-2: no G1 (aborted, intermediate or circular reads).
    ReadCommitted,
    /// PL-2.99: no G1, no G2-item.
    RepeatableRead,
    /// Adya's PL-SI: no G1, no G-single or G-nonadjacent, transactions internally consistent.
    SnapshotIsolation,
    /// PL-3 (conflict serializable): no G1, no G2.
    Serializable,
    /// Snapshot isolation that also respects each process's order.
    StrongSessionSnapshotIsolation,
    /// Serializable, respecting each process's order.
    StrongSessionSerializable,
    /// Snapshot isolation respecting real time.
    StrongSnapshotIsolation,
    /// PL-SS: serializable in an order that respects real time.
    StrictSerializable,
}

impl Model {
    /// Its name on the command line (`snapshot-isolation`).
    pub fn name(self) -> &'static str {
        match self {
            Model::ReadUncommitted => "read-uncommitted",
            Model::ReadCommitted => "read-committed",
            Model::RepeatableRead => "repeatable-read",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::Serializable => "serializable",
            Model::StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            Model::StrongSessionSerializable => "strong-session-serializable",
            Model::StrongSnapshotIsolation => "strong-snapshot-isolation",
            Model::StrictSerializable => "strict-serializable",
        }
    }

    /// The model named `name`; `strong-serializable` is `strict-serializable`, as in Elle.
    pub fn parse(name: &str) -> Option<Model> {
        if name == "strong-serializable" {
            return Some(Model::StrictSerializable);
        }
        MODELS.into_iter().find(|m| m.name() == name)
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
                for a in Anomaly::ALL {
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
        for m in MODELS {
            assert_eq!(Model::parse(m.name()), Some(m));
        }
        assert_eq!(
            Model::parse("strong-serializable"),
            Some(Model::StrictSerializable)
        );
        assert_eq!(Model::parse("linearizable"), None);
    }
}
