//! One guest boot judged: its verdict (with the cluster's health taken into account) and the
//! signatures it shows.

use crate::finding::{Finding, FindingKind};
use crate::health::{self, Health};
use crate::verdict::{GuestExit, Verdict};

/// One guest boot as the bisection and revert drivers judge it, whether it ran here or as a
/// Slurm unit (`slurm::BootResult`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tried {
    pub verdict: Verdict,
    /// The distinct titles of its findings ([`titles`]).
    pub titles: Vec<String>,
    /// The guest program started.
    pub booted: bool,
    /// Why it could not be judged, when it could not.
    pub infra: Option<String>,
    pub seconds: f64,
    /// Ended as soon as the signature it waited for was seen.
    pub stopped: bool,
}

impl Tried {
    /// The boot as the bisection's policy reads it.
    pub fn run(&self) -> crate::bisect::policy::Run<'_> {
        crate::bisect::policy::Run {
            verdict: self.verdict,
            titles: &self.titles,
            booted: self.booted,
        }
    }

    /// A boot that was not made (`evidence` says why): `infra-error`, so the bisection retries
    /// it and never counts it as a pass or a fail.
    pub fn infra(evidence: impl Into<String>, seconds: f64) -> Tried {
        Tried {
            verdict: Verdict::InfraError,
            titles: Vec::new(),
            booted: false,
            infra: Some(evidence.into()),
            seconds,
            stopped: false,
        }
    }
}

/// The verdict of one boot, and why it is an `infra-error` when the cluster is to blame. A guest
/// that hung (`hung`, or the host's deadline passed), or whose only findings are the workload's,
/// while the cluster could not serve it is the cluster's trouble; a kernel splat is still the
/// kernel's. An exit the protocol does not define is the harness's trouble.
pub fn judge(
    exit: GuestExit,
    hung: bool,
    findings: &[Finding],
    health: &[Health],
) -> (Verdict, Option<String>) {
    let stuck = hung || exit == GuestExit::Timeout;
    let workload_only =
        !findings.is_empty() && findings.iter().all(|f| f.kind == FindingKind::Workload);
    let infra = if stuck || workload_only {
        health::infra_evidence(health)
    } else {
        None
    };
    let verdict = match exit {
        GuestExit::Unexpected => Verdict::InfraError,
        _ if infra.is_some() => Verdict::InfraError,
        GuestExit::Ok if findings.is_empty() => Verdict::Pass,
        _ => Verdict::Fail,
    };
    (verdict, infra)
}

/// The signatures of a boot: the distinct titles of its findings, in order (a self-deadlock
/// first: the other hung tasks wait behind it); a failure without one is named by how the guest
/// ended.
pub fn titles(findings: &[Finding], verdict: Verdict, exit: GuestExit) -> Vec<String> {
    let mut t: Vec<String> = Vec::new();
    let deadlocks = findings.iter().filter(|f| f.kind == FindingKind::Deadlock);
    for f in deadlocks.chain(findings.iter().filter(|f| f.kind != FindingKind::Deadlock)) {
        if !t.contains(&f.title) {
            t.push(f.title.clone());
        }
    }
    if t.is_empty() && verdict == Verdict::Fail {
        t.push(exit.signature());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind, title: &str) -> Finding {
        Finding {
            kind,
            title: title.into(),
            excerpt: String::new(),
            line: 1,
            time: None,
            prefix: None,
            console: None,
            during: None,
            outside: None,
            step: None,
        }
    }

    fn unhealthy() -> Vec<Health> {
        vec![Health {
            time: 42.0,
            status: "HEALTH_WARN".into(),
            checks: vec![(
                "MDS_SLOW_METADATA_IO".into(),
                "1 MDSs report slow metadata IOs".into(),
            )],
        }]
    }

    #[test]
    fn a_clean_boot_passes_and_a_finding_fails() {
        assert_eq!(judge(GuestExit::Ok, false, &[], &[]), (Verdict::Pass, None));
        let warn = [finding(FindingKind::Warning, "WARNING in ceph_unlink")];
        assert_eq!(judge(GuestExit::Ok, false, &warn, &[]).0, Verdict::Fail);
        assert_eq!(judge(GuestExit::Panic, false, &[], &[]).0, Verdict::Fail);
        assert_eq!(
            judge(GuestExit::WorkloadFailed, false, &[], &[]).0,
            Verdict::Fail
        );
        // Health does not excuse a boot that neither hung nor failed only in the workload.
        assert_eq!(
            judge(GuestExit::Ok, false, &warn, &unhealthy()).0,
            Verdict::Fail
        );
    }

    #[test]
    fn an_undefined_exit_is_infra() {
        assert_eq!(
            judge(GuestExit::Unexpected, false, &[], &[]),
            (Verdict::InfraError, None)
        );
    }

    #[test]
    fn a_hang_on_an_unhealthy_cluster_is_the_clusters() {
        let (v, why) = judge(GuestExit::Timeout, false, &[], &unhealthy());
        assert_eq!(v, Verdict::InfraError);
        assert!(why
            .unwrap()
            .starts_with("cluster unhealthy while the guest hung: at +42s HEALTH_WARN"));
        let hung = [finding(FindingKind::HungTask, "INFO: task sync blocked")];
        assert_eq!(
            judge(GuestExit::Panic, true, &hung, &unhealthy()).0,
            Verdict::InfraError
        );
        // A workload failure on an unhealthy cluster too.
        let wl = [finding(
            FindingKind::Workload,
            "workload umount-stress failed",
        )];
        assert_eq!(
            judge(GuestExit::WorkloadFailed, false, &wl, &unhealthy()).0,
            Verdict::InfraError
        );
        // On a healthy cluster the hang is the kernel's.
        assert_eq!(
            judge(GuestExit::Timeout, false, &[], &[]),
            (Verdict::Fail, None)
        );
    }

    #[test]
    fn titles_are_distinct_and_an_unnamed_failure_is_named_by_its_exit() {
        let fs = [
            finding(FindingKind::Warning, "WARNING in ceph_unlink"),
            finding(FindingKind::Warning, "WARNING in ceph_rename"),
            finding(FindingKind::Warning, "WARNING in ceph_unlink"),
        ];
        assert_eq!(
            titles(&fs, Verdict::Fail, GuestExit::Ok),
            ["WARNING in ceph_unlink", "WARNING in ceph_rename"]
        );
        assert_eq!(
            titles(&[], Verdict::Fail, GuestExit::Panic),
            ["guest exit: Panic"]
        );
        assert!(titles(&[], Verdict::Pass, GuestExit::Ok).is_empty());
        assert!(titles(&[], Verdict::InfraError, GuestExit::Unexpected).is_empty());
    }

    #[test]
    fn a_self_deadlock_names_the_boot_before_the_tasks_waiting_behind_it() {
        let f = [
            finding(
                FindingKind::HungTask,
                "INFO: task hung in wb_wait_for_completion",
            ),
            finding(
                FindingKind::Deadlock,
                "INFO: task hung in inode_wait_for_writeback (from ceph_put_wrbuffer_cap_refs)",
            ),
        ];
        assert_eq!(
            titles(&f, Verdict::Fail, GuestExit::Timeout),
            [
                "INFO: task hung in inode_wait_for_writeback (from ceph_put_wrbuffer_cap_refs)",
                "INFO: task hung in wb_wait_for_completion"
            ]
        );
    }
}
