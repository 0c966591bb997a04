//! Checkers: they judge a finished run, on plain data, after the simulation returned.

pub mod linearizability;
