//! Findings: evidence of a kernel or workload failure seen in a guest.

use serde::{Deserialize, Serialize};

/// What kind of trouble a finding reports. The serialised names are part of the report contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// `WARNING: CPU: .. at file:line func+off`
    Warning,
    /// `kernel BUG at ...`, `BUG: ...` (not KASAN, not soft lockup)
    Bug,
    /// `Oops: ...`
    Oops,
    /// `general protection fault`
    GeneralProtectionFault,
    /// `INFO: task X blocked for more than N seconds.`
    HungTask,
    /// A hung task whose stack shows a self-deadlock: `evict` waiting for writeback or I/O that
    /// the waiting worker itself must complete (titled by the wait and the CephFS caller). It
    /// names a boot's failure before the other hung tasks that wait behind it.
    Deadlock,
    /// `watchdog: BUG: soft lockup`
    SoftLockup,
    /// `rcu: INFO: rcu_sched self-detected stall` and friends
    RcuStall,
    /// `Kernel panic - not syncing`
    Panic,
    /// `VFS: Busy inodes after unmount of ceph`
    BusyInodes,
    /// `BUG: KASAN: ...`
    Kasan,
    /// lockdep splats: `WARNING: possible circular locking dependency detected` and friends
    Lockdep,
    /// refcount_t / list corruption / UBSAN and other sanitiser reports
    Corruption,
    /// The guest-side workload reported an error (I/O error, data mismatch, umount failure).
    Workload,
    /// The guest stopped making progress and was killed by the harness.
    Timeout,
    /// A workload made no progress (the guest's watchdog), or the guest stopped answering at all
    /// (the host's): blocked tasks were dumped with sysrq, then the guest was killed.
    Hang,
    /// Risky behaviour measured by a probe (a final iput moved into the messenger or writeback
    /// context): shown prominently, not failing unless the job says so.
    Hazard,
}

impl FindingKind {
    /// A crash or warning, placed by the instruction it happened at (not a wait, a hang or a
    /// measurement).
    pub fn is_crash(self) -> bool {
        matches!(
            self,
            FindingKind::Warning
                | FindingKind::Bug
                | FindingKind::Oops
                | FindingKind::GeneralProtectionFault
                | FindingKind::Kasan
                | FindingKind::Corruption
                | FindingKind::SoftLockup
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Warning => "warning",
            FindingKind::Bug => "bug",
            FindingKind::Oops => "oops",
            FindingKind::GeneralProtectionFault => "general-protection-fault",
            FindingKind::HungTask => "hung-task",
            FindingKind::Deadlock => "deadlock",
            FindingKind::SoftLockup => "soft-lockup",
            FindingKind::RcuStall => "rcu-stall",
            FindingKind::Panic => "panic",
            FindingKind::BusyInodes => "busy-inodes",
            FindingKind::Kasan => "kasan",
            FindingKind::Lockdep => "lockdep",
            FindingKind::Corruption => "corruption",
            FindingKind::Workload => "workload",
            FindingKind::Timeout => "timeout",
            FindingKind::Hang => "hang",
            FindingKind::Hazard => "hazard",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of evidence. `title` is normalised (no addresses, pids, timestamps, offsets) so that
/// the same bug groups together across runs: it is the finding's signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub title: String,
    /// The console lines that show the problem (call trace included), as captured.
    pub excerpt: String,
    /// 1-based line in the console artifact where the finding starts.
    pub line: usize,
    /// Seconds since the guest was started, as stamped by the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// The prefix whose kernel produced it (set by the run, not by the scanner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<usize>,
    /// The console artifact `line` points into (set by the run, not by the scanner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// What the guest was doing when it appeared: `boot`, `workload NAME` or `shutdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<During>,
    /// A crash whose faulting context has no frame in the code under test: the function it
    /// happened in (`net_rx_action`). Such a finding is likely not the series' doing (set by the
    /// run, not by the scanner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside: Option<String>,
    /// The step of the workload (`during`) it appeared in, for a workload that reports steps (a
    /// cycle of umount-stress, a round of cap-revoke; 1-based): a bisection boot may be cut after
    /// it (`bisect.steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
}

impl Finding {
    /// The workload that was running when it appeared, if one was.
    pub fn workload(&self) -> Option<&str> {
        match &self.during {
            Some(During::Workload(w)) | Some(During::Test { workload: w, .. }) => Some(w),
            _ => None,
        }
    }

    /// The test (of a test-suite workload: fstests) that was running when it appeared.
    pub fn test(&self) -> Option<&str> {
        match &self.during {
            Some(During::Test { test, .. }) => Some(test),
            _ => None,
        }
    }
}

/// What the guest was doing: booting, running a workload (a test of it, for fstests), or
/// shutting down. Serialised as the words `boot`, `workload NAME`, `workload NAME TEST`,
/// `shutdown` (the report contract; workload names have no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum During {
    Boot,
    Workload(String),
    Test { workload: String, test: String },
    Shutdown,
}

impl During {
    pub fn parse(s: &str) -> Option<During> {
        match s {
            "boot" => Some(During::Boot),
            "shutdown" => Some(During::Shutdown),
            _ => s
                .strip_prefix("workload ")
                .map(|w| match w.split_once(' ') {
                    Some((workload, test)) => During::Test {
                        workload: workload.to_string(),
                        test: test.to_string(),
                    },
                    None => During::Workload(w.to_string()),
                }),
        }
    }
}

impl std::fmt::Display for During {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            During::Boot => f.write_str("boot"),
            During::Workload(w) => write!(f, "workload {w}"),
            During::Test { workload, test } => write!(f, "workload {workload} {test}"),
            During::Shutdown => f.write_str("shutdown"),
        }
    }
}

impl Serialize for During {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for During {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        During::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown guest phase `{s}`")))
    }
}

#[cfg(test)]
mod during_tests {
    use super::*;

    #[test]
    fn during_keeps_its_words() {
        for (d, s) in [
            (During::Boot, "boot"),
            (
                During::Workload("iput-stress".into()),
                "workload iput-stress",
            ),
            (During::Shutdown, "shutdown"),
            (
                During::Test {
                    workload: "fstests".into(),
                    test: "generic/013".into(),
                },
                "workload fstests generic/013",
            ),
        ] {
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<During>(&format!("\"{s}\"")).unwrap(),
                d
            );
        }
        assert!(serde_json::from_str::<During>("\"nap\"").is_err());
    }
}
