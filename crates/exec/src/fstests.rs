//! The fstests tree a job names, built on the host once per content: `$CACHE/fstests/<key>`, the
//! key a hash of the checkout's files (`.git/` left out) or of the tarball's bytes. The copy or
//! unpacking and the build (`make`) run in the sandbox (no network, the sandbox user), in a temp
//! sibling renamed into place once built, so a half-built tree is never used and a built one
//! never rebuilt. The guest gets the tree read-only over virtio-9p (`image`/`guest`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proc::Procs;
use crate::sandbox::{self, Limits, SandboxCommand};
use crate::{ExecError, Result};

/// What marks a finished build inside the tree.
const BUILT: &str = ".harness-built";

/// A streaming FNV-1a (64 bit): the cache key of a tree's content.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    fn file(&mut self, path: &Path) -> Result<()> {
        let mut f = std::fs::File::open(path).map_err(|e| ExecError::io(path, e))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| ExecError::io(path, e))?;
            if n == 0 {
                return Ok(());
            }
            self.feed(&buf[..n]);
        }
    }
}

/// Is `path` a tarball (rather than a checkout)?
fn is_tarball(path: &Path) -> bool {
    let n = path.to_string_lossy();
    n.ends_with(".tar.gz") || n.ends_with(".tgz") || n.ends_with(".tar.xz") || n.ends_with(".tar")
}

/// The cache key of a checkout or tarball: its content, not its path or mtimes.
pub fn content_key(path: &Path) -> Result<String> {
    let mut h = Fnv::new();
    let meta = std::fs::metadata(path).map_err(|e| ExecError::io(path, e))?;
    if meta.is_file() {
        h.feed(b"tarball\0");
        h.file(path)?;
    } else {
        h.feed(b"tree\0");
        let mut files = Vec::new();
        walk(path, path, &mut files)?;
        files.sort();
        for rel in files {
            let full = path.join(&rel);
            h.feed(rel.as_os_str().as_encoded_bytes());
            h.feed(b"\0");
            let m = std::fs::symlink_metadata(&full).map_err(|e| ExecError::io(&full, e))?;
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&full).map_err(|e| ExecError::io(&full, e))?;
                h.feed(b"link\0");
                h.feed(t.as_os_str().as_encoded_bytes());
            } else {
                h.file(&full)?;
            }
            h.feed(b"\0");
        }
    }
    Ok(format!("{:016x}", h.0))
}

/// Regular files and links under `dir`, relative to `root`, `.git` left out.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| ExecError::io(dir, e))? {
        let e = e.map_err(|e| ExecError::io(dir, e))?;
        let p = e.path();
        let t = e.file_type().map_err(|e| ExecError::io(&p, e))?;
        if e.file_name() == ".git" {
            continue;
        }
        if t.is_dir() {
            walk(root, &p, out)?;
        } else if t.is_file() || t.is_symlink() {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

/// A built fstests tree.
#[derive(Debug, Clone)]
pub struct Built {
    pub dir: PathBuf,
    /// Whether this call built it (false: it was in the cache).
    pub fresh: bool,
    pub seconds: f64,
}

/// The built tree of the checkout or tarball `src`, from the cache or built now (its build log
/// at `log`). An fstests tree that does not build is the harness's error (not the series').
pub async fn prepare(
    procs: &Procs,
    cache: &Path,
    src: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<Built> {
    let t0 = std::time::Instant::now();
    let key = content_key(src)?;
    let root = cache.join("fstests");
    let dir = root.join(&key);
    if dir.join(BUILT).is_file() {
        return Ok(Built {
            dir,
            fresh: false,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    sandbox::dir(&root)?;
    let tmp = root.join(format!(".tmp-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    sandbox::dir(&tmp)?;
    let unpack = tmp.join("src");
    sandbox::dir(&unpack)?;
    let src = std::fs::canonicalize(src).map_err(|e| ExecError::io(src, e))?;
    sandbox::reach(&src)?;
    let mut text = String::new();
    // Copy or unpack, in the sandbox: a tarball's paths and links stay inside `unpack`.
    let mut c = SandboxCommand::new(if is_tarball(&src) { "tar" } else { "sh" });
    c.ro(&src).rw(&tmp).cwd(&unpack);
    if is_tarball(&src) {
        c.arg("-xf").arg(&src).arg("--no-same-owner");
    } else {
        c.arg("-c")
            .arg("tar -C \"$1\" --exclude=.git -cf - . | tar -xf - --no-same-owner")
            .arg("sh")
            .arg(&src);
    }
    let out = procs.run("fstests-unpack", c.build()?, timeout).await?;
    text.push_str(&format!(
        "$ unpack {}\n{}{}",
        src.display(),
        out.stdout,
        out.stderr
    ));
    if !out.ok() {
        crate::write(log, &text)?;
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ExecError::Other(format!(
            "fstests: cannot unpack {}: {}",
            src.display(),
            out.message().trim()
        )));
    }
    // A tarball with one top directory (`git archive --prefix`): build inside it.
    let mut tree = unpack.clone();
    let entries: Vec<_> = std::fs::read_dir(&unpack)
        .map_err(|e| ExecError::io(&unpack, e))?
        .filter_map(|e| e.ok())
        .collect();
    if entries.len() == 1 && entries[0].file_type().map(|t| t.is_dir()).unwrap_or(false) {
        tree = entries[0].path();
    }
    if !tree.join("check").is_file() {
        crate::write(log, &text)?;
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ExecError::Other(format!(
            "fstests: {} has no `check` script: not an fstests tree",
            src.display()
        )));
    }
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let mut c = SandboxCommand::new("make");
    c.rw(&tmp).cwd(&tree).limits(Limits::build(timeout));
    c.arg(format!("-j{jobs}"));
    let out = procs.run("fstests-make", c.build()?, timeout).await?;
    text.push_str(&format!("$ make -j{jobs}\n{}{}", out.stdout, out.stderr));
    crate::write(log, &text)?;
    if !out.ok() || !tree.join("ltp/fsstress").is_file() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ExecError::Other(format!(
            "fstests: the build of {} failed (log: {}): {}",
            src.display(),
            log.display(),
            crate::proc::tail(&out.message(), 5)
        )));
    }
    sandbox::write_new(&tree.join(BUILT), format!("{key}\n"))?;
    match std::fs::rename(&tree, &dir) {
        Ok(()) => {}
        // Another harness built the same content meanwhile: theirs is as good.
        Err(_) if dir.join(BUILT).is_file() => {}
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(ExecError::io(&dir, e));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Built {
        dir,
        fresh: true,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_content() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::create_dir_all(a.join("tests/generic")).unwrap();
        std::fs::write(a.join("check"), "#!/bin/bash\n").unwrap();
        std::fs::write(a.join("tests/generic/001"), "x").unwrap();
        let k1 = content_key(&a).unwrap();
        // .git does not count; a copy elsewhere has the same key.
        std::fs::create_dir_all(a.join(".git")).unwrap();
        std::fs::write(a.join(".git/HEAD"), "ref").unwrap();
        assert_eq!(content_key(&a).unwrap(), k1);
        let b = d.path().join("b");
        std::fs::create_dir_all(b.join("tests/generic")).unwrap();
        std::fs::write(b.join("check"), "#!/bin/bash\n").unwrap();
        std::fs::write(b.join("tests/generic/001"), "x").unwrap();
        assert_eq!(content_key(&b).unwrap(), k1);
        std::fs::write(b.join("tests/generic/001"), "y").unwrap();
        assert_ne!(content_key(&b).unwrap(), k1);
        // A tarball is keyed by its bytes.
        let t = d.path().join("x.tar.gz");
        std::fs::write(&t, "bytes").unwrap();
        assert!(is_tarball(&t) && !is_tarball(&a));
        assert_ne!(content_key(&t).unwrap(), k1);
    }
}
