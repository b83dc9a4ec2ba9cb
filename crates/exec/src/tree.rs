//! The kernel source tree of distro-module mode: `fs/ceph` (with `net/ceph` and
//! `include/linux/ceph`) extracted from the distribution's source tarball into a git work tree cached
//! per source version, the job's base derived from it, and the series applied with the real `git am`.
//!
//! The work tree is also the build directory (objects are git-ignored), so checking out prefix k+1
//! after k touches only the files the patch changed and the module build is incremental. A lock file
//! keeps two runs from using one tree at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proc::{command, Procs};
use crate::{write, ExecError, Result};

const GIT_TIMEOUT: Duration = Duration::from_secs(120);
const EXTRACT_TIMEOUT: Duration = Duration::from_secs(600);

const GITIGNORE: &str =
    "*.o\n*.ko\n*.mod\n*.mod.c\n*.cmd\n*.a\n*.order\nModule.symvers\n.*.d\n.tmp*\n.harness.lock\n/Kbuild\n";

/// A git work tree the harness applies patches in (with the real `git am`), checking out one
/// prefix after another.
pub struct WorkTree {
    pub dir: PathBuf,
    procs: Procs,
}

/// The cached distro source tree: `fs/ceph`, `net/ceph`, `include/linux/ceph` of the tarball.
pub struct SourceTree {
    pub work: WorkTree,
    pub version: String,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl std::ops::Deref for SourceTree {
    type Target = WorkTree;
    fn deref(&self) -> &WorkTree {
        &self.work
    }
}

/// Outcome of `git am` for one patch.
#[derive(Debug, Clone)]
pub struct Applied {
    pub ok: bool,
    pub commit: Option<String>,
    pub message: String,
}

pub(crate) fn git(dir: &Path) -> tokio::process::Command {
    let mut c = command("git", None);
    c.arg("-C").arg(dir).args([
        "-c",
        "user.name=cephfs-harness",
        "-c",
        "user.email=harness@localhost",
        "-c",
        "advice.detachedHead=false",
    ]);
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

/// Version of the source: the Debian package that ships the tarball, else its size and mtime.
async fn source_version(procs: &Procs, tarball: &Path) -> Result<String> {
    let meta = std::fs::metadata(tarball).map_err(|e| ExecError::io(tarball, e))?;
    let stem = tarball_stem(tarball);
    let mut c = command("dpkg-query", None);
    c.args(["-W", "-f=${Version}", &stem]);
    if let Ok(out) = procs.run("dpkg-query", c, GIT_TIMEOUT).await {
        if out.ok() && !out.stdout.trim().is_empty() {
            return Ok(format!("{stem}-{}", out.stdout.trim()));
        }
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(format!("{stem}-{}-{mtime}", meta.len()))
}

fn tarball_stem(tarball: &Path) -> String {
    let name = tarball
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split(".tar").next().unwrap_or(&name).to_string()
}

/// Hold `<dir>/<name>` locked: blocks while another run holds it.
pub(crate) fn lock_file(dir: &Path, name: &str) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| ExecError::io(&p, e))?;
    // Blocks while another run uses the tree; released when the lock is dropped or the process dies.
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| ExecError::io(&p, std::io::Error::from(e)))
}

impl SourceTree {
    /// The cached tree for this tarball, extracted and committed as `stock` on first use.
    pub async fn open(procs: &Procs, cache: &Path, tarball: &Path) -> Result<SourceTree> {
        let version = source_version(procs, tarball).await?;
        let dir = cache.join("trees").join(&version);
        if !dir.join(".git").exists() {
            Self::create(procs, &dir, tarball).await?;
        }
        let lock = lock_file(&dir, ".harness.lock")?;
        Ok(SourceTree {
            work: WorkTree::new(procs, dir),
            version,
            _lock: lock,
        })
    }

    async fn create(procs: &Procs, dir: &Path, tarball: &Path) -> Result<()> {
        // Build in a sibling temp dir and rename: a half-extracted tree is never seen as a cache hit.
        let parent = dir.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| ExecError::io(parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tree-")
            .tempdir_in(parent)
            .map_err(|e| ExecError::io(parent, e))?;
        let stem = tarball_stem(tarball);
        let mut c = command("tar", None);
        c.arg("-C")
            .arg(tmp.path())
            .arg("-xJf")
            .arg(tarball)
            .args(["--strip-components=1", "--wildcards"]);
        for d in harness_core::modules::MODULE_DIRS {
            c.arg(format!("{stem}/{d}*"));
        }
        procs.check("tar", c, EXTRACT_TIMEOUT).await?;
        if !tmp.path().join("fs/ceph/Makefile").exists() {
            return Err(ExecError::Other(format!(
                "{}: no {stem}/fs/ceph in the tarball",
                tarball.display()
            )));
        }
        write(&tmp.path().join(".gitignore"), GITIGNORE)?;
        let t = tmp.path();
        let mut c = git(t);
        c.args(["init", "-q", "-b", "harness"]);
        procs.check("git", c, GIT_TIMEOUT).await?;
        let mut c = git(t);
        c.args(["add", "-A"]);
        procs.check("git", c, GIT_TIMEOUT).await?;
        let mut c = git(t);
        c.args(["commit", "-q", "-m"])
            .arg(format!("stock {}", tarball.display()));
        procs.check("git", c, GIT_TIMEOUT).await?;
        let mut c = git(t);
        c.args(["tag", "stock"]);
        procs.check("git", c, GIT_TIMEOUT).await?;
        let tmp = tmp.keep();
        std::fs::rename(&tmp, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            ExecError::io(dir, e)
        })?;
        Ok(())
    }

    /// The job's base: stock, plus the job's base patch (a plain diff) committed and tagged by content.
    pub async fn base(&self, base_patch: Option<&Path>) -> Result<String> {
        let Some(patch) = base_patch else {
            return self.git_out(&["rev-parse", "stock"]).await;
        };
        if !patch.exists() {
            return Err(ExecError::Other(format!(
                "{}: base patch not found",
                patch.display()
            )));
        }
        let patch_s = patch.to_string_lossy().to_string();
        let hash = self.git_out(&["hash-object", &patch_s]).await?;
        let tag = format!("base-{}", &hash[..12.min(hash.len())]);
        if let Ok(c) = self
            .git_out(&["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")])
            .await
        {
            return Ok(c);
        }
        self.git_out(&["checkout", "-q", "-f", "--detach", "stock"])
            .await?;
        let mut c = git(&self.dir);
        c.args(["apply", "--index"]).arg(patch);
        let out = self.procs.run("git apply", c, GIT_TIMEOUT).await?;
        if !out.ok() {
            let _ = self.git_out(&["reset", "-q", "--hard", "stock"]).await;
            return Err(ExecError::Other(format!(
                "{}: base patch does not apply to {}: {}",
                patch.display(),
                self.version,
                out.message().lines().next().unwrap_or("")
            )));
        }
        self.git_out(&["commit", "-q", "-m", &format!("base: {}", patch.display())])
            .await?;
        self.git_out(&["tag", &tag]).await?;
        self.git_out(&["rev-parse", "HEAD"]).await
    }
}

impl SourceTree {
    pub fn module_dir(&self) -> PathBuf {
        self.dir.join("fs/ceph")
    }
}

impl WorkTree {
    pub fn new(procs: &Procs, dir: PathBuf) -> WorkTree {
        WorkTree {
            dir,
            procs: procs.clone(),
        }
    }

    pub async fn git_out(&self, args: &[&str]) -> Result<String> {
        let mut c = git(&self.dir);
        c.args(args);
        Ok(self
            .procs
            .check("git", c, GIT_TIMEOUT)
            .await?
            .stdout
            .trim()
            .to_string())
    }

    /// Check out `commit` (detached), discarding any leftover of an interrupted run.
    pub async fn checkout(&self, commit: &str) -> Result<()> {
        let _ = self.git_out(&["am", "--abort"]).await;
        self.git_out(&["checkout", "-q", "-f", "--detach", commit])
            .await
            .map(|_| ())
    }

    /// `git am` one patch (a whole mail, as it came) on the current HEAD.
    pub async fn am(&self, mail: &[u8], scratch: &Path, three_way: bool) -> Result<Applied> {
        let f = scratch.join("patch.mbox");
        write(&f, mail)?;
        let mut c = git(&self.dir);
        c.args(["am", "--quiet"])
            .arg(if three_way { "--3way" } else { "--no-3way" })
            .arg(&f);
        let out = self.procs.run("git am", c, GIT_TIMEOUT).await?;
        let _ = std::fs::remove_file(&f);
        if out.ok() {
            let commit = self.git_out(&["rev-parse", "HEAD"]).await?;
            Ok(Applied {
                ok: true,
                commit: Some(commit),
                message: String::new(),
            })
        } else {
            let message = format!("{}\n{}", out.stdout.trim(), out.stderr.trim())
                .trim()
                .to_string();
            let _ = self.git_out(&["am", "--abort"]).await;
            Ok(Applied {
                ok: false,
                commit: None,
                message,
            })
        }
    }

    /// The full commit id of `rev`, if the repository has it.
    pub async fn resolve(&self, rev: &str) -> Option<String> {
        self.git_out(&["rev-parse", "-q", "--verify", &format!("{rev}^{{commit}}")])
            .await
            .ok()
            .filter(|s| !s.is_empty())
    }
}

/// `git format-patch --stdout RANGE` in `repo`: a git range as an mbox.
pub async fn format_patch(procs: &Procs, repo: &Path, range: &str) -> Result<Vec<u8>> {
    if range.starts_with('-') {
        return Err(ExecError::Other(format!("{range}: not a revision range")));
    }
    let mut c = git(repo);
    c.args([
        "format-patch",
        "--stdout",
        "--no-signature",
        "--cover-letter",
    ])
    .arg(range)
    .arg("--");
    let out = procs.run("git format-patch", c, GIT_TIMEOUT).await?;
    if !out.ok() {
        return Err(ExecError::Other(format!(
            "{}: git format-patch {range}: {}",
            repo.display(),
            out.message().lines().next().unwrap_or("")
        )));
    }
    Ok(out.stdout.into_bytes())
}
