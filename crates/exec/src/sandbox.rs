//! The sandbox a series' code runs in. Testing a series means running its code: `git am` parses
//! its mails, `make` runs its Makefiles and Kbuild files (and `$(shell ...)` in them), the compiler
//! reads what its `.incbin` names, and the symbolisation tools parse the objects it produced. All
//! of that runs here, under bubblewrap, as the unprivileged user [`USER`]:
//!
//! - every namespace unshared (no network: only a private loopback; own pid, ipc, uts, user ns);
//! - a root built from scratch: the toolchain (`/usr`, read-only, which holds the kernel headers),
//!   `/etc/alternatives`, `/etc/passwd`, `/etc/group`, `/etc/ld.so.cache` read-only, a private
//!   `/tmp`, `/proc`, a minimal `/dev`; nothing else of the host (no `/etc/shadow`, `/root`,
//!   `/home`, `/var`), so `.incbin "/etc/shadow"` finds no file;
//! - writable only the paths the caller binds (the work tree, the build output, the ccache of
//!   the run's trust domain); read-only binds after them (a work tree's `.git` during a build);
//! - an explicit environment (`PATH`, `HOME`, `LANG` and what the caller sets), never the
//!   harness's own (no `GITHUB_TOKEN`);
//! - resource limits (`prlimit`): CPU seconds per process, file size, process count, no core files.
//!
//! [`SandboxCommand`] builds the command; [`crate::proc::Procs`] stays the only spawner.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::proc::command;
use crate::{ExecError, Result};

/// The unprivileged user sandboxed commands run as (created by scripts/install-deps).
pub const USER: &str = "cephfs-harness";

/// The sandboxed PATH: the toolchain only.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// Host files every sandbox sees read-only (when they exist): the toolchain and what it needs to
/// resolve names (`awk` and `cc` are /etc/alternatives links; ccache and git look the user up).
const RO_SYSTEM: &[&str] = &[
    "/usr",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
];

/// Top-level names that are links into `/usr` on a merged-/usr system.
const USR_LINKS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Resource limits of one sandboxed command (each process gets them; `nproc` counts the user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds per process.
    pub cpu_seconds: u64,
    /// Largest file a process may write.
    pub file_bytes: u64,
    /// Processes the sandbox user may have at once (all its sandboxes together).
    pub processes: u64,
}

impl Limits {
    /// For builds: a compiler or linker process may take up to `timeout` of CPU.
    pub fn build(timeout: Duration) -> Limits {
        Limits {
            cpu_seconds: timeout.as_secs().max(60),
            file_bytes: 8 << 30,
            processes: 2048,
        }
    }
    /// For git and the binary tools: small.
    pub fn tool() -> Limits {
        Limits {
            cpu_seconds: 900,
            file_bytes: 2 << 30,
            processes: 2048,
        }
    }
}

/// Who sandboxed commands run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The harness is root: switch to `uid`/`gid` before bwrap starts. Otherwise the harness
    /// already runs unprivileged and bwrap runs as it.
    pub switch: bool,
}

/// The sandbox user of this host, looked up once.
pub fn identity() -> Result<Identity> {
    static ID: OnceLock<std::result::Result<Identity, String>> = OnceLock::new();
    ID.get_or_init(|| {
        let me = nix::unistd::geteuid();
        if !me.is_root() {
            return Ok(Identity {
                uid: me.as_raw(),
                gid: nix::unistd::getegid().as_raw(),
                switch: false,
            });
        }
        match nix::unistd::User::from_name(USER) {
            Ok(Some(u)) => Ok(Identity {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                switch: true,
            }),
            Ok(None) => Err(format!(
                "the sandbox user {USER} does not exist (the series' code runs as it)"
            )),
            Err(e) => Err(format!("cannot look up the sandbox user {USER}: {e}")),
        }
    })
    .clone()
    .map_err(|what| ExecError::Missing {
        what,
        install: "scripts/install-deps".into(),
    })
}

/// One mount of the sandbox, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mount {
    Rw(PathBuf),
    Ro(PathBuf),
}

/// A command to run inside the sandbox. Binds appear at the same path inside.
#[derive(Debug, Clone)]
pub struct SandboxCommand {
    program: OsString,
    args: Vec<OsString>,
    mounts: Vec<Mount>,
    cwd: Option<PathBuf>,
    env: Vec<(String, OsString)>,
    limits: Limits,
}

impl SandboxCommand {
    pub fn new(program: impl AsRef<OsStr>) -> SandboxCommand {
        SandboxCommand {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            mounts: Vec::new(),
            cwd: None,
            env: Vec::new(),
            limits: Limits::tool(),
        }
    }
    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(a.as_ref().to_owned());
        self
    }
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }
    /// Bind `path` writable (it must exist and belong to the sandbox user to be of use).
    pub fn rw(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.mounts.push(Mount::Rw(path.into()));
        self
    }
    /// Bind `path` read-only (after earlier binds: a read-only part of a writable tree).
    pub fn ro(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.mounts.push(Mount::Ro(path.into()));
        self
    }
    pub fn cwd(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwd = Some(dir.into());
        self
    }
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.as_ref().to_owned()));
        self
    }
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The full argument vector: `prlimit ... -- bwrap ... -- program args`. Pure.
    pub fn argv(&self, host_has: &dyn Fn(&Path) -> bool) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        let mut push = |s: &str| v.push(OsString::from(s));
        push("prlimit");
        push(&format!("--cpu={}", self.limits.cpu_seconds));
        push(&format!("--fsize={}", self.limits.file_bytes));
        push(&format!("--nproc={}", self.limits.processes));
        push("--core=0");
        push("--");
        push("bwrap");
        for a in [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--clearenv",
        ] {
            push(a);
        }
        for d in RO_SYSTEM {
            if host_has(Path::new(d)) {
                push("--ro-bind");
                push(d);
                push(d);
            }
        }
        for l in USR_LINKS {
            if host_has(&Path::new("/usr").join(l)) {
                push("--symlink");
                push(&format!("usr/{l}"));
                push(&format!("/{l}"));
            }
        }
        for a in ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"] {
            push(a);
        }
        for m in &self.mounts {
            let (flag, p) = match m {
                Mount::Rw(p) => ("--bind", p),
                Mount::Ro(p) => ("--ro-bind", p),
            };
            v.push(flag.into());
            v.push(p.clone().into_os_string());
            v.push(p.clone().into_os_string());
        }
        // The sandbox's own root (a tmpfs holding the mount points) is read-only too.
        v.push("--remount-ro".into());
        v.push("/".into());
        let mut env: Vec<(String, OsString)> = vec![
            ("PATH".into(), PATH.into()),
            ("HOME".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
            ("TMPDIR".into(), "/tmp".into()),
        ];
        for (k, val) in &self.env {
            env.retain(|(e, _)| e != k);
            env.push((k.clone(), val.clone()));
        }
        for (k, val) in env {
            v.push("--setenv".into());
            v.push(k.into());
            v.push(val);
        }
        if let Some(d) = &self.cwd {
            v.push("--chdir".into());
            v.push(d.clone().into_os_string());
        }
        v.push("--".into());
        v.push(self.program.clone());
        v.extend(self.args.iter().cloned());
        v
    }

    /// The command for [`crate::proc::Procs`]: as the sandbox user, environment cleared.
    pub fn build(&self) -> Result<tokio::process::Command> {
        let id = identity()?;
        let argv = self.argv(&|p: &Path| p.exists());
        let mut c = command(&argv[0], None);
        c.args(&argv[1..]);
        if id.switch {
            c.uid(id.uid).gid(id.gid);
        }
        // bwrap itself must be able to open the binds: run it from a directory it can reach.
        c.current_dir("/");
        Ok(c)
    }
}

/// Give `path` (recursively, not following links) to the sandbox user, unless it already is its.
pub fn own(path: &Path) -> Result<()> {
    let id = identity()?;
    if !id.switch {
        return Ok(());
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| ExecError::io(path, e))?;
    if meta.uid() == id.uid && meta.gid() == id.gid {
        return Ok(());
    }
    chown_tree(path, id.uid, id.gid)
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| ExecError::io(path, e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| ExecError::io(path, e))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(path).map_err(|e| ExecError::io(path, e))? {
            let e = e.map_err(|e| ExecError::io(path, e))?;
            chown_tree(&e.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Let the sandbox user reach `path`: every directory above it gets search permission for others
/// (`o+x`, never read). bwrap opens its binds as that user before it builds the sandbox; inside,
/// none of these directories is visible.
pub fn reach(path: &Path) -> Result<()> {
    if !identity()?.switch {
        return Ok(());
    }
    let mut dirs: Vec<&Path> = path.ancestors().skip(1).collect();
    dirs.reverse();
    for d in dirs {
        if d.as_os_str().is_empty() {
            continue;
        }
        let meta = std::fs::metadata(d).map_err(|e| ExecError::io(d, e))?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            tracing::info!(dir = %d.display(), "granting search permission to the sandbox user");
            std::fs::set_permissions(d, std::fs::Permissions::from_mode((mode & 0o7777) | 0o001))
                .map_err(|e| ExecError::io(d, e))?;
        }
    }
    Ok(())
}

/// A directory the sandbox user owns and can reach (created if missing).
pub fn dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| ExecError::io(path, e))?;
    reach(path)?;
    own(path)
}

/// Copy a file the sandbox produced to the host side: a regular file only, opened without
/// following a link (a build that leaves `ceph.ko -> /etc/shadow` gets an error, not the file).
pub fn copy_out(from: &Path, to: &Path) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(from)
        .map_err(|e| ExecError::io(from, e))?;
    let meta = src.metadata().map_err(|e| ExecError::io(from, e))?;
    if !meta.is_file() {
        return Err(ExecError::Other(format!(
            "{}: not a regular file (the build left something else)",
            from.display()
        )));
    }
    let mut dst = std::fs::File::create(to).map_err(|e| ExecError::io(to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| ExecError::io(to, e))
}

/// Write a small host-made file into a directory the sandbox user can write: the old entry is
/// removed (not followed, were it a link) and the file created afresh (`O_EXCL`).
pub fn write_new(path: &Path, data: impl AsRef<[u8]>) -> Result<()> {
    use std::io::Write;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ExecError::io(path, e)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| ExecError::io(path, e))?;
    f.write_all(data.as_ref())
        .map_err(|e| ExecError::io(path, e))
}

/// A trust domain's name: the series' own objects go to a ccache (and, in tree mode, a build
/// directory) of their own, so no series' output ever feeds another series' build.
pub fn trust_domain(mails: &[&[u8]]) -> String {
    if mails.is_empty() {
        return "base".into();
    }
    format!("series-{}", crate::fnv_hex(mails))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[OsString]) -> Vec<String> {
        v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_sandbox_has_no_network_no_host_env_and_only_what_is_bound() {
        let mut c = SandboxCommand::new("make");
        c.arg("-C")
            .arg("/t")
            .rw("/t")
            .ro("/t/.git")
            .cwd("/t")
            .env("CCACHE_DIR", "/c")
            .env("HOME", "/t/home")
            .limits(Limits {
                cpu_seconds: 10,
                file_bytes: 20,
                processes: 30,
            });
        let v = s(&c.argv(&|p: &Path| p != Path::new("/etc/ld.so.conf")));
        let j = v.join(" ");
        assert!(
            j.starts_with("prlimit --cpu=10 --fsize=20 --nproc=30 --core=0 -- bwrap --unshare-all"),
            "{j}"
        );
        assert!(j.contains("--clearenv"));
        assert!(!j.contains("--share-net"));
        assert!(j.contains("--ro-bind /usr /usr"));
        assert!(
            !j.contains("/etc/ld.so.conf "),
            "absent host files are not bound: {j}"
        );
        assert!(
            !j.contains("--bind / ") && !j.contains("--ro-bind / "),
            "{j}"
        );
        assert!(
            !j.contains("shadow") && !j.contains(" /root") && !j.contains(" /home "),
            "{j}"
        );
        // Writable tree first, its .git read-only over it; the private /tmp comes before them.
        let tmp = j.find("--tmpfs /tmp").unwrap();
        let rw = j.find("--bind /t /t").unwrap();
        let ro = j.find("--ro-bind /t/.git /t/.git").unwrap();
        assert!(tmp < rw && rw < ro, "{j}");
        // The caller's HOME replaces the default, once.
        assert_eq!(j.matches("--setenv HOME").count(), 1);
        assert!(j.contains("--setenv HOME /t/home"));
        assert!(j.contains("--setenv CCACHE_DIR /c"));
        assert!(j.ends_with("--chdir /t -- make -C /t"), "{j}");
    }

    #[test]
    fn trust_domains_differ_per_series() {
        assert_eq!(trust_domain(&[]), "base");
        let a = trust_domain(&[b"one".as_slice()]);
        let b = trust_domain(&[b"one".as_slice(), b"two".as_slice()]);
        assert_ne!(a, b);
        assert_eq!(a, trust_domain(&[b"one".as_slice()]));
    }

    #[test]
    fn copy_out_refuses_a_link() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("ceph.ko")).unwrap();
        let e = copy_out(&d.path().join("ceph.ko"), &d.path().join("out")).unwrap_err();
        assert!(e.to_string().contains("ceph.ko"), "{e}");
        assert_eq!(
            copy_out(&d.path().join("real"), &d.path().join("out")).unwrap(),
            1
        );
    }
}
