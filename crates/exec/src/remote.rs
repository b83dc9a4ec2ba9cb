//! Boots made elsewhere: a bisection round's boots as units of a batch system (`executor:
//! slurm`; the cli's Slurm submitter implements [`RemoteBoots`]). The pipeline hands over a
//! round's boots at once and records what comes back as it records a boot of its own (the
//! attempt, its findings, its console among the run's artifacts); it knows nothing of Slurm.

use std::path::Path;

pub use futures::future::LocalBoxFuture;
use harness_core::slurm::{BootResult, BootUnit};

/// Something that boots prefixes of the run's series elsewhere, each on a machine of its own.
pub trait RemoteBoots {
    /// Where the boots are made, for the progress (`Slurm`).
    fn name(&self) -> &str;

    /// Boots per bisection round (units at once).
    fn slots(&self) -> usize;

    /// Boot each of `units` once, all at once; their results in the order of `units`. A boot
    /// that could not be made (the batch system failed it, or its machine could not build or
    /// start) is an `infra-error` [`BootResult`], not an `Err` (that is the harness's own fault
    /// here, e.g. a shared directory it cannot write). Each unit's console and its other
    /// artifacts are in `artifacts` (the run's) once its result is returned. Dropping the
    /// future cancels the units still queued or running.
    fn boot_many<'a>(
        &'a self,
        units: &'a [BootUnit],
        artifacts: &'a Path,
        progress: &'a dyn Fn(String),
    ) -> LocalBoxFuture<'a, crate::Result<Vec<BootResult>>>;
}
