//! Series + job + command-line overrides → a prepared run, shared by test, bisect, bench,
//! nightly and resume (which starts from the inputs a run saved).

use std::path::{Path, PathBuf};

use anyhow::Context;
use harness_core::job::{Job, KernelSpec};
use harness_core::series::{self, Series, Severity};
use harness_store::Store;

use crate::args::*;
use crate::block_on;
use crate::exit::{bad_input, Fail};

/// The default job is a file in `jobs/`, embedded so the binary works from anywhere; its relative
/// paths resolve against the repository's `jobs/` directory it was built from.
pub(crate) const DEFAULT_JOB: &str = include_str!("../../../jobs/default.yaml");
pub(crate) const JOBS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs");

/// A job's text and where its relative paths resolve (kept so a run can be resumed).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct JobSource {
    pub(crate) text: String,
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
}

pub(crate) fn load_job(path: Option<&Path>) -> Result<(Job, JobSource), Fail> {
    let (text, name, dir) = match path {
        None => (
            DEFAULT_JOB.to_string(),
            "jobs/default.yaml (embedded)".to_string(),
            PathBuf::from(JOBS_DIR),
        ),
        Some(p) => {
            let named = Path::new(JOBS_DIR).join(p).with_extension("yaml");
            let p = if !p.exists() && p.components().count() == 1 && named.exists() {
                named.as_path()
            } else {
                p
            };
            let text = std::fs::read_to_string(p)
                .with_context(|| p.display().to_string())
                .map_err(bad_input)?;
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            // Absolute: the job's paths are used from other working directories (git -C).
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            (text, p.display().to_string(), dir)
        }
    };
    let src = JobSource { text, name, dir };
    let job = job_from_source(&src)?;
    Ok((job, src))
}

pub(crate) fn job_from_source(src: &JobSource) -> Result<Job, Fail> {
    let JobSource { text, name, dir } = src;
    let job = Job::from_yaml(text, name, dir).map_err(bad_input)?;
    // The files a job names must exist before anything starts.
    if let KernelSpec::DistroModule {
        source,
        base_patches,
        ..
    } = &job.kernel
    {
        let files = std::iter::once(("kernel.source", source))
            .chain(base_patches.iter().map(|p| ("kernel.base_patch", p)));
        if let Some((key, f)) = files.into_iter().find(|(_, f)| !f.exists()) {
            return Err(bad_input(anyhow::anyhow!(
                "{name}: key `{key}`: {} does not exist",
                f.display()
            )));
        }
    }
    Ok(job)
}

/// The bytes a series was read from, in groups parsed together (one group per argument).
pub(crate) type RawInputs = Vec<Vec<(String, Vec<u8>)>>;

/// Read the series from wherever it comes from; any error is bad input (exit 3).
pub(crate) fn load_series(args: &SeriesArgs) -> Result<(Series, Vec<String>, RawInputs), Fail> {
    if let Some(range) = &args.range {
        let repo = args.tree.clone().unwrap_or_else(|| PathBuf::from("."));
        let bytes = block_on(async {
            let procs = harness_exec::proc::Procs::new();
            harness_exec::tree::format_patch(&procs, &repo, range).await
        })?
        .map_err(bad_input)?;
        if bytes.is_empty() {
            return Err(bad_input(anyhow::anyhow!(
                "{}: range {range} holds no commits",
                repo.display()
            )));
        }
        let origin = format!("{}:{range}", repo.display());
        let s = series::parse_mbox(&bytes, &origin).map_err(bad_input)?;
        return Ok((s, vec![origin.clone()], vec![vec![(origin, bytes)]]));
    }
    if let Some(msgid) = &args.msgid {
        let url = args.lore_url.clone();
        let bytes = block_on(harness_exec::lore::fetch_thread(
            &url,
            msgid,
            std::time::Duration::from_secs(60),
        ))?
        .map_err(bad_input)?;
        let origin = harness_exec::lore::thread_url(
            &url,
            &harness_exec::lore::normalize_msgid(msgid).map_err(bad_input)?,
        );
        let s = series::parse_mbox(&bytes, &origin).map_err(bad_input)?;
        return Ok((s, vec![origin.clone()], vec![vec![(origin, bytes)]]));
    }
    let mut sources = Vec::new();
    let mut raw = Vec::new();
    let mut total = 0usize;
    for f in &args.series {
        let files = series_files(f)?;
        let mut inputs = Vec::new();
        for p in &files {
            let bytes = read_input(p).map_err(bad_input)?;
            total += bytes.len();
            if total > series::MAX_INPUT_BYTES {
                return Err(bad_input(anyhow::anyhow!(
                    "{}: the series files together are over the {} MiB limit for a series",
                    p.display(),
                    series::MAX_INPUT_BYTES >> 20
                )));
            }
            inputs.push((p.display().to_string(), bytes));
        }
        sources.push(f.display().to_string());
        raw.push(inputs);
    }
    let all = parse_groups(&raw)?;
    if all.patches.len() > series::MAX_PATCHES {
        return Err(bad_input(anyhow::anyhow!(
            "{} patches is over the limit of {} for a series",
            all.patches.len(),
            series::MAX_PATCHES
        )));
    }
    Ok((all, sources, raw))
}

/// A series file's bytes: a regular file only (not a FIFO that never ends, not /dev/zero), read
/// up to the size limit and no further.
fn read_input(p: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let limit = series::MAX_INPUT_BYTES;
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(p)
        .with_context(|| p.display().to_string())?;
    let meta = f.metadata().with_context(|| p.display().to_string())?;
    if !meta.is_file() {
        anyhow::bail!(
            "{}: not a regular file (a series is read from files: no FIFO, device or socket)",
            p.display()
        );
    }
    if meta.len() > limit as u64 {
        anyhow::bail!(
            "{}: {} is over the {} MiB limit for a series",
            p.display(),
            series::size(meta.len() as usize),
            limit >> 20
        );
    }
    let mut bytes = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| p.display().to_string())?;
    if bytes.len() > limit {
        anyhow::bail!(
            "{}: over the {} MiB limit for a series",
            p.display(),
            limit >> 20
        );
    }
    Ok(bytes)
}

/// The series of the given files: each group (one command-line input) parsed together, so its
/// numbering is checked across its files, then the groups concatenated. A new run and a resumed
/// one both start here.
pub(crate) fn parse_groups(raw: &RawInputs) -> Result<Series, Fail> {
    let mut parts = Vec::new();
    for group in raw {
        let refs: Vec<(&str, &[u8])> = group
            .iter()
            .map(|(o, b)| (o.as_str(), b.as_slice()))
            .collect();
        parts.push(series::parse_many(&refs).map_err(bad_input)?);
    }
    Ok(series::concat(parts))
}

/// A series file, or the patch files of a directory (`git format-patch -o DIR` output), sorted.
pub(crate) fn series_files(path: &Path) -> Result<Vec<PathBuf>, Fail> {
    let meta = std::fs::metadata(path)
        .with_context(|| path.display().to_string())
        .map_err(bad_input)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| path.display().to_string())
        .map_err(bad_input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("patch" | "mbox" | "eml" | "diff")
                )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no .patch, .mbox, .eml or .diff files in this directory",
            path.display()
        )));
    }
    Ok(files)
}

/// What the command line changes in a job (kept with the run, so `resume` does the same).
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Overrides {
    pub(crate) on_failure: Option<String>,
    pub(crate) three_way: bool,
    pub(crate) tree: Option<PathBuf>,
    pub(crate) base: Option<String>,
    /// The series came from `--range` (then --tree names where it was read).
    pub(crate) range: bool,
    #[serde(default)]
    pub(crate) expect_fix: Option<String>,
    #[serde(default)]
    pub(crate) no_base_check: bool,
    /// Where the bisection's boots run (`--executor`): the job's `executor:` otherwise.
    #[serde(default)]
    pub(crate) executor: Option<String>,
}

impl Overrides {
    pub(crate) fn of(args: &TestArgs) -> Overrides {
        Overrides {
            on_failure: args.on_failure.clone(),
            three_way: args.three_way,
            tree: args.input.tree.clone(),
            base: args.base.clone(),
            range: args.input.range.is_some(),
            expect_fix: args.expect_fix.clone(),
            no_base_check: args.no_base_check,
            executor: args.executor.clone(),
        }
    }
}

/// Apply the command line's overrides to the job, and check the series fits the job's mode.
pub(crate) fn fit_job(job: &mut Job, args: &Overrides, series: &Series) -> Result<(), Fail> {
    use harness_core::job::{Executor, KernelSpec, OnFailure};
    if let Some(o) = &args.on_failure {
        job.on_failure = OnFailure::parse(o).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "on_failure `{o}`: expected bisect, revert or none"
            ))
        })?;
    }
    job.apply.three_way |= args.three_way;
    if let Some(s) = &args.expect_fix {
        job.check.expect_fix = Some(s.clone());
    }
    job.check.base &= !args.no_base_check;
    if let Some(e) = &args.executor {
        job.executor = Executor::parse(e).ok_or_else(|| {
            Fail::Usage(anyhow::anyhow!("--executor `{e}`: expected local or slurm"))
        })?;
    }
    if job.executor == Executor::Slurm && job.slurm.is_none() {
        return Err(Fail::Usage(anyhow::anyhow!(
            "executor slurm: job `{}` has no `slurm:` section (at least `shared_dir:`; docs/jobs.md)",
            job.name
        )));
    }
    match &mut job.kernel {
        KernelSpec::Tree { tree, base, .. } => {
            if let Some(t) = &args.tree {
                *tree = Some(t.clone());
            }
            if let Some(b) = &args.base {
                *base = Some(b.clone());
            }
            match tree {
                None => {
                    return Err(Fail::Usage(anyhow::anyhow!(
                        "job `{}` is a tree-mode job: give --tree PATH",
                        job.name
                    )))
                }
                Some(t) if !t.join(".git").exists() => {
                    return Err(bad_input(anyhow::anyhow!(
                        "{}: not a git tree (tree mode needs a kernel git repository)",
                        t.display()
                    )))
                }
                Some(_) => {}
            }
        }
        KernelSpec::DistroModule { .. } => {
            if args.base.is_some() || (args.tree.is_some() && !args.range) {
                return Err(Fail::Usage(anyhow::anyhow!(
                        "--tree and --base are for tree-mode jobs (e.g. --job tree-debug); job `{}` is distro-module",
                        job.name
                    ),
                ));
            }
            let scope = harness_core::modules::module_scope(series);
            if let Some((k, path)) = scope.outside.first() {
                let p = &series.patches[k - 1];
                return Err(bad_input(anyhow::anyhow!(
                    "{}: patch {k} \"{}\" changes {path}: distro-module mode rebuilds only {} \
                     ({} file(s) outside); test this series in tree mode: --job tree --tree PATH --base REF",
                    p.origin,
                    p.subject,
                    harness_core::modules::MODULE_DIRS.join(", "),
                    scope.outside.len()
                )));
            }
        }
    }
    Ok(())
}

/// Everything a run starts from, checked; saved with the run so it can be resumed.
pub(crate) struct Prepared {
    pub(crate) job: Job,
    pub(crate) job_src: JobSource,
    pub(crate) series: Series,
    pub(crate) sources: Vec<String>,
    pub(crate) raw: RawInputs,
    pub(crate) overrides: Overrides,
    pub(crate) cache: Option<PathBuf>,
}

/// The command's record of a run, kept by the store with the series files (its
/// [`harness_store::SavedInputs`]) for `harness resume`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) job: JobSource,
    pub(crate) sources: Vec<String>,
    pub(crate) overrides: Overrides,
    pub(crate) cache: Option<PathBuf>,
}

pub(crate) fn prepare(
    job: Option<&Path>,
    input: &SeriesArgs,
    overrides: Overrides,
    cache: Option<PathBuf>,
) -> Result<Prepared, Fail> {
    let (job, job_src) = load_job(job)?;
    let (series, sources, raw) = load_series(input)?;
    checked(Prepared {
        job,
        job_src,
        series,
        sources,
        raw,
        overrides,
        cache,
    })
}

/// Check the series and fit the job to it and to the overrides.
pub(crate) fn checked(mut p: Prepared) -> Result<Prepared, Fail> {
    if let Some(d) = p
        .series
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
    {
        return Err(bad_input(anyhow::anyhow!("{}: {}", d.origin, d.message)));
    }
    fit_job(&mut p.job, &p.overrides, &p.series)?;
    // The git view runs tools in the sandbox: what is missing is named first, as for the run.
    harness_exec::preflight::check(&p.job).map_err(Fail::preflight)?;
    git_view(&p.series)?;
    Ok(p)
}

/// What git itself would apply must be what the parser saw (every MIME part, no symbolic link,
/// gitlink or `.git*` path): checked in the sandbox before anything is recorded.
fn git_view(series: &Series) -> Result<(), Fail> {
    // On its own thread: a caller may already be inside a runtime.
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            block_on(async {
                let procs = harness_exec::proc::Procs::new();
                harness_exec::gitview::check(&procs, series).await
            })
        })
        .join()
        .expect("the git view check panicked")
    })?;
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refused)) => Err(bad_input(refused)),
        Err(e @ harness_exec::ExecError::Missing { .. }) => Err(Fail::MissingDeps(e.into())),
        Err(e) => Err(e.into()),
    }
}

/// The inputs an interrupted run saved, read back and checked again.
pub(crate) fn prepare_saved(store: &Store, id: &str) -> Result<Prepared, Fail> {
    let saved = store.saved_inputs(id).map_err(|e| {
        bad_input(anyhow::Error::new(e).context(format!(
            "run {id} kept no inputs (it was interrupted before it started, or by an older harness)"
        )))
    })?;
    let record: RunRecord = serde_json::from_value(saved.run)
        .with_context(|| format!("run {id}: input/run.json"))
        .map_err(bad_input)?;
    let job = job_from_source(&record.job)?;
    checked(Prepared {
        job,
        job_src: record.job,
        series: parse_groups(&saved.series)?,
        sources: record.sources,
        raw: saved.series,
        overrides: record.overrides,
        cache: record.cache,
    })
}

pub(crate) fn save_inputs(store: &Store, run_id: &str, prep: &Prepared) -> Result<(), Fail> {
    let record = RunRecord {
        job: prep.job_src.clone(),
        sources: prep.sources.clone(),
        overrides: prep.overrides.clone(),
        cache: prep.cache.clone(),
    };
    store.save_inputs(
        run_id,
        &harness_store::SavedInputs {
            series: prep.raw.clone(),
            run: serde_json::to_value(&record)?,
        },
    )?;
    Ok(())
}
