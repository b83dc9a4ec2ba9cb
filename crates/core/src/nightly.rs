//! A nightly compared with the one before: which failure signatures are new, still failing or
//! fixed, per job. Pure: the nightly command runs the jobs and stores the summary this returns.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::finding::FindingKind;
use crate::report::{Report, Verdict};

/// The failure signatures of a run: its findings' titles (hazards only when they fail the run),
/// or, for a series that does not apply or build, the reason. An infra-error is no signature:
/// the kernel was not judged.
pub fn signatures(report: &Report, hazards_fail: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match report.verdict {
        Verdict::ApplyFailed | Verdict::BuildFailed => {
            out.push(format!("{}: {}", report.verdict, report.reason))
        }
        Verdict::InfraError => {}
        Verdict::Pass | Verdict::Fail => {
            for f in &report.findings {
                if (hazards_fail || f.kind != FindingKind::Hazard) && !out.contains(&f.title) {
                    out.push(f.title.clone());
                }
            }
            if out.is_empty() && report.verdict == Verdict::Fail {
                // A failure without a finding is named by its verdict's reason ("guest exit: ...").
                out.push(report.verdict_reason().to_string());
            }
        }
    }
    out
}

/// One job of a nightly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub job: String,
    /// The run (None: the job could not be started).
    pub run: Option<String>,
    pub verdict: Option<Verdict>,
    pub signatures: Vec<String>,
    #[serde(default)]
    pub new: Vec<String>,
    #[serde(default)]
    pub still: Vec<String>,
    #[serde(default)]
    pub fixed: Vec<String>,
}

/// A nightly's summary (stored as JSON with the nightly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub suite: String,
    /// The nightly compared with.
    pub previous: Option<String>,
    pub jobs: Vec<JobOutcome>,
    pub new: Vec<String>,
    pub still: Vec<String>,
    pub fixed: Vec<String>,
}

/// Compare this nightly's jobs with the previous nightly's. Per job: a signature is new when
/// the previous run of the job did not have it (or the job did not run), still failing when
/// it did, fixed when the previous run had it and this run, which judged the kernel, does not.
/// A job that could not judge the kernel this time (infra-error, not started) fixes nothing.
pub fn compare(suite: &str, previous: Option<&Summary>, mut jobs: Vec<JobOutcome>) -> Summary {
    let mut all = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for j in &mut jobs {
        let before: Vec<String> = previous
            .and_then(|p| p.jobs.iter().find(|pj| pj.job == j.job))
            .map(|pj| pj.signatures.clone())
            .unwrap_or_default();
        let judged = matches!(j.verdict, Some(v) if v != Verdict::InfraError);
        j.new = j
            .signatures
            .iter()
            .filter(|s| !before.contains(s))
            .cloned()
            .collect();
        j.still = j
            .signatures
            .iter()
            .filter(|s| before.contains(s))
            .cloned()
            .collect();
        j.fixed = if judged {
            before
                .iter()
                .filter(|s| !j.signatures.contains(s))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        all.0.extend(j.new.iter().cloned());
        all.1.extend(j.still.iter().cloned());
        all.2.extend(j.fixed.iter().cloned());
    }
    Summary {
        suite: suite.to_string(),
        previous: None,
        jobs,
        new: all.0.into_iter().collect(),
        still: all.1.into_iter().collect(),
        fixed: all.2.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, verdict: Option<Verdict>, sigs: &[&str]) -> JobOutcome {
        JobOutcome {
            job: name.into(),
            run: Some(format!("run-{name}")),
            verdict,
            signatures: sigs.iter().map(|s| s.to_string()).collect(),
            new: vec![],
            still: vec![],
            fixed: vec![],
        }
    }

    #[test]
    fn first_nightly_has_only_new_signatures() {
        let s = compare(
            "n",
            None,
            vec![job(
                "default",
                Some(Verdict::Fail),
                &["WARNING in ceph_unlink"],
            )],
        );
        assert_eq!(s.new, vec!["WARNING in ceph_unlink"]);
        assert!(s.still.is_empty() && s.fixed.is_empty());
    }

    #[test]
    fn new_still_and_fixed_per_job() {
        let prev = compare(
            "n",
            None,
            vec![
                job("default", Some(Verdict::Fail), &["A", "B"]),
                job("debug", Some(Verdict::Fail), &["C"]),
            ],
        );
        let cur = compare(
            "n",
            Some(&prev),
            vec![
                job("default", Some(Verdict::Fail), &["B", "D"]),
                job("debug", Some(Verdict::Pass), &[]),
            ],
        );
        assert_eq!(cur.jobs[0].new, vec!["D"]);
        assert_eq!(cur.jobs[0].still, vec!["B"]);
        assert_eq!(cur.jobs[0].fixed, vec!["A"]);
        assert_eq!(cur.jobs[1].fixed, vec!["C"]);
        assert_eq!(cur.new, vec!["D"]);
        assert_eq!(cur.fixed, vec!["A", "C"]);
        // The same signature in another job is that job's own news.
        let other = compare(
            "n",
            Some(&cur),
            vec![job("debug", Some(Verdict::Fail), &["B"])],
        );
        assert_eq!(other.jobs[0].new, vec!["B"]);
    }

    #[test]
    fn a_job_that_could_not_judge_the_kernel_fixes_nothing() {
        let prev = compare("n", None, vec![job("default", Some(Verdict::Fail), &["A"])]);
        for v in [Some(Verdict::InfraError), None] {
            let cur = compare("n", Some(&prev), vec![job("default", v, &[])]);
            assert!(cur.fixed.is_empty(), "{v:?}");
        }
    }

    #[test]
    fn signatures_of_a_report() {
        use crate::finding::Finding;
        let f = |kind, title: &str| Finding {
            kind,
            title: title.into(),
            excerpt: String::new(),
            line: 1,
            time: None,
            prefix: Some(1),
            console: None,
            during: None,
            outside: None,
            step: None,
        };
        let mut r: Report =
            serde_json::from_str(include_str!("../tests/fixtures/report-min.json")).unwrap();
        r.verdict = Verdict::Fail;
        r.findings = vec![
            f(FindingKind::Warning, "WARNING in ceph_unlink"),
            f(
                FindingKind::Hazard,
                "HAZARD: final iput in messenger context",
            ),
            f(FindingKind::Warning, "WARNING in ceph_unlink"),
        ];
        assert_eq!(signatures(&r, false), vec!["WARNING in ceph_unlink"]);
        assert_eq!(signatures(&r, true).len(), 2);
        r.verdict = Verdict::BuildFailed;
        r.reason = "prefix 2 (x) does not build".into();
        assert_eq!(
            signatures(&r, false),
            vec!["build-failed: prefix 2 (x) does not build"]
        );
        r.verdict = Verdict::InfraError;
        assert!(signatures(&r, false).is_empty());
        r.verdict = Verdict::Fail;
        r.findings.clear();
        let culprit: crate::report::Culprit = serde_json::from_value(serde_json::json!({
            "index": 1, "subject": "x", "signature": "guest exit: Panic", "candidates": [1],
            "confidence": 0.997, "confident": true, "verified": true, "rate": 1.0,
            "runs": 4, "rounds": 4, "found_after_s": 10.0
        }))
        .unwrap();
        r.reason = format!("guest exit: Panic; {}", culprit.describe());
        assert!(r.reason.contains("; culprit: patch 1"));
        r.culprit = Some(culprit);
        assert_eq!(signatures(&r, false), vec!["guest exit: Panic"]);
    }
}
