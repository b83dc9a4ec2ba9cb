//! A report to render in unit tests: a failing series whose culprit subject is hostile markdown.
//! Read from JSON (the `--json` contract), so fields added to the report later do not break it.

use harness_core::report::{Report, Verdict};

pub(crate) const HOSTILE_SUBJECT: &str = "fs/ceph: <script>alert(1)</script> for @someone";

pub(crate) fn report(verdict: Verdict) -> Report {
    let mut r: Report =
        serde_json::from_str(include_str!("../tests/fixtures/report-fail.json")).unwrap();
    r.verdict = verdict;
    r
}
