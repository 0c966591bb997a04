//! What systems compose: pieces shared by several systems, never copied between them.
//!
//! * [`broker`] — a Kafka-like broker: partitions replicated with Raft, consumer groups,
//!   committed offsets; producer and consumer clients;
//! * [`clients`] — the client process core: schedule, retries, give-ups, history;
//! * [`db`] — a service's own database: tables, local transactions, a write-ahead log;
//! * [`workload`] — shared workloads (key-value, bank): operations, how they are drawn,
//!   how they are recorded;
//! * [`raft`] — a replicated log (Raft), generic over the state machine it replicates;
//! * [`router`] — the clients' connection to a replicated service: finds leaders,
//!   forwards, follows redirects, retries.

pub mod broker;
pub mod clients;
pub mod db;
pub mod raft;
pub mod router;
pub mod workload;
