//! The command line: every command and its arguments (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Test a CephFS kernel patch series in QEMU guests against a mini Ceph cluster"
)]
pub(crate) struct Cli {
    /// Results store directory.
    #[arg(
        long,
        global = true,
        env = "HARNESS_RESULTS",
        default_value = "results"
    )]
    pub(crate) results: PathBuf,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
        /// A host name the dashboard also answers to (besides localhost, the loopback addresses
        /// and the bound address); other Host headers get 421 (DNS rebinding). Repeatable.
        #[arg(long = "allow-host")]
        allow_hosts: Vec<String>,
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
        /// Where the jobs run: here, one after the other (`local`), or each as a Slurm job
        /// (`slurm`, set up by the suite's `slurm:` section). Default: the suite's `executor:`.
        #[arg(long, value_parser = ["local", "slurm"])]
        executor: Option<String>,
    },
    /// A unit on a Slurm node (submitted by the harness, not by hand): reads DIR/unit.json,
    /// either one job of a nightly (runs it like `harness test`; writes its report, the guest
    /// boots as they end and its artifacts into DIR) or one boot of a bisection round (applies
    /// and builds its prefix, boots it once against the node's own cluster; writes its result
    /// and artifacts into DIR). The submitter records them in the store.
    #[command(hide = true)]
    Unit {
        /// The unit's directory in the shared results directory.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where `harness test` reports on GitHub (nothing unless --github-repo is given).
#[derive(clap::Args, Clone, Default)]
pub(crate) struct GithubArgs {
    /// Report the result to this GitHub repository (`owner/name`); the token comes from
    /// $GITHUB_TOKEN or --github-token-file and is never printed.
    #[arg(long)]
    pub(crate) github_repo: Option<String>,
    /// ... as a check run on this commit.
    #[arg(long, requires = "github_repo", conflicts_with = "github_pr")]
    pub(crate) github_commit: Option<String>,
    /// ... as a comment on this pull request.
    #[arg(long, requires = "github_repo")]
    pub(crate) github_pr: Option<u64>,
    /// GitHub API base URL (GitHub Enterprise, or a test server).
    #[arg(
        long,
        env = "HARNESS_GITHUB_API",
        default_value = "https://api.github.com"
    )]
    pub(crate) github_api: String,
    /// Read the GitHub token from this file instead of $GITHUB_TOKEN.
    #[arg(long)]
    pub(crate) github_token_file: Option<PathBuf>,
    /// Base URL of the dashboard, for links in reports.
    #[arg(long, env = "HARNESS_DASHBOARD_URL")]
    pub(crate) dashboard_url: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum SeriesCmd {
    /// Print what was understood of a series: cover letter, patches, files, diagnostics.
    Show(SeriesArgs),
}

/// Where the series comes from: files, a git range, or a mailing-list archive.
#[derive(clap::Args, Clone)]
pub(crate) struct SeriesArgs {
    /// mbox files, `git format-patch` files or directories of them, applied in the order given.
    #[arg(required_unless_present_any = ["range", "msgid"])]
    pub(crate) series: Vec<PathBuf>,
    /// A git range (`base..tip`) of the tree given by --tree (default: the current directory).
    #[arg(long, conflicts_with_all = ["series", "msgid"])]
    pub(crate) range: Option<String>,
    /// A Message-Id (or lore URL) of any mail of the thread; the newest revision is tested.
    #[arg(long, conflicts_with_all = ["series", "range"])]
    pub(crate) msgid: Option<String>,
    /// public-inbox archive to fetch --msgid from.
    #[arg(long, env = "HARNESS_LORE_URL", default_value = harness_exec::lore::DEFAULT_BASE)]
    pub(crate) lore_url: String,
    /// A kernel git tree: where tree-mode jobs build, and where --range is read.
    #[arg(long)]
    pub(crate) tree: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub(crate) struct TestArgs {
    #[command(flatten)]
    pub(crate) input: SeriesArgs,
    /// Job file, or the name of one in jobs/ (default: the embedded jobs/default.yaml).
    #[arg(long)]
    pub(crate) job: Option<PathBuf>,
    /// Tree mode: where the series applies (a series' base-commit present in the tree wins).
    #[arg(long)]
    pub(crate) base: Option<String>,
    /// Apply with `git am --3way`.
    #[arg(long = "3way")]
    pub(crate) three_way: bool,
    /// What a failing series leads to (overrides the job).
    #[arg(long, value_parser = ["bisect", "revert", "none"])]
    pub(crate) on_failure: Option<String>,
    /// The series fixes this failure (a signature, e.g. "INFO: task hung in ..."): the base must
    /// fail with it and the tip be verified free of it (overrides the job's `check.expect_fix`).
    #[arg(long, value_name = "SIGNATURE")]
    pub(crate) expect_fix: Option<String>,
    /// Do not boot the base to tell a failure the base shares (pre-existing) from the series' own
    /// (sets the job's `check.base` to false; the bisection still checks the base).
    #[arg(long)]
    pub(crate) no_base_check: bool,
    /// Write the machine-readable report here.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Cache directory for source trees, builds and images.
    #[arg(long, env = "HARNESS_CACHE_DIR")]
    pub(crate) cache: Option<PathBuf>,
    /// Where the bisection's boots run: here (`local`), or each as a Slurm job on a node of
    /// its own, a round's boots at once (`slurm`, set up by the job's `slurm:` section; the
    /// test's own boots stay here). Default: the job's `executor:`.
    #[arg(long, value_parser = ["local", "slurm"])]
    pub(crate) executor: Option<String>,
    #[command(flatten)]
    pub(crate) github: GithubArgs,
}
