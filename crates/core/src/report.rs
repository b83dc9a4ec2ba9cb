//! Verdicts and the machine-readable report (`--json`). Field names are a contract: keep them stable.

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
pub use crate::verdict::{GuestExit, Verdict};

/// The result of testing one prefix in a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub verdict: Verdict,
    pub exit: GuestExit,
    /// QEMU's exit status (None when killed).
    pub qemu_status: Option<i32>,
    pub seconds: f64,
    /// Console artifact, relative to the run's artifact directory.
    pub console: String,
    pub findings: usize,
    /// Why an attempt is `infra-error` (e.g. the cluster's own health evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra: Option<String>,
    /// What each workload did, as the guest program reported it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadRun>,
    /// Final iputs (evictions) of CephFS inodes per context (`probe::Context` names).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub evictions: std::collections::BTreeMap<String, u64>,
}

/// One workload of one guest boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRun {
    pub name: String,
    pub seed: u64,
    pub ok: bool,
    pub seconds: f64,
    pub ops: u64,
    pub ops_per_s: f64,
    #[serde(default)]
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// One prefix of the series: 0 is the base, k is base + patches 1..=k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixResult {
    pub index: usize,
    /// Subject of the last patch of the prefix (`"(base)"` for prefix 0).
    pub subject: String,
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_error: Option<String>,
    /// None: not attempted (an earlier patch did not apply).
    pub built: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_log: Option<String>,
    /// The prefix's guest result: its first failing attempt, else its last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<TestResult>,
    /// Every guest boot of the prefix, in order (the job's `repeats`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<TestResult>,
}

impl PrefixResult {
    pub fn new(index: usize, subject: impl Into<String>) -> Self {
        PrefixResult {
            index,
            subject: subject.into(),
            applied: false,
            apply_error: None,
            built: None,
            build_seconds: None,
            build_error: None,
            build_log: None,
            test: None,
            attempts: Vec::new(),
        }
    }

    /// Record the guest attempts of this prefix; `test` summarises them.
    pub fn set_attempts(&mut self, attempts: Vec<TestResult>) {
        self.test = attempts
            .iter()
            .find(|t| t.verdict != Verdict::Pass)
            .or(attempts.last())
            .cloned();
        self.attempts = attempts;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// Cover letter subject, or the first patch's subject when there is no cover letter.
    pub subject: String,
    pub patch_count: usize,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    pub name: String,
    pub seconds: f64,
}

/// The `--json` report. Later issues add fields; existing ones keep their names and meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    pub verdict: Verdict,
    /// One line saying why, e.g. "patch 3 does not apply" or "WARNING in ceph_unlink".
    pub reason: String,
    pub series: SeriesSummary,
    pub job: String,
    pub kernel: String,
    pub accel: Option<String>,
    pub prefixes: Vec<PrefixResult>,
    pub findings: Vec<Finding>,
    /// Per patch: the functions it changes and how often the workloads called them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<crate::probe::PatchCoverage>,
    pub phases: Vec<PhaseTime>,
    pub started_at: String,
    pub seconds: f64,
    /// The patch a failure was bisected to (`on_failure: bisect|revert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<Culprit>,
    /// Every guest run of the bisection, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bisection: Vec<BisectRun>,
    /// The verified way back (`on_failure: revert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<Revert>,
    /// Failures of the base the series makes go away (the base and the tip booted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<crate::fix::Fix>,
    /// Failures the tip shares with the base: not the series' doing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_existing: Vec<crate::fix::PreExisting>,
    /// Guest boots taken over from before an interruption (`harness resume`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replayed: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The answer of a bisection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Culprit {
    /// First bad prefix = the culprit patch's 1-based index; 0: the base fails too (not the series).
    pub index: usize,
    /// Subject of that patch (`"(base)"` for 0).
    pub subject: String,
    /// The failure bisected (a finding title).
    pub signature: String,
    /// Patches no test could tell apart from the culprit (untestable prefixes before it).
    pub candidates: Vec<usize>,
    /// Posterior probability that `candidates` holds the culprit.
    pub confidence: f64,
    /// The stated confidence was reached (else the run budget ran out: a best guess).
    pub confident: bool,
    /// The culprit failed again and the prefix before it passed again.
    pub verified: bool,
    /// Estimated reproduction rate of the failure on a bad prefix.
    pub rate: f64,
    /// Guest runs that were evidence, and rounds of guests.
    pub runs: u32,
    pub rounds: u32,
    /// Prefixes skipped because they do not build or boot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<usize>,
    /// Seconds from the start of the run to the verified answer.
    pub found_after_s: f64,
}

/// One guest run made by the bisection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectRun {
    pub prefix: usize,
    /// What the run says about the bisected signature.
    pub outcome: crate::bisect::Outcome,
    /// A verification run of a candidate culprit.
    pub verify: bool,
    pub verdict: Verdict,
    /// Titles of the findings of the run (another signature is recorded, not counted).
    pub signatures: Vec<String>,
    pub console: String,
    pub seconds: f64,
    /// After this run: the most likely culprit group and its posterior probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// One guest boot as it happened, recorded the moment it ends (so an interrupted run keeps it
/// and `harness resume` need not boot it again). `console` names the boot within its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub console: String,
    pub prefix: usize,
    /// The kernel variant booted (`prefix-3`, `without-culprit`, ...).
    pub variant: String,
    pub result: TestResult,
    pub findings: Vec<Finding>,
    /// The guest program's messages (harness-proto), kept opaque here.
    pub messages: serde_json::Value,
}

/// The two ways back a maintainer can take, each tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revert {
    /// The series without the culprit (later patches applied with `git am -3`).
    pub without_culprit: RevertTest,
    /// The whole series reverted: the base.
    pub whole_series: RevertTest,
    /// A `git revert` of the culprit on top of the full series (artifact file), if it reverts cleanly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_note: Option<String>,
}

/// One candidate outcome and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertTest {
    pub what: String,
    /// The artifact that holds it (an mbox), if one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `pass`: it did not fail in `runs` runs; `fail`; `apply-failed` / `build-failed`: it could not be
    /// made; `infra-error`: it could not be tested.
    pub verdict: Verdict,
    pub runs: u32,
    /// Probability that a variant that still had the bug would have failed at least once in
    /// `runs` runs at the estimated rate.
    pub confidence: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Report {
    /// The one-line reason of a verdict with the culprit's line after it (the `reason` field).
    pub fn reason_with_culprit(reason: &str, culprit: Option<&Culprit>) -> String {
        match culprit {
            Some(c) => format!("{reason}; {}", c.describe()),
            None => reason.to_string(),
        }
    }

    /// The verdict's own reason, without the culprit's line `reason` carries.
    pub fn verdict_reason(&self) -> &str {
        self.culprit
            .as_ref()
            .and_then(|c| self.reason.strip_suffix(&format!("; {}", c.describe())))
            .unwrap_or(&self.reason)
    }

    /// The verdict of a run from its prefix results: the first failing stage decides. Hazard
    /// findings fail it only with `hazards_fail`. The base's own failures (prefix 0) and failures
    /// the tip shares with it (`fix.pre_existing`) are not the series' doing; with `expect_fix`,
    /// the base must fail with that signature and the tip must be verified free of it.
    pub fn decide(
        prefixes: &[PrefixResult],
        findings: &[Finding],
        hazards_fail: bool,
        fix: &crate::fix::Assessment,
        expect_fix: Option<&str>,
    ) -> (Verdict, String) {
        if let Some(p) = prefixes.iter().find(|p| !p.applied && p.index > 0) {
            return (
                Verdict::ApplyFailed,
                format!("patch {} does not apply: {}", p.index, p.subject),
            );
        }
        if let Some(p) = prefixes.iter().find(|p| p.built == Some(false)) {
            let what = if p.index == 0 {
                "the base".to_string()
            } else {
                format!("prefix {} ({})", p.index, p.subject)
            };
            return (Verdict::BuildFailed, format!("{what} does not build"));
        }
        let tested: Vec<&TestResult> = prefixes.iter().filter_map(|p| p.test.as_ref()).collect();
        if let Some(t) = tested.iter().find(|t| t.verdict == Verdict::InfraError) {
            return (
                Verdict::InfraError,
                t.infra.clone().unwrap_or_else(|| t.exit.incomplete()),
            );
        }
        let not_series = fix.not_series();
        // The base's failures are its own once a prefix of the series was booted too.
        let series_tested = prefixes.iter().any(|p| p.index > 0 && p.test.is_some());
        let blamed = |k: Option<usize>| !series_tested || k != Some(0);
        if let Some(f) = findings.iter().find(|f| {
            (hazards_fail || f.kind != crate::finding::FindingKind::Hazard)
                && blamed(f.prefix)
                && !not_series.contains(f.title.as_str())
        }) {
            return (Verdict::Fail, f.title.clone());
        }
        // A failure no finding names, at a prefix of the series.
        for p in prefixes.iter().filter(|p| blamed(Some(p.index))) {
            let boots: Vec<&TestResult> = if p.attempts.is_empty() {
                p.test.iter().collect()
            } else {
                p.attempts.iter().collect()
            };
            for t in boots.into_iter().filter(|t| t.verdict == Verdict::Fail) {
                let sigs = crate::fix::boot_signatures(t, findings);
                if sigs.iter().all(|s| !not_series.contains(s.as_str())) {
                    if let Some(s) = sigs.into_iter().next() {
                        return (Verdict::Fail, s);
                    }
                }
            }
        }
        if tested.is_empty() {
            return (Verdict::InfraError, "no prefix was tested".into());
        }
        if let Some(why) = expect_fix.and_then(|s| crate::fix::expectation(fix, prefixes, s)) {
            return (Verdict::Fail, why);
        }
        let mut reason = "console clean, workload ok".to_string();
        for f in &fix.fixes {
            reason = format!("{reason}; {}", crate::fix::describe_fix(f));
        }
        for p in &fix.pre_existing {
            reason = format!("{reason}; {}", crate::fix::describe_pre_existing(p));
        }
        (Verdict::Pass, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingKind;

    fn none() -> crate::fix::Assessment {
        Default::default()
    }

    fn prefix(
        index: usize,
        applied: bool,
        built: Option<bool>,
        test: Option<(Verdict, GuestExit)>,
    ) -> PrefixResult {
        let mut p = PrefixResult::new(index, format!("patch {index}"));
        p.applied = applied;
        p.built = built;
        p.test = test.map(|(verdict, exit)| TestResult {
            verdict,
            exit,
            qemu_status: None,
            seconds: 1.0,
            console: "c".into(),
            findings: 0,
            infra: None,
            workloads: Vec::new(),
            evictions: Default::default(),
        });
        p
    }

    fn finding(title: &str) -> Finding {
        Finding {
            console: None,
            during: None,
            kind: FindingKind::Warning,
            title: title.into(),
            excerpt: String::new(),
            line: 1,
            time: None,
            prefix: Some(2),
        }
    }

    #[test]
    fn the_first_failing_stage_decides() {
        let ok = Some((Verdict::Pass, GuestExit::Ok));
        let all_good = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(true), ok),
        ];
        assert_eq!(
            Report::decide(&all_good, &[], false, &none(), None).0,
            Verdict::Pass
        );

        let not_applied = [
            prefix(0, true, None, None),
            prefix(1, true, None, None),
            prefix(2, false, None, None),
        ];
        let (v, why) = Report::decide(&not_applied, &[], false, &none(), None);
        assert_eq!(v, Verdict::ApplyFailed);
        assert_eq!(why, "patch 2 does not apply: patch 2");

        // A prefix that does not build makes the series unbisectable, even if the tip passes.
        let mid_broken = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(false), None),
            prefix(2, true, Some(true), ok),
        ];
        let (v, why) = Report::decide(&mid_broken, &[], false, &none(), None);
        assert_eq!(v, Verdict::BuildFailed);
        assert_eq!(why, "prefix 1 (patch 1) does not build");

        let warned = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(true), Some((Verdict::Fail, GuestExit::Ok))),
        ];
        assert_eq!(
            Report::decide(
                &warned,
                &[finding("WARNING in ceph_unlink")],
                false,
                &none(),
                None
            ),
            (Verdict::Fail, "WARNING in ceph_unlink".into())
        );

        // A guest exit the protocol does not define is the harness's trouble, not the kernel's.
        let odd = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::InfraError, GuestExit::Unexpected)),
        )];
        assert_eq!(
            Report::decide(&odd, &[finding("x")], false, &none(), None).0,
            Verdict::InfraError
        );

        let untested = [prefix(0, true, Some(true), None)];
        assert_eq!(
            Report::decide(&untested, &[], false, &none(), None).0,
            Verdict::InfraError
        );

        let failed_without_finding = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::Fail, GuestExit::WorkloadFailed)),
        )];
        assert_eq!(
            Report::decide(&failed_without_finding, &[], false, &none(), None).0,
            Verdict::Fail
        );

        // A hazard is shown, not failing, unless the job says so.
        let passed = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::Pass, GuestExit::Ok)),
        )];
        let mut hazard = finding("HAZARD: final iput in the ceph messenger worker");
        hazard.kind = FindingKind::Hazard;
        assert_eq!(
            Report::decide(&passed, std::slice::from_ref(&hazard), false, &none(), None).0,
            Verdict::Pass
        );
        assert_eq!(
            Report::decide(&passed, &[hazard], true, &none(), None).0,
            Verdict::Fail
        );
    }
}
