//! One event vocabulary: the executor emits these; the terminal view, the results store and the
//! JSON report all consume the same stream.

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::report::{Report, Verdict};

/// The phases of a run, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Prepare the kernel tree (extract, base commit) and apply the series.
    Apply,
    /// Build every prefix.
    Build,
    /// Network namespace and mini Ceph cluster.
    Cluster,
    /// Guest image (base initramfs + per-run cpio).
    Image,
    /// Boot the guest, run the workload, capture the console.
    Guest,
    /// Search the prefixes for the patch that causes a failure.
    Bisect,
    /// Make and test the series without the culprit, and the base.
    Revert,
    /// Stop everything the run started.
    Teardown,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Build => "build",
            Phase::Cluster => "cluster",
            Phase::Image => "image",
            Phase::Guest => "guest",
            Phase::Bisect => "bisect",
            Phase::Revert => "revert",
            Phase::Teardown => "teardown",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    RunStarted {
        run_id: String,
        series: String,
        patches: usize,
        job: String,
    },
    PhaseStarted {
        phase: Phase,
        detail: String,
    },
    /// Progress inside a phase ("prefix 3/6 built in 2.1 s", "mds active").
    Progress {
        phase: Phase,
        message: String,
    },
    PhaseFinished {
        phase: Phase,
        seconds: f64,
        ok: bool,
    },
    PatchApplied {
        index: usize,
        subject: String,
        ok: bool,
    },
    PrefixBuilt {
        index: usize,
        ok: bool,
        seconds: f64,
    },
    /// A guest console line (the store does not need these; the terminal may show the latest).
    ConsoleLine {
        prefix: usize,
        line: String,
    },
    Finding {
        finding: Finding,
    },
    /// A guest boot ended (the store records it at once: a resumed run need not repeat it).
    Attempt {
        record: Box<crate::report::AttemptRecord>,
    },
    /// The base's first boot measured its hazard profile (the store keeps it for runs of the same
    /// kernel and job that do not boot the base).
    BaseProfile {
        evictions: std::collections::BTreeMap<String, u64>,
    },
    Verdict {
        verdict: Verdict,
        reason: String,
    },
    RunFinished {
        report: Box<Report>,
    },
}

/// Anything that consumes events, each with `elapsed`: seconds since the run started (its
/// `RunStarted`). Implementations must be cheap: they are called inline.
pub trait EventSink: Send + Sync {
    fn emit(&self, elapsed: f64, event: &Event);
}
