//! Building the kernel under test. distro-module mode: `fs/ceph` as an out-of-tree module against
//! the installed headers of the distribution kernel, with the kernel's own compiler (through ccache).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::proc::{command, Procs};
use crate::{ExecError, Result};

pub struct ModuleBuild {
    pub ok: bool,
    pub seconds: f64,
    pub log: PathBuf,
    /// Compiler errors (with a little context) when the build failed.
    pub error_excerpt: Option<String>,
    /// The unstripped module (kept for symbolising traces) and the stripped one (for the guest).
    pub module: Option<PathBuf>,
    pub stripped: Option<PathBuf>,
}

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

/// Build the module in `src` (the tree's fs/ceph) and copy the result to `out_dir`.
pub async fn build_module(
    procs: &Procs,
    release: &str,
    src: &Path,
    out_dir: &Path,
    log: &Path,
    ccache_dir: &Path,
    timeout: Duration,
) -> Result<ModuleBuild> {
    std::fs::create_dir_all(out_dir).map_err(|e| ExecError::io(out_dir, e))?;
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
    let mut c = command("make", None);
    c.arg("-C")
        .arg(headers_dir(release))
        .arg(format!("M={}", src.display()))
        .arg(format!("-j{jobs}"))
        .arg(format!("CC={cc}"))
        .arg("modules")
        .env("CCACHE_DIR", ccache_dir)
        .env("CCACHE_NOHASHDIR", "1");
    let out = procs.run("make", c, timeout).await?;
    let text = format!(
        "$ make -C {} M={} CC={cc} modules\n{}{}",
        headers_dir(release).display(),
        src.display(),
        out.stdout,
        out.stderr
    );
    crate::write(log, &text)?;
    let seconds = t0.elapsed().as_secs_f64();
    let built = src.join("ceph.ko");
    if !out.ok() || !built.exists() {
        return Ok(ModuleBuild {
            ok: false,
            seconds,
            log: log.to_path_buf(),
            error_excerpt: Some(error_excerpt(&text)),
            module: None,
            stripped: None,
        });
    }
    let module = out_dir.join("ceph.ko");
    std::fs::copy(&built, &module).map_err(|e| ExecError::io(&module, e))?;
    let stripped = out_dir.join("ceph.stripped.ko");
    let mut c = command("strip", None);
    c.arg("--strip-debug").arg("-o").arg(&stripped).arg(&module);
    procs.check("strip", c, Duration::from_secs(60)).await?;
    Ok(ModuleBuild {
        ok: true,
        seconds,
        log: log.to_path_buf(),
        error_excerpt: None,
        module: Some(module),
        stripped: Some(stripped),
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
