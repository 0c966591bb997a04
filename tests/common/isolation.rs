//! What the isolation checker's tests ask of a hand-written history in Elle's form, for
//! either kind of history: its report, its verdict under a model, the anomalies found,
//! and the models it splits.

use faultline::check::isolation::{Anomaly, InputError, Model, Report, Verdict};
use faultline::history::{edn, History};

/// A checker: `check_list_append` or `check_rw_register`.
pub type Check = fn(&History, Model, u64) -> Result<Report, InputError>;

/// The report of `text` under `model`.
pub fn report(check: Check, model: Model, text: &str) -> Report {
    let history = edn::parse(text, "h.edn").unwrap_or_else(|e| panic!("{e}"));
    check(&history, model, 1_000_000).unwrap_or_else(|e| panic!("{e}"))
}

/// The verdict of `text` under the model called `model`.
pub fn verdict(check: Check, model: &str, text: &str) -> Verdict {
    report(check, Model::parse(model).expect("a model"), text).verdict
}

/// The anomalies found in `text`, in the report's order, each once.
pub fn anomalies(check: Check, text: &str) -> Vec<Anomaly> {
    let report = report(check, Model::StrictSerializable, text);
    let mut found: Vec<Anomaly> = report.anomalies.iter().map(|f| f.anomaly).collect();
    found.dedup();
    found
}

/// Valid under `weaker`, invalid under `stronger`.
pub fn splits(check: Check, text: &str, weaker: &str, stronger: &str) {
    assert_eq!(
        verdict(check, weaker, text),
        Verdict::Valid,
        "{weaker} accepts it"
    );
    assert_eq!(
        verdict(check, stronger, text),
        Verdict::Invalid,
        "{stronger} refuses it"
    );
}
