//! Process-wide guards around seeds: the allocation meter and the stop flag.
//!
//! **The allocation meter.** faultline's global allocator ([`Metered`], wrapping mimalloc
//! in `lib.rs`; the default `allocator` feature installs it) counts, per thread, the bytes currently allocated and the most ever
//! allocated at once. Every seed runs on a thread of its own and its simulation is
//! single-threaded, so a seed's memory is its thread's count: the simulator reads it after
//! every handler and stops a seed that outgrows its envelope (`[limits] memory_mb_max`)
//! as a `limit` finding, instead of letting one seed take the machine. The count is of
//! requested bytes, so it is the same in every process for the same seed.
//!
//! **The stop flag.** Ctrl-C and SIGTERM set [`request_stop`]; the pool stops starting
//! seeds, a running simulation halts within a few thousand handler calls, and the
//! linearizability search gives up at its next clock check — so a signal is honoured
//! within well under a second, and seeds cut short are not counted.
//!
//! **The allocator's settings** ([`tune_allocator`]). mimalloc returns freed memory to
//! the OS after a delay, and a sweep frees a seed's whole heap when its thread ends, every
//! few milliseconds: the next seed then faults fresh pages in and the kernel zeroes them
//! (2 MiB at a time with transparent huge pages). Profiled on `kv_register-all-faults`
//! with a 64× longer chaos phase, 62% of the run went to zeroing pages, and the share grew
//! with the run's length. faultline keeps freed memory for reuse instead: a process holds
//! at most what its concurrent seeds needed at their peak (each bounded by `[limits]`).
//!
//! A crate that embeds faultline and has a global allocator of its own turns the
//! `allocator` feature off and wraps its allocator in the meter, so that the memory limits
//! still hold (docs/scale.md, "Limits").
//!
//! This module is a leaf: it imports nothing from faultline.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same index in v2 and v3).
#[cfg(feature = "allocator")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Set the allocator up for sweeps (see the module docs): freed memory is kept for reuse,
/// never purged. Idempotent; called before the first seed thread starts. Without the
/// `allocator` feature the allocator is the embedding crate's, and left as it is.
pub fn tune_allocator() {
    #[cfg(feature = "allocator")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mi_option_set only stores an option value; any thread may call it.
        ONCE.call_once(|| unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) });
    }
}

/// Set the allocator up for one long search (`faultline check`): freed memory goes back
/// to the system at once, so the process's resident memory follows what the search holds
/// and a memory budget bounds the resident peak. Without the `allocator` feature, nothing.
pub fn release_freed_memory() {
    // SAFETY: mi_option_set only stores an option value; any thread may call it.
    #[cfg(feature = "allocator")]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0)
    }
}

thread_local! {
    /// Bytes allocated by this thread and not yet freed (frees of another thread's
    /// memory count here too, so it can dip below zero).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The highest `LIVE` since the last [`MemoryWindow::open`].
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// A global allocator that meters every allocation of the calling thread.
pub struct Metered<A>(pub A);

#[inline]
fn add(bytes: i64) {
    // `try_with`: during thread teardown the slots may be gone; the count then no longer
    // matters. The cells need no destructor, so in practice they are always there.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        if bytes > 0 {
            let _ = PEAK.try_with(|peak| {
                if now > peak.get() {
                    peak.set(now);
                }
            });
        }
    });
}

// SAFETY: every method forwards to the inner allocator with the caller's arguments
// unchanged and only adds bookkeeping in thread-local cells (which never allocate).
unsafe impl<A: GlobalAlloc> GlobalAlloc for Metered<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        add(-(layout.size() as i64));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Count the new block before the old one goes: a growing buffer that moves holds
        // both for a moment, and the peak must see it (it is what the process's memory
        // sees).
        add(new_size as i64);
        let p = self.0.realloc(ptr, layout, new_size);
        if p.is_null() {
            add(-(new_size as i64));
        } else {
            add(-(layout.size() as i64));
        }
        p
    }
}

/// The memory a piece of work on this thread uses, measured from when it began.
#[derive(Debug, Clone, Copy)]
pub struct MemoryWindow {
    base: i64,
}

impl MemoryWindow {
    /// Start measuring: the current live bytes are the zero, and the peak restarts.
    pub fn open() -> MemoryWindow {
        let base = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(base));
        MemoryWindow { base }
    }

    /// Bytes allocated since [`MemoryWindow::open`] and still live.
    pub fn used_bytes(&self) -> u64 {
        (LIVE.with(Cell::get) - self.base).max(0) as u64
    }

    /// The most bytes live at once since [`MemoryWindow::open`].
    pub fn peak_bytes(&self) -> u64 {
        (PEAK.with(Cell::get) - self.base).max(0) as u64
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Ask every running seed to stop (Ctrl-C, SIGTERM).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Withdraw a stop request: the interrupted work is over and what follows (writing up
/// what finished) must run whole.
pub fn clear_stop() {
    STOP.store(false, Ordering::SeqCst);
}

/// Whether a stop was asked for.
#[inline]
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The flag itself, for code that takes one (`runner::run_pool`).
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_this_thread_only() {
        std::thread::spawn(|| {
            let window = MemoryWindow::open();
            let block = vec![7u8; 1 << 20];
            assert!(window.used_bytes() >= 1 << 20);
            let other = std::thread::spawn(|| vec![1u8; 8 << 20].len())
                .join()
                .unwrap();
            assert_eq!(other, 8 << 20);
            assert!(
                window.used_bytes() < 2 << 20,
                "another thread's memory counted"
            );
            drop(block);
            assert!(window.used_bytes() < 1 << 16);
            assert!(window.peak_bytes() >= 1 << 20);
        })
        .join()
        .unwrap();
    }
}
