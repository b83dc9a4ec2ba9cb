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
use crate::sandbox::{self, SandboxCommand};
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
    /// Read-only binds git needs besides the tree (the developer's objects, read through alternates).
    ro: Vec<PathBuf>,
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

/// Options every git run gets: no hooks, no fsmonitor, no attributes file outside the tree, a
/// fixed identity (the environment is already cleared of `GIT_*` by [`crate::proc::command`] and
/// the sandbox; global and system config are off).
const GIT_HYGIENE: &[&str] = &[
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.attributesFile=/dev/null",
    "-c",
    "protocol.allow=never",
    "-c",
    "user.name=cephfs-harness",
    "-c",
    "user.email=harness@localhost",
    "-c",
    "advice.detachedHead=false",
];

const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

/// git on the host, for repositories the harness trusts (the developer's own tree in tree mode,
/// `format-patch` of a local range): hygiene options, and `safe.directory` for that one
/// repository (it may belong to another user).
pub(crate) fn git(dir: &Path) -> tokio::process::Command {
    let mut c = command("git", None);
    c.arg("-C")
        .arg(dir)
        .args(GIT_HYGIENE)
        .arg("-c")
        .arg(format!("safe.directory={}", dir.display()));
    for (k, v) in GIT_ENV {
        c.env(k, v);
    }
    c
}

/// git inside the sandbox on a work tree the sandbox user owns (the tree a series is applied in):
/// the series' mails are parsed there and anything the tree's config could make git run stays
/// contained. `ro`: more read-only binds (a patch file, a shared repository's objects).
pub(crate) fn sandboxed_git(dir: &Path, ro: &[PathBuf]) -> SandboxCommand {
    let mut c = SandboxCommand::new("git");
    // Inside, only the bound trees exist: any of them may be read (the developer's objects
    // belongs to the developer, not to the sandbox user).
    c.arg("-C")
        .arg(dir)
        .args(GIT_HYGIENE)
        .args(["-c", "safe.directory=*"])
        .rw(dir);
    for p in ro {
        c.ro(p);
    }
    for (k, v) in GIT_ENV {
        c.env(k, v);
    }
    c.cwd(dir);
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
        let trees = cache.join("trees");
        std::fs::create_dir_all(&trees).map_err(|e| ExecError::io(&trees, e))?;
        // The lock lives beside the tree, not in it: the series' build can write in the tree.
        let lock = lock_file(&trees, &format!("{version}.lock"))?;
        if !dir.join(".git").is_dir() {
            Self::create(procs, &dir, tarball).await?;
        }
        // Trees made before the sandbox belonged to root.
        sandbox::reach(&dir)?;
        sandbox::own(&dir)?;
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
        sandbox::reach(t)?;
        sandbox::own(t)?;
        let stock = format!("stock {}", tarball.display());
        for args in [
            &["init", "-q", "-b", "harness"][..],
            &["add", "-A"],
            &["commit", "-q", "-m", &stock],
            &["tag", "stock"],
        ] {
            let mut c = sandboxed_git(t, &[]);
            c.args(args);
            procs.check("git", c.build()?, GIT_TIMEOUT).await?;
        }
        let tmp = tmp.keep();
        std::fs::rename(&tmp, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            ExecError::io(dir, e)
        })?;
        Ok(())
    }

    /// The job's base: stock, plus the job's base patches (plain diffs) applied in order, each
    /// committed and tagged by the content of the patches up to it (so a stack shares its
    /// prefix's commits with a shorter stack).
    pub async fn base(&self, base_patches: &[PathBuf]) -> Result<String> {
        let mut at = self.git_out(&["rev-parse", "stock"]).await?;
        let mut tag = String::from("base");
        for patch in base_patches {
            at = self.base_step(&at, &mut tag, patch).await?;
        }
        Ok(at)
    }

    async fn base_step(&self, parent: &str, tag: &mut String, patch: &Path) -> Result<String> {
        if !patch.exists() {
            return Err(ExecError::Other(format!(
                "{}: base patch not found",
                patch.display()
            )));
        }
        let patch = &patch.canonicalize().map_err(|e| ExecError::io(patch, e))?;
        sandbox::reach(patch)?;
        let patch_s = patch.to_string_lossy().to_string();
        let hash = self
            .git_out_with(&["hash-object", &patch_s], &[patch.to_path_buf()])
            .await?;
        tag.push('-');
        tag.push_str(&hash[..12.min(hash.len())]);
        if let Ok(c) = self
            .git_out(&["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")])
            .await
        {
            return Ok(c);
        }
        self.git_out(&["checkout", "-q", "-f", "--detach", parent])
            .await?;
        let mut c = sandboxed_git(&self.dir, &[patch.to_path_buf()]);
        c.args(["apply", "--index"]).arg(patch);
        let out = self.procs.run("git apply", c.build()?, GIT_TIMEOUT).await?;
        if !out.ok() {
            let _ = self.git_out(&["reset", "-q", "--hard", parent]).await;
            return Err(ExecError::Other(format!(
                "{}: base patch does not apply to {}: {}",
                patch.display(),
                self.version,
                out.message().lines().next().unwrap_or("")
            )));
        }
        self.git_out(&["commit", "-q", "-m", &format!("base: {}", patch.display())])
            .await?;
        self.git_out(&["tag", tag]).await?;
        self.git_out(&["rev-parse", "HEAD"]).await
    }
}

impl SourceTree {
    pub fn module_dir(&self) -> PathBuf {
        self.dir.join("fs/ceph")
    }
}

impl WorkTree {
    /// A work tree the sandbox user owns; git runs on it inside the sandbox.
    pub fn new(procs: &Procs, dir: PathBuf) -> WorkTree {
        WorkTree {
            dir,
            procs: procs.clone(),
            ro: Vec::new(),
        }
    }

    /// Also bind `path` read-only for git (the developer's objects, in tree mode).
    pub fn with_ro(mut self, path: PathBuf) -> WorkTree {
        self.ro.push(path);
        self
    }

    pub async fn git_out(&self, args: &[&str]) -> Result<String> {
        self.git_out_with(args, &[]).await
    }

    async fn git_out_with(&self, args: &[&str], ro: &[PathBuf]) -> Result<String> {
        let mut binds = self.ro.clone();
        binds.extend_from_slice(ro);
        let mut c = sandboxed_git(&self.dir, &binds);
        c.args(args);
        Ok(self
            .procs
            .check("git", c.build()?, GIT_TIMEOUT)
            .await?
            .stdout
            .trim()
            .to_string())
    }

    /// Check out `commit` (detached), discarding any leftover of an interrupted run and every
    /// untracked or ignored file (`git clean -ffdx`): what one series' build left in the tree (a
    /// planted `Kbuild`, objects) never reaches the next prefix or run.
    pub async fn checkout(&self, commit: &str) -> Result<()> {
        let _ = self.git_out(&["am", "--abort"]).await;
        self.git_out(&["checkout", "-q", "-f", "--detach", commit])
            .await?;
        self.git_out(&["clean", "-q", "-ffdx"]).await.map(|_| ())
    }

    /// `git am` one patch (a whole mail, as it came) on the current HEAD.
    pub async fn am(&self, mail: &[u8], scratch: &Path, three_way: bool) -> Result<Applied> {
        let f = scratch.join("patch.mbox");
        let _ = std::fs::remove_file(&f);
        write(&f, mail)?;
        sandbox::reach(&f)?;
        let mut binds = self.ro.clone();
        binds.push(f.clone());
        let mut c = sandboxed_git(&self.dir, &binds);
        c.args(["am", "--quiet"])
            .arg(if three_way { "--3way" } else { "--no-3way" })
            .arg(&f);
        let out = self.procs.run("git am", c.build()?, GIT_TIMEOUT).await?;
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
