//! `executor: slurm` for `harness test`/`bisect`: the bisection's boots as Slurm units. The
//! pipeline hands a round's boots to [`SlurmBoots`] (its `exec::remote::RemoteBoots`); each
//! becomes a unit in `shared_dir/<run>/<boot>/` (`unit::BootSpec`: the series' bytes, the job
//! record, the prefix and its boot plan), submitted at once with `sbatch` (`--time` from
//! `core::slurm::boot_time_limit`, named `core::slurm::boot_unit_name`). It polls `squeue`
//! until each has ended, judges it (`core::slurm::judge`: its result, or an infrastructure
//! fault with Slurm's state) and copies its console and Slurm's log into the run's artifacts;
//! the pipeline records the boot as it records its own. A dropped round (Ctrl-C) cancels the
//! units still queued or running (`scancel`). The store is written only by this process (the
//! Recorder, from the pipeline's events); a unit writes only its own directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use harness_core::job::{Job, SlurmSpec};
use harness_core::slurm::{
    self as core_slurm, judge, BootResult, BootUnit, UnitFiles, UnitOutcome,
};
use harness_exec::proc::Procs;
use harness_exec::remote::{LocalBoxFuture, RemoteBoots};
use harness_exec::slurm::{Slurm, Submit};

use crate::exit::{chain, Fail};
use crate::prepare::{Prepared, RawInputs, RunRecord};
use crate::slurm::{set_mode, POLL, SLURM_GONE};
use crate::unit::{BootSpec, UnitDir, UnitFile};

/// The bisection's boots of one run, as Slurm units.
pub(crate) struct SlurmBoots {
    slurm: Slurm,
    spec: SlurmSpec,
    /// The harness binary on the nodes.
    harness: PathBuf,
    /// `shared_dir/<run id>`: one directory per boot below it.
    base: PathBuf,
    run_id: String,
    started_at: String,
    record: RunRecord,
    series: RawInputs,
    job: Job,
    procs: Procs,
    /// Units submitted and not yet taken: cancelled when their round is dropped (Ctrl-C), and
    /// waited for by [`SlurmBoots::settle`].
    in_flight: std::sync::Mutex<Vec<u64>>,
}

impl SlurmBoots {
    pub(crate) fn new(
        spec: &SlurmSpec,
        run_id: &str,
        started_at: &str,
        prep: &Prepared,
    ) -> Result<SlurmBoots, Fail> {
        let harness = match &spec.harness {
            Some(h) => h.clone(),
            None => std::env::current_exe().context("the harness's own path")?,
        };
        Ok(SlurmBoots {
            slurm: Slurm {
                conf: spec.conf.clone(),
            },
            spec: spec.clone(),
            harness,
            base: spec.shared_dir.join(run_id),
            run_id: run_id.to_string(),
            started_at: started_at.to_string(),
            record: RunRecord {
                job: prep.job_src.clone(),
                sources: prep.sources.clone(),
                overrides: prep.overrides.clone(),
                // The nodes' cache: on one machine it must not be the submitter's (the
                // submitter holds its source tree for the whole run).
                cache: spec.cache.clone().or_else(|| prep.cache.clone()),
            },
            series: prep.raw.clone(),
            job: prep.job.clone(),
            procs: Procs::new(),
            in_flight: Default::default(),
        })
    }

    /// After the run was dropped (a signal): cancel what is still queued or running (the
    /// dropped round did already) and wait for Slurm to end it, so nothing of the run is left.
    pub(crate) fn settle(&self, rt: &tokio::runtime::Runtime) {
        let ids = std::mem::take(&mut *self.in_flight.lock().unwrap());
        if !ids.is_empty() {
            rt.block_on(crate::slurm::cancel_and_wait(
                &self.slurm,
                &self.procs,
                &ids,
            ));
        }
    }

    /// Write the unit's directory and submit it: its Slurm job id, or why it could not be.
    async fn submit(&self, u: &BootUnit) -> Result<u64, String> {
        let dir = self.dir(u);
        let write = || -> anyhow::Result<()> {
            // A resumed run's boot starts from a clean directory.
            let _ = std::fs::remove_dir_all(&dir.0);
            std::fs::create_dir_all(dir.artifacts())
                .with_context(|| dir.artifacts().display().to_string())?;
            let spec = UnitFile::Boot(BootSpec {
                run_id: self.run_id.clone(),
                started_at: self.started_at.clone(),
                record: self.record.clone(),
                series: self.series.clone(),
                boot: u.clone(),
            });
            std::fs::write(dir.spec(), serde_json::to_vec_pretty(&spec)?)
                .with_context(|| dir.spec().display().to_string())?;
            std::fs::write(
                dir.script(),
                harness_exec::slurm::unit_script(&self.harness, &dir.0),
            )
            .with_context(|| dir.script().display().to_string())?;
            set_mode(&dir.script(), 0o755).map_err(|f| anyhow::anyhow!(chain(f.error())))?;
            Ok(())
        };
        write().map_err(|e| format!("the unit's directory: {}", chain(&e)))?;
        let s = Submit {
            name: core_slurm::boot_unit_name(&self.run_id, u),
            partition: self.spec.partition.clone(),
            time: self
                .spec
                .time
                .unwrap_or_else(|| core_slurm::boot_time_limit(&self.job, &u.plan)),
            dir: dir.0.clone(),
            output: dir.slurm_log(),
            cpus: self.spec.cpus,
            script: dir.script(),
        };
        self.slurm
            .submit(&self.procs, &s)
            .await
            .map_err(|e| format!("sbatch failed: {}", chain(&e.into())))
    }

    fn dir(&self, u: &BootUnit) -> UnitDir {
        UnitDir(self.base.join(u.stem()))
    }

    /// The unit's result once Slurm says it ended; its artifacts copied into the run's.
    fn collect(
        &self,
        u: &BootUnit,
        outcome: UnitOutcome,
        artifacts: &Path,
        t0: Instant,
    ) -> BootResult {
        let dir = self.dir(u);
        copy_artifacts(&dir, u, artifacts);
        let seconds = t0.elapsed().as_secs_f64();
        match outcome {
            UnitOutcome::Infra(evidence) => BootResult::infra(evidence, seconds),
            UnitOutcome::Waiting | UnitOutcome::Report => {
                let path = dir.result();
                let read = std::fs::read_to_string(&path)
                    .with_context(|| path.display().to_string())
                    .and_then(|t| {
                        serde_json::from_str::<BootResult>(&t)
                            .with_context(|| path.display().to_string())
                    });
                match read {
                    Ok(r)
                        if r.attempt
                            .as_ref()
                            .is_none_or(|a| a.console == u.console || is_retry(&a.console, u)) =>
                    {
                        r
                    }
                    Ok(_) => BootResult::infra(
                        format!("the unit's result is not of boot {}", u.console),
                        seconds,
                    ),
                    Err(e) => {
                        BootResult::infra(format!("unreadable result: {}", chain(&e)), seconds)
                    }
                }
            }
        }
    }

    async fn boot_all(
        &self,
        units: &[BootUnit],
        artifacts: &Path,
        progress: &dyn Fn(String),
    ) -> harness_exec::Result<Vec<BootResult>> {
        let t0 = Instant::now();
        let mut done: Vec<Option<BootResult>> = vec![None; units.len()];
        let mut ids: Vec<Option<u64>> = vec![None; units.len()];
        for (i, u) in units.iter().enumerate() {
            match self.submit(u).await {
                Ok(id) => {
                    progress(format!(
                        "{}: Slurm job {id} ({})",
                        u.what,
                        core_slurm::boot_unit_name(&self.run_id, u)
                    ));
                    ids[i] = Some(id);
                }
                Err(e) => done[i] = Some(BootResult::infra(e, 0.0)),
            }
        }
        // Dropped before every unit has ended (Ctrl-C): the rest are cancelled.
        *self.in_flight.lock().unwrap() = ids.iter().flatten().copied().collect();
        let _guard = Cancel {
            slurm: &self.slurm,
            ids: &self.in_flight,
        };
        let mut failing_since: Option<Instant> = None;
        while done.iter().any(Option::is_none) {
            let open: Vec<u64> = self.in_flight.lock().unwrap().clone();
            match self.slurm.states(&self.procs, &open).await {
                Ok(seen) => {
                    failing_since = None;
                    for (i, u) in units.iter().enumerate() {
                        let (Some(id), None) = (ids[i], &done[i]) else {
                            continue;
                        };
                        let s = seen.get(&id);
                        let dir = self.dir(u);
                        let files = UnitFiles {
                            report: dir.result().is_file(),
                            error: std::fs::read_to_string(dir.error())
                                .ok()
                                .map(|e| e.trim().to_string()),
                        };
                        let reason = s.map(|s| s.reason.as_str()).unwrap_or("");
                        let outcome = judge(id, s.map(|s| &s.state), reason, &files);
                        if outcome != UnitOutcome::Waiting {
                            done[i] = Some(self.collect(u, outcome, artifacts, t0));
                            self.in_flight.lock().unwrap().retain(|x| *x != id);
                        }
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    progress(format!("slurm: {}", chain(&e.into())));
                    if since.elapsed() > SLURM_GONE {
                        let evidence = format!(
                            "Slurm did not answer for {} s (squeue failing); the unit's state is unknown",
                            SLURM_GONE.as_secs()
                        );
                        for (i, u) in units.iter().enumerate() {
                            if done[i].is_none() {
                                let o = UnitOutcome::Infra(evidence.clone());
                                done[i] = Some(self.collect(u, o, artifacts, t0));
                            }
                        }
                        // Left to the guard: they may still be queued.
                        break;
                    }
                }
            }
            if done.iter().any(Option::is_none) {
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(done
            .into_iter()
            .map(|r| r.expect("every unit judged"))
            .collect())
    }
}

impl RemoteBoots for SlurmBoots {
    fn name(&self) -> &str {
        "Slurm"
    }

    fn slots(&self) -> usize {
        // A round's units at once: the job's `guests.parallel` (one by default).
        self.job.guests.parallel.unwrap_or(1).max(1) as usize
    }

    fn boot_many<'a>(
        &'a self,
        units: &'a [BootUnit],
        artifacts: &'a Path,
        progress: &'a dyn Fn(String),
    ) -> LocalBoxFuture<'a, harness_exec::Result<Vec<BootResult>>> {
        Box::pin(self.boot_all(units, artifacts, progress))
    }
}

/// Cancels its units when dropped: a round given up midway (Ctrl-C drops the run) leaves
/// nothing queued or running.
struct Cancel<'a> {
    slurm: &'a Slurm,
    /// Left in place: [`SlurmBoots::settle`] waits for them to end.
    ids: &'a std::sync::Mutex<Vec<u64>>,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        let ids = self.ids.lock().unwrap().clone();
        if ids.is_empty() {
            return;
        }
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        eprintln!("harness: cancelling Slurm job(s) {}", list.join(" "));
        if let Err(e) = self.slurm.cancel_sync(&ids) {
            eprintln!("harness: scancel: {}", chain(&e.into()));
        }
    }
}

/// A console of an early-boot retry of the same boot (`<console>-early-retry-N.log`).
fn is_retry(console: &str, u: &BootUnit) -> bool {
    console.starts_with(u.console.trim_end_matches(".log"))
}

/// The boot's artifacts (its console and everything else named after it: early-retry consoles,
/// the cluster's health, fstests' files) into the run's `artifacts`, and Slurm's log of the
/// unit as `slurm-<boot>.log`. What cannot be copied is only missing there.
fn copy_artifacts(dir: &UnitDir, u: &BootUnit, artifacts: &Path) {
    let stem = u.stem();
    if let Ok(rd) = std::fs::read_dir(dir.artifacts()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(stem) {
                copy_tree(&e.path(), &artifacts.join(&name));
            }
        }
    }
    let _ = std::fs::copy(dir.slurm_log(), artifacts.join(format!("slurm-{stem}.log")));
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        let _ = std::fs::create_dir_all(to);
        if let Ok(rd) = std::fs::read_dir(from) {
            for e in rd.flatten() {
                copy_tree(&e.path(), &to.join(e.file_name()));
            }
        }
    } else if from.is_file() {
        let _ = std::fs::copy(from, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::bisect::policy::BootPlan;

    #[test]
    fn a_boots_artifacts_and_slurms_log_are_the_runs() {
        let d = tempfile::tempdir().unwrap();
        let dir = UnitDir(d.path().join("unit"));
        std::fs::create_dir_all(dir.artifacts().join("fstests-bisect-02-prefix-1")).unwrap();
        for f in [
            "console-bisect-02-prefix-1.log",
            "console-bisect-02-prefix-1-early-retry-1.log",
            "cluster-health-bisect-02-prefix-1.txt",
            "fstests-bisect-02-prefix-1/generic-313.full",
            "build-prefix-1.log",
            "ceph-prefix-1.ko",
            "slurm-unit.log",
        ] {
            std::fs::write(dir.artifacts().join(f), f).unwrap();
        }
        let u = BootUnit {
            prefix: 1,
            variant: "prefix-1".into(),
            console: "console-bisect-02-prefix-1.log".into(),
            what: "bisect run 2: prefix 1".into(),
            plan: BootPlan {
                workloads: vec![],
                all: true,
                stop_at: None,
                cut: None,
                probes: false,
            },
        };
        let run = d.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        copy_artifacts(&dir, &u, &run);
        let mut got: Vec<String> = walk(&run);
        got.sort();
        assert_eq!(
            got,
            [
                "cluster-health-bisect-02-prefix-1.txt",
                "console-bisect-02-prefix-1-early-retry-1.log",
                "console-bisect-02-prefix-1.log",
                "fstests-bisect-02-prefix-1/generic-313.full",
                "slurm-bisect-02-prefix-1.log",
            ]
        );
        assert!(is_retry("console-bisect-02-prefix-1-early-retry-2.log", &u));
        assert!(!is_retry("console-bisect-03-prefix-1.log", &u));
    }

    fn walk(d: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
            } else {
                out.push(name);
            }
        }
        out
    }
}
