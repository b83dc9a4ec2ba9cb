//! Work spread over a Slurm cluster, the pure part: a unit's (a Slurm job's) state as Slurm
//! reports it, what that state means for the run (`judge`: still running, its report, or an
//! infrastructure fault with Slurm's word as evidence, never a verdict on the kernel), the
//! unit's time limit from the job's deadlines, and the record of a unit Slurm failed.
//! Two kinds of unit: a nightly's job (a whole run), and one boot of a bisection round
//! ([`BootUnit`] → [`BootResult`]).
//! `exec::slurm` parses Slurm's output into [`JobState`]; the cli submits and collects.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bisect::policy::BootPlan;
use crate::boot::Tried;
use crate::job::{Job, OnFailure, TestPrefixes};
use crate::report::{AttemptRecord, Report, SeriesSummary, Verdict};

/// A Slurm job's state (`squeue %T` / `sacct State`), typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    BootFail,
    Deadline,
    /// A state this harness does not know (a newer Slurm's): taken as ended, with its name.
    Other(String),
}

impl JobState {
    /// The state's name as Slurm spells it.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Suspended => "SUSPENDED",
            JobState::Requeued => "REQUEUED",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Other(s) => s,
        }
    }

    /// The job will not run any more (its files are final).
    pub fn ended(&self) -> bool {
        !matches!(
            self,
            JobState::Pending
                | JobState::Configuring
                | JobState::Running
                | JobState::Completing
                | JobState::Suspended
                | JobState::Requeued
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a unit left in its directory of the shared results directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFiles {
    /// Its report (written atomically at the end of its run).
    pub report: bool,
    /// The harness on the node failed before it had a report (its message).
    pub error: Option<String>,
}

/// What the submitter does with a unit now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitOutcome {
    /// Queued or running: ask again later.
    Waiting,
    /// It finished its run: record its report.
    Report,
    /// Slurm (or the node) failed it: recorded as `infra-error` with this evidence.
    Infra(String),
}

/// The outcome of Slurm job `id` in `state` (`None`: Slurm no longer lists it) with `files`.
/// A report is taken only once the job has ended (its artifacts are complete then); a unit
/// without one is an infrastructure fault whatever Slurm says, never a verdict.
pub fn judge(id: u64, state: Option<&JobState>, reason: &str, files: &UnitFiles) -> UnitOutcome {
    let reason = match reason.trim() {
        "" | "None" | "(null)" => String::new(),
        r => format!(", reason {r}"),
    };
    match state {
        Some(s) if !s.ended() => UnitOutcome::Waiting,
        _ if files.report => UnitOutcome::Report,
        Some(s) => match &files.error {
            Some(e) => UnitOutcome::Infra(format!(
                "slurm job {id} ended {s}{reason}: the harness on the node failed: {e}"
            )),
            None => UnitOutcome::Infra(format!(
                "slurm job {id} ended {s}{reason} without a result{}",
                match s {
                    JobState::Timeout => " (its time limit)",
                    JobState::Cancelled => " (scancel, or the cluster's admin)",
                    JobState::NodeFail => " (its node was lost)",
                    JobState::Preempted => " (preempted)",
                    JobState::OutOfMemory => " (out of memory)",
                    _ => "",
                }
            )),
        },
        None => UnitOutcome::Infra(format!(
            "slurm job {id} is no longer known to Slurm and left no result{}",
            files
                .error
                .as_deref()
                .map(|e| format!(": the harness on the node failed: {e}"))
                .unwrap_or_default()
        )),
    }
}

/// Slurm's `--time` for a job of `patches` patches: every deadline the run could meet, one
/// after the other, guest deadlines at the TCG factor (the node may have no KVM), plus a margin.
/// A ceiling, not an estimate: a unit past it was stuck, and is an infrastructure fault.
pub fn time_limit(job: &Job, patches: usize) -> Duration {
    let t = job.timeouts.scaled(false);
    let prefixes = match job.test_prefixes {
        TestPrefixes::All => patches as u32 + 1,
        TestPrefixes::Tip => 2, // the tip, and the base check
    };
    let workloads = job.workloads.len().max(1) as u32;
    let boot = t.boot + t.workload * workloads;
    let mut boots = prefixes * job.repeats + job.check.max_boots;
    if job.on_failure != OnFailure::None {
        // The search, its verification and the revert's clean runs.
        let log2 = usize::BITS - patches.leading_zeros();
        boots += 3 * log2 + 12;
    }
    t.apply + t.build * (patches as u32 + 3) + t.cluster + boot * boots + Duration::from_secs(600)
}

/// Whole minutes, rounded up (`sbatch --time` takes minutes).
pub fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// The Slurm job name of a nightly's job: `harness-<nightly>-<job>` (anything else in the
/// job's name becomes `_`), so `squeue` shows which run a unit is.
pub fn unit_name(nightly: &str, job: &str) -> String {
    let nightly = nightly.strip_prefix("nightly-").unwrap_or(nightly);
    format!("harness-{}-{}", clean(nightly), clean(job))
}

/// One boot of a bisection round as a Slurm unit: on its node, the series' patches 1..=`prefix`
/// applied and built, the node's own cluster started, one guest booted as `plan` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootUnit {
    pub prefix: usize,
    /// The kernel variant (`prefix-3`, `base`, `without-culprit`): its initramfs, and the
    /// recorded boot's `variant`.
    pub variant: String,
    /// The console artifact (`console-bisect-03-prefix-3.log`): it names the boot in its run.
    pub console: String,
    /// What the progress calls it (`bisect run 3: prefix 3`).
    pub what: String,
    pub plan: BootPlan,
}

impl BootUnit {
    /// The boot's name: its console artifact without `console-` and `.log`.
    pub fn stem(&self) -> &str {
        let c = self
            .console
            .strip_prefix("console-")
            .unwrap_or(&self.console);
        c.strip_suffix(".log").unwrap_or(c)
    }
}

/// What a boot unit found: the boot as the bisection judges it, and the boot's record for the
/// store (`None` when no guest was booted: the node could not build the prefix or start its
/// cluster, or Slurm failed the unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootResult {
    #[serde(flatten)]
    pub tried: Tried,
    pub attempt: Option<AttemptRecord>,
}

impl BootResult {
    /// A boot that was not made (`evidence` says why): `infra-error`, so the bisection retries
    /// it and never counts it as a pass or a fail.
    pub fn infra(evidence: impl Into<String>, seconds: f64) -> BootResult {
        BootResult {
            tried: Tried::infra(evidence, seconds),
            attempt: None,
        }
    }
}

/// Slurm's `--time` for a boot unit: apply, one prefix's build, the cluster, and the boot (and
/// the two early-boot retries a distro-module boot may take) at the TCG factor, plus a margin.
pub fn boot_time_limit(job: &Job, plan: &BootPlan) -> Duration {
    let t = job.timeouts.scaled(false);
    let workloads = plan.workloads.len().max(1) as u32;
    t.apply + t.build + t.cluster + (t.boot + t.workload * workloads) * 3 + Duration::from_secs(600)
}

/// The Slurm job name of a bisection boot: `harness-<run>-<boot>` (`harness-20261207-081500-1a2b-bisect-03-prefix-3`).
pub fn boot_unit_name(run_id: &str, unit: &BootUnit) -> String {
    format!("harness-{}-{}", clean(run_id), clean(unit.stem()))
}

/// A name part Slurm takes: anything but ASCII letters, digits, `-`, `_` and `.` becomes `_`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The record of a unit Slurm failed: `infra-error`, the evidence as its reason.
pub fn infra_report(
    run_id: &str,
    series: SeriesSummary,
    job: &Job,
    started_at: &str,
    seconds: f64,
    evidence: &str,
) -> Report {
    Report {
        run_id: run_id.to_string(),
        verdict: Verdict::InfraError,
        reason: evidence.to_string(),
        series,
        job: job.name.clone(),
        kernel: job.kernel.describe(),
        accel: None,
        prefixes: Vec::new(),
        findings: Vec::new(),
        coverage: Vec::new(),
        phases: Vec::new(),
        started_at: started_at.to_string(),
        seconds,
        culprit: None,
        bisection: Vec::new(),
        revert: None,
        fixes: Vec::new(),
        pre_existing: Vec::new(),
        replayed: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::valid_slurm_name as valid_name;

    fn files(report: bool, error: Option<&str>) -> UnitFiles {
        UnitFiles {
            report,
            error: error.map(String::from),
        }
    }

    #[test]
    fn a_unit_is_waited_for_until_slurm_says_it_ended() {
        for s in [
            JobState::Pending,
            JobState::Running,
            JobState::Completing,
            JobState::Configuring,
        ] {
            // Even with its report written: its artifacts may still be coming.
            assert_eq!(
                judge(7, Some(&s), "", &files(true, None)),
                UnitOutcome::Waiting
            );
        }
    }

    #[test]
    fn a_finished_report_is_taken_whatever_the_state() {
        for s in [JobState::Completed, JobState::Failed, JobState::Cancelled] {
            assert_eq!(
                judge(7, Some(&s), "", &files(true, None)),
                UnitOutcome::Report
            );
        }
        assert_eq!(judge(7, None, "", &files(true, None)), UnitOutcome::Report);
    }

    #[test]
    fn a_unit_slurm_failed_is_infra_with_slurms_state() {
        let infra =
            |s: JobState, reason: &str| match judge(42, Some(&s), reason, &files(false, None)) {
                UnitOutcome::Infra(e) => e,
                o => panic!("{o:?}"),
            };
        assert_eq!(
            infra(JobState::Cancelled, "None"),
            "slurm job 42 ended CANCELLED without a result (scancel, or the cluster's admin)"
        );
        assert_eq!(
            infra(JobState::Timeout, ""),
            "slurm job 42 ended TIMEOUT without a result (its time limit)"
        );
        assert!(infra(JobState::NodeFail, "NodeDown").contains("NODE_FAIL, reason NodeDown"));
        assert!(infra(JobState::Completed, "").contains("ended COMPLETED without a result"));
        assert!(infra(JobState::Other("SPECIAL_EXIT".into()), "").contains("SPECIAL_EXIT"));
        match judge(
            42,
            Some(&JobState::Failed),
            "",
            &files(false, Some("qemu-system-x86_64 missing")),
        ) {
            UnitOutcome::Infra(e) => assert!(
                e.contains("FAILED: the harness on the node failed: qemu-system-x86_64 missing"),
                "{e}"
            ),
            o => panic!("{o:?}"),
        }
        match judge(42, None, "", &files(false, None)) {
            UnitOutcome::Infra(e) => assert!(e.contains("no longer known to Slurm")),
            o => panic!("{o:?}"),
        }
    }

    /// The embedded default job.
    fn default_job() -> Job {
        Job::from_yaml(
            include_str!("../../../jobs/default.yaml"),
            "default.yaml",
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs")),
        )
        .unwrap()
    }

    #[test]
    fn the_time_limit_covers_every_deadline() {
        let job = default_job();
        let t = job.timeouts.scaled(false);
        let one_boot = t.boot + t.workload * job.workloads.len() as u32;
        let l6 = time_limit(&job, 6);
        assert!(l6 > one_boot * 10 + t.build * 7, "{l6:?}");
        assert!(time_limit(&job, 50) > l6);
        let mut none = job.clone();
        none.on_failure = OnFailure::None;
        assert!(time_limit(&none, 6) < l6);
        assert_eq!(minutes(Duration::from_secs(61)), 2);
        assert_eq!(minutes(Duration::from_secs(0)), 1);
    }

    #[test]
    fn unit_names_say_which_nightly_and_job() {
        assert_eq!(
            unit_name("nightly-20261207-040506-1a2b", "default short"),
            "harness-20261207-040506-1a2b-default_short"
        );
        assert!(valid_name("harness.debug_1"));
        assert!(!valid_name("a b") && !valid_name("") && !valid_name("a;b"));
        let n = unit_name("nightly-x", "j/ö");
        assert!(valid_name(&n), "{n}");
    }

    fn boot_unit() -> BootUnit {
        BootUnit {
            prefix: 3,
            variant: "prefix-3".into(),
            console: "console-bisect-04-prefix-3.log".into(),
            what: "bisect run 4: prefix 3".into(),
            plan: BootPlan {
                workloads: vec!["umount-stress".into()],
                all: false,
                stop_at: Some("WARNING in ceph_unlink".into()),
                cut: None,
                probes: false,
            },
        }
    }

    #[test]
    fn boot_units_are_named_by_run_and_boot() {
        let u = boot_unit();
        assert_eq!(u.stem(), "bisect-04-prefix-3");
        let n = boot_unit_name("20261207-081500-1a2b", &u);
        assert_eq!(n, "harness-20261207-081500-1a2b-bisect-04-prefix-3");
        assert!(valid_name(&n));
        let odd = BootUnit {
            console: "console-base 1.log".into(),
            ..u
        };
        assert!(valid_name(&boot_unit_name("r/1", &odd)));
    }

    #[test]
    fn a_boot_unit_and_its_result_round_trip() {
        let u = boot_unit();
        let text = serde_json::to_string(&u).unwrap();
        assert_eq!(serde_json::from_str::<BootUnit>(&text).unwrap(), u);
        let r = BootResult {
            tried: Tried {
                verdict: Verdict::Fail,
                titles: vec!["WARNING in ceph_unlink".into()],
                booted: true,
                infra: None,
                seconds: 21.5,
                stopped: true,
            },
            attempt: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<BootResult>(&text).unwrap(), r);
    }

    #[test]
    fn a_boot_unit_slurm_failed_is_an_infra_boot_never_a_verdict() {
        let UnitOutcome::Infra(e) = judge(9, Some(&JobState::Timeout), "", &files(false, None))
        else {
            panic!()
        };
        let r = BootResult::infra(e, 3.0);
        assert_eq!(r.tried.verdict, Verdict::InfraError);
        assert!(r.tried.infra.as_deref().unwrap().contains("TIMEOUT"));
        assert!(!r.tried.booted && r.tried.titles.is_empty() && r.attempt.is_none());
    }

    #[test]
    fn a_boot_units_time_limit_covers_its_boot_but_not_a_whole_run() {
        let job = default_job();
        let t = job.timeouts.scaled(false);
        let one = boot_unit();
        let l = boot_time_limit(&job, &one.plan);
        assert!(l > t.build + t.cluster + t.boot + t.workload, "{l:?}");
        assert!(l < time_limit(&job, 7), "{l:?}");
    }
}
