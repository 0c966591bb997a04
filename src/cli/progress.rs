//! Progress of a sweep: a bar on a terminal, a plain line every few seconds otherwise
//! (CI logs), nothing with `--quiet`.

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between plain progress lines.
const PLAIN_EVERY_S: f64 = 5.0;

pub use crate::runner::sweep::Counts;

/// Sweep progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: u64,
    // Progress is about the user's wall time, outside any simulation.
    #[allow(clippy::disallowed_types)]
    started: std::time::Instant,
    last_line_s: f64,
}

impl Progress {
    /// Progress over `total` seeds.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    pub fn new(total: u64, quiet: bool, terminal: bool) -> Self {
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} seeds  {per_sec}  eta {eta}  {msg}",
                )
                .expect("valid progress template"),
            );
            bar
        });
        Progress {
            bar,
            plain: !quiet && !terminal,
            total,
            done: 0,
            started: std::time::Instant::now(),
            last_line_s: 0.0,
        }
    }

    /// One more seed finished; `counts` so far.
    pub fn tick(&mut self, counts: &Counts) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(counts.to_string());
        } else if self.plain {
            let elapsed = self.started.elapsed().as_secs_f64();
            if elapsed - self.last_line_s >= PLAIN_EVERY_S {
                self.last_line_s = elapsed;
                eprintln!(
                    "[{elapsed:6.1}s] {}/{} seeds, {:.0} seeds/s, {counts}",
                    self.done,
                    self.total,
                    self.done as f64 / elapsed.max(1e-9)
                );
            }
        }
    }

    /// Clear the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
