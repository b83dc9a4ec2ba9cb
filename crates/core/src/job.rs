//! Jobs: what to build, which cluster and guests to start, which workloads to run, how often, with
//! which deadlines, and what to do when the series fails. Suites: the jobs of a nightly run.
//!
//! YAML deserialises into a raw spec (`RawJob`, `RawSuite`); [`Job::from_yaml`] and
//! [`Suite::from_yaml`] validate it into what the executor runs, with paths resolved against the
//! file's directory. Every error names the file, the line and the key. YAML is read only by
//! [`from_yaml_text`], so the format can be swapped in one place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The text is not valid YAML or does not fit the schema (unknown key, wrong type).
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// The value of a key is not acceptable.
    #[error("{file}{}: key `{key}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: String,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

/// The one place that reads the job format.
fn from_yaml_text<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, JobError> {
    serde_yaml::from_str(text).map_err(|e| JobError::Syntax {
        file: file.to_string(),
        line: e.location().map(|l| l.line()),
        // serde_yaml appends " at line L column C"; the line is already in front.
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })
}

/// The 1-based line of a dotted key path (`cluster.osds`, `workloads[1].params.cycles`) in a YAML
/// text, for error messages. Best effort (block mappings, block sequences, one-line flow
/// mappings); when a segment is not found, the line of the nearest parent found.
pub fn locate_key(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    // The block being searched: lines lo..hi, keys at indent >= min.
    let (mut lo, mut hi, mut min) = (0usize, lines.len(), 0usize);
    let mut found = None;
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        // A one-line flow mapping of the parent (`guests: {cpus: 2}`) holds the child.
        if let Some(f) = found {
            let l: &str = lines[f - 1];
            if l.contains('{') && l.contains(&format!("{key}:")) {
                continue;
            }
        }
        let hit = (lo..hi).find(|&i| {
            let l = lines[i];
            let t = l.trim_start();
            let t = t.strip_prefix("- ").unwrap_or(t);
            indent_of(l) >= min && t.starts_with(&format!("{key}:"))
        });
        let Some(i) = hit else { break };
        found = Some(i + 1);
        let indent = indent_of(lines[i]);
        let end = (i + 1..hi)
            .find(|&j| {
                let l = lines[j];
                // A sibling key (or less indented) ends the block; `- ` items at the key's own
                // indentation still belong to it (`key:\n- a\n- b`).
                let item = l.trim_start().starts_with("- ");
                !l.trim().is_empty()
                    && !l.trim_start().starts_with('#')
                    && (indent_of(l) < indent || (indent_of(l) == indent && !item))
            })
            .unwrap_or(hi);
        (lo, hi, min) = (i + 1, end, indent + 1);
        if let Some(n) = index {
            let items: Vec<usize> = (lo..hi)
                .filter(|&j| lines[j].trim_start().starts_with("- "))
                .collect();
            let first_indent = items.first().map(|&j| indent_of(lines[j]));
            let items: Vec<usize> = items
                .into_iter()
                .filter(|&j| Some(indent_of(lines[j])) == first_indent)
                .collect();
            let Some(&start) = items.get(n) else { break };
            found = Some(start + 1);
            let stop = items.get(n + 1).copied().unwrap_or(hi);
            (lo, hi, min) = (start, stop, indent_of(lines[start]));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Raw spec: what the YAML says
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    kernel: RawKernel,
    #[serde(default)]
    apply: RawApply,
    #[serde(default)]
    cluster: RawCluster,
    #[serde(default)]
    guests: RawGuests,
    workloads: Vec<RawWorkload>,
    #[serde(default = "one")]
    repeats: u32,
    #[serde(default = "default_test_prefixes")]
    test_prefixes: String,
    #[serde(default = "default_on_failure")]
    on_failure: String,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    probes: RawProbes,
    #[serde(default)]
    bisect: RawBisect,
    #[serde(default)]
    check: RawCheck,
    /// Where the bisection's boots run: `local` (default) or `slurm`.
    #[serde(default)]
    executor: Option<String>,
    #[serde(default)]
    slurm: Option<RawSlurm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCheck {
    expect_fix: Option<String>,
    max_boots: u32,
    base: bool,
}

impl Default for RawCheck {
    fn default() -> Self {
        RawCheck {
            expect_fix: None,
            max_boots: crate::fix::MAX_BOOTS,
            base: true,
        }
    }
}

/// One path or a list of them (`kernel.base_patch`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<PathBuf> {
        match self {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBisect {
    confidence: f64,
    max_runs: u32,
    /// `auto`, or a known reproduction rate in (0, 1].
    rate: serde_yaml::Value,
    /// `during` or `all`.
    workloads: String,
    /// `through-signature` or `all`.
    steps: String,
    stop_at_signature: bool,
}

impl Default for RawBisect {
    fn default() -> Self {
        let m = crate::bisect::Model::default();
        RawBisect {
            confidence: m.confidence,
            max_runs: m.max_runs,
            rate: serde_yaml::Value::String("auto".into()),
            workloads: "during".into(),
            steps: "through-signature".into(),
            stop_at_signature: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProbes {
    coverage: bool,
    hazards: bool,
    hazards_fail: bool,
}

impl Default for RawProbes {
    fn default() -> Self {
        RawProbes {
            coverage: true,
            hazards: true,
            hazards_fail: false,
        }
    }
}

fn one() -> u32 {
    1
}
fn default_test_prefixes() -> String {
    "tip".into()
}
fn default_on_failure() -> String {
    "revert".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    mode: String,
    // distro-module
    release: Option<String>,
    source: Option<PathBuf>,
    base_patch: Option<OneOrMany>,
    // tree
    tree: Option<PathBuf>,
    base: Option<String>,
    config: Option<RawConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base: String,
    #[serde(default)]
    fragments: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawApply {
    three_way: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCluster {
    mons: u32,
    mgrs: u32,
    osds: u32,
    mds: u32,
    auth: String,
    memstore_mib: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster {
            mons: 1,
            mgrs: 1,
            osds: 1,
            mds: 1,
            auth: "cephx".into(),
            memstore_mib: 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGuests {
    count: u32,
    /// Guests booted at once; absent: what the machine allows ([`parallel_default`]).
    parallel: Option<u32>,
    cpus: u32,
    memory_mib: u32,
    hung_task_timeout_s: u32,
    userland: String,
}

impl Default for RawGuests {
    fn default() -> Self {
        RawGuests {
            count: 1,
            parallel: None,
            cpus: 2,
            memory_mib: 1024,
            hung_task_timeout_s: 10,
            userland: "initramfs".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: String,
    #[serde(default = "d_seed")]
    seed: u64,
    /// Numbers, except the catalog's text parameters (`workloads::TEXT_PARAMS`: fstests).
    #[serde(default)]
    params: BTreeMap<String, serde_yaml::Value>,
}
fn d_seed() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTimeouts {
    apply_s: u64,
    build_s: u64,
    cluster_s: u64,
    boot_s: u64,
    workload_s: u64,
    stall_s: u64,
    silence_s: u64,
    tcg_factor: u32,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        RawTimeouts {
            apply_s: 600,
            build_s: 600,
            cluster_s: 120,
            boot_s: 40,
            workload_s: 200,
            stall_s: 40,
            silence_s: 40,
            tcg_factor: 3,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    suite: String,
    #[serde(default)]
    series: Vec<PathBuf>,
    /// A branch instead of files: `base..tip` of `tree`.
    #[serde(default)]
    range: Option<String>,
    /// The kernel git tree of tree-mode jobs (and of `range`).
    #[serde(default)]
    tree: Option<PathBuf>,
    jobs: Vec<PathBuf>,
    #[serde(default)]
    on_failure: Option<String>,
    /// Base URL of the dashboard (`harness serve`), for links in GitHub reports.
    #[serde(default)]
    dashboard: Option<String>,
    #[serde(default)]
    github: Option<RawGithub>,
    /// Where the jobs run: `local` (default) or `slurm`.
    #[serde(default)]
    executor: Option<String>,
    #[serde(default)]
    slurm: Option<RawSlurm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    #[serde(default)]
    partition: Option<String>,
    /// A directory the submitting machine and every node see at this path.
    shared_dir: PathBuf,
    /// The cluster's slurm.conf for the client commands (`SLURM_CONF`); default: Slurm's own.
    #[serde(default)]
    conf: Option<PathBuf>,
    /// The harness binary on the nodes (default: the submitting harness's own path).
    #[serde(default)]
    harness: Option<PathBuf>,
    /// The nodes' cache directory (default: the submitter's `--cache`, else the node's default).
    #[serde(default)]
    cache: Option<PathBuf>,
    /// CPUs per unit; default: a whole node per unit (`--exclusive`).
    #[serde(default)]
    cpus: Option<u32>,
    /// The units' time limit in minutes; default: from the job's deadlines.
    #[serde(default)]
    time_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGithub {
    repo: String,
    #[serde(default)]
    api: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    /// Post a check run on this commit.
    #[serde(default)]
    commit: Option<String>,
    /// Open / update / close an issue per regression signature (default true).
    #[serde(default)]
    issues: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Validated job
// ---------------------------------------------------------------------------------------------

/// A validated job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub name: String,
    pub kernel: KernelSpec,
    pub apply: ApplySpec,
    pub cluster: ClusterSpec,
    pub guests: GuestSpec,
    /// Run one after the other in each guest boot.
    pub workloads: Vec<WorkloadSpec>,
    /// Guest boots (attempts) per tested prefix.
    pub repeats: u32,
    pub test_prefixes: TestPrefixes,
    pub on_failure: OnFailure,
    pub timeouts: Timeouts,
    pub probes: ProbeSpec,
    /// How a failure is bisected (`on_failure: bisect|revert`).
    pub bisect: crate::bisect::Model,
    /// What the bisection's (and the revert's) boots run, and whether they end at the signature.
    pub bisect_scope: crate::bisect::policy::Scope,
    /// Fix verification: what the base must fail with, and how many tip boots may settle it.
    pub check: CheckSpec,
    /// Where the bisection's boots run (`executor:`; `harness test --executor` overrides it):
    /// here, or each as a Slurm unit (a round's boots at once, on as many nodes).
    pub executor: Executor,
    /// How boots are submitted to Slurm (`slurm:`), needed by `executor: slurm`.
    pub slurm: Option<SlurmSpec>,
}

/// Fix verification (`check:`): with the base booted (`test_prefixes: all`), a failure of the
/// base the tip does not show is a fix; the tip is booted again (up to `max_boots` in all) until
/// the fix is verified at [`crate::fix::CONFIDENCE`] or the tip fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckSpec {
    /// The signature the series must fix (`--expect-fix`): the base must fail with it, the tip
    /// must be verified free of it; otherwise the verdict is `fail` saying which.
    pub expect_fix: Option<String>,
    /// Tip boots in all, the job's repeats included.
    pub max_boots: u32,
    /// When a prefix fails, the base was not booted and no bisection follows (`on_failure:
    /// none`), boot the base before calling the failure the series' (a failure the base shows
    /// too is pre-existing). The bisection checks the base itself.
    pub base: bool,
}

/// Probes in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProbeSpec {
    /// Count calls to the functions the series changes (patch coverage).
    pub coverage: bool,
    /// Count the contexts final iputs run in, and flag moves into risky ones (hazards).
    pub hazards: bool,
    /// A hazard fails the verdict (otherwise it is shown, not failing).
    pub hazards_fail: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum KernelSpec {
    /// The distribution's kernel image; only `fs/ceph` (and `net/ceph` when the series touches it)
    /// is rebuilt, against the installed headers.
    DistroModule {
        release: String,
        source: PathBuf,
        /// Diffs applied in order to the stock source: the base the series applies to.
        base_patches: Vec<PathBuf>,
    },
    /// A kernel git tree, configured from a base config plus fragments and built whole.
    Tree {
        /// The git tree; `--tree` overrides it. Required by the time the run starts.
        tree: Option<PathBuf>,
        /// Where the series applies; `--base` overrides it, and a `base-commit:` of the series
        /// that exists in the tree wins over the job's.
        base: Option<String>,
        config: KernelConfig,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelConfig {
    pub base: ConfigBase,
    /// Merged in order over the base (`scripts/kconfig/merge_config.sh`).
    pub fragments: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ConfigBase {
    /// A make target of the tree, e.g. `defconfig`.
    Target(String),
    /// A full `.config` file.
    File(PathBuf),
}

impl KernelSpec {
    pub fn describe(&self) -> String {
        match self {
            KernelSpec::DistroModule { release, .. } => format!("distro-module {release}"),
            KernelSpec::Tree { tree, base, .. } => format!(
                "tree {} at {}",
                tree.as_deref()
                    .map(|t| t.display().to_string())
                    .unwrap_or_default(),
                base.as_deref().unwrap_or("?")
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplySpec {
    /// `git am --3way`.
    pub three_way: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Auth {
    Cephx,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSpec {
    pub osds: u32,
    pub mds: u32,
    pub auth: Auth,
    /// Per OSD.
    pub memstore_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestSpec {
    pub count: u32,
    /// Guests booted at once (`guests.parallel`): `None` lets the executor choose what the
    /// machine allows ([`parallel_default`]). Not part of the guest work (a base profile's key):
    /// how many guests run at once does not change what each runs.
    #[serde(skip)]
    pub parallel: Option<u32>,
    pub cpus: u32,
    pub memory_mib: u32,
    pub hung_task_timeout_s: u32,
    pub userland: Userland,
}

/// What the guest runs on besides the harness's own program and modules (which always come
/// from the initramfs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Userland {
    /// busybox only: enough for the harness's own workloads, and the fastest boot.
    Initramfs,
    /// The host's `/usr`, exported read-only (virtio-9p): bash, perl, fio, stress-ng, ... .
    Host,
}

impl Userland {
    pub fn as_str(self) -> &'static str {
        match self {
            Userland::Initramfs => "initramfs",
            Userland::Host => "host",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadSpec {
    pub name: String,
    pub seed: u64,
    /// Every parameter of the workload, defaults filled in.
    pub params: BTreeMap<String, u64>,
    /// The fstests workload's text parameters.
    pub fstests: Option<FstestsSpec>,
}

/// What the fstests workload runs (validated: well-formed test and group names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FstestsSpec {
    /// The checkout (a directory) or tarball, resolved against the job file's directory.
    pub path: PathBuf,
    pub tests: Vec<String>,
    pub groups: Vec<String>,
    /// Default: `harness_proto::fstests::DEFAULT_EXCLUDE`.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TestPrefixes {
    Tip,
    All,
}

/// What a failing series leads to: nothing more, a bisection to the culprit patch, or the
/// bisection and a tested way back (the series without the culprit, and the base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    None,
    Bisect,
    Revert,
}

impl OnFailure {
    pub fn parse(s: &str) -> Option<OnFailure> {
        Some(match s {
            "none" => OnFailure::None,
            "bisect" => OnFailure::Bisect,
            "revert" => OnFailure::Revert,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::None => "none",
            OnFailure::Bisect => "bisect",
            OnFailure::Revert => "revert",
        }
    }
}

/// Deadlines per phase. Values are for a KVM guest; [`Timeouts::scaled`] applies the TCG factor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timeouts {
    pub apply: Duration,
    /// Per prefix.
    pub build: Duration,
    pub cluster: Duration,
    pub boot: Duration,
    /// Per workload (each workload's start opens its deadline).
    pub workload: Duration,
    /// No workload progress for this long: the guest dumps its blocked tasks and the run ends
    /// with a hang finding.
    pub stall: Duration,
    /// No console output at all (not even a heartbeat) for this long: the host asks the guest
    /// for its blocked tasks (sysrq w and t through the QEMU monitor), then kills it.
    pub silence: Duration,
    pub tcg_factor: u32,
}

impl Timeouts {
    /// Deadlines for guest phases under the given accelerator (host-side phases are not scaled).
    pub fn scaled(&self, kvm: bool) -> Timeouts {
        let f = if kvm { 1 } else { self.tcg_factor.max(1) };
        Timeouts {
            boot: self.boot * f,
            workload: self.workload * f,
            stall: self.stall * f,
            silence: self.silence * f,
            ..*self
        }
    }
}

pub use harness_proto::workloads::{WorkloadInfo, WORKLOADS};

/// A nightly suite: jobs to run on the configured series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    pub name: String,
    pub series: Vec<PathBuf>,
    pub range: Option<String>,
    pub tree: Option<PathBuf>,
    pub jobs: Vec<PathBuf>,
    pub on_failure: Option<OnFailure>,
    pub dashboard: Option<String>,
    pub github: Option<GithubSpec>,
    /// Where the jobs run (`executor:`; `harness nightly --executor` overrides it).
    pub executor: Executor,
    /// How jobs are submitted to Slurm (`slurm:`), needed by `executor: slurm`.
    pub slurm: Option<SlurmSpec>,
}

/// Where a suite's jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// One after the other, in this process.
    Local,
    /// Each job a Slurm job (a unit) running `harness unit` on a node; this process collects.
    Slurm,
}

impl Executor {
    pub fn parse(s: &str) -> Option<Executor> {
        match s {
            "local" => Some(Executor::Local),
            "slurm" => Some(Executor::Slurm),
            _ => None,
        }
    }
}

/// The suite's `slurm:` section, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlurmSpec {
    /// `sbatch --partition` (default: the cluster's default partition).
    pub partition: Option<String>,
    /// Absolute; the same path on the submitting machine and on every node.
    pub shared_dir: PathBuf,
    pub conf: Option<PathBuf>,
    pub harness: Option<PathBuf>,
    pub cache: Option<PathBuf>,
    /// `--cpus-per-task`; `None`: `--exclusive` (a unit boots guests and runs its own cluster).
    pub cpus: Option<u32>,
    /// `--time` instead of the job's own limit (`core::slurm::time_limit`).
    pub time: Option<Duration>,
}

/// Where a nightly reports on GitHub.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GithubSpec {
    /// `owner/name`.
    pub repo: String,
    pub api: String,
    /// The token comes from this environment variable, else from `token_file`.
    pub token_env: String,
    pub token_file: Option<PathBuf>,
    pub commit: Option<String>,
    pub issues: bool,
}

/// A Slurm name (partition, job name): ASCII letters, digits, `-`, `_`, `.`; not empty.
pub fn valid_slurm_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `executor:` and `slurm:` (a suite's, or a job's for its bisection boots), validated.
fn executor_spec(
    executor: Option<&str>,
    slurm: Option<RawSlurm>,
    dir: &Path,
    invalid: &dyn Fn(&str, String) -> JobError,
) -> Result<(Executor, Option<SlurmSpec>), JobError> {
    let executor = match executor {
        None => Executor::Local,
        Some(e) => Executor::parse(e)
            .ok_or_else(|| invalid("executor", format!("`{e}`: expected local or slurm")))?,
    };
    let slurm = match slurm {
        None if executor == Executor::Slurm => {
            return Err(invalid(
                "executor",
                "`executor: slurm` needs a `slurm:` section (at least `shared_dir:`)".into(),
            ))
        }
        None => None,
        Some(r) => {
            if !r.shared_dir.is_absolute() {
                return Err(invalid(
                    "shared_dir",
                    format!(
                        "{}: give an absolute path (the same on this machine and the nodes)",
                        r.shared_dir.display()
                    ),
                ));
            }
            for (key, p) in [("harness", &r.harness), ("cache", &r.cache)] {
                if let Some(p) = p.as_ref().filter(|p| !p.is_absolute()) {
                    return Err(invalid(
                        key,
                        format!("{}: give an absolute path (it is a node's)", p.display()),
                    ));
                }
            }
            if let Some(p) = r.partition.as_deref().filter(|p| !valid_slurm_name(p)) {
                return Err(invalid(
                    "partition",
                    format!("`{p}` is not a partition name"),
                ));
            }
            if r.cpus == Some(0) || r.time_minutes == Some(0) {
                let key = if r.cpus == Some(0) {
                    "cpus"
                } else {
                    "time_minutes"
                };
                return Err(invalid(key, "must be at least 1".into()));
            }
            Some(SlurmSpec {
                partition: r.partition,
                shared_dir: r.shared_dir,
                conf: r.conf.map(|p| resolve(dir, p)),
                harness: r.harness,
                cache: r.cache,
                cpus: r.cpus,
                time: r
                    .time_minutes
                    .map(|m| Duration::from_secs(u64::from(m) * 60)),
            })
        }
    };
    Ok((executor, slurm))
}

/// Does this YAML text describe a suite (rather than a job)?
pub fn is_suite(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("suite:"))
}

/// The fstests workload's text parameters, validated. `invalid(".tests[2]", message)`.
fn fstests_spec(
    mut text: BTreeMap<String, serde_yaml::Value>,
    dir: &Path,
    invalid: &dyn Fn(&str, String) -> JobError,
) -> Result<FstestsSpec, JobError> {
    use harness_proto::fstests::{valid_group, valid_test, DEFAULT_EXCLUDE};
    let path = match text.remove("path") {
        Some(serde_yaml::Value::String(p)) if !p.trim().is_empty() => resolve(dir, p.into()),
        Some(_) => return Err(invalid(".path", "expected a path".into())),
        None => {
            return Err(invalid(
                "",
                "fstests needs `path:` (an fstests checkout or tarball)".into(),
            ))
        }
    };
    let list = |name: &str,
                v: Option<serde_yaml::Value>,
                ok: fn(&str) -> bool,
                what: &str|
     -> Result<Option<Vec<String>>, JobError> {
        let Some(v) = v else { return Ok(None) };
        let serde_yaml::Value::Sequence(items) = v else {
            return Err(invalid(&format!(".{name}"), "expected a list".into()));
        };
        let mut out = Vec::new();
        for (j, it) in items.into_iter().enumerate() {
            match it {
                serde_yaml::Value::String(s) if ok(&s) => out.push(s),
                other => {
                    return Err(invalid(
                        &format!(".{name}[{j}]"),
                        format!("{other:?} is not {what}"),
                    ))
                }
            }
        }
        Ok(Some(out))
    };
    let tests = list(
        "tests",
        text.remove("tests"),
        valid_test,
        "a test name like generic/013",
    )?
    .unwrap_or_default();
    let groups =
        list("groups", text.remove("groups"), valid_group, "a group name")?.unwrap_or_default();
    let exclude = list(
        "exclude",
        text.remove("exclude"),
        valid_test,
        "a test name like generic/013",
    )?
    .unwrap_or_else(|| DEFAULT_EXCLUDE.iter().map(|e| e.0.to_string()).collect());
    if tests.is_empty() && groups.is_empty() {
        return Err(invalid(
            "",
            "fstests needs `tests:` or `groups:` (e.g. groups: [quick])".into(),
        ));
    }
    Ok(FstestsSpec {
        path,
        tests,
        groups,
        exclude,
    })
}

fn resolve(dir: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        dir.join(p)
    }
}

impl Suite {
    pub fn from_yaml(text: &str, file: &str, dir: &Path) -> Result<Suite, JobError> {
        let raw: RawSuite = from_yaml_text(text, file)?;
        if raw.jobs.is_empty() {
            return Err(JobError::Invalid {
                file: file.into(),
                line: locate_key(text, "jobs"),
                key: "jobs".into(),
                message: "a suite needs at least one job".into(),
            });
        }
        let invalid = |key: &str, message: String| JobError::Invalid {
            file: file.into(),
            line: locate_key(text, key),
            key: key.into(),
            message,
        };
        if raw.series.is_empty() == raw.range.is_none() {
            return Err(invalid(
                "series",
                "give the series files (`series:`) or a branch (`range: base..tip` with `tree:`), one of them".into(),
            ));
        }
        if raw.range.is_some() && raw.tree.is_none() {
            return Err(invalid("range", "a range needs `tree:`".into()));
        }
        let on_failure = match raw.on_failure.as_deref() {
            None => None,
            Some(o) => Some(OnFailure::parse(o).ok_or_else(|| {
                invalid(
                    "on_failure",
                    format!("`{o}`: expected bisect, revert or none"),
                )
            })?),
        };
        let github = match raw.github {
            None => None,
            Some(g) => {
                let parts: Vec<&str> = g.repo.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                    return Err(invalid(
                        "repo",
                        format!("`{}`: expected owner/name", g.repo),
                    ));
                }
                Some(GithubSpec {
                    repo: g.repo,
                    api: g.api.unwrap_or_else(|| "https://api.github.com".into()),
                    token_env: g.token_env.unwrap_or_else(|| "GITHUB_TOKEN".into()),
                    token_file: g.token_file.map(|p| resolve(dir, p)),
                    commit: g.commit,
                    issues: g.issues.unwrap_or(true),
                })
            }
        };
        let (executor, slurm) = executor_spec(raw.executor.as_deref(), raw.slurm, dir, &invalid)?;
        Ok(Suite {
            executor,
            slurm,
            name: raw.suite,
            series: raw.series.into_iter().map(|p| resolve(dir, p)).collect(),
            range: raw.range,
            tree: raw.tree.map(|p| resolve(dir, p)),
            jobs: raw.jobs.into_iter().map(|p| resolve(dir, p)).collect(),
            on_failure,
            dashboard: raw.dashboard,
            github,
        })
    }
}

impl Job {
    /// Parse and validate a job. `file` names the source in errors; `dir` resolves relative paths.
    pub fn from_yaml(text: &str, file: &str, dir: &Path) -> Result<Job, JobError> {
        let raw: RawJob = from_yaml_text(text, file)?;
        let invalid = |key: &str, message: String| JobError::Invalid {
            file: file.to_string(),
            line: locate_key(text, key),
            key: key.to_string(),
            message,
        };
        let required = |v: Option<String>, key: &str| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| invalid(key, "required in this mode".into()))
        };
        let k = raw.kernel;
        let only = |present: bool, key: &str, mode: &str| {
            if present {
                Err(invalid(key, format!("not used in {mode} mode")))
            } else {
                Ok(())
            }
        };
        let kernel = match k.mode.as_str() {
            "distro-module" => {
                only(k.tree.is_some(), "kernel.tree", "distro-module")?;
                only(k.base.is_some(), "kernel.base", "distro-module")?;
                only(k.config.is_some(), "kernel.config", "distro-module")?;
                KernelSpec::DistroModule {
                    release: required(k.release, "kernel.release")?,
                    source: resolve(
                        dir,
                        k.source.ok_or_else(|| {
                            invalid("kernel.source", "required in this mode".into())
                        })?,
                    ),
                    base_patches: k
                        .base_patch
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| resolve(dir, p))
                        .collect(),
                }
            }
            "tree" => {
                only(k.release.is_some(), "kernel.release", "tree")?;
                only(k.source.is_some(), "kernel.source", "tree")?;
                only(k.base_patch.is_some(), "kernel.base_patch", "tree")?;
                let c = k
                    .config
                    .ok_or_else(|| invalid("kernel.config", "required in tree mode".into()))?;
                let base = if c.base.contains('/') || c.base.contains(".config") {
                    ConfigBase::File(resolve(dir, PathBuf::from(&c.base)))
                } else if !c.base.is_empty()
                    && c.base.ends_with("config")
                    && c.base
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                {
                    ConfigBase::Target(c.base)
                } else {
                    return Err(invalid(
                        "kernel.config.base",
                        format!(
                            "`{}`: expected a make target such as defconfig, or a path to a .config",
                            c.base
                        ),
                    ));
                };
                KernelSpec::Tree {
                    tree: k.tree.map(|p| resolve(dir, p)),
                    base: k.base,
                    config: KernelConfig {
                        base,
                        fragments: c.fragments.into_iter().map(|p| resolve(dir, p)).collect(),
                    },
                }
            }
            other => {
                return Err(invalid(
                    "kernel.mode",
                    format!("unknown mode `{other}` (expected distro-module or tree)"),
                ))
            }
        };

        let c = raw.cluster;
        // One monitor and one manager are all a test cluster needs; more would only slow it down.
        for (key, v) in [("cluster.mons", c.mons), ("cluster.mgrs", c.mgrs)] {
            if v != 1 {
                return Err(invalid(key, format!("{v}: only 1 is supported")));
            }
        }
        if !(1..=4).contains(&c.osds) {
            return Err(invalid(
                "cluster.osds",
                format!("{} is out of range 1..=4", c.osds),
            ));
        }
        if !(1..=3).contains(&c.mds) {
            return Err(invalid(
                "cluster.mds",
                format!("{} is out of range 1..=3", c.mds),
            ));
        }
        let auth = match c.auth.as_str() {
            "cephx" => Auth::Cephx,
            "none" => Auth::None,
            other => {
                return Err(invalid(
                    "cluster.auth",
                    format!("`{other}`: expected cephx or none"),
                ))
            }
        };
        if c.memstore_mib < 256 {
            return Err(invalid(
                "cluster.memstore_mib",
                "at least 256 MiB is needed".into(),
            ));
        }

        let g = raw.guests;
        if g.count != 1 {
            return Err(invalid(
                "guests.count",
                format!("{}: one guest per prefix is supported for now", g.count),
            ));
        }
        if let Some(p) = g.parallel {
            if !(1..=MAX_PARALLEL).contains(&p) {
                return Err(invalid(
                    "guests.parallel",
                    format!("{p} is out of range 1..={MAX_PARALLEL}"),
                ));
            }
        }
        if !(1..=64).contains(&g.cpus) {
            return Err(invalid(
                "guests.cpus",
                format!("{} is out of range 1..=64", g.cpus),
            ));
        }
        if g.memory_mib < 256 {
            return Err(invalid(
                "guests.memory_mib",
                "at least 256 MiB is needed".into(),
            ));
        }

        let userland = match g.userland.as_str() {
            "initramfs" => Userland::Initramfs,
            "host" => Userland::Host,
            other => {
                return Err(invalid(
                    "guests.userland",
                    format!("`{other}`: expected initramfs or host"),
                ))
            }
        };

        if raw.workloads.is_empty() {
            return Err(invalid(
                "workloads",
                "at least one workload is needed".into(),
            ));
        }
        let mut workloads = Vec::new();
        for (i, w) in raw.workloads.into_iter().enumerate() {
            let Some(info) = WORKLOADS.iter().find(|i| i.name == w.name) else {
                let known: Vec<&str> = WORKLOADS.iter().map(|i| i.name).collect();
                return Err(invalid(
                    &format!("workloads[{i}].name"),
                    format!(
                        "unknown workload `{}` (known: {})",
                        w.name,
                        known.join(", ")
                    ),
                ));
            };
            if info.needs_host_userland() && userland != Userland::Host {
                let tools: Vec<&str> = info.host_tools.iter().map(|t| t.0).collect();
                return Err(invalid(
                    &format!("workloads[{i}].name"),
                    format!(
                        "`{}` runs {} from the host's userland: set `guests.userland: host` \
                         (the initramfs has only busybox)",
                        w.name,
                        tools.join(" and ")
                    ),
                ));
            }
            let mut params: BTreeMap<String, u64> =
                info.params.iter().map(|p| (p.0.to_string(), p.1)).collect();
            let mut text: BTreeMap<String, serde_yaml::Value> = BTreeMap::new();
            for (name, v) in w.params {
                let key = format!("workloads[{i}].params.{name}");
                if harness_proto::workloads::TEXT_PARAMS
                    .iter()
                    .any(|t| t.0 == w.name && t.1 == name)
                {
                    text.insert(name, v);
                    continue;
                }
                let Some(v) = v.as_u64() else {
                    return Err(invalid(&key, "expected a whole number".into()));
                };
                let Some((_, _, min, max, _)) = info.params.iter().find(|p| p.0 == name) else {
                    let known: Vec<&str> = info.params.iter().map(|p| p.0).collect();
                    return Err(invalid(
                        &key,
                        format!(
                            "`{}` has no parameter `{name}` (known: {})",
                            w.name,
                            known.join(", ")
                        ),
                    ));
                };
                if !(*min..=*max).contains(&v) {
                    return Err(invalid(&key, format!("{v} is out of range {min}..={max}")));
                }
                params.insert(name, v);
            }
            let fstests = if w.name == "fstests" {
                Some(fstests_spec(text, dir, &|k: &str, m: String| {
                    invalid(&format!("workloads[{i}].params{k}"), m)
                })?)
            } else {
                None
            };
            workloads.push(WorkloadSpec {
                name: w.name,
                seed: w.seed,
                params,
                fstests,
            });
        }

        if !(1..=100).contains(&raw.repeats) {
            return Err(invalid(
                "repeats",
                format!("{} is out of range 1..=100", raw.repeats),
            ));
        }
        let test_prefixes = match raw.test_prefixes.as_str() {
            "tip" => TestPrefixes::Tip,
            "all" => TestPrefixes::All,
            other => {
                return Err(invalid(
                    "test_prefixes",
                    format!("`{other}`: expected tip or all"),
                ))
            }
        };
        let on_failure = OnFailure::parse(&raw.on_failure).ok_or_else(|| {
            invalid(
                "on_failure",
                format!("`{}`: expected bisect, revert or none", raw.on_failure),
            )
        })?;
        let bisect = {
            let b = &raw.bisect;
            if !(0.5..1.0).contains(&b.confidence) {
                return Err(invalid(
                    "bisect.confidence",
                    format!("{} is out of range 0.5..1 (e.g. 0.99)", b.confidence),
                ));
            }
            if !(1..=1000).contains(&b.max_runs) {
                return Err(invalid(
                    "bisect.max_runs",
                    format!("{} is out of range 1..=1000", b.max_runs),
                ));
            }
            let known_rate = match &b.rate {
                serde_yaml::Value::String(s) if s == "auto" => None,
                serde_yaml::Value::Number(n) => match n.as_f64() {
                    Some(p) if p > 0.0 && p <= 1.0 => Some(p),
                    _ => {
                        return Err(invalid(
                            "bisect.rate",
                            format!("{n} is out of range (0, 1]"),
                        ))
                    }
                },
                other => {
                    return Err(invalid(
                        "bisect.rate",
                        format!(
                            "`{}`: expected auto or a reproduction rate in (0, 1]",
                            serde_yaml::to_string(other).unwrap_or_default().trim()
                        ),
                    ))
                }
            };
            crate::bisect::Model {
                confidence: b.confidence,
                max_runs: b.max_runs,
                known_rate,
                ..crate::bisect::Model::default()
            }
        };
        let bisect_scope = crate::bisect::policy::Scope {
            workloads: crate::bisect::policy::Workloads::parse(&raw.bisect.workloads).ok_or_else(
                || {
                    invalid(
                        "bisect.workloads",
                        format!("`{}`: expected during or all", raw.bisect.workloads),
                    )
                },
            )?,
            steps: crate::bisect::policy::Steps::parse(&raw.bisect.steps).ok_or_else(|| {
                invalid(
                    "bisect.steps",
                    format!("`{}`: expected through-signature or all", raw.bisect.steps),
                )
            })?,
            stop_at_signature: raw.bisect.stop_at_signature,
        };
        let t = raw.timeouts;
        for (k, v) in [
            ("timeouts.apply_s", t.apply_s),
            ("timeouts.build_s", t.build_s),
            ("timeouts.cluster_s", t.cluster_s),
            ("timeouts.boot_s", t.boot_s),
            ("timeouts.workload_s", t.workload_s),
            ("timeouts.stall_s", t.stall_s),
            ("timeouts.silence_s", t.silence_s),
            ("timeouts.tcg_factor", t.tcg_factor as u64),
        ] {
            if v == 0 {
                return Err(invalid(k, "must be > 0".into()));
            }
        }
        let (executor, slurm) = executor_spec(raw.executor.as_deref(), raw.slurm, dir, &invalid)?;
        Ok(Job {
            executor,
            slurm,
            name: raw.name,
            kernel,
            apply: ApplySpec {
                three_way: raw.apply.three_way,
            },
            cluster: ClusterSpec {
                osds: c.osds,
                mds: c.mds,
                auth,
                memstore_bytes: c.memstore_mib * 1024 * 1024,
            },
            guests: GuestSpec {
                count: g.count,
                parallel: g.parallel,
                cpus: g.cpus,
                memory_mib: g.memory_mib,
                hung_task_timeout_s: g.hung_task_timeout_s,
                userland,
            },
            workloads,
            repeats: raw.repeats,
            test_prefixes,
            on_failure,
            bisect,
            bisect_scope,
            timeouts: Timeouts {
                apply: Duration::from_secs(t.apply_s),
                build: Duration::from_secs(t.build_s),
                cluster: Duration::from_secs(t.cluster_s),
                boot: Duration::from_secs(t.boot_s),
                workload: Duration::from_secs(t.workload_s),
                stall: Duration::from_secs(t.stall_s),
                silence: Duration::from_secs(t.silence_s),
                tcg_factor: t.tcg_factor,
            },
            probes: ProbeSpec {
                coverage: raw.probes.coverage,
                hazards: raw.probes.hazards,
                hazards_fail: raw.probes.hazards_fail,
            },
            check: CheckSpec {
                expect_fix: raw.check.expect_fix,
                max_boots: raw.check.max_boots,
                base: raw.check.base,
            },
        })
    }
}

/// Most guests a job may boot at once (`guests.parallel`).
pub const MAX_PARALLEL: u32 = 16;

/// How many guests of `guest_mib` each fit at once on a machine with `cores` CPUs and
/// `available_mib` of free memory, when the job does not say (`guests.parallel` absent): one per
/// two cores (a TCG guest keeps a core busy, the cluster and the harness need the rest), no more
/// than the memory holds, at least one, at most [`MAX_PARALLEL`].
pub fn parallel_default(cores: u32, available_mib: u64, guest_mib: u32) -> u32 {
    let by_cores = cores / 2;
    let by_memory = available_mib / u64::from(guest_mib.max(1));
    (by_cores as u64)
        .min(by_memory)
        .clamp(1, MAX_PARALLEL as u64) as u32
}

/// Guest slots a run can use: `parallel`, but no more than the boots its test makes
/// (`tested` prefixes × `repeats`) unless a bisection may follow here (its rounds and the
/// revert's clean runs fill every slot; `bisects_here` is false when its boots are made
/// elsewhere, as Slurm units). Each slot costs a file system and its MDS in the run's cluster.
pub fn useful_slots(job: &Job, parallel: usize, tested: usize, bisects_here: bool) -> usize {
    let test = tested.max(1) * job.repeats.max(1) as usize;
    let most = if job.on_failure == OnFailure::None || !bisects_here {
        test
    } else {
        usize::MAX
    };
    parallel.min(most).max(1)
}

/// What a base's hazard profile is kept under: the same kernel (release, source), the same base
/// (the base patches' contents, in order), and the same guest work (workloads, guests, probes).
/// `None` for a tree-mode job (its base is a commit of the developer's tree).
pub fn profile_key(job: &Job, base_patches: &[Vec<u8>]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let KernelSpec::DistroModule {
        release, source, ..
    } = &job.kernel
    else {
        return None;
    };
    let mut h = Sha256::new();
    let work = serde_json::json!({
        "release": release,
        "source": source,
        "workloads": job.workloads,
        "guests": job.guests,
        "probes": job.probes,
    });
    h.update(work.to_string().as_bytes());
    for p in base_patches {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    Some(
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jobs")
    }

    fn yaml_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().and_then(|s| s.to_str()) == Some("yaml"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn guests_at_once_are_what_the_machine_allows_unless_the_job_says() {
        // One per two cores, as many as the memory holds, at least one.
        assert_eq!(parallel_default(2, 20_000, 1024), 1);
        assert_eq!(parallel_default(1, 20_000, 1024), 1);
        assert_eq!(parallel_default(8, 20_000, 1024), 4);
        assert_eq!(parallel_default(8, 2_500, 1024), 2);
        assert_eq!(parallel_default(64, 500, 1024), 1);
        assert_eq!(parallel_default(128, 1 << 30, 256), MAX_PARALLEL);
        let y = format!("{MIN}guests: {{parallel: 2}}\n");
        let j = Job::from_yaml(&y, "jobs/x.yaml", Path::new("/")).unwrap();
        assert_eq!(j.guests.parallel, Some(2));
        let j = Job::from_yaml(MIN, "jobs/x.yaml", Path::new("/")).unwrap();
        assert_eq!(j.guests.parallel, None);
        // No more slots than the run can fill.
        let mut t = j.clone();
        t.on_failure = OnFailure::None;
        assert_eq!(useful_slots(&t, 4, 1, true), 1);
        t.repeats = 2;
        assert_eq!(useful_slots(&t, 4, 1, true), 2);
        assert_eq!(useful_slots(&t, 4, 3, true), 4);
        t.on_failure = OnFailure::Bisect;
        t.repeats = 1;
        assert_eq!(useful_slots(&t, 4, 1, true), 4);
        assert_eq!(useful_slots(&t, 0, 1, true), 1);
        // A bisection whose boots are Slurm units needs no more slots here than the test.
        assert_eq!(useful_slots(&t, 4, 1, false), 1);
        // How many guests run at once is not part of the guest work a base profile is kept for.
        let mut k = j.clone();
        k.guests.parallel = Some(3);
        assert_eq!(profile_key(&j, &[]), profile_key(&k, &[]));
    }

    #[test]
    fn every_file_in_jobs_loads() {
        let (mut jobs, mut suites) = (0, 0);
        for p in yaml_files(&jobs_dir()) {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.display().to_string();
            if is_suite(&text) {
                let s =
                    Suite::from_yaml(&text, &name, &jobs_dir()).unwrap_or_else(|e| panic!("{e}"));
                for j in &s.jobs {
                    assert!(j.exists(), "{name}: job {} does not exist", j.display());
                }
                suites += 1;
            } else {
                let job =
                    Job::from_yaml(&text, &name, &jobs_dir()).unwrap_or_else(|e| panic!("{e}"));
                if let KernelSpec::Tree { config, .. } = &job.kernel {
                    for f in &config.fragments {
                        assert!(
                            f.exists(),
                            "{name}: fragment {} does not exist",
                            f.display()
                        );
                    }
                }
                jobs += 1;
            }
        }
        assert!(jobs >= 2 && suites >= 1, "jobs {jobs}, suites {suites}");
    }

    #[test]
    fn default_job_is_the_distro_module_fast_path() {
        let p = jobs_dir().join("default.yaml");
        let job = Job::from_yaml(
            &std::fs::read_to_string(&p).unwrap(),
            "default.yaml",
            &jobs_dir(),
        )
        .unwrap();
        let KernelSpec::DistroModule {
            release,
            base_patches,
            ..
        } = &job.kernel
        else {
            panic!("default job is not distro-module");
        };
        assert_eq!(release, "6.1.0-56-amd64");
        assert_eq!(base_patches.len(), 1);
        assert!(base_patches[0].ends_with("shared/series/pre-series-6.1.patch"));
        // Every workload the guest program knows, in the default job, in the documented order.
        let names: Vec<&str> = job.workloads.iter().map(|w| w.name.as_str()).collect();
        let known: Vec<&str> = WORKLOADS
            .iter()
            .filter(|w| !w.hunt && !w.needs_host_userland())
            .map(|w| w.name)
            .collect();
        assert_eq!(names, known);
        assert_eq!(job.guests.userland, Userland::Initramfs);
        assert_eq!(job.workloads[0].params["cycles"], 4);
        assert!(job.probes.coverage && job.probes.hazards && !job.probes.hazards_fail);
        assert_eq!(job.timeouts.scaled(false).boot, job.timeouts.boot * 3);
        assert_eq!(job.timeouts.scaled(false).stall, job.timeouts.stall * 3);
        assert_eq!(job.timeouts.scaled(true).boot, job.timeouts.boot);
    }

    #[test]
    fn fstests_parameters() {
        let y = "name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nguests:\n  userland: host\nworkloads:\n  - name: fstests\n    params:\n      path: ../fst.tar.gz\n      tests: [generic/001, ceph/002]\n      test_timeout_s: 60\n";
        let j = Job::from_yaml(y, "jobs/x.yaml", Path::new("/r/jobs")).unwrap();
        let f = j.workloads[0].fstests.as_ref().unwrap();
        assert_eq!(f.path, Path::new("/r/jobs/../fst.tar.gz"));
        assert_eq!(f.tests, ["generic/001", "ceph/002"]);
        assert!(f.groups.is_empty());
        assert_eq!(
            f.exclude.len(),
            harness_proto::fstests::DEFAULT_EXCLUDE.len()
        );
        assert_eq!(j.workloads[0].params["test_timeout_s"], 60);
        let bad = |params: &str| {
            let y = format!("name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nguests:\n  userland: host\nworkloads:\n  - name: fstests\n    params:\n{params}");
            Job::from_yaml(&y, "jobs/x.yaml", Path::new("/r"))
                .unwrap_err()
                .to_string()
        };
        assert!(bad("      tests: [generic/001]\n").contains("needs `path:`"));
        assert!(bad("      path: p\n").contains("needs `tests:` or `groups:`"));
        assert!(bad("      path: p\n      tests: [\"../../etc\"]\n").contains("tests[0]"));
        assert!(bad("      path: p\n      groups: [\"-x\"]\n").contains("groups[0]"));
        assert!(bad("      path: p\n      groups: quick\n").contains("expected a list"));
        // Text is only for fstests' text parameters.
        let y = format!(
            "{MIN_NO_WL}workloads:\n  - name: umount-stress\n    params:\n      cycles: many\n"
        );
        let e = Job::from_yaml(&y, "jobs/x.yaml", Path::new("/r"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a whole number"), "{e}");
        // An exclude list replaces the default.
        let y = "name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nguests:\n  userland: host\nworkloads:\n  - name: fstests\n    params: {path: p, groups: [quick], exclude: []}\n";
        let j = Job::from_yaml(y, "jobs/x.yaml", Path::new("/r")).unwrap();
        assert!(j.workloads[0].fstests.as_ref().unwrap().exclude.is_empty());
    }

    const MIN_NO_WL: &str = "name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\n";

    #[test]
    fn docs_list_every_workload_and_parameter() {
        let doc = include_str!("../../../docs/jobs.md");
        for w in WORKLOADS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", w.name)))
                .unwrap_or_else(|| panic!("docs/jobs.md has no row for {}", w.name));
            for (name, default, min, max, _) in w.params {
                let want = format!("`{name}` ({default}, {min}..={max})");
                assert!(row.contains(&want), "docs/jobs.md, {}: want {want}", w.name);
            }
        }
    }

    const MIN: &str = "name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nworkloads:\n  - name: umount-stress\n";

    fn err(y: &str) -> String {
        Job::from_yaml(y, "jobs/x.yaml", Path::new("/"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_job_may_send_its_bisection_boots_to_slurm() {
        let j = Job::from_yaml(MIN, "x.yaml", Path::new("/j")).unwrap();
        assert_eq!((j.executor, j.slurm), (Executor::Local, None));
        assert!(err(&format!("{MIN}executor: slurm\n")).contains("needs a `slurm:` section"));
        assert!(err(&format!("{MIN}slurm: {{shared_dir: rel}}\n")).contains("absolute path"));
        let j = Job::from_yaml(
            &format!(
                "{MIN}executor: slurm\nslurm:\n  shared_dir: /s\n  conf: c.conf\n  cache: /n\n"
            ),
            "x.yaml",
            Path::new("/j"),
        )
        .unwrap();
        assert_eq!(j.executor, Executor::Slurm);
        let sl = j.slurm.unwrap();
        assert_eq!(sl.conf, Some(PathBuf::from("/j/c.conf")));
        assert_eq!(sl.cache, Some(PathBuf::from("/n")));
    }

    #[test]
    fn a_profile_is_kept_per_kernel_base_and_work() {
        let dir = std::path::Path::new("/jobs");
        let y = "name: x\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nworkloads:\n  - name: umount-stress\n";
        let job = |y: &str| Job::from_yaml(y, "x.yaml", dir).unwrap();
        let k = |y: &str, base: &[&[u8]]| {
            profile_key(
                &job(y),
                &base.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
            )
            .unwrap()
        };
        let a = k(y, &[b"patch"]);
        assert_eq!(a, k(y, &[b"patch"]));
        // Another base, another kernel, other work: another profile. The job's name is not part.
        assert_ne!(a, k(y, &[b"patch", b"more"]));
        assert_ne!(a, k(y, &[b"other"]));
        assert_ne!(a, k(&y.replace("release: r", "release: q"), &[b"patch"]));
        assert_ne!(
            a,
            k(&y.replace("umount-stress", "iput-stress"), &[b"patch"])
        );
        assert_eq!(a, k(&y.replace("name: x", "name: y"), &[b"patch"]));
    }

    #[test]
    fn base_patches_are_one_or_a_list_and_the_base_check_is_on_by_default() {
        let dir = Path::new("/jobs");
        let one = MIN.replace("source: s\n", "source: s\n  base_patch: a.patch\n");
        let many = MIN.replace(
            "source: s\n",
            "source: s\n  base_patch:\n    - a.patch\n    - ../b.patch\n",
        );
        let patches = |y: &str| match Job::from_yaml(y, "x.yaml", dir).unwrap().kernel {
            KernelSpec::DistroModule { base_patches, .. } => base_patches,
            _ => unreachable!(),
        };
        assert_eq!(patches(MIN), Vec::<PathBuf>::new());
        assert_eq!(patches(&one), vec![PathBuf::from("/jobs/a.patch")]);
        assert_eq!(
            patches(&many),
            vec![
                PathBuf::from("/jobs/a.patch"),
                PathBuf::from("/jobs/../b.patch")
            ]
        );
        let job = |y: &str| Job::from_yaml(y, "x.yaml", dir).unwrap();
        assert!(job(MIN).check.base);
        assert!(!job(&format!("{MIN}check:\n  base: false\n")).check.base);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        assert_eq!(
            err(&MIN.replace("distro-module", "vm")),
            "jobs/x.yaml:3: key `kernel.mode`: unknown mode `vm` (expected distro-module or tree)"
        );
        let e = err(&format!("{MIN}bogus: 1\n"));
        assert!(e.starts_with("jobs/x.yaml:8: unknown field `bogus`"), "{e}");
        assert_eq!(
            err(&MIN.replace("umount-stress", "nope")),
            "jobs/x.yaml:7: key `workloads[0].name`: unknown workload `nope` (known: umount-stress, iput-stress, snap-stress, cap-revoke, mds-failover, session-loss, fio, stress-ng, dbench, fsmark, fstests)"
        );
        let y =
            format!("{MIN}  - name: umount-stress\n    seed: 3\n    params:\n      cycles: 0\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:11: key `workloads[1].params.cycles`: 0 is out of range 1..=10000"
        );
        let y = format!("{MIN}guests: {{cpus: 2, count: 3}}\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:8: key `guests.count`: 3: one guest per prefix is supported for now"
        );
        let y = format!("{MIN}guests: {{parallel: 0}}\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:8: key `guests.parallel`: 0 is out of range 1..=16"
        );
        let y = format!("{MIN}guests: {{userland: debian}}\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:8: key `guests.userland`: `debian`: expected initramfs or host"
        );
        // Debian's load tools need the host's userland, and the error says how to get it.
        let y = format!("{MIN}  - name: fio\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:8: key `workloads[1].name`: `fio` runs /usr/bin/fio from the host's \
             userland: set `guests.userland: host` (the initramfs has only busybox)"
        );
        let j = Job::from_yaml(
            &format!("{MIN}  - name: dbench\nguests:\n  userland: host\n"),
            "jobs/x.yaml",
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(j.guests.userland, Userland::Host);
        assert_eq!(j.workloads[1].params["clients"], 2);
        let y = format!("{MIN}cluster:\n  osds: 9\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:9: key `cluster.osds`: 9 is out of range 1..=4"
        );
        let y = format!("{MIN}timeouts:\n  boot_s: -1\n");
        assert!(
            err(&y).starts_with("jobs/x.yaml:9: timeouts.boot_s: invalid type"),
            "{}",
            err(&y)
        );
        let y = MIN.replace("  mode: distro-module\n", "  mode: tree\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:4: key `kernel.release`: not used in tree mode"
        );
        let y = format!("{MIN}on_failure: retry\n");
        assert_eq!(
            err(&y),
            "jobs/x.yaml:8: key `on_failure`: `retry`: expected bisect, revert or none"
        );
    }

    #[test]
    fn bisection_boots_run_the_signatures_workload_and_stop_at_it_unless_told() {
        use crate::bisect::policy::{Scope, Steps, Workloads};
        let y = "name: t\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nworkloads: [{name: umount-stress}]\n";
        let j = Job::from_yaml(y, "t.yaml", Path::new("/")).unwrap();
        assert_eq!(j.bisect_scope, Scope::default());
        assert_eq!(
            (
                j.bisect_scope.workloads,
                j.bisect_scope.steps,
                j.bisect_scope.stop_at_signature
            ),
            (Workloads::During, Steps::ThroughSignature, true)
        );
        let all =
            format!("{y}bisect:\n  workloads: all\n  steps: all\n  stop_at_signature: false\n");
        let j = Job::from_yaml(&all, "t.yaml", Path::new("/")).unwrap();
        assert_eq!(
            j.bisect_scope,
            Scope {
                workloads: Workloads::All,
                steps: Steps::All,
                stop_at_signature: false
            }
        );
        let bad = format!("{y}bisect:\n  steps: first\n");
        let e = Job::from_yaml(&bad, "t.yaml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bisect.steps") && e.contains("expected through-signature or all"),
            "{e}"
        );
        let bad = format!("{y}bisect:\n  workloads: some\n");
        let e = Job::from_yaml(&bad, "t.yaml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bisect.workloads") && e.contains("expected during or all"),
            "{e}"
        );
    }

    #[test]
    fn tree_jobs_take_a_make_target_or_a_config_file() {
        let y = "name: t\nkernel:\n  mode: tree\n  config:\n    base: defconfig\n    fragments: [kconfig/a.config]\nworkloads: [{name: umount-stress}]\n";
        let j = Job::from_yaml(y, "t.yaml", Path::new("/jobs")).unwrap();
        let KernelSpec::Tree { tree, base, config } = j.kernel else {
            panic!()
        };
        assert_eq!((tree, base), (None, None));
        assert_eq!(config.base, ConfigBase::Target("defconfig".into()));
        assert_eq!(
            config.fragments,
            vec![PathBuf::from("/jobs/kconfig/a.config")]
        );
        let y = y.replace("base: defconfig", "base: ../configs/my.config");
        let j = Job::from_yaml(&y, "t.yaml", Path::new("/jobs")).unwrap();
        let KernelSpec::Tree { config, .. } = j.kernel else {
            panic!()
        };
        assert_eq!(
            config.base,
            ConfigBase::File(PathBuf::from("/jobs/../configs/my.config"))
        );
        let y = y.replace("base: ../configs/my.config", "base: rm -rf");
        assert!(Job::from_yaml(&y, "t.yaml", Path::new("/"))
            .unwrap_err()
            .to_string()
            .contains("kernel.config.base"));
    }

    #[test]
    fn locate_key_finds_nested_and_listed_keys() {
        let y = "a: 1\nb:\n  c: 2\n  d:\n    - x: 1\n    - x: 2\n      y: [1]\ne: {f: 1}\n";
        assert_eq!(locate_key(y, "a"), Some(1));
        assert_eq!(locate_key(y, "b.c"), Some(3));
        assert_eq!(locate_key(y, "b.d[1].y"), Some(7));
        assert_eq!(locate_key(y, "b.d[0].x"), Some(5));
        assert_eq!(locate_key(y, "e.f"), Some(8));
        assert_eq!(locate_key(y, "b.zz"), Some(2));
        assert_eq!(locate_key(y, "zz"), None);
    }

    #[test]
    fn suites_list_jobs() {
        let s = Suite::from_yaml(
            "suite: n\nseries: [a.mbox]\njobs: [default.yaml]\ngithub:\n  repo: o/r\n",
            "s.yaml",
            Path::new("/j"),
        )
        .unwrap();
        assert_eq!(s.jobs, vec![PathBuf::from("/j/default.yaml")]);
        assert_eq!(s.series, vec![PathBuf::from("/j/a.mbox")]);
        let g = s.github.unwrap();
        assert_eq!((g.token_env.as_str(), g.issues), ("GITHUB_TOKEN", true));
        let err = |y: &str| {
            Suite::from_yaml(y, "s.yaml", Path::new("/j"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("suite: n\nseries: [a]\njobs: []\n"),
            "s.yaml:3: key `jobs`: a suite needs at least one job"
        );
        assert!(err("suite: n\njobs: [d]\n").contains("key `series`"));
        assert!(err("suite: n\nrange: a..b\njobs: [d]\n").contains("needs `tree:`"));
        assert!(err("suite: n\nseries: [a]\njobs: [d]\nexecutor: slurm\n")
            .contains("needs a `slurm:` section"));
        assert!(err("suite: n\nseries: [a]\njobs: [d]\nexecutor: pbs\n")
            .contains("expected local or slurm"));
        assert!(
            err("suite: n\nseries: [a]\njobs: [d]\nslurm: {shared_dir: rel}\n")
                .contains("key `shared_dir`: rel: give an absolute path")
        );
        assert!(err(
            "suite: n\nseries: [a]\njobs: [d]\nslurm: {shared_dir: /s, partition: 'a b'}\n"
        )
        .contains("not a partition name"));
        assert!(
            err("suite: n\nseries: [a]\njobs: [d]\nslurm: {shared_dir: /s, cpus: 0}\n")
                .contains("key `cpus`: must be at least 1")
        );
        let s = Suite::from_yaml(
            "suite: n\nseries: [a]\njobs: [d]\nexecutor: slurm\nslurm:\n  shared_dir: /s\n  conf: c/slurm.conf\n  partition: p\n  time_minutes: 90\n",
            "s.yaml",
            Path::new("/j"),
        )
        .unwrap();
        assert_eq!(s.executor, Executor::Slurm);
        let sl = s.slurm.unwrap();
        assert_eq!(sl.conf, Some(PathBuf::from("/j/c/slurm.conf")));
        assert_eq!(sl.time, Some(Duration::from_secs(5400)));
        assert_eq!((sl.partition.as_deref(), sl.cpus), (Some("p"), None));
        assert_eq!(
            Suite::from_yaml("suite: n\nseries: [a]\njobs: [d]\n", "s", Path::new("/j"))
                .unwrap()
                .executor,
            Executor::Local
        );
        assert!(err("suite: n\nseries: [a]\njobs: [d]\ngithub: {repo: x}\n")
            .contains("expected owner/name"));
        assert!(err("suite: n\nseries: [a]\njobs: [d]\non_failure: maybe\n")
            .contains("key `on_failure`"));
    }
}
