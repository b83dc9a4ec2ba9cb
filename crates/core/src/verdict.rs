//! The verdict of a run or a guest boot, and how a guest ended: the words every crate shares.
//! Their serde names are part of the `--json` contract.

use serde::{Deserialize, Serialize};

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
    /// The host stopped the guest once the finding it waited for had been seen (a bisection
    /// boot ends at the bisected signature): a fail, the workloads not run to their end.
    Stopped,
}

impl GuestExit {
    /// The name of a failure that left no finding, e.g. `guest exit: Panic` (a signature: stable
    /// across runs, compared by the nightly and the bisection).
    pub fn signature(self) -> String {
        format!("guest exit: {self:?}")
    }

    /// Why a boot that ended this way could not be judged, when nothing better is known.
    pub fn incomplete(self) -> String {
        format!("guest run could not be completed ({self:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn guest_exit_signatures_keep_their_names() {
        assert_eq!(GuestExit::Panic.signature(), "guest exit: Panic");
        assert_eq!(
            GuestExit::WorkloadFailed.signature(),
            "guest exit: WorkloadFailed"
        );
        assert_eq!(
            GuestExit::Unexpected.incomplete(),
            "guest run could not be completed (Unexpected)"
        );
        assert_eq!(
            serde_json::to_string(&GuestExit::WorkloadFailed).unwrap(),
            "\"workload-failed\""
        );
    }
}
