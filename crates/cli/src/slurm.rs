//! `harness nightly --executor slurm`: each job of the suite becomes a unit, a Slurm job that
//! runs `harness unit` on a node and writes into its directory of the shared results directory
//! (`unit`). This process alone writes the store: it records each run when its unit is
//! submitted, collects units as Slurm says they ended (`squeue`), records their guest boots,
//! artifacts and report so the stored run has the shape of a local one, records a unit Slurm
//! failed as `infra-error` with Slurm's state as evidence (`core::slurm::judge`), and cancels
//! what is still queued or running on Ctrl-C (`scancel`).

use std::time::{Duration, Instant};

use anyhow::Context;
use harness_core::job::SlurmSpec;
use harness_core::report::{Report, SeriesSummary};
use harness_core::slurm::{judge, UnitFiles, UnitOutcome};
use harness_exec::proc::Procs;
use harness_exec::slurm::{Slurm, Submit};
use harness_store::{RunRow, Store};

use crate::exit::{self, chain, Fail};
use crate::prepare::{Prepared, RunRecord};
use crate::unit::{read_events, UnitDir, UnitEvent, UnitFile, UnitSpec};

/// How often the units' states are asked for.
pub(crate) const POLL: Duration = Duration::from_secs(2);
/// `squeue` failing this long in a row (slurmctld gone): the units left are infrastructure faults.
pub(crate) const SLURM_GONE: Duration = Duration::from_secs(300);
/// After `scancel`, how long to wait for the units to end (Slurm's KillWait is 30 s by default).
pub(crate) const CANCEL_WAIT: Duration = Duration::from_secs(90);

/// A job to run as a unit: a new run, or an interrupted run of a resumed nightly.
pub(crate) struct Work {
    pub(crate) prep: Prepared,
    pub(crate) again: Option<RunRow>,
}

/// What became of each job, in the order given: its exit code and report (`None` when it was
/// not collected because the nightly was interrupted).
pub(crate) struct Collected {
    pub(crate) results: Vec<Option<(u8, Option<Report>)>>,
    pub(crate) interrupted: bool,
}

struct Unit {
    job: harness_core::job::Job,
    run_id: String,
    started_at: String,
    series: SeriesSummary,
    dir: UnitDir,
    slurm_id: Option<u64>,
    profile_key: Option<String>,
    t0: Instant,
    done: Option<(u8, Option<Report>)>,
}

pub(crate) fn run_units(
    results: &std::path::Path,
    nightly: &str,
    spec: &SlurmSpec,
    work: Vec<Work>,
) -> Result<Collected, Fail> {
    let mut store = Store::open(results)?;
    let slurm = Slurm {
        conf: spec.conf.clone(),
    };
    let harness = match &spec.harness {
        Some(h) => h.clone(),
        None => std::env::current_exe().context("the harness's own path")?,
    };
    let base = spec.shared_dir.join(nightly);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let procs = Procs::new();
    let mut units = Vec::new();
    for w in work {
        units.push(begin(&store, nightly, &base, spec, w)?);
    }
    // Submit every unit; Slurm schedules them.
    for u in &mut units {
        std::fs::write(
            u.dir.script(),
            harness_exec::slurm::unit_script(&harness, &u.dir.0),
        )
        .with_context(|| u.dir.script().display().to_string())?;
        set_mode(&u.dir.script(), 0o755)?;
        let s = Submit {
            name: harness_core::slurm::unit_name(nightly, &u.job.name),
            partition: spec.partition.clone(),
            time: spec
                .time
                .unwrap_or_else(|| harness_core::slurm::time_limit(&u.job, u.series.patch_count)),
            dir: u.dir.0.clone(),
            output: u.dir.slurm_log(),
            cpus: spec.cpus,
            script: u.dir.script(),
        };
        match rt.block_on(slurm.submit(&procs, &s)) {
            Ok(id) => {
                eprintln!(
                    "harness: nightly job {}: run {} is Slurm job {id} ({}, --time {} min)",
                    u.job.name,
                    u.run_id,
                    s.name,
                    harness_core::slurm::minutes(s.time)
                );
                u.slurm_id = Some(id);
            }
            Err(e) => {
                let evidence = format!("sbatch failed: {}", chain(&e.into()));
                record_infra(&mut store, u, &evidence)?;
            }
        }
    }
    let interrupted = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            r = collect(&mut store, &slurm, &procs, &mut units) => r.map(|()| false),
            _ = tokio::signal::ctrl_c() => Ok(true),
            _ = term.recv() => Ok(true),
            _ = hup.recv() => Ok(true),
        }
    });
    // Whatever ended the wait (done, a signal, an error), nothing of ours stays queued.
    let open: Vec<u64> = units
        .iter()
        .filter(|u| u.done.is_none())
        .filter_map(|u| u.slurm_id)
        .collect();
    if !open.is_empty() {
        eprintln!(
            "harness: cancelling Slurm job(s) {}",
            open.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
        rt.block_on(cancel_and_wait(&slurm, &procs, &open));
        for u in units.iter_mut().filter(|u| u.done.is_none()) {
            // Its boots so far are kept, so `harness resume` need not make them again.
            take_events(&store, u);
            store.interrupt_run(
                &u.run_id,
                &format!(
                    "interrupted: slurm job {} cancelled",
                    u.slurm_id.map(|i| i.to_string()).unwrap_or("-".into())
                ),
            )?;
        }
    }
    procs.stop_all();
    let interrupted = interrupted?;
    Ok(Collected {
        results: units.into_iter().map(|u| u.done).collect(),
        interrupted,
    })
}

/// Record the run (or take the interrupted one over) and write the unit's spec.
fn begin(
    store: &Store,
    nightly: &str,
    base: &std::path::Path,
    slurm: &SlurmSpec,
    w: Work,
) -> Result<Unit, Fail> {
    let prep = w.prep;
    let (run_id, started_at, replay) = match &w.again {
        None => {
            let (run_id, started_at) = crate::cmd::run::begin_new_run(store, &prep)?;
            store.attach_to_nightly(&run_id, nightly)?;
            (run_id, started_at, Vec::new())
        }
        Some(row) => {
            store
                .claim_resume(&row.id)
                .map_err(crate::exit::bad_input)?;
            (
                row.id.clone(),
                row.started_at.clone(),
                store.attempts(&row.id)?,
            )
        }
    };
    let profile_key = crate::cmd::run::base_profile_key(&prep.job);
    let base_profile = match &profile_key {
        Some(k) => store.base_profile(k)?,
        None => None,
    };
    let dir = UnitDir(base.join(&run_id));
    // A resumed run's unit starts from a clean directory (its boots come back as `replay`).
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.artifacts()).with_context(|| dir.0.display().to_string())?;
    let spec = UnitSpec {
        run_id: run_id.clone(),
        started_at: started_at.clone(),
        record: RunRecord {
            job: prep.job_src.clone(),
            sources: prep.sources.clone(),
            overrides: prep.overrides.clone(),
            // The nodes' cache (`slurm.cache`), else the submitter's `--cache`.
            cache: slurm.cache.clone().or_else(|| prep.cache.clone()),
        },
        series: prep.raw.clone(),
        replay,
        base_profile,
    };
    std::fs::write(dir.spec(), serde_json::to_vec_pretty(&UnitFile::Run(spec))?)
        .with_context(|| dir.spec().display().to_string())?;
    Ok(Unit {
        series: SeriesSummary {
            subject: prep.series.title(),
            patch_count: prep.series.patches.len(),
            sources: prep.sources.clone(),
        },
        job: prep.job,
        run_id,
        started_at,
        dir,
        slurm_id: None,
        profile_key,
        t0: Instant::now(),
        done: None,
    })
}

/// Ask Slurm until every unit has ended, recording each as it does.
async fn collect(
    store: &mut Store,
    slurm: &Slurm,
    procs: &Procs,
    units: &mut [Unit],
) -> Result<(), Fail> {
    let mut failing_since: Option<Instant> = None;
    loop {
        let open: Vec<u64> = units
            .iter()
            .filter(|u| u.done.is_none())
            .filter_map(|u| u.slurm_id)
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        match slurm.states(procs, &open).await {
            Ok(seen) => {
                failing_since = None;
                for u in units.iter_mut().filter(|u| u.done.is_none()) {
                    let Some(id) = u.slurm_id else { continue };
                    let s = seen.get(&id);
                    let files = UnitFiles {
                        report: u.dir.report().is_file(),
                        error: std::fs::read_to_string(u.dir.error())
                            .ok()
                            .map(|e| e.trim().to_string()),
                    };
                    let reason = s.map(|s| s.reason.as_str()).unwrap_or("");
                    match judge(id, s.map(|s| &s.state), reason, &files) {
                        UnitOutcome::Waiting => {}
                        UnitOutcome::Report => record_report(store, u)?,
                        UnitOutcome::Infra(evidence) => record_infra(store, u, &evidence)?,
                    }
                }
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                eprintln!("harness: slurm: {}", chain(&e.into()));
                if since.elapsed() > SLURM_GONE {
                    let evidence = format!(
                        "Slurm did not answer for {} s (squeue failing); the unit's state is unknown",
                        SLURM_GONE.as_secs()
                    );
                    for u in units.iter_mut().filter(|u| u.done.is_none()) {
                        record_infra(store, u, &evidence)?;
                    }
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

pub(crate) async fn cancel_and_wait(slurm: &Slurm, procs: &Procs, ids: &[u64]) {
    if let Err(e) = slurm.cancel(procs, ids).await {
        eprintln!("harness: scancel: {}", chain(&e.into()));
    }
    let t0 = Instant::now();
    while t0.elapsed() < CANCEL_WAIT {
        match slurm.states(procs, ids).await {
            Ok(seen) if seen.values().all(|s| s.state.ended()) => return,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    eprintln!(
        "harness: Slurm job(s) still not ended {} s after scancel",
        CANCEL_WAIT.as_secs()
    );
}

/// Record the guest boots and the base profile the unit wrote (as a local run's `Recorder`
/// does the moment they happen).
fn take_events(store: &Store, u: &Unit) {
    for ev in read_events(&u.dir.events()) {
        let r = match ev {
            UnitEvent::Attempt { record } => store.record_attempt(&u.run_id, &record),
            UnitEvent::BaseProfile { evictions } => match &u.profile_key {
                Some(key) => store.save_base_profile(
                    key,
                    &harness_core::report::BaseProfile {
                        run_id: u.run_id.clone(),
                        evictions,
                    },
                ),
                None => Ok(()),
            },
        };
        if let Err(e) = r {
            eprintln!("harness: results store: run {}: {e}", u.run_id);
        }
    }
    if let Err(e) = store.import_artifacts(&u.run_id, &u.dir.artifacts()) {
        eprintln!("harness: results store: run {}: artifacts: {e}", u.run_id);
    }
}

fn record_report(store: &mut Store, u: &mut Unit) -> Result<(), Fail> {
    let path = u.dir.report();
    let read = std::fs::read_to_string(&path)
        .with_context(|| path.display().to_string())
        .and_then(|t| {
            serde_json::from_str::<Report>(&t).with_context(|| path.display().to_string())
        });
    let report = match read {
        Ok(r) if r.run_id == u.run_id => r,
        Ok(r) => {
            let e = format!("the unit's report is of run {}, not {}", r.run_id, u.run_id);
            return record_infra(store, u, &e);
        }
        Err(e) => return record_infra(store, u, &format!("unreadable report: {}", chain(&e))),
    };
    take_events(store, u);
    store.finish_run(&report)?;
    crate::render::print_report(&report, &store.artifact_dir(&u.run_id));
    u.done = Some((exit::verdict_code(report.verdict), Some(report)));
    Ok(())
}

fn record_infra(store: &mut Store, u: &mut Unit, evidence: &str) -> Result<(), Fail> {
    take_events(store, u);
    let report = harness_core::slurm::infra_report(
        &u.run_id,
        u.series.clone(),
        &u.job,
        &u.started_at,
        u.t0.elapsed().as_secs_f64(),
        evidence,
    );
    store.finish_run(&report)?;
    eprintln!(
        "harness: nightly job {}: run {}: infra-error: {evidence}",
        u.job.name, u.run_id
    );
    u.done = Some((exit::verdict_code(report.verdict), Some(report)));
    Ok(())
}

pub(crate) fn set_mode(p: &std::path::Path, mode: u32) -> Result<(), Fail> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| p.display().to_string())?;
    Ok(())
}
