//! The process registry: every process a run starts is spawned here, in its own process group,
//! with its output drained to a file, and is stopped (SIGTERM, grace, SIGKILL) and reaped when the
//! run ends, on every exit path (the registry's `Drop` is the last line of defence, Ctrl-C included).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::ExecError;

#[derive(Debug)]
struct Entry {
    pid: i32,
    name: String,
    /// Daemons that hold nothing worth a polite stop (memstore OSD, throw-away mon) go straight to SIGKILL.
    kill_at_once: bool,
}

/// Owns the processes of one run.
#[derive(Clone, Default)]
pub struct Procs {
    inner: Arc<Mutex<Vec<Entry>>>,
}

/// The captured result of a short command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// stderr, or stdout when stderr is empty, trimmed: for error messages.
    pub fn message(&self) -> String {
        let s = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        s.trim().to_string()
    }
}

/// The only variables a child inherits from the harness: no token, no `GIT_*`, no `LD_*`.
/// Everything else a child needs is set explicitly where it is built.
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
];

/// Build a command. `netns`: run it inside that network namespace (`ip netns exec` execs in place, so
/// the registered pid is the program's own). The child gets an explicit environment: only
/// [`INHERITED_ENV`] of the harness's own, plus what the caller sets.
pub fn command<S: AsRef<OsStr>>(program: S, netns: Option<&str>) -> Command {
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program);
            c
        }
        None => Command::new(program),
    };
    c.process_group(0).stdin(Stdio::null()).kill_on_drop(false);
    c.env_clear();
    for k in INHERITED_ENV {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    c
}

fn describe(cmd: &Command) -> String {
    let std = cmd.as_std();
    let mut s = std.get_program().to_string_lossy().into_owned();
    for a in std.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

impl Procs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a long-running process whose stdout and stderr go to `log` (appended).
    pub fn spawn_logged(
        &self,
        name: &str,
        mut cmd: Command,
        log: &Path,
        kill_at_once: bool,
    ) -> Result<Child, ExecError> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| ExecError::io(log, e))?;
        let f2 = f.try_clone().map_err(|e| ExecError::io(log, e))?;
        cmd.stdout(f).stderr(f2);
        self.spawn(name, cmd, kill_at_once)
    }

    /// Start a process with whatever stdio the caller set; it is registered for teardown.
    pub fn spawn(
        &self,
        name: &str,
        mut cmd: Command,
        kill_at_once: bool,
    ) -> Result<Child, ExecError> {
        let what = describe(&cmd);
        let child = cmd.spawn().map_err(|e| ExecError::Spawn {
            what: what.clone(),
            source: e,
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        tracing::debug!(pid, name, cmd = %what, "spawned");
        self.inner.lock().unwrap().push(Entry {
            pid,
            name: name.to_string(),
            kill_at_once,
        });
        Ok(child)
    }

    /// Run a command to completion with a deadline, capturing its output. On timeout the process
    /// group is killed and `ExecError::Timeout` returned.
    pub async fn run(
        &self,
        name: &str,
        mut cmd: Command,
        timeout: Duration,
    ) -> Result<Output, ExecError> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = describe(&cmd);
        let child = self.spawn(name, cmd, false)?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let out = self
            .within(pid, what, timeout, child.wait_with_output())
            .await?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run a command whose stdio the caller has set (e.g. stdout to a file) to completion.
    pub async fn status(
        &self,
        name: &str,
        cmd: Command,
        timeout: Duration,
    ) -> Result<ExitStatus, ExecError> {
        let what = describe(&cmd);
        let mut child = self.spawn(name, cmd, false)?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        self.within(pid, what, timeout, child.wait()).await
    }

    /// Await a registered process's end with a deadline; past it, its group is killed.
    async fn within<T>(
        &self,
        pid: i32,
        what: String,
        timeout: Duration,
        wait: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ExecError> {
        let res = tokio::time::timeout(timeout, wait).await;
        self.forget(pid);
        match res {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ExecError::Spawn { what, source: e }),
            Err(_) => {
                kill_group(pid, Signal::SIGKILL);
                Err(ExecError::Timeout {
                    what,
                    after: timeout,
                })
            }
        }
    }

    /// Like [`Procs::run`], but a non-zero exit is an error carrying the program's message.
    pub async fn check(
        &self,
        name: &str,
        cmd: Command,
        timeout: Duration,
    ) -> Result<Output, ExecError> {
        let what = describe(&cmd);
        let out = self.run(name, cmd, timeout).await?;
        if out.ok() {
            Ok(out)
        } else {
            Err(ExecError::Failed {
                what,
                status: out.status.to_string(),
                message: tail(&out.message(), 20),
            })
        }
    }

    /// A process ended on its own (and was reaped by its owner): stop tracking it.
    pub fn forget(&self, pid: i32) {
        self.inner.lock().unwrap().retain(|e| e.pid != pid);
    }

    /// Stop one registered process group now (SIGTERM, grace, SIGKILL).
    pub fn stop(&self, pid: i32, grace: Duration) {
        terminate(pid, grace, false);
        self.forget(pid);
    }

    /// Stop every registered process group, newest first.
    pub fn stop_all(&self) {
        let entries: Vec<Entry> = std::mem::take(&mut *self.inner.lock().unwrap());
        for e in entries.iter().rev() {
            tracing::debug!(pid = e.pid, name = %e.name, "stopping");
            terminate(e.pid, Duration::from_secs(3), e.kill_at_once);
        }
    }

    pub fn live(&self) -> Vec<(i32, String)> {
        self.inner
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.pid, e.name.clone()))
            .collect()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        // Only the last clone tears down.
        if Arc::strong_count(&self.inner) == 1 {
            self.stop_all();
        }
    }
}

fn kill_group(pid: i32, sig: Signal) -> bool {
    pid > 0 && killpg(Pid::from_raw(pid), sig).is_ok()
}

fn alive(pid: i32) -> bool {
    // A zombie still "exists"; reap it if it is ours, otherwise probe with signal 0.
    let _ = nix::sys::wait::waitpid(
        Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

/// Escalating stop of a process group: SIGTERM, wait up to `grace`, SIGKILL, wait for it to go.
fn terminate(pid: i32, grace: Duration, kill_at_once: bool) {
    if pid <= 0 {
        return;
    }
    if !kill_at_once && kill_group(pid, Signal::SIGTERM) {
        let t = Instant::now();
        while alive(pid) && t.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    kill_group(pid, Signal::SIGKILL);
    let t = Instant::now();
    while alive(pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last `n` lines of a text.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn children_get_an_explicit_environment() {
        let procs = super::Procs::new();
        let mut c = super::command("env", None);
        c.env("EXTRA", "1");
        let out = procs
            .check("env", c, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        for l in out.stdout.lines() {
            let k = l.split('=').next().unwrap();
            assert!(
                k == "EXTRA" || super::INHERITED_ENV.contains(&k),
                "{k} leaked into a child"
            );
        }
        assert!(out.stdout.contains("EXTRA=1"));
    }
}
