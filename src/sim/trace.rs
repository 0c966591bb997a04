//! The trace: everything that happened in one run, in order.
//!
//! Every message fate (sent, held, duplicated, dropped, delivered), every fault, every
//! disk sync and crash loss, every process boot and panic, and every client operation is
//! one [`TraceEvent`] stamped with simulated time. The trace is what makes a run
//! explainable (the timeline is drawn from it) and what proves determinism: two runs of
//! one seed must produce the same events, compared by [`Trace::hash`] and, on a mismatch,
//! event by event ([`first_divergence`]).
//!
//! At [`TraceLevel::Full`] (replays, artifacts) each send also keeps the message's
//! `Debug` text; sweeps use [`TraceLevel::Fates`] and skip that formatting, the costliest
//! part of tracing. The payload text is kept beside the events and left out of the hash,
//! so both levels hash alike.

use std::hash::{Hash, Hasher};
use std::io::Write;

use serde::Serialize;

use crate::history::{Func, Status, Value};
use crate::net::{DropReason, HoldReason};
use crate::plan::FaultAction;

/// How much a trace keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceLevel {
    /// Fates only: for sweeps.
    Fates,
    /// Fates plus each message's content: for replays and artifacts.
    Full,
}

/// The phases of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Workload and faults.
    Chaos,
    /// Faults healed, workload stopped; the world must settle.
    Heal,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A phase began.
    Phase {
        /// Which.
        phase: Phase,
    },
    /// The fault injector acted.
    Fault {
        /// What it did.
        fault: FaultAction,
    },
    /// A message was handed to the network.
    Send {
        /// Message id.
        id: u64,
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// Message kind.
        label: &'static str,
        /// When it will arrive (ns), unless dropped.
        arrive_ns: u64,
        /// Why it arrives late, if it does.
        #[serde(skip_serializing_if = "Option::is_none")]
        held: Option<HoldReason>,
    },
    /// The network made a second copy of message `id`.
    Duplicate {
        /// Original message id.
        id: u64,
        /// Id of the copy.
        copy: u64,
        /// When the copy arrives (ns).
        arrive_ns: u64,
    },
    /// A message (or copy) was dropped.
    Drop {
        /// Message id.
        id: u64,
        /// Why.
        reason: DropReason,
    },
    /// A message (or copy) reached its receiver's handler.
    Deliver {
        /// Message id.
        id: u64,
        /// Receiver.
        to: usize,
    },
    /// A process started (fresh or recovering from its disk).
    Boot {
        /// Process.
        node: usize,
        /// 1 for the first start, +1 per restart.
        incarnation: u32,
    },
    /// fsync of one file.
    DiskSync {
        /// Process.
        node: usize,
        /// File.
        file: &'static str,
        /// Writes made durable.
        writes: u64,
    },
    /// What a crash did to a file's unsynced writes.
    DiskLoss {
        /// Process.
        node: usize,
        /// File.
        file: &'static str,
        /// Unsynced writes lost.
        lost: u64,
        /// Unsynced writes that survived anyway.
        kept: u64,
        /// Whether the last survivor is torn.
        torn: bool,
    },
    /// A client invoked an operation.
    Invoke {
        /// Operation index in the history.
        op: usize,
        /// Client process.
        node: usize,
        /// Function.
        f: Func,
        /// Key.
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Argument.
        input: Value,
    },
    /// A client operation completed (ok or fail; unknown outcomes never complete).
    Return {
        /// Operation index in the history.
        op: usize,
        /// Outcome.
        status: Status,
        /// Result.
        output: Value,
    },
    /// A system-specific fact worth seeing on the timeline ("leader", term 3).
    Note {
        /// Process.
        node: usize,
        /// What.
        label: &'static str,
        /// Its value.
        value: i64,
    },
    /// A process panicked: an invariant of the system under test failed.
    Panic {
        /// Process.
        node: usize,
        /// The panic message and location.
        message: String,
    },
    /// The run ended.
    End {
        /// Whether the system reported itself settled before the heal bound.
        settled: bool,
    },
    // New variants go last: a variant's position is part of every trace hash.
    /// The run reached a limit of its resource envelope and was stopped.
    Limit {
        /// The process whose handler had just run.
        node: usize,
        /// Which limit.
        limit: super::envelope::Limit,
    },
}

/// What a handler was doing when it sent a message or wrote to disk: handling a delivered
/// message, or a client invoking an operation. Following messages back to an operation
/// gives the causality the timeline draws (the messages that serve an operation); a timer
/// or a boot starts no chain, so batched work (a leader's flush) is nobody's in particular.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Handling message `id`.
    Msg(u64),
    /// A client invoked history operation `op`.
    Op(usize),
}

/// One disk write (append, truncate or replace), at full level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskWrite {
    /// How many trace events came before it (orders it against syncs and crashes).
    pub at_event: usize,
    /// When (ns).
    pub t_ns: u64,
    /// Process.
    pub node: usize,
    /// File.
    pub file: &'static str,
    /// What the process was handling.
    pub cause: Option<Cause>,
}

/// One event with its simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TraceEvent {
    /// Simulated time (ns since the start of the run).
    pub t_ns: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Events per chunk of a trace's storage.
const CHUNK_EVENTS: usize = 4096;

/// Events in fixed-size chunks. Growing never copies or doubles what is stored (a
/// `Vec` of millions of events would double to gigabytes inside one handler), so the
/// memory a trace holds grows in small steps the envelope sees as they happen.
#[derive(Debug, Clone, Default)]
struct Chunked {
    chunks: Vec<Vec<TraceEvent>>,
    len: usize,
}

impl Chunked {
    fn push(&mut self, event: TraceEvent) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_EVENTS => chunk.push(event),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
                chunk.push(event);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn get(&self, i: usize) -> Option<&TraceEvent> {
        self.chunks.get(i / CHUNK_EVENTS)?.get(i % CHUNK_EVENTS)
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &TraceEvent> + '_ {
        self.chunks.iter().flatten()
    }
}

/// The trace of one run.
#[derive(Debug, Clone)]
pub struct Trace {
    level: TraceLevel,
    events: Chunked,
    /// Message content by event index (only at [`TraceLevel::Full`]).
    payloads: Vec<(usize, String)>,
    /// What each message was sent in response to (only at full level; not hashed).
    causes: Vec<(u64, Cause)>,
    /// Every disk write, for the timeline to mark the unsynced ones a crash lost (only at
    /// full level; not hashed).
    writes: Vec<DiskWrite>,
    /// Heap bytes of the payload text (capacities), for the memory limit to leave out.
    payload_text_bytes: u64,
}

impl Trace {
    /// An empty trace.
    pub fn new(level: TraceLevel) -> Self {
        Trace {
            level,
            events: Chunked::default(),
            payloads: Vec::new(),
            causes: Vec::new(),
            writes: Vec::new(),
            payload_text_bytes: 0,
        }
    }

    /// The level.
    pub fn level(&self) -> TraceLevel {
        self.level
    }

    /// Record an event.
    pub fn push(&mut self, t_ns: u64, event: Event) {
        self.events.push(TraceEvent { t_ns, event });
    }

    /// Record a send, with its content at full level.
    pub fn push_send(&mut self, t_ns: u64, event: Event, payload: impl FnOnce() -> String) {
        if self.level == TraceLevel::Full {
            let text = payload();
            self.payload_text_bytes += text.capacity() as u64;
            self.payloads.push((self.events.len, text));
        }
        self.push(t_ns, event);
    }

    /// At full level, note that message `id` was sent while handling `cause`.
    pub fn note_cause(&mut self, id: u64, cause: Cause) {
        if self.level == TraceLevel::Full {
            self.causes.push((id, cause));
        }
    }

    /// At full level, note a write to `file` of `node`'s disk, made now.
    pub fn note_write(&mut self, t_ns: u64, node: usize, file: &'static str, cause: Option<Cause>) {
        if self.level == TraceLevel::Full {
            let at_event = self.events.len;
            self.writes.push(DiskWrite {
                at_event,
                t_ns,
                node,
                file,
                cause,
            });
        }
    }

    /// Messages sent in response to something (full level), by message id.
    pub fn causes(&self) -> &[(u64, Cause)] {
        &self.causes
    }

    /// Disk writes (full level), in the order they were made.
    pub fn writes(&self) -> &[DiskWrite] {
        &self.writes
    }

    /// Heap bytes held only at full level (payload text and its index): what a sweep's
    /// trace does not hold.
    pub fn payload_bytes(&self) -> u64 {
        let index = self.payloads.capacity() * std::mem::size_of::<(usize, String)>()
            + self.causes.capacity() * std::mem::size_of::<(u64, Cause)>()
            + self.writes.capacity() * std::mem::size_of::<DiskWrite>();
        self.payload_text_bytes + index as u64
    }

    /// The events, in order.
    pub fn events(&self) -> impl DoubleEndedIterator<Item = &TraceEvent> + '_ {
        self.events.iter()
    }

    /// Event `i`.
    pub fn get(&self, i: usize) -> Option<&TraceEvent> {
        self.events.get(i)
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.len == 0
    }

    /// A hash of every event (payload text excluded), stable across processes. The same
    /// as hashing the events as one slice (its length, then each event).
    pub fn hash(&self) -> u64 {
        let mut hasher = StableHasher::default();
        hasher.write_usize(self.events.len);
        for event in self.events.iter() {
            event.hash(&mut hasher);
        }
        hasher.finish()
    }

    /// One event as a JSON object (with its payload at full level).
    ///
    /// # Panics
    /// If there is no event `index`.
    pub fn event_json(&self, index: usize) -> serde_json::Value {
        let event = self.events.get(index).expect("an event of the trace");
        let mut value = serde_json::to_value(event).expect("trace events serialize");
        if let Ok(at) = self.payloads.binary_search_by_key(&index, |(i, _)| *i) {
            if let Some(object) = value.as_object_mut() {
                object.insert("msg".into(), self.payloads[at].1.clone().into());
            }
        }
        value
    }

    /// Write the trace as JSON lines.
    pub fn write_jsonl(&self, out: &mut impl Write) -> std::io::Result<()> {
        for i in 0..self.events.len {
            serde_json::to_writer(&mut *out, &self.event_json(i))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// A fast hasher with fixed constants: equal input, equal hash, in every process.
///
/// For comparing runs (trace hashes, state digests), not for hash tables facing untrusted
/// keys. Multiply–rotate over 8-byte words, as in rustc's FxHasher.
#[derive(Debug, Clone, Copy, Default)]
pub struct StableHasher {
    hash: u64,
}

impl StableHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        // A final avalanche so nearby inputs spread over all bits.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// Where two traces first differ: the index and each side's event (None past its end).
pub fn first_divergence(
    a: &Trace,
    b: &Trace,
) -> Option<(usize, Option<serde_json::Value>, Option<serde_json::Value>)> {
    let n = a.events.len.max(b.events.len);
    (0..n).find_map(|i| {
        let (x, y) = (a.events.get(i), b.events.get(i));
        (x != y).then(|| (i, x.map(|_| a.event_json(i)), y.map(|_| b.event_json(i))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hasher_is_pinned() {
        let mut h = StableHasher::default();
        "faultline".hash(&mut h);
        42u64.hash(&mut h);
        let again = {
            let mut h = StableHasher::default();
            "faultline".hash(&mut h);
            42u64.hash(&mut h);
            h.finish()
        };
        assert_eq!(h.finish(), again);
        assert_eq!(
            again, 2525610455451372873,
            "changing the hasher changes every trace hash"
        );
        let mut other = StableHasher::default();
        "faultlinf".hash(&mut other);
        42u64.hash(&mut other);
        assert_ne!(other.finish(), again);
    }

    #[test]
    fn jsonl_is_flat_and_hash_ignores_payloads() {
        let mut full = Trace::new(TraceLevel::Full);
        let mut fates = Trace::new(TraceLevel::Fates);
        for t in [&mut full, &mut fates] {
            t.push(
                0,
                Event::Phase {
                    phase: Phase::Chaos,
                },
            );
            t.push_send(
                5,
                Event::Send {
                    id: 1,
                    from: 0,
                    to: 1,
                    label: "ping",
                    arrive_ns: 9,
                    held: None,
                },
                || "Ping { n: 1 }".into(),
            );
        }
        assert_eq!(full.hash(), fates.hash());
        let mut out = Vec::new();
        full.write_jsonl(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"ev":"phase","phase":"chaos","t_ns":0}"#);
        assert!(
            lines[1].contains(r#""msg":"Ping { n: 1 }""#),
            "{}",
            lines[1]
        );
        assert!(first_divergence(&full, &fates).is_none());
        fates.push(7, Event::End { settled: true });
        let (i, x, y) = first_divergence(&full, &fates).unwrap();
        assert_eq!((i, x.is_none(), y.is_some()), (2, true, true));
    }
}
