//! `test`, `bisect`, `bench` and `resume`: run a prepared series and report it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use harness_core::report::Report;
use harness_store::Store;

use crate::args::*;
use crate::exit::verdict_code;
use crate::exit::{self, bad_input, Fail};
use crate::prepare::*;
use crate::render::*;
use crate::{github, reporter};

/// Where a run's results go besides the store and the terminal.
#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) json: Option<PathBuf>,
    pub(crate) bench: bool,
    pub(crate) github: Option<(github::Client, harness_github::Target)>,
    /// The nightly the run belongs to (it prints its own summary).
    pub(crate) nightly: Option<String>,
}

pub(crate) fn test(results: &Path, args: TestArgs, bench: bool) -> Result<u8, Fail> {
    let github = github::for_test(&args.github)?;
    let prep = prepare(
        args.job.as_deref(),
        &args.input,
        Overrides::of(&args),
        args.cache.clone(),
    )?;
    let out = Outputs {
        json: args.json.clone(),
        bench,
        github,
        nightly: None,
    };
    Ok(execute(results, prep, None, &out)?.0)
}

pub(crate) fn resume(
    results: &Path,
    run: &str,
    gh: &GithubArgs,
    json: Option<PathBuf>,
) -> Result<u8, Fail> {
    let github = github::for_test(gh)?;
    let store = Store::open(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    let prep = prepare_saved(&store, &id)?;
    drop(store);
    let out = Outputs {
        json,
        bench: false,
        github,
        nightly: None,
    };
    Ok(execute(results, prep, Some(&id), &out)?.0)
}

/// Run (or, with `resume`, continue) a prepared run; the exit code and, once it finished, its report.
pub(crate) fn execute(
    results: &Path,
    prep: Prepared,
    resume: Option<&str>,
    out: &Outputs,
) -> Result<(u8, Option<Report>), Fail> {
    harness_exec::preflight::check(&prep.job).map_err(Fail::preflight)?;
    let mut store = Store::open(results).map_err(|e| Fail::Infra(e.into()))?;
    let (run_id, started_at, replay) = match resume {
        None => {
            let (run_id, started_at) = begin_new_run(&store, &prep)?;
            if let Some(n) = &out.nightly {
                store.attach_to_nightly(&run_id, n)?;
            }
            (run_id, started_at, Vec::new())
        }
        Some(id) => {
            store.claim_resume(id).map_err(bad_input)?;
            let row = store.row(id)?;
            let replay = store.attempts(id)?;
            eprintln!(
                "harness: resuming run {id} (started {}): {} guest boot(s) recorded, not made again",
                row.started_at,
                replay.len()
            );
            (id.to_string(), row.started_at, replay)
        }
    };
    let artifacts = store.artifact_dir(&run_id);
    let terminal = reporter::Terminal::new(&prep.series);
    for d in &prep.series.diagnostics {
        terminal.note(&format!("series: {}: {}", d.origin, d.message));
    }
    let profile_key = base_profile_key(&prep.job);
    let base_profile = match &profile_key {
        Some(k) => store.base_profile(k)?,
        None => None,
    };
    // `executor: slurm`: the bisection's boots are Slurm units (the test's own stay here).
    let boot_units = match (prep.job.executor, &prep.job.slurm) {
        (harness_core::job::Executor::Slurm, Some(spec)) => Some(std::sync::Arc::new(
            crate::boot_units::SlurmBoots::new(spec, &run_id, &started_at, &prep)?,
        )),
        _ => None,
    };
    let remote = boot_units
        .clone()
        .map(|b| b as std::sync::Arc<dyn harness_exec::remote::RemoteBoots>);
    let sink = reporter::Recorder {
        terminal: &terminal,
        store: std::sync::Mutex::new(Store::open(results)?),
        run_id: run_id.clone(),
        profile_key,
    };
    let input = harness_exec::pipeline::RunInput {
        run_id: run_id.clone(),
        job: prep.job,
        series: prep.series,
        sources: prep.sources,
        artifacts,
        cache: prep
            .cache
            .clone()
            .unwrap_or_else(harness_exec::default_cache_dir),
        started_at,
        replay,
        base_profile,
        remote,
        one_boot: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // A closed terminal (SIGHUP) ends a run like Ctrl-C does: with its teardown.
    let outcome = run_until_signal(&rt, input, &sink)?;
    // The pipeline future has been dropped here: its processes, namespace and temp dir are gone;
    // its Slurm units cancelled, and now ended.
    if let Some(b) = &boot_units {
        b.settle(&rt);
    }
    let report = match outcome {
        None => {
            terminal.finish();
            store.interrupt_run(&run_id, "interrupted by a signal")?;
            eprintln!(
                "harness: run {run_id} interrupted; everything it started has been stopped \
                 (`harness resume {run_id}` continues it)"
            );
            return Ok((exit::INTERRUPTED, None));
        }
        Some(Err(e)) => {
            terminal.finish();
            store.interrupt_run(&run_id, &e.to_string())?;
            return Err(Fail::Infra(e.into()));
        }
        Some(Ok(r)) => r,
    };
    terminal.finish();
    store.finish_run(&report)?;
    if let Some(j) = &out.json {
        write_json(j, &report)?;
    }
    print_report(&report, &store.artifact_dir(&run_id));
    if out.bench {
        print_bench(&report);
    }
    if let Some((client, target)) = &out.github {
        github::post(&rt, client, &report, target);
    }
    Ok((verdict_code(report.verdict), Some(report)))
}

/// Record a new run of `prep` as running, with its inputs saved for `harness resume`: its id
/// and start time.
pub(crate) fn begin_new_run(store: &Store, prep: &Prepared) -> Result<(String, String), Fail> {
    let run_id = Store::new_run_id();
    let started_at = Store::now();
    store.begin_run(
        &run_id,
        &started_at,
        &prep.series.title(),
        prep.series.patches.len(),
        &prep.job.name,
    )?;
    save_inputs(store, &run_id, prep)?;
    Ok((run_id, started_at))
}

/// Run the pipeline, raced against Ctrl-C, SIGTERM (`kill`, `scancel`, a Slurm time limit) and
/// SIGHUP (a closed terminal): `None` if a signal came first. Either way the pipeline future
/// has been dropped on return, so its processes, namespace and temp dir are gone.
pub(crate) fn run_until_signal(
    rt: &tokio::runtime::Runtime,
    input: harness_exec::pipeline::RunInput,
    sink: &dyn harness_core::event::EventSink,
) -> Result<Option<harness_exec::Result<Report>>, Fail> {
    until_signal(rt, harness_exec::pipeline::run(input, sink))
}

/// `run` raced against Ctrl-C, SIGTERM and SIGHUP (see [`run_until_signal`]): `None` if a
/// signal came first (`run` has been dropped then).
pub(crate) fn until_signal<T>(
    rt: &tokio::runtime::Runtime,
    run: impl std::future::Future<Output = T>,
) -> Result<Option<T>, Fail> {
    let outcome = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            r = run => Ok(Some(r)),
            _ = tokio::signal::ctrl_c() => Ok::<_, std::io::Error>(None),
            _ = term.recv() => Ok(None),
            _ = hup.recv() => Ok(None),
        }
    })?;
    Ok(outcome)
}

/// Write `value` as JSON to `path` atomically (a temp file renamed): a reader sees all or nothing.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), Fail> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)?)
        .with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
    Ok(())
}

/// Where the base's hazard profile of this job is kept: its kernel, the contents of its base
/// patches (read now: an edited patch is another base) and its guest work.
pub(crate) fn base_profile_key(job: &harness_core::job::Job) -> Option<String> {
    let harness_core::job::KernelSpec::DistroModule { base_patches, .. } = &job.kernel else {
        return None;
    };
    let contents: Option<Vec<Vec<u8>>> =
        base_patches.iter().map(|p| std::fs::read(p).ok()).collect();
    harness_core::job::profile_key(job, &contents?)
}
