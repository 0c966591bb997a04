//! The kv_register system's settings and catalogues: its `[kv_register]` section, its
//! planted bugs, checks and workloads.

use crate::catalog::catalogue;
use crate::knob::knob_section;

knob_section! {
    /// `[kv_register]`: settings of the fixed-primary key-value store.
    KvRegisterSection => KvRegisterParams at "kv_register" {
        /// Group commit: how long the primary gathers writes before one fsync (ms).
        flush_interval_ms: u64 = 2, swarm [1, 10], valid [1, 10_000];
        /// How often the primary re-sends unacknowledged entries and the commit index (ms).
        replicate_interval_ms: u64 = 30, swarm [10, 100], valid [1, 60_000];
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// replicas acknowledge writes without fsync; a crash loses acknowledged writes
        NoFsync = "no-fsync",
        /// clients read from any replica; backups answer with stale values
        FollowerReads = "follower-reads",
        /// the primary appends retried or duplicated requests again; appends apply twice
        NoDedup = "no-dedup",
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the client history is linearizable (key-value model, per key)
        Linearizability = "linearizability" (Safety),
        /// every acknowledged write is in the final log, and no write is in it twice
        Durability = "durability" (Safety),
        /// after heal every replica holds the primary's log and the state it folds to
        Convergence = "convergence" (Liveness),
    }
}

catalogue! {
    /// Workloads of this system.
    pub enum Workload {
        /// get, put and append over a few keys
        Kv = "kv",
    }
}
