//! The timeline of one seed as a self-contained HTML page.

use crate::plan::Plan;
use crate::scenario::Scenario;
use crate::systems::Execution;

/// Render the timeline page.
pub fn render_html(scenario: &Scenario, plan: &Plan, exec: &Execution) -> String {
    format!(
        "<!doctype html><meta charset=utf-8><title>{} seed {}</title><p>{} events, verdict {:?}</p>",
        scenario.name,
        plan.seed,
        exec.trace.events().len(),
        exec.verdict
    )
}
