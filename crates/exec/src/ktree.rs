//! Tree mode: a whole kernel from a developer's git tree. The series is applied (in the sandbox) in
//! a repository the sandbox user owns (`$CACHE/worktrees/<tree>`) that reads the developer's
//! objects through git alternates, so the developer's checkout, hooks and config are never touched; the
//! kernel is configured from a base config plus fragments and built out of tree (`O=`) in a build
//! directory cached per base and configuration, so each prefix is an incremental rebuild.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness_core::job::{ConfigBase, KernelConfig};

use crate::proc::Procs;
use crate::sandbox::{self, Limits, SandboxCommand};
use crate::tree::{git, lock_file, sandboxed_git, WorkTree};
use crate::{ExecError, Result};

const GIT_TIMEOUT: Duration = Duration::from_secs(900);
const CONFIG_TIMEOUT: Duration = Duration::from_secs(600);

/// Options without which the guest cannot boot the harness image and mount CephFS.
pub const REQUIRED: &[&str] = &[
    "CONFIG_BLK_DEV_INITRD",
    "CONFIG_DEVTMPFS",
    "CONFIG_SERIAL_8250_CONSOLE",
    "CONFIG_VIRTIO_PCI",
    "CONFIG_VIRTIO_NET",
    "CONFIG_CEPH_FS",
    "CONFIG_DEVPORT",
];

pub struct KernelTree {
    pub work: WorkTree,
    /// The developer's repository.
    pub repo: PathBuf,
    /// The commit the series applies to.
    pub base: String,
    /// How the base was chosen, for the log.
    pub base_note: String,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl std::ops::Deref for KernelTree {
    type Target = WorkTree;
    fn deref(&self) -> &WorkTree {
        &self.work
    }
}

impl KernelTree {
    /// The harness's worktree of `repo`, checked out at the base: the series' `base-commit` when the
    /// repository has it, else `base_ref`.
    pub async fn open(
        procs: &Procs,
        cache: &Path,
        repo: &Path,
        base_ref: Option<&str>,
        series_base: Option<&str>,
    ) -> Result<KernelTree> {
        let repo = repo.canonicalize().map_err(|e| ExecError::io(repo, e))?;
        // The developer's repository is trusted: host-side git, with the hygiene options.
        let resolve = |rev: String| {
            let repo = repo.clone();
            async move {
                let mut c = git(&repo);
                c.args(["rev-parse", "-q", "--verify"])
                    .arg(format!("{rev}^{{commit}}"));
                procs
                    .run("git", c, GIT_TIMEOUT)
                    .await
                    .ok()
                    .filter(|o| o.ok() && !o.stdout.trim().is_empty())
                    .map(|o| o.stdout.trim().to_string())
            }
        };
        let mut c = git(&repo);
        c.args(["rev-parse", "--git-dir"]);
        if !procs.run("git", c, GIT_TIMEOUT).await.is_ok_and(|o| o.ok()) {
            return Err(ExecError::Other(format!(
                "{}: not a git tree (tree mode needs a kernel git repository)",
                repo.display()
            )));
        }
        let (base, base_note) = match series_base {
            Some(b) if resolve(b.to_string()).await.is_some() => (
                resolve(b.to_string()).await.unwrap_or_default(),
                format!("the series' base-commit {b}"),
            ),
            _ => {
                let Some(r) = base_ref else {
                    let why = series_base
                        .map(|b| format!(" (the series' base-commit {b} is not in the tree)"))
                        .unwrap_or_default();
                    return Err(ExecError::Other(format!(
                        "{}: no base to apply the series to{why}: give --base REF",
                        repo.display()
                    )));
                };
                let Some(c) = resolve(r.to_string()).await else {
                    return Err(ExecError::Other(format!(
                        "{}: --base {r}: no such commit in the tree",
                        repo.display()
                    )));
                };
                let note = match series_base {
                    Some(b) => format!("{r} (the series' base-commit {b} is not in the tree)"),
                    None => r.to_string(),
                };
                (c, note)
            }
        };
        let root = cache.join("worktrees");
        std::fs::create_dir_all(&root).map_err(|e| ExecError::io(&root, e))?;
        let name = crate::fnv_hex(&[repo.as_os_str().as_encoded_bytes()]);
        let lock = lock_file(&root, &format!("{name}.lock"))?;
        let dir = root.join(&name);
        // The developer's objects, read through git's alternates: nothing is copied, and no
        // transport (with its own view of config) is involved.
        let mut c = git(&repo);
        c.args(["rev-parse", "--path-format=absolute", "--git-common-dir"]);
        let common = PathBuf::from(procs.check("git", c, GIT_TIMEOUT).await?.stdout.trim());
        let objects = common.join("objects");
        sandbox::reach(&objects)?;
        let work = WorkTree::new(procs, dir.clone()).with_ro(objects.clone());
        if !dir.join(".git").is_dir() {
            // A repository of its own that the sandbox user owns (the developer's is only read:
            // its hooks and config never apply). A worktree of the old layout is replaced.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
                let mut c = git(&repo);
                c.args(["worktree", "prune"]);
                let _ = procs.run("git worktree prune", c, GIT_TIMEOUT).await;
            }
            sandbox::dir(&dir)?;
            let mut c = sandboxed_git(&dir, std::slice::from_ref(&objects));
            c.args(["init", "-q", "-b", "harness"]);
            procs.check("git init", c.build()?, GIT_TIMEOUT).await?;
            let alternates = dir.join(".git/objects/info/alternates");
            sandbox::write_new(&alternates, format!("{}\n", objects.display()))?;
            sandbox::own(&alternates)?;
        }
        work.checkout(&base).await?;
        Ok(KernelTree {
            work,
            repo,
            base,
            base_note,
            _lock: lock,
        })
    }
}

fn failed(what: impl Into<String>, out: &crate::proc::Output) -> ExecError {
    ExecError::Failed {
        what: what.into(),
        status: out.status.to_string(),
        message: crate::proc::tail(&out.message(), 5),
    }
}

/// The compiler for tree builds, the same for configuring and building (kbuild records it).
fn cc() -> String {
    if crate::kernel::which("ccache") {
        "ccache gcc".into()
    } else {
        "gcc".into()
    }
}

/// `make` in the sandbox: the source tree read-only (an `O=` build writes only to `build`), the
/// build directory and the ccache of the run's trust domain writable.
fn make(src: &Path, build: &Path, ccache_dir: &Path) -> SandboxCommand {
    let mut c = SandboxCommand::new("make");
    c.ro(src);
    // The developer's objects (git alternates): scripts/setlocalversion asks git about the tree.
    if let Ok(alt) = std::fs::read_to_string(src.join(".git/objects/info/alternates")) {
        for l in alt.lines().map(str::trim).filter(|l| l.starts_with('/')) {
            if Path::new(l).is_dir() {
                c.ro(l);
            }
        }
    }
    c.rw(build)
        .rw(ccache_dir)
        .cwd(build)
        .limits(Limits::build(Duration::from_secs(3600)));
    c.arg("-C")
        .arg(src)
        .arg(format!("O={}", build.display()))
        .arg("ARCH=x86_64")
        .arg(format!("CC={}", cc()))
        .env("CCACHE_DIR", ccache_dir)
        .env("CCACHE_NOHASHDIR", "1")
        .env("CCACHE_MAXSIZE", crate::kernel::CCACHE_MAXSIZE)
        // Reproducible-ish and cache-friendly: no per-build timestamps or hostnames in the image.
        .env("KBUILD_BUILD_TIMESTAMP", "harness")
        .env("KBUILD_BUILD_HOST", "harness")
        .env("KBUILD_BUILD_USER", "harness");
    c
}

/// The build directory for this base, configuration and trust domain (a series' objects never
/// seed another series' build).
pub fn build_dir(cache: &Path, base: &str, config: &KernelConfig, domain: &str) -> Result<PathBuf> {
    let mut parts: Vec<Vec<u8>> = vec![base.as_bytes().to_vec(), domain.as_bytes().to_vec()];
    match &config.base {
        ConfigBase::Target(t) => parts.push(t.as_bytes().to_vec()),
        ConfigBase::File(f) => parts.push(std::fs::read(f).map_err(|e| ExecError::io(f, e))?),
    }
    for f in &config.fragments {
        parts.push(std::fs::read(f).map_err(|e| ExecError::io(f, e))?);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(cache.join("kbuild").join(crate::fnv_hex(&refs)))
}

/// What the final `.config` says about `CONFIG_X`: its value, or None when unset.
pub fn config_value(config: &str, option: &str) -> Option<String> {
    config.lines().find_map(|l| {
        l.strip_prefix(option)
            .and_then(|r| r.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Fragment lines that did not survive `olddefconfig` (an unmet dependency or a typo).
pub fn unmet_fragment_lines(fragment: &str, config: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in fragment.lines().map(str::trim) {
        let (opt, want) = if let Some(rest) = l.strip_prefix("# ") {
            match rest.strip_suffix(" is not set") {
                Some(opt) => (opt, None),
                None => continue,
            }
        } else if let Some((opt, v)) = l.split_once('=') {
            if v == "n" {
                (opt, None)
            } else {
                (opt, Some(v))
            }
        } else {
            continue;
        };
        if !opt.starts_with("CONFIG_") {
            continue;
        }
        let have = config_value(config, opt);
        if have.as_deref() != want {
            out.push(format!(
                "{l} (got {})",
                have.map(|v| format!("{opt}={v}")).unwrap_or("unset".into())
            ));
        }
    }
    out
}

/// Configure `build` (once per base and configuration): the base config, the fragments merged in
/// order, `olddefconfig`. Returns the fragment lines that did not take effect.
pub async fn configure(
    procs: &Procs,
    src: &Path,
    build: &Path,
    config: &KernelConfig,
    ccache_dir: &Path,
    log: &mut String,
) -> Result<Vec<String>> {
    let marker = build.join(".harness-configured");
    let dot = build.join(".config");
    sandbox::dir(build)?;
    sandbox::dir(ccache_dir)?;
    if !marker.exists() {
        let _ = std::fs::remove_file(&dot);
        match &config.base {
            ConfigBase::Target(t) => {
                let mut c = make(src, build, ccache_dir);
                c.arg(t);
                let out = procs.run("make config", c.build()?, CONFIG_TIMEOUT).await?;
                log.push_str(&format!("$ make {t}\n{}{}", out.stdout, out.stderr));
                if !out.ok() {
                    return Err(failed(format!("make {t}"), &out));
                }
            }
            ConfigBase::File(f) => {
                let _ = std::fs::remove_file(&dot);
                std::fs::copy(f, &dot).map_err(|e| ExecError::io(f, e))?;
                sandbox::own(&dot)?;
            }
        }
        if !config.fragments.is_empty() {
            let mut c = SandboxCommand::new("sh");
            c.ro(src).rw(build);
            for f in &config.fragments {
                let f = f.canonicalize().map_err(|e| ExecError::io(f, e))?;
                sandbox::reach(&f)?;
                c.ro(f);
            }
            c.arg(src.join("scripts/kconfig/merge_config.sh"))
                .arg("-m")
                .arg("-O")
                .arg(build)
                .arg(&dot)
                .args(
                    config
                        .fragments
                        .iter()
                        .map(|f| f.canonicalize().unwrap_or_else(|_| f.clone())),
                )
                // It makes its temporary file in the current directory: the build output, the
                // only place besides /tmp the sandbox may write.
                .cwd(build);
            let out = procs
                .run("merge_config.sh", c.build()?, CONFIG_TIMEOUT)
                .await?;
            log.push_str(&format!(
                "$ merge_config.sh -m\n{}{}",
                out.stdout, out.stderr
            ));
            if !out.ok() {
                return Err(failed("scripts/kconfig/merge_config.sh", &out));
            }
        }
        let mut c = make(src, build, ccache_dir);
        c.arg("olddefconfig");
        let out = procs
            .run("make olddefconfig", c.build()?, CONFIG_TIMEOUT)
            .await?;
        log.push_str(&format!(
            "$ make olddefconfig\n{}{}",
            out.stdout, out.stderr
        ));
        if !out.ok() {
            return Err(failed("make olddefconfig", &out));
        }
        crate::write(&marker, "")?;
    }
    let final_config = std::fs::read_to_string(&dot).map_err(|e| ExecError::io(&dot, e))?;
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|o| config_value(&final_config, o).as_deref() != Some("y"))
        .collect();
    if !missing.is_empty() {
        // Start from scratch next time: the configuration itself must change.
        let _ = std::fs::remove_file(&marker);
        return Err(ExecError::Other(format!(
            "the kernel configuration lacks {} built in (=y): the guest boots without modules; \
             add them to a fragment (see jobs/kconfig/qemu-guest.config)",
            missing.join(", ")
        )));
    }
    let mut unmet = Vec::new();
    for f in &config.fragments {
        let text = std::fs::read_to_string(f).map_err(|e| ExecError::io(f, e))?;
        for l in unmet_fragment_lines(&text, &final_config) {
            unmet.push(format!("{}: {l}", f.display()));
        }
    }
    Ok(unmet)
}

pub struct TreeBuild {
    pub ok: bool,
    pub seconds: f64,
    pub error_excerpt: Option<String>,
    /// bzImage, System.map and .config of this prefix, in `out_dir`.
    pub bzimage: Option<PathBuf>,
    /// The vmlinux (with the line tables) of this prefix, when it was asked for.
    pub vmlinux: Option<PathBuf>,
}

/// Build the checked-out prefix (`make bzImage`, incremental over the previous prefix) and keep
/// its artifacts in `out_dir` (and its vmlinux in `vmlinux_to`, for symbolising its traces).
#[allow(clippy::too_many_arguments)]
pub async fn build(
    procs: &Procs,
    src: &Path,
    build: &Path,
    out_dir: &Path,
    vmlinux_to: Option<&Path>,
    log: &Path,
    ccache_dir: &Path,
    timeout: Duration,
) -> Result<TreeBuild> {
    std::fs::create_dir_all(out_dir).map_err(|e| ExecError::io(out_dir, e))?;
    let t0 = Instant::now();
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    sandbox::dir(build)?;
    sandbox::dir(ccache_dir)?;
    let mut c = make(src, build, ccache_dir);
    c.arg(format!("-j{jobs}"))
        .arg("bzImage")
        .limits(Limits::build(timeout));
    let out = procs.run("make bzImage", c.build()?, timeout).await?;
    let text = format!(
        "$ make -C {} O={} CC=\"{}\" -j{jobs} bzImage\n{}{}",
        src.display(),
        build.display(),
        cc(),
        out.stdout,
        out.stderr
    );
    crate::write(log, &text)?;
    let seconds = t0.elapsed().as_secs_f64();
    let image = build.join("arch/x86/boot/bzImage");
    if !out.ok() || !image.exists() {
        return Ok(TreeBuild {
            ok: false,
            seconds,
            error_excerpt: Some(crate::kernel::error_excerpt(&text)),
            bzimage: None,
            vmlinux: None,
        });
    }
    for (from, to) in [
        (image.clone(), "bzImage"),
        (build.join("System.map"), "System.map"),
        (build.join(".config"), "config"),
    ] {
        let dst = out_dir.join(to);
        sandbox::copy_out(&from, &dst)?;
    }
    let vmlinux = match vmlinux_to {
        Some(to) => {
            let from = build.join("vmlinux");
            sandbox::copy_out(&from, to)?;
            Some(to.to_path_buf())
        }
        None => None,
    };
    Ok(TreeBuild {
        ok: true,
        seconds,
        error_excerpt: None,
        bzimage: Some(out_dir.join("bzImage")),
        vmlinux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_fragment_lines_are_reported() {
        let frag =
            "# comment\nCONFIG_A=y\nCONFIG_B=n\n# CONFIG_C is not set\nCONFIG_D=30\nCONFIG_E=y\n";
        let config = "CONFIG_A=y\nCONFIG_C=y\nCONFIG_D=30\n# CONFIG_E is not set\n";
        assert_eq!(
            unmet_fragment_lines(frag, config),
            vec![
                "# CONFIG_C is not set (got CONFIG_C=y)".to_string(),
                "CONFIG_E=y (got unset)".to_string()
            ]
        );
        assert_eq!(config_value(config, "CONFIG_D").as_deref(), Some("30"));
        assert_eq!(config_value(config, "CONFIG_DX"), None);
    }
}
