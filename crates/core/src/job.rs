//! Jobs: what to build, which cluster and guest to start, which workload to run, with which deadlines.
//!
//! YAML deserialises into a raw spec (`RawJob`); [`Job::from_yaml`] validates it into the [`Job`] the
//! executor runs, with paths resolved against the job file's directory and errors naming file and key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    kernel: RawKernel,
    #[serde(default)]
    cluster: RawCluster,
    #[serde(default)]
    guest: RawGuest,
    workload: RawWorkload,
    #[serde(default = "default_test_prefixes")]
    test_prefixes: String,
    #[serde(default)]
    timeouts: RawTimeouts,
}

fn default_test_prefixes() -> String {
    "tip".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    mode: String,
    release: String,
    source: PathBuf,
    base_patch: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCluster {
    auth: String,
    memstore_mib: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster {
            auth: "cephx".into(),
            memstore_mib: 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGuest {
    cpus: u32,
    memory_mib: u32,
    hung_task_timeout_s: u32,
}

impl Default for RawGuest {
    fn default() -> Self {
        RawGuest {
            cpus: 2,
            memory_mib: 1024,
            hung_task_timeout_s: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: String,
    #[serde(default = "d_cycles")]
    cycles: u32,
    #[serde(default = "d_workers")]
    workers: u32,
    #[serde(default = "d_files")]
    files: u32,
    #[serde(default = "d_seed")]
    seed: u64,
}
fn d_cycles() -> u32 {
    3
}
fn d_workers() -> u32 {
    4
}
fn d_files() -> u32 {
    500
}
fn d_seed() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTimeouts {
    build_s: u64,
    cluster_s: u64,
    boot_s: u64,
    workload_s: u64,
    tcg_factor: u32,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        RawTimeouts {
            build_s: 600,
            cluster_s: 120,
            boot_s: 40,
            workload_s: 200,
            tcg_factor: 3,
        }
    }
}

/// A validated job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub name: String,
    pub kernel: KernelSpec,
    pub cluster: ClusterSpec,
    pub guest: GuestSpec,
    pub workload: WorkloadSpec,
    pub test_prefixes: TestPrefixes,
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum KernelSpec {
    /// The distribution's kernel image; only `fs/ceph` is rebuilt, against the installed headers.
    DistroModule {
        release: String,
        source: PathBuf,
        base_patch: Option<PathBuf>,
    },
}

impl KernelSpec {
    pub fn describe(&self) -> String {
        match self {
            KernelSpec::DistroModule { release, .. } => format!("distro-module {release}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Auth {
    Cephx,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSpec {
    pub auth: Auth,
    pub memstore_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestSpec {
    pub cpus: u32,
    pub memory_mib: u32,
    pub hung_task_timeout_s: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadSpec {
    pub name: String,
    pub cycles: u32,
    pub workers: u32,
    pub files: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TestPrefixes {
    Tip,
    All,
}

/// Deadlines per phase. Values are for a KVM guest; [`Timeouts::scaled`] applies the TCG factor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timeouts {
    pub build: Duration,
    pub cluster: Duration,
    pub boot: Duration,
    pub workload: Duration,
    pub tcg_factor: u32,
}

impl Timeouts {
    /// Deadlines for guest phases under the given accelerator (host-side phases are not scaled).
    pub fn scaled(&self, kvm: bool) -> Timeouts {
        let f = if kvm { 1 } else { self.tcg_factor.max(1) };
        Timeouts {
            boot: self.boot * f,
            workload: self.workload * f,
            ..*self
        }
    }
}

/// Workloads the guest image knows. The names are what job files use.
pub const WORKLOADS: &[&str] = &["umount-iput-stress"];

impl Job {
    /// Parse and validate a job. `file` names the source in errors; `dir` resolves relative paths.
    pub fn from_yaml(text: &str, file: &str, dir: &Path) -> Result<Job, JobError> {
        let raw: RawJob = serde_yaml::from_str(text).map_err(|e| JobError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |key: &str, message: String| JobError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let kernel = match raw.kernel.mode.as_str() {
            "distro-module" => {
                if raw.kernel.release.trim().is_empty() {
                    return Err(invalid("kernel.release", "must not be empty".into()));
                }
                KernelSpec::DistroModule {
                    release: raw.kernel.release,
                    source: resolve(raw.kernel.source),
                    base_patch: raw.kernel.base_patch.map(resolve),
                }
            }
            other => {
                return Err(invalid(
                    "kernel.mode",
                    format!("unknown mode `{other}` (expected distro-module)"),
                ))
            }
        };
        let auth = match raw.cluster.auth.as_str() {
            "cephx" => Auth::Cephx,
            "none" => Auth::None,
            other => {
                return Err(invalid(
                    "cluster.auth",
                    format!("`{other}`: expected cephx or none"),
                ))
            }
        };
        if raw.cluster.memstore_mib < 256 {
            return Err(invalid(
                "cluster.memstore_mib",
                "at least 256 MiB is needed".into(),
            ));
        }
        if raw.guest.cpus == 0 || raw.guest.cpus > 64 {
            return Err(invalid(
                "guest.cpus",
                format!("{} is out of range 1..=64", raw.guest.cpus),
            ));
        }
        if raw.guest.memory_mib < 256 {
            return Err(invalid(
                "guest.memory_mib",
                "at least 256 MiB is needed".into(),
            ));
        }
        if !WORKLOADS.contains(&raw.workload.name.as_str()) {
            return Err(invalid(
                "workload.name",
                format!(
                    "unknown workload `{}` (known: {})",
                    raw.workload.name,
                    WORKLOADS.join(", ")
                ),
            ));
        }
        if raw.workload.cycles == 0 || raw.workload.workers == 0 || raw.workload.files < 2 {
            return Err(invalid(
                "workload",
                "cycles and workers must be > 0 and files >= 2".into(),
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
        let t = raw.timeouts;
        for (k, v) in [
            ("timeouts.build_s", t.build_s),
            ("timeouts.cluster_s", t.cluster_s),
            ("timeouts.boot_s", t.boot_s),
            ("timeouts.workload_s", t.workload_s),
        ] {
            if v == 0 {
                return Err(invalid(k, "must be > 0".into()));
            }
        }
        Ok(Job {
            name: raw.name,
            kernel,
            cluster: ClusterSpec {
                auth,
                memstore_bytes: raw.cluster.memstore_mib * 1024 * 1024,
            },
            guest: GuestSpec {
                cpus: raw.guest.cpus,
                memory_mib: raw.guest.memory_mib,
                hung_task_timeout_s: raw.guest.hung_task_timeout_s,
            },
            workload: WorkloadSpec {
                name: raw.workload.name,
                cycles: raw.workload.cycles,
                workers: raw.workload.workers,
                files: raw.workload.files,
                seed: raw.workload.seed,
            },
            test_prefixes,
            timeouts: Timeouts {
                build: Duration::from_secs(t.build_s),
                cluster: Duration::from_secs(t.cluster_s),
                boot: Duration::from_secs(t.boot_s),
                workload: Duration::from_secs(t.workload_s),
                tcg_factor: t.tcg_factor,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jobs")
    }

    #[test]
    fn every_job_file_loads() {
        let mut n = 0;
        for e in std::fs::read_dir(jobs_dir()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().and_then(|s| s.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            Job::from_yaml(&text, &p.display().to_string(), &jobs_dir())
                .unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 1, "no job files found");
    }

    #[test]
    fn default_job_resolves_base_patch_next_to_the_repository() {
        let p = jobs_dir().join("default.yaml");
        let job = Job::from_yaml(
            &std::fs::read_to_string(&p).unwrap(),
            "default.yaml",
            &jobs_dir(),
        )
        .unwrap();
        let KernelSpec::DistroModule {
            release,
            base_patch,
            ..
        } = &job.kernel;
        assert_eq!(release, "6.1.0-56-amd64");
        assert!(base_patch
            .as_ref()
            .unwrap()
            .ends_with("shared/series/pre-series-6.1.patch"));
        assert_eq!(job.timeouts.scaled(false).boot, job.timeouts.boot * 3);
        assert_eq!(job.timeouts.scaled(true).boot, job.timeouts.boot);
    }

    #[test]
    fn errors_name_file_and_key() {
        let y = "name: x\nkernel: {mode: tree, release: r, source: s}\nworkload: {name: umount-iput-stress}\n";
        let e = Job::from_yaml(y, "jobs/x.yaml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "jobs/x.yaml: key `kernel.mode`: unknown mode `tree` (expected distro-module)"
        );
        let y = "name: x\nkernel: {mode: distro-module, release: r, source: s}\nworkload: {name: umount-iput-stress}\nbogus: 1\n";
        let e = Job::from_yaml(y, "jobs/x.yaml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("jobs/x.yaml: unknown field `bogus`"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let y = "name: x\nkernel: {mode: distro-module, release: r, source: s}\nworkload: {name: nope}\n";
        let e = Job::from_yaml(y, "j.yaml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`workload.name`"), "{e}");
    }
}
