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
    /// Each fstests test of the boot, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fstests: Vec<FstestsResult>,
    /// Client sessions the guest left in the MDS (it crashed, hung or was killed before it
    /// unmounted) that the harness evicted and blocklisted after the boot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sessions_evicted: u32,
}

pub use harness_proto::fstests::Status as FstestsStatus;

/// One fstests test of one guest boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FstestsResult {
    /// `generic/013`.
    pub test: String,
    pub status: harness_proto::fstests::Status,
    pub seconds: f64,
    /// fstests' not-run reason, or the failure line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Artifacts (relative to the run's artifact directory): the `.out.bad` diff, the `.full` log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<String>,
}

/// Counts of fstests outcomes: (pass, fail, notrun).
pub fn fstests_counts(tests: &[FstestsResult]) -> (usize, usize, usize) {
    use harness_proto::fstests::Status;
    let n = |s: Status| tests.iter().filter(|t| t.status == s).count();
    (n(Status::Pass), n(Status::Fail), n(Status::Notrun))
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
    pub fixes: Vec<Fix>,
    /// Failures the tip shares with the base: not the series' doing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_existing: Vec<PreExisting>,
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
    /// The workloads the boot was to run (the job's, or the one the signature showed in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
    /// The boot was ended as soon as the signature was seen (guest exit `stopped`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// The signature's workload ran through this step only (`bisect.steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<crate::bisect::policy::Cut>,
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
    /// The workloads the boot was to run, when not every workload of the job (a bisection boot
    /// runs the one the bisected signature showed in); empty: all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
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
}

/// A failure of the base that the series makes go away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub signature: String,
    /// Base boots that showed it, of all base boots.
    pub base_failures: u32,
    pub base_boots: u32,
    /// Clean tip boots, of all tip boots (none showed the signature).
    pub tip_passes: u32,
    pub tip_boots: u32,
    /// Probability that a tip still carrying the bug would have failed at least once.
    pub confidence: f64,
    /// `confidence` reached [`crate::fix::CONFIDENCE`].
    pub confident: bool,
    /// The first prefix from which every tested prefix passes (the fixing patch), when the
    /// prefixes around it were tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_prefix: Option<usize>,
}

/// A failure the tip shares with the base: there before the series, not its doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreExisting {
    pub signature: String,
    pub base_failures: u32,
    pub base_boots: u32,
    pub tip_failures: u32,
    pub tip_boots: u32,
}

/// The base's hazard profile for a kernel and job: the final iputs per context its first boot
/// measured, kept by the store for runs that do not boot the base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseProfile {
    /// The run whose base boot measured it.
    pub run_id: String,
    pub evictions: std::collections::BTreeMap<String, u64>,
}
