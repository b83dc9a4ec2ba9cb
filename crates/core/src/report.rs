//! Verdicts and the machine-readable report (`--json`). Field names are a contract: keep them stable.

use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// The outcome of a run. Kernel failures are verdicts; only `InfraError` is the harness's own trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    ApplyFailed,
    BuildFailed,
    InfraError,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::ApplyFailed => "apply-failed",
            Verdict::BuildFailed => "build-failed",
            Verdict::InfraError => "infra-error",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Some(match s {
            "pass" => Verdict::Pass,
            "fail" => Verdict::Fail,
            "apply-failed" => Verdict::ApplyFailed,
            "build-failed" => Verdict::BuildFailed,
            "infra-error" => Verdict::InfraError,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a guest run ended, as told by the guest exit protocol and the host's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestExit {
    /// The workload finished and reported success (isa-debug-exit 0 → QEMU status 1).
    Ok,
    /// The workload finished and reported failure (isa-debug-exit 1 → QEMU status 3).
    WorkloadFailed,
    /// The kernel panicked (QEMU exited 0 because of `panic=-1` + `-no-reboot`).
    Panic,
    /// The host deadline passed; the guest was killed.
    Timeout,
    /// QEMU exited in a way the protocol does not define.
    Unexpected,
}

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
}

impl Report {
    /// The verdict of a run from its prefix results: the first failing stage decides. Hazard
    /// findings fail it only with `hazards_fail`.
    pub fn decide(
        prefixes: &[PrefixResult],
        findings: &[Finding],
        hazards_fail: bool,
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
                t.infra
                    .clone()
                    .unwrap_or_else(|| format!("guest run could not be completed ({:?})", t.exit)),
            );
        }
        if let Some(f) = findings
            .iter()
            .find(|f| hazards_fail || f.kind != crate::finding::FindingKind::Hazard)
        {
            return (Verdict::Fail, f.title.clone());
        }
        if let Some(t) = tested.iter().find(|t| t.verdict == Verdict::Fail) {
            return (Verdict::Fail, format!("guest exit: {:?}", t.exit));
        }
        if tested.is_empty() {
            return (Verdict::InfraError, "no prefix was tested".into());
        }
        (Verdict::Pass, "console clean, workload ok".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingKind;

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
        assert_eq!(Report::decide(&all_good, &[], false).0, Verdict::Pass);

        let not_applied = [
            prefix(0, true, None, None),
            prefix(1, true, None, None),
            prefix(2, false, None, None),
        ];
        let (v, why) = Report::decide(&not_applied, &[], false);
        assert_eq!(v, Verdict::ApplyFailed);
        assert_eq!(why, "patch 2 does not apply: patch 2");

        // A prefix that does not build makes the series unbisectable, even if the tip passes.
        let mid_broken = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(false), None),
            prefix(2, true, Some(true), ok),
        ];
        let (v, why) = Report::decide(&mid_broken, &[], false);
        assert_eq!(v, Verdict::BuildFailed);
        assert_eq!(why, "prefix 1 (patch 1) does not build");

        let warned = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(true), Some((Verdict::Fail, GuestExit::Ok))),
        ];
        assert_eq!(
            Report::decide(&warned, &[finding("WARNING in ceph_unlink")], false),
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
            Report::decide(&odd, &[finding("x")], false).0,
            Verdict::InfraError
        );

        let untested = [prefix(0, true, Some(true), None)];
        assert_eq!(Report::decide(&untested, &[], false).0, Verdict::InfraError);

        let failed_without_finding = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::Fail, GuestExit::WorkloadFailed)),
        )];
        assert_eq!(
            Report::decide(&failed_without_finding, &[], false).0,
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
            Report::decide(&passed, std::slice::from_ref(&hazard), false).0,
            Verdict::Pass
        );
        assert_eq!(Report::decide(&passed, &[hazard], true).0, Verdict::Fail);
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::ApplyFailed,
            Verdict::BuildFailed,
            Verdict::InfraError,
        ] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
    }
}
