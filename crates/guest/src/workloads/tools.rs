//! Debian's load tools (fio, stress-ng, dbench, fs_mark), run from the host's userland
//! (`guests.userland: host`: the host's /usr over virtio-9p) on this boot's CephFS workspace.
//! Each tool's own failure output becomes a finding; its figures become the workload's counters.
//! The parsers are pure and unit-tested with output captured from the Debian 12 builds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::ctx::Ctx;

/// Where the tools work: a directory of the boot's workspace mount.
pub const ROOT: &str = "/mnt/h";

/// What a tool left behind.
pub struct Output {
    /// Exit code; `None` when killed by a signal (then `signal`).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The last `n` lines of `s` (details of a finding stay short on the console).
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run `program` with `args` in `cwd`, environment of its own; every line it prints is progress
/// for the watchdog (not an operation: the tool's own figures give those). `None`: it could not start
/// (a finding says why).
pub fn run(ctx: &Ctx, program: &str, args: &[String], cwd: &Path) -> Option<Output> {
    use std::os::unix::process::ExitStatusExt;
    if !Path::new(program).exists() {
        ctx.finding(
            format!("{}: {program} is missing in the guest", ctx.name),
            "the job needs `guests.userland: host` and the tool installed on the host \
             (scripts/install-deps)",
        );
        return None;
    }
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("TMPDIR", "/tmp")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.finding(format!("{}: cannot run {program}", ctx.name), e.to_string());
            return None;
        }
    };
    let mut err = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .split(b'\n')
        .map_while(Result::ok)
    {
        stdout.push_str(&String::from_utf8_lossy(&line));
        stdout.push('\n');
        ctx.progress();
    }
    let status = child.wait();
    let stderr = err_thread.join().unwrap_or_default();
    let (code, signal) = match status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    };
    Some(Output {
        code,
        signal,
        stdout,
        stderr,
    })
}

/// A tool that died of a signal or exited non-zero (beyond `ok_codes`) is a finding.
pub fn check_exit(ctx: &Ctx, tool: &str, out: &Output, ok_codes: &[i32]) {
    if let Some(sig) = out.signal {
        ctx.finding(
            format!("{tool}: killed by signal {sig}"),
            tail(&format!("{}{}", out.stdout, out.stderr), 20),
        );
    } else if let Some(code) = out.code.filter(|c| !ok_codes.contains(c)) {
        ctx.finding(
            format!("{tool}: exited with {code}"),
            tail(&format!("{}{}", out.stdout, out.stderr), 20),
        );
    }
}

/// Mount the workspace, make `dir` in it; the directory, or `None` (a finding says why).
pub fn workspace(ctx: &Ctx, dir: &str) -> Option<std::path::PathBuf> {
    if !ctx.mount(ROOT, "") {
        return None;
    }
    let d = Path::new(ROOT).join(dir);
    crate::ctx::remove_all(&d);
    ctx.check("mkdir failed", std::fs::create_dir_all(&d))?;
    Some(d)
}

/// Remove `dir` and unmount the workspace.
pub fn done(ctx: &Ctx, dir: &Path) {
    crate::ctx::remove_all(dir);
    ctx.umount(ROOT, false);
}

/// Round a non-negative figure for the protocol's integer counters.
pub fn round(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        x.round() as u64
    } else {
        0
    }
}

pub type Counters = BTreeMap<String, u64>;
