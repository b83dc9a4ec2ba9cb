//! The executor: the only crate that spawns processes (git, make, qemu, ceph, ip) and owns their
//! teardown. Everything it starts belongs to a run ([`proc::Procs`], [`netns::Netns`], temp dirs) and
//! is removed on every exit path.

mod bisector;
pub mod builder;
pub mod cluster;
pub mod fstests;
pub mod gitview;
pub mod guest;
pub mod image;
pub mod kernel;
pub mod ktree;
pub mod lore;
pub mod netns;
pub mod pipeline;
pub mod preflight;
pub mod proc;
pub mod remote;
pub mod sandbox;
pub mod slurm;
pub mod symbolize;
pub mod tree;
pub mod vmlinux;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The harness's own faults. A kernel failure is never one of these: it is a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{what}`")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("`{what}` did not finish within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("`{what}` failed ({status}): {message}")]
    Failed {
        what: String,
        status: String,
        message: String,
    },
    #[error("missing system packages or tools: {what}; run `{install}`")]
    Missing { what: String, install: String },
    #[error("kernel image {image} and kernel source {source_package} are different versions: a module built from other source would test the wrong code")]
    VersionMismatch {
        image: String,
        source_package: String,
    },
    #[error("must run as root (network namespaces, tap devices): try sudo")]
    NotRoot,
    #[error("cluster did not become ready within {after:?}: {detail}")]
    ClusterNotReady { after: Duration, detail: String },
    #[error("{0}")]
    Other(String),
}

impl ExecError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ExecError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = ExecError> = std::result::Result<T, E>;

/// Where cached state lives (source trees, build dirs, base images, ccache).
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HARNESS_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("cephfs-harness");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/cephfs-harness")
}

/// Write a file, creating parent directories.
pub(crate) fn write(path: &Path, data: impl AsRef<[u8]>) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| ExecError::io(p, e))?;
    }
    std::fs::write(path, data).map_err(|e| ExecError::io(path, e))
}

/// A stable short name for a path or a configuration (FNV-1a).
pub(crate) fn fnv_hex(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.iter().chain([0u8].iter()) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}
