//! Planted bugs a sweep's search finds — guided and branched runs — while no plain seed
//! among the first hundreds catches them. Tests that try plain seeds from 0 skip them;
//! `tests/hard_bugs.rs` runs each at the id a default sweep first caught it, and CI's smoke
//! sweep (300 seeds with the default search) must catch each.

/// Scenario names.
pub const FOUND_BY_SEARCH: &[&str] = &["es_cluster-bug-commit-old-term"];
