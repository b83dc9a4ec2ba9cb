//! `harness`: tells a CephFS developer whether a kernel patch series is safe.
//!
//! Thin layer: parses arguments, wires the pure core, the executor and the store, prints, and maps
//! outcomes to the exit codes documented in the README.

mod export;
mod github;
mod nightly;
mod reporter;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use harness_core::job::{Job, KernelSpec};
use harness_core::report::{Report, Verdict};
use harness_core::series::{self, Series, Severity};
use harness_store::Store;

/// Exit codes (documented in the README).
pub mod exit {
    pub const PASS: u8 = 0;
    pub const FAIL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const BAD_INPUT: u8 = 3;
    pub const APPLY_FAILED: u8 = 4;
    pub const BUILD_FAILED: u8 = 5;
    pub const INFRA_ERROR: u8 = 6;
    pub const MISSING_DEPS: u8 = 7;
    pub const NOT_ROOT: u8 = 8;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Test a CephFS kernel patch series in QEMU guests against a mini Ceph cluster"
)]
struct Cli {
    /// Results store directory.
    #[arg(
        long,
        global = true,
        env = "HARNESS_RESULTS",
        default_value = "results"
    )]
    results: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Apply, build every prefix, boot a guest against a fresh cluster, run the workload, give a verdict.
    Test(TestArgs),
    /// Print a past run (`last` for the newest).
    Show {
        run: String,
        /// Print the JSON report instead.
        #[arg(long)]
        json: bool,
    },
    /// List past runs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// List nightlies (suite, runs, new / still failing / fixed signatures) instead of runs.
        #[arg(long)]
        nightlies: bool,
    },
    /// Inspect a series without running anything.
    Series {
        #[command(subcommand)]
        cmd: SeriesCmd,
    },
    /// Test the series; if it fails, bisect the failure to its patch and test the way back
    /// (`harness test --on-failure revert`; `--on-failure bisect` stops at the culprit).
    Bisect(TestArgs),
    /// Run the job on a series and print the time of each phase against the sum of its parts
    /// (and, for a failing series, the time to its culprit).
    Bench(TestArgs),
    /// Continue an interrupted run (killed, Ctrl-C, machine reboot): same inputs, same run id;
    /// the guest boots it recorded are not made again. A nightly id (`nightly-...`) finishes
    /// the nightly: its interrupted run resumed, the jobs it had not reached run, the comparison.
    Resume {
        run: String,
        #[command(flatten)]
        github: GithubArgs,
        /// Write the machine-readable report here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Write a run's results for other tools: the JSON report, or JUnit XML for CI systems.
    Export {
        run: String,
        #[arg(long, value_parser = ["json", "junit"], default_value = "json")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Serve the dashboard (runs, series matrix, bisections, signatures, consoles, phase times).
    Serve {
        /// Address to listen on (loopback by default: the dashboard has no authentication).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
    },
    /// Write a run's dashboard pages as static files (a CI artifact).
    Report {
        run: String,
        /// Directory to write the pages to.
        #[arg(long)]
        html: PathBuf,
    },
    /// Run every job of a suite on its series, compare with the suite's previous nightly (new,
    /// still failing, fixed signatures), and report to GitHub when the suite says so.
    Nightly {
        /// The suite file (e.g. jobs/nightly.yaml).
        suite: PathBuf,
        /// Cache directory for source trees, builds and images.
        #[arg(long, env = "HARNESS_CACHE_DIR")]
        cache: Option<PathBuf>,
    },
}

/// Where `harness test` reports on GitHub (nothing unless --github-repo is given).
#[derive(clap::Args, Clone, Default)]
struct GithubArgs {
    /// Report the result to this GitHub repository (`owner/name`); the token comes from
    /// $GITHUB_TOKEN or --github-token-file and is never printed.
    #[arg(long)]
    github_repo: Option<String>,
    /// ... as a check run on this commit.
    #[arg(long, requires = "github_repo", conflicts_with = "github_pr")]
    github_commit: Option<String>,
    /// ... as a comment on this pull request.
    #[arg(long, requires = "github_repo")]
    github_pr: Option<u64>,
    /// GitHub API base URL (GitHub Enterprise, or a test server).
    #[arg(
        long,
        env = "HARNESS_GITHUB_API",
        default_value = "https://api.github.com"
    )]
    github_api: String,
    /// Read the GitHub token from this file instead of $GITHUB_TOKEN.
    #[arg(long)]
    github_token_file: Option<PathBuf>,
    /// Base URL of the dashboard, for links in reports.
    #[arg(long, env = "HARNESS_DASHBOARD_URL")]
    dashboard_url: Option<String>,
}

#[derive(Subcommand)]
enum SeriesCmd {
    /// Print what was understood of a series: cover letter, patches, files, diagnostics.
    Show(SeriesArgs),
}

/// Where the series comes from: files, a git range, or a mailing-list archive.
#[derive(clap::Args, Clone)]
struct SeriesArgs {
    /// mbox files, `git format-patch` files or directories of them, applied in the order given.
    #[arg(required_unless_present_any = ["range", "msgid"])]
    series: Vec<PathBuf>,
    /// A git range (`base..tip`) of the tree given by --tree (default: the current directory).
    #[arg(long, conflicts_with_all = ["series", "msgid"])]
    range: Option<String>,
    /// A Message-Id (or lore URL) of any mail of the thread; the newest revision is tested.
    #[arg(long, conflicts_with_all = ["series", "range"])]
    msgid: Option<String>,
    /// public-inbox archive to fetch --msgid from.
    #[arg(long, env = "HARNESS_LORE_URL", default_value = harness_exec::lore::DEFAULT_BASE)]
    lore_url: String,
    /// A kernel git tree: where tree-mode jobs build, and where --range is read.
    #[arg(long)]
    tree: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct TestArgs {
    #[command(flatten)]
    input: SeriesArgs,
    /// Job file, or the name of one in jobs/ (default: the embedded jobs/default.yaml).
    #[arg(long)]
    job: Option<PathBuf>,
    /// Tree mode: where the series applies (a series' base-commit present in the tree wins).
    #[arg(long)]
    base: Option<String>,
    /// Apply with `git am --3way`.
    #[arg(long = "3way")]
    three_way: bool,
    /// What a failing series leads to (overrides the job).
    #[arg(long, value_parser = ["bisect", "revert", "none"])]
    on_failure: Option<String>,
    /// The series fixes this failure (a signature, e.g. "INFO: task hung in ..."): the base must
    /// fail with it and the tip be verified free of it (overrides the job's `check.expect_fix`).
    #[arg(long, value_name = "SIGNATURE")]
    expect_fix: Option<String>,
    /// Write the machine-readable report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Cache directory for source trees, builds and images.
    #[arg(long, env = "HARNESS_CACHE_DIR")]
    cache: Option<PathBuf>,
    #[command(flatten)]
    github: GithubArgs,
}

/// The default job is a file in `jobs/`, embedded so the binary works from anywhere; its relative
/// paths resolve against the repository's `jobs/` directory it was built from.
const DEFAULT_JOB: &str = include_str!("../../../jobs/default.yaml");
const JOBS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs");

/// An error with the exit code it maps to.
struct Fail(u8, anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(exit::INFRA_ERROR, e.into())
    }
}

fn bad_input(e: impl Into<anyhow::Error>) -> Fail {
    Fail(exit::BAD_INPUT, e.into())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARNESS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, e)) => {
            eprintln!("harness: {}", chain(&e));
            ExitCode::from(code)
        }
    }
}

fn chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

fn real_main(cli: Cli) -> Result<u8, Fail> {
    if !matches!(
        cli.cmd,
        Cmd::Test(_) | Cmd::Bench(_) | Cmd::Bisect(_) | Cmd::Resume { .. } | Cmd::Nightly { .. }
    ) {
        // Read-only commands end quietly when their reader goes away (`harness show last | head`).
        // Not for a run: it must always reach its teardown.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    match cli.cmd {
        Cmd::Test(args) => test(&cli.results, args, false),
        Cmd::Bisect(mut args) => {
            args.on_failure.get_or_insert_with(|| "revert".into());
            test(&cli.results, args, false)
        }
        Cmd::Bench(args) => test(&cli.results, args, true),
        Cmd::Resume { run, .. } if run.starts_with("nightly-") => {
            nightly::resume(&cli.results, &run)
        }
        Cmd::Resume { run, github, json } => resume(&cli.results, &run, &github, json),
        Cmd::Export {
            run,
            format,
            output,
        } => export(&cli.results, &run, &format, output.as_deref()),
        Cmd::Serve { addr } => serve(&cli.results, addr),
        Cmd::Report { run, html } => report_html(&cli.results, &run, &html),
        Cmd::Nightly { suite, cache } => nightly::run(&cli.results, &suite, cache),
        Cmd::Show { run, json } => show(&cli.results, &run, json),
        Cmd::List { limit, nightlies } => list(&cli.results, limit, nightlies),
        Cmd::Series {
            cmd: SeriesCmd::Show(args),
        } => series_show(&args),
    }
}

/// A job's text and where its relative paths resolve (kept so a run can be resumed).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct JobSource {
    text: String,
    name: String,
    dir: PathBuf,
}

fn load_job(path: Option<&Path>) -> Result<(Job, JobSource), Fail> {
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

fn job_from_source(src: &JobSource) -> Result<Job, Fail> {
    let JobSource { text, name, dir } = src;
    let job = Job::from_yaml(text, name, dir).map_err(bad_input)?;
    // The files a job names must exist before anything starts.
    if let KernelSpec::DistroModule {
        source, base_patch, ..
    } = &job.kernel
    {
        for (key, f) in [
            ("kernel.source", Some(source)),
            ("kernel.base_patch", base_patch.as_ref()),
        ] {
            if let Some(f) = f {
                if !f.exists() {
                    return Err(bad_input(anyhow::anyhow!(
                        "{name}: key `{key}`: {} does not exist",
                        f.display()
                    )));
                }
            }
        }
    }
    Ok(job)
}

/// The bytes a series was read from, in groups parsed together (one group per argument).
type RawInputs = Vec<Vec<(String, Vec<u8>)>>;

/// Read the series from wherever it comes from; any error is bad input (exit 3).
fn load_series(args: &SeriesArgs) -> Result<(Series, Vec<String>, RawInputs), Fail> {
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
    let mut parts = Vec::new();
    let mut sources = Vec::new();
    let mut raw = Vec::new();
    for f in &args.series {
        let files = series_files(f)?;
        let mut inputs = Vec::new();
        for p in &files {
            let len = std::fs::metadata(p)
                .with_context(|| p.display().to_string())
                .map_err(bad_input)?
                .len();
            if len > series::MAX_INPUT_BYTES as u64 {
                return Err(bad_input(anyhow::anyhow!(
                    "{}: {} MiB is over the {} MiB limit for a series",
                    p.display(),
                    len >> 20,
                    series::MAX_INPUT_BYTES >> 20
                )));
            }
            let bytes = std::fs::read(p)
                .with_context(|| p.display().to_string())
                .map_err(bad_input)?;
            inputs.push((p.display().to_string(), bytes));
        }
        let refs: Vec<(&str, &[u8])> = inputs
            .iter()
            .map(|(o, b)| (o.as_str(), b.as_slice()))
            .collect();
        parts.push(series::parse_many(&refs).map_err(bad_input)?);
        sources.push(f.display().to_string());
        raw.push(inputs);
    }
    Ok((series::concat(parts), sources, raw))
}

/// A series file, or the patch files of a directory (`git format-patch -o DIR` output), sorted.
fn series_files(path: &Path) -> Result<Vec<PathBuf>, Fail> {
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

/// Run one future on a throw-away runtime (series input needs git or HTTP before the run starts).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Fail> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}

/// What the command line changes in a job (kept with the run, so `resume` does the same).
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Overrides {
    on_failure: Option<String>,
    three_way: bool,
    tree: Option<PathBuf>,
    base: Option<String>,
    /// The series came from `--range` (then --tree names where it was read).
    range: bool,
    #[serde(default)]
    expect_fix: Option<String>,
}

impl Overrides {
    fn of(args: &TestArgs) -> Overrides {
        Overrides {
            on_failure: args.on_failure.clone(),
            three_way: args.three_way,
            tree: args.input.tree.clone(),
            base: args.base.clone(),
            range: args.input.range.is_some(),
            expect_fix: args.expect_fix.clone(),
        }
    }
}

/// Apply the command line's overrides to the job, and check the series fits the job's mode.
fn fit_job(job: &mut Job, args: &Overrides, series: &Series) -> Result<(), Fail> {
    use harness_core::job::{KernelSpec, OnFailure};
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
                    return Err(Fail(
                        exit::USAGE,
                        anyhow::anyhow!("job `{}` is a tree-mode job: give --tree PATH", job.name),
                    ))
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
                return Err(Fail(
                    exit::USAGE,
                    anyhow::anyhow!(
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

fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => exit::PASS,
        Verdict::Fail => exit::FAIL,
        Verdict::ApplyFailed => exit::APPLY_FAILED,
        Verdict::BuildFailed => exit::BUILD_FAILED,
        Verdict::InfraError => exit::INFRA_ERROR,
    }
}

/// Everything a run starts from, checked; saved with the run so it can be resumed.
struct Prepared {
    job: Job,
    job_src: JobSource,
    series: Series,
    sources: Vec<String>,
    raw: RawInputs,
    overrides: Overrides,
    cache: Option<PathBuf>,
}

/// What a run keeps of its inputs (`input/run.json` beside the series files and the job text).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedInputs {
    job: JobSource,
    sources: Vec<String>,
    /// Origins of the series files, in groups; file `series-G-I` holds group G's I-th.
    series: Vec<Vec<String>>,
    overrides: Overrides,
    cache: Option<PathBuf>,
}

fn prepare(
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
fn checked(mut p: Prepared) -> Result<Prepared, Fail> {
    if let Some(d) = p
        .series
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
    {
        return Err(bad_input(anyhow::anyhow!("{}: {}", d.origin, d.message)));
    }
    fit_job(&mut p.job, &p.overrides, &p.series)?;
    Ok(p)
}

/// The inputs an interrupted run saved, read back and checked again.
fn prepare_saved(store: &Store, id: &str) -> Result<Prepared, Fail> {
    let meta = store.input(id, "run.json").map_err(|e| {
        bad_input(anyhow::Error::new(e).context(format!(
            "run {id} kept no inputs (it was interrupted before it started, or by an older harness)"
        )))
    })?;
    let saved: SavedInputs = serde_json::from_slice(&meta)
        .with_context(|| format!("run {id}: input/run.json"))
        .map_err(bad_input)?;
    let job = job_from_source(&saved.job)?;
    let mut parts = Vec::new();
    let mut raw = Vec::new();
    for (g, origins) in saved.series.iter().enumerate() {
        let mut group = Vec::new();
        for (i, origin) in origins.iter().enumerate() {
            group.push((
                origin.clone(),
                store
                    .input(id, &format!("series-{g}-{i}"))
                    .map_err(bad_input)?,
            ));
        }
        let refs: Vec<(&str, &[u8])> = group
            .iter()
            .map(|(o, b)| (o.as_str(), b.as_slice()))
            .collect();
        parts.push(series::parse_many(&refs).map_err(bad_input)?);
        raw.push(group);
    }
    checked(Prepared {
        job,
        job_src: saved.job,
        series: series::concat(parts),
        sources: saved.sources,
        raw,
        overrides: saved.overrides,
        cache: saved.cache,
    })
}

/// Where a run's results go besides the store and the terminal.
#[derive(Default)]
struct Outputs {
    json: Option<PathBuf>,
    bench: bool,
    github: Option<(github::Client, harness_github::Target)>,
    /// The nightly the run belongs to (it prints its own summary).
    nightly: Option<String>,
}

fn test(results: &Path, args: TestArgs, bench: bool) -> Result<u8, Fail> {
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

fn resume(results: &Path, run: &str, gh: &GithubArgs, json: Option<PathBuf>) -> Result<u8, Fail> {
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
fn execute(
    results: &Path,
    prep: Prepared,
    resume: Option<&str>,
    out: &Outputs,
) -> Result<(u8, Option<Report>), Fail> {
    harness_exec::preflight::check(&prep.job).map_err(|e| {
        let code = match e {
            harness_exec::ExecError::NotRoot => exit::NOT_ROOT,
            _ => exit::MISSING_DEPS,
        };
        Fail(code, e.into())
    })?;
    let mut store = Store::open(results).map_err(|e| Fail(exit::INFRA_ERROR, e.into()))?;
    let (run_id, started_at, replay) = match resume {
        None => {
            let run_id = Store::new_run_id();
            let started_at = Store::now();
            store.begin_run(
                &run_id,
                &started_at,
                &prep.series.title(),
                prep.series.patches.len(),
                &prep.job.name,
            )?;
            save_inputs(&store, &run_id, &prep)?;
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
    let sink = reporter::Recorder {
        terminal: &terminal,
        store: std::sync::Mutex::new(Store::open(results)?),
        run_id: run_id.clone(),
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
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // A closed terminal (SIGHUP) ends a run like Ctrl-C does: with its teardown.
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            r = harness_exec::pipeline::run(input, &sink) => Ok(Some(r)),
            _ = tokio::signal::ctrl_c() => Ok::<_, std::io::Error>(None),
            _ = term.recv() => Ok(None),
            _ = hup.recv() => Ok(None),
        }
    })?;
    // The pipeline future has been dropped here: its processes, namespace and temp dir are gone.
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
            return Err(Fail(exit::INFRA_ERROR, e.into()));
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

fn save_inputs(store: &Store, run_id: &str, prep: &Prepared) -> Result<(), Fail> {
    let mut origins = Vec::new();
    for (g, group) in prep.raw.iter().enumerate() {
        let mut o = Vec::new();
        for (i, (origin, bytes)) in group.iter().enumerate() {
            store.save_input(run_id, &format!("series-{g}-{i}"), bytes)?;
            o.push(origin.clone());
        }
        origins.push(o);
    }
    let saved = SavedInputs {
        job: prep.job_src.clone(),
        sources: prep.sources.clone(),
        series: origins,
        overrides: prep.overrides.clone(),
        cache: prep.cache.clone(),
    };
    store.save_input(run_id, "run.json", &serde_json::to_vec_pretty(&saved)?)?;
    Ok(())
}

fn write_json(path: &Path, report: &Report) -> Result<(), Fail> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(report)?)
        .with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
    Ok(())
}

fn print_report(r: &Report, artifacts: &Path) {
    println!(
        "run {}  {}  job {}  kernel {}  accel {}",
        r.run_id,
        r.started_at,
        r.job,
        r.kernel,
        r.accel.as_deref().unwrap_or("-")
    );
    println!(
        "series: {} ({} patches)",
        r.series.subject, r.series.patch_count
    );
    for p in &r.prefixes {
        let applied = if p.index == 0 {
            "base   "
        } else if p.applied {
            "applied"
        } else if p.apply_error.is_some() {
            "FAILED "
        } else {
            "-      "
        };
        let built = match p.built {
            Some(true) => format!("built {:5.1}s", p.build_seconds.unwrap_or(0.0)),
            Some(false) => "BUILD FAILED".to_string(),
            None => "-".to_string(),
        };
        let test = p
            .test
            .as_ref()
            .map(|t| {
                format!(
                    "{} ({:?}, {:.0}s, {} findings)",
                    t.verdict, t.exit, t.seconds, t.findings
                )
            })
            .unwrap_or_default();
        println!(
            "  [{:>2}] {applied}  {built:<12}  {test:<28}  {}",
            p.index, p.subject
        );
        if let Some(e) = &p.apply_error {
            for l in e.lines().take(8) {
                println!("       | {l}");
            }
        }
        if let Some(e) = &p.build_error {
            for l in e.lines().take(12) {
                println!("       | {l}");
            }
        }
        if let Some(t) = &p.test {
            if let Some(why) = &t.infra {
                println!("       | infra: {why}");
            }
            for w in &t.workloads {
                println!(
                    "       | workload {:<14} {:<4} {:6.1}s {:8} ops {:8.1} ops/s",
                    w.name,
                    if w.ok { "ok" } else { "FAIL" },
                    w.seconds,
                    w.ops,
                    w.ops_per_s
                );
            }
            if !t.evictions.is_empty() {
                let e: Vec<String> = t
                    .evictions
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                println!("       | final iputs by context: {}", e.join(", "));
            }
        }
    }
    if !r.coverage.is_empty() {
        println!("coverage (calls of the functions each patch changes; UNTESTED = never called):");
        for pc in &r.coverage {
            let untested = pc.functions.iter().filter(|f| f.untested()).count();
            println!(
                "  patch {}: {} functions, {untested} untested  {}",
                pc.index,
                pc.functions.len(),
                pc.subject
            );
            for f in &pc.functions {
                let calls = match (f.calls, &f.note) {
                    (Some(0), _) => "UNTESTED".to_string(),
                    (Some(n), _) => n.to_string(),
                    (None, Some(note)) => format!("- ({note})"),
                    (None, None) => "-".to_string(),
                };
                println!("      {:<36} {calls}", f.function);
            }
        }
    }
    for f in &r.findings {
        println!(
            "finding [{}] {} (prefix {}, console line {})",
            f.kind,
            f.title,
            f.prefix.map(|p| p.to_string()).unwrap_or("-".into()),
            f.line
        );
        for l in f.excerpt.lines().take(14) {
            println!("    {l}");
        }
    }
    print_bisection(r);
    let phases: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} {:.1}s", p.name, p.seconds))
        .collect();
    println!("phases: {}", phases.join(", "));
    println!("artifacts: {}", artifacts.display());
    println!("verdict: {} ({}) in {:.1}s", r.verdict, r.reason, r.seconds);
}

fn print_bisection(r: &Report) {
    let Some(c) = &r.culprit else { return };
    // The same story as the run's bisect-report.txt.
    println!("bisection of \"{}\":", c.signature);
    for l in harness_core::wording::bisect_text(c, &r.bisection, r.revert.as_ref()).lines() {
        println!("{}", format!("  {l}").trim_end());
    }
}

fn print_bench(r: &Report) {
    let sum: f64 = r.phases.iter().map(|p| p.seconds).sum();
    println!("\nbench: phase times (seconds)");
    for p in &r.phases {
        println!("  {:<10} {:8.2}", p.name, p.seconds);
    }
    for p in &r.prefixes {
        if let Some(s) = p.build_seconds {
            println!("  build prefix {:<2} {:6.2}", p.index, s);
        }
    }
    println!("  {:<10} {:8.2}", "sum", sum);
    println!(
        "  {:<10} {:8.2}  ({:.2}x the sum of its parts; target <= 1.2x, and < 180 s with every workload)",
        "total",
        r.seconds,
        r.seconds / sum.max(0.001)
    );
    if let Some(c) = &r.culprit {
        // From the start of the run to the verified answer (the revert comes after).
        let until = c.found_after_s;
        println!(
            "bench: time to culprit {:.0} s (target < 240 s for a deterministic bug in 6 patches): patch {} after {} runs",
            until, c.index, c.runs
        );
    }
    for p in &r.prefixes {
        for t in &p.attempts {
            if t.workloads.is_empty() {
                continue;
            }
            println!(
                "bench: workloads of prefix {} (guest time, operations)",
                p.index
            );
            for w in &t.workloads {
                println!(
                    "  {:<14} {:8.2} s {:8} ops {:9.1} ops/s{}",
                    w.name,
                    w.seconds,
                    w.ops,
                    w.ops_per_s,
                    if w.ok { "" } else { "  FAILED" }
                );
            }
        }
    }
}

fn show(results: &Path, run: &str, json: bool) -> Result<u8, Fail> {
    let store = Store::open(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    match store.report(&id) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_report(&r, &store.artifact_dir(&id));
            }
        }
        Err(harness_store::StoreError::NoReport(..)) => {
            let row = store.row(&id)?;
            println!(
                "run {}  {}  job {}  status {}",
                row.id, row.started_at, row.job, row.status
            );
            println!("series: {} ({} patches)", row.series, row.patch_count);
            if let Some(r) = row.reason {
                println!("reason: {r}");
            }
            // What an unfinished run has done so far: its guest boots, as they ended.
            for a in store.attempts(&id)? {
                let titles: Vec<&str> = a.findings.iter().map(|f| f.title.as_str()).collect();
                let line = format!(
                    "  boot {:<34} prefix {:>2}  {:<11} {:5.0}s  {}",
                    a.console,
                    a.prefix,
                    a.result.verdict,
                    a.result.seconds,
                    titles.join(" | ")
                );
                println!("{}", line.trim_end());
            }
            if row.status == harness_store::RunStatus::Interrupted {
                println!("`harness resume {id}` continues it");
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

fn list(results: &Path, limit: usize, nightlies: bool) -> Result<u8, Fail> {
    let store = Store::open(results)?;
    if nightlies {
        for n in store.nightlies(None, limit)? {
            let count = |k: fn(&harness_core::nightly::Summary) -> &Vec<String>| {
                n.summary
                    .as_ref()
                    .map(|s| k(s).len().to_string())
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{}  {:<16}  {:<11}  {}  {} run(s)  new {}  still failing {}  fixed {}",
                n.id,
                n.suite,
                n.status,
                n.started_at,
                n.runs.len(),
                count(|s| &s.new),
                count(|s| &s.still),
                count(|s| &s.fixed)
            );
        }
        return Ok(0);
    }
    for r in store.list(limit)? {
        let mut notes = String::new();
        if let Some(n) = &r.nightly {
            notes.push_str(&format!("  [{n}]"));
        }
        if r.resumes > 0 {
            notes.push_str(&format!("  (resumed {}x)", r.resumes));
        }
        println!(
            "{}  {:<11}  {:<12}  {:>6}  {:<40.40}  {}{notes}",
            r.id,
            r.status,
            r.verdict.as_deref().unwrap_or("-"),
            r.seconds.map(|s| format!("{s:.0}s")).unwrap_or_default(),
            r.series,
            r.reason.unwrap_or_default()
        );
    }
    Ok(0)
}

fn series_show(args: &SeriesArgs) -> Result<u8, Fail> {
    let (s, _, _) = load_series(args)?;
    match &s.cover {
        Some(c) => println!("cover: {}\n  from {}", c.subject, c.author),
        None => println!("cover: (none)"),
    }
    if let Some(b) = &s.base_commit {
        println!("base-commit: {b}");
    }
    for (i, p) in s.patches.iter().enumerate() {
        let n = p
            .number
            .map(|(k, n)| format!("{k}/{n}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "[{}] ({n}) {}\n    from {}  ({})",
            i + 1,
            p.subject,
            p.author,
            p.origin
        );
        for f in &p.files {
            println!("    {:<40} +{} -{}", f.path, f.added, f.removed);
        }
    }
    for d in &s.diagnostics {
        println!("{:?}: {}: {}", d.severity, d.origin, d.message);
    }
    Ok(if s.has_errors() { exit::BAD_INPUT } else { 0 })
}

fn export(results: &Path, run: &str, format: &str, output: Option<&Path>) -> Result<u8, Fail> {
    let store = Store::open(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    let report = store.report(&id).map_err(bad_input)?;
    let text = match format {
        "junit" => export::junit(&report),
        _ => serde_json::to_string_pretty(&report)? + "\n",
    };
    match output {
        Some(p) => {
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, text).with_context(|| tmp.display().to_string())?;
            std::fs::rename(&tmp, p).with_context(|| p.display().to_string())?;
        }
        None => print!("{text}"),
    }
    Ok(0)
}

fn serve(results: &Path, addr: std::net::SocketAddr) -> Result<u8, Fail> {
    // The store must exist (and be migrated) before the first page is asked for.
    drop(Store::open(results)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        let local = listener.local_addr()?;
        println!("harness: dashboard of {} at http://{local}/", results.display());
        tokio::select! {
            r = harness_web::serve_listener(results.to_path_buf(), listener) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(0)
}

fn report_html(results: &Path, run: &str, dir: &Path) -> Result<u8, Fail> {
    let store = Store::open(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    let files = harness_web::write_static(&store, &id, dir)?;
    println!(
        "harness: {} pages of run {id} in {} (open {})",
        files.len(),
        dir.display(),
        dir.join("index.html").display()
    );
    Ok(0)
}
