//! The pure core of cephfs-harness.
//!
//! Everything here is plain data and synchronous functions over it: no process, no sleep, no file,
//! no socket. The executor (`harness-exec`) does the I/O and feeds results back in.

pub mod bisect;
pub mod boot;
pub mod coverage;
pub mod decide;
pub mod diff;
pub mod event;
pub mod finding;
pub mod fix;
pub mod health;
pub mod job;
pub mod modules;
pub mod nightly;
pub mod plan;
pub mod probe;
pub mod report;
pub mod series;
pub mod slurm;
pub mod text;
pub mod verdict;
pub mod wording;

pub use event::{Event, EventSink, Phase};
pub use finding::{Finding, FindingKind};
pub use report::{PrefixResult, Report, TestResult};
pub use series::{Patch, Series};
pub use verdict::{GuestExit, Verdict};
