//! Building the kernel under test in distro-module mode: `fs/ceph` (and `net/ceph` when the series
//! touches it) as out-of-tree modules against the installed headers of the distribution kernel,
//! with the kernel's own compiler (through ccache). Tree mode builds are in [`crate::ktree`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::proc::Procs;
use crate::sandbox::{self, Limits, SandboxCommand};
use crate::{ExecError, Result};

pub struct ModuleBuild {
    pub ok: bool,
    pub seconds: f64,
    pub log: PathBuf,
    /// Compiler errors (with a little context) when the build failed.
    pub error_excerpt: Option<String>,
    /// The modules under test, in load order.
    pub modules: Vec<BuiltModule>,
}

pub struct BuiltModule {
    /// `ceph`, `libceph`.
    pub name: String,
    /// With debug info: kept to symbolise traces.
    pub unstripped: PathBuf,
    /// For the guest.
    pub stripped: PathBuf,
}

/// A ccache shared across trust domains as ccache "remote storage": written only by builds of
/// trusted code, read by the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCcache {
    pub dir: PathBuf,
    pub writable: bool,
}

/// The size of one trust domain's ccache (ccache's default, 5 GB, per series would fill a disk).
pub const CCACHE_MAXSIZE: &str = "1G";

pub fn headers_dir(release: &str) -> PathBuf {
    PathBuf::from(format!("/lib/modules/{release}/build"))
}

/// The compiler the kernel was built with (`CONFIG_CC_VERSION_TEXT`'s first word, e.g. `gcc-12`):
/// the module must use the same one, and always the same way (switching to or from ccache makes
/// kbuild rebuild everything).
pub fn kernel_compiler(release: &str) -> String {
    let auto = headers_dir(release).join("include/config/auto.conf");
    std::fs::read_to_string(auto)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=\""))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "gcc".to_string())
}

/// Pick the lines that say what went wrong in a kbuild log.
pub fn error_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut keep = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        if l.contains("error:")
            || l.contains("Error ")
            || l.contains("undefined!")
            || l.starts_with("make") && l.contains("***")
        {
            let end = (i + 4).min(lines.len());
            keep[i.saturating_sub(1)..end].fill(true);
        }
    }
    let out: Vec<&str> = lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| *l)
        .take(40)
        .collect();
    if out.is_empty() {
        crate::proc::tail(log, 20)
    } else {
        out.join("\n")
    }
}

/// Build the modules under test in the source tree `root` (which holds `fs/ceph`, `net/ceph`,
/// `include/linux/ceph`) and copy them to `out_dir`: `ceph.ko`, and `libceph.ko` first when
/// `libceph` is set (the series touches `net/ceph` or `include/linux/ceph`: both are built in one
/// `M=` directory, with the tree's ceph headers ahead of the installed ones).
#[allow(clippy::too_many_arguments)]
pub async fn build_modules(
    procs: &Procs,
    release: &str,
    root: &Path,
    libceph: bool,
    out_dir: &Path,
    log: &Path,
    ccache_dir: &Path,
    shared: Option<&SharedCcache>,
    timeout: Duration,
) -> Result<ModuleBuild> {
    std::fs::create_dir_all(out_dir).map_err(|e| ExecError::io(out_dir, e))?;
    sandbox::dir(ccache_dir)?;
    if let Some(t) = shared {
        sandbox::dir(&t.dir)?;
    }
    let t0 = Instant::now();
    let cc = kernel_compiler(release);
    let cc = if which("ccache") {
        format!("ccache {cc}")
    } else {
        cc
    };
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let (m_dir, built): (PathBuf, Vec<(&str, PathBuf)>) = if libceph {
        sandbox::write_new(&root.join("Kbuild"), "obj-m += net/ceph/ fs/ceph/\n")?;
        (
            root.to_path_buf(),
            vec![
                ("libceph", root.join("net/ceph/libceph.ko")),
                ("ceph", root.join("fs/ceph/ceph.ko")),
            ],
        )
    } else {
        let d = root.join("fs/ceph");
        let ko = d.join("ceph.ko");
        (d, vec![("ceph", ko)])
    };
    // The series' Makefiles and Kbuild run here: in the sandbox, the tree writable but its .git
    // read-only (a build cannot move the `stock` tag or plant git config for later runs).
    let mut c = SandboxCommand::new("make");
    c.rw(root)
        .ro(root.join(".git"))
        .rw(ccache_dir)
        .cwd(root)
        .limits(Limits::build(timeout));
    c.arg("-C")
        .arg(headers_dir(release))
        .arg(format!("M={}", m_dir.display()))
        .arg(format!("-j{jobs}"))
        .arg(format!("CC={cc}"));
    let mut shown = format!(
        "$ make -C {} M={} CC={cc}",
        headers_dir(release).display(),
        m_dir.display()
    );
    if libceph {
        let flags = format!("NOSTDINC_FLAGS=-nostdinc -I{}/include", root.display());
        shown.push_str(&format!(" '{flags}'"));
        c.arg(flags);
    }
    c.arg("modules")
        .env("CCACHE_DIR", ccache_dir)
        .env("CCACHE_NOHASHDIR", "1")
        // One ccache per series: each is kept small (old series' caches are not removed yet).
        .env("CCACHE_MAXSIZE", CCACHE_MAXSIZE);
    match shared {
        // The base's build (trusted code only) fills the shared cache, from its local hits too.
        Some(t) if t.writable => {
            c.rw(&t.dir)
                .env("CCACHE_REMOTE_STORAGE", format!("file:{}", t.dir.display()))
                .env("CCACHE_RESHARE", "1");
        }
        // A series' build reads it, never writes it: most of fs/ceph is unchanged by a series,
        // so the first prefix's build is already incremental.
        Some(t) => {
            c.ro(&t.dir).env(
                "CCACHE_REMOTE_STORAGE",
                format!("file:{}|read-only=true", t.dir.display()),
            );
        }
        None => {}
    }
    let out = procs.run("make", c.build()?, timeout).await?;
    let text = format!("{shown} modules\n{}{}", out.stdout, out.stderr);
    crate::write(log, &text)?;
    let seconds = t0.elapsed().as_secs_f64();
    if !out.ok() || built.iter().any(|(_, ko)| !ko.exists()) {
        return Ok(ModuleBuild {
            ok: false,
            seconds,
            log: log.to_path_buf(),
            error_excerpt: Some(error_excerpt(&text)),
            modules: Vec::new(),
        });
    }
    let mut modules = Vec::new();
    for (name, ko) in built {
        // strip parses what the build produced: in the sandbox, into the tree, then copied out
        // (regular files only, never through a link).
        let in_tree = ko.with_extension("stripped.ko");
        let mut c = SandboxCommand::new("strip");
        c.rw(root).ro(root.join(".git")).cwd(root);
        c.arg("--strip-debug").arg("-o").arg(&in_tree).arg(&ko);
        procs
            .check("strip", c.build()?, Duration::from_secs(60))
            .await?;
        let unstripped = out_dir.join(format!("{name}.ko"));
        sandbox::copy_out(&ko, &unstripped)?;
        let stripped = out_dir.join(format!("{name}.stripped.ko"));
        sandbox::copy_out(&in_tree, &stripped)?;
        modules.push(BuiltModule {
            name: name.to_string(),
            unstripped,
            stripped,
        });
    }
    Ok(ModuleBuild {
        ok: true,
        seconds,
        log: log.to_path_buf(),
        error_excerpt: None,
        modules,
    })
}

/// Is `program` on PATH?
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_excerpt_keeps_compiler_errors() {
        let log = "  CC [M]  /t/fs/ceph/caps.o\n/t/fs/ceph/caps.c: In function 'x':\n/t/fs/ceph/caps.c:12:5: error: 'y' undeclared\n   12 |     y = 1;\n      |     ^\nmake[1]: *** [scripts/Makefile.build:250: /t/fs/ceph/caps.o] Error 1\n";
        let e = super::error_excerpt(log);
        assert!(e.contains("caps.c:12:5: error: 'y' undeclared"), "{e}");
        assert!(e.contains("Error 1"));
        assert!(!e.contains("CC [M]"));
    }
}
