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

    /// Stop every registered process group, all at once: the polite ones get SIGTERM and one
    /// shared grace period, then whatever is left (and the throw-away daemons) SIGKILL.
    pub fn stop_all(&self) {
        let entries: Vec<Entry> = std::mem::take(&mut *self.inner.lock().unwrap());
        for e in entries.iter().rev() {
            tracing::debug!(pid = e.pid, name = %e.name, "stopping");
        }
        let groups: Vec<(i32, bool)> = entries
            .iter()
            .rev()
            .map(|e| (e.pid, e.kill_at_once))
            .collect();
        terminate_all(&groups, Duration::from_secs(3));
    }

    /// Run a short command to completion where nothing can be awaited (a `Drop`, the sweep of
    /// what a killed harness left): in its own process group, output captured, killed past
    /// `timeout`. It never outlives the call, so it is not registered.
    pub fn run_sync(program: &str, args: &[&str], timeout: Duration) -> Result<Output, ExecError> {
        Self::run_sync_env(program, args, &[], timeout)
    }

    /// [`Procs::run_sync`] with `env` set on top of the explicit environment.
    pub fn run_sync_env(
        program: &str,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
        timeout: Duration,
    ) -> Result<Output, ExecError> {
        use std::os::unix::process::CommandExt;
        let what = format!("{program} {}", args.join(" "));
        let mut cmd = std::process::Command::new(program);
        // The same explicit environment as every other child.
        cmd.env_clear();
        for k in INHERITED_ENV {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ExecError::Spawn {
                what: what.clone(),
                source: e,
            })?;
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(out)) => Ok(Output {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
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
    terminate_all(&[(pid, kill_at_once)], grace);
}

/// Escalating stop of several process groups (pid, kill at once) in parallel: SIGTERM to the
/// polite ones, one shared wait of up to `grace` for them to go, SIGKILL to every group still
/// there, one wait of up to 5 s. The whole stop takes at most `grace` + 5 s, however many.
fn terminate_all(groups: &[(i32, bool)], grace: Duration) {
    let groups: Vec<(i32, bool)> = groups.iter().copied().filter(|(p, _)| *p > 0).collect();
    let termed: Vec<i32> = groups
        .iter()
        .filter(|(pid, at_once)| !at_once && kill_group(*pid, Signal::SIGTERM))
        .map(|(pid, _)| *pid)
        .collect();
    wait_gone(&termed, grace, Duration::from_millis(20));
    let pids: Vec<i32> = groups.iter().map(|(pid, _)| *pid).collect();
    for &pid in &pids {
        kill_group(pid, Signal::SIGKILL);
    }
    wait_gone(&pids, Duration::from_secs(5), Duration::from_millis(10));
}

/// Wait until none of `pids` is alive, or `limit` passed.
fn wait_gone(pids: &[i32], limit: Duration, poll: Duration) {
    let t = Instant::now();
    while pids.iter().any(|&p| alive(p)) && t.elapsed() < limit {
        std::thread::sleep(poll);
    }
}

/// The last `n` lines of a text.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process in its own group, registered; `ignore_term`: it shrugs SIGTERM off.
    fn sleeper(procs: &Procs, ignore_term: bool, at_once: bool) -> i32 {
        let mut c = command("sh", None);
        let script = if ignore_term {
            "trap '' TERM; sleep 30 & wait; sleep 30"
        } else {
            "sleep 30"
        };
        c.args(["-c", script]);
        let child = procs.spawn("sleeper", c, at_once).unwrap();
        let pid = child.id().unwrap() as i32;
        // The registry owns it now (its Child is dropped without a kill).
        drop(child);
        pid
    }

    #[tokio::test]
    async fn every_group_is_stopped_at_once_polite_ones_first() {
        let procs = Procs::new();
        let polite: Vec<i32> = (0..3).map(|_| sleeper(&procs, false, false)).collect();
        let stubborn: Vec<i32> = (0..3).map(|_| sleeper(&procs, true, false)).collect();
        let daemon = sleeper(&procs, false, true);
        // Let the shells set their traps.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = Instant::now();
        procs.stop_all();
        let took = t.elapsed();
        for pid in polite.iter().chain(&stubborn).chain([&daemon]) {
            assert!(!alive(*pid), "{pid} still alive");
        }
        assert!(procs.live().is_empty());
        // Three stubborn groups in parallel: one grace period (3 s), not three.
        assert!(took < Duration::from_secs(6), "{took:?}");
        assert!(
            took >= Duration::from_secs(3),
            "the grace period was skipped: {took:?}"
        );
    }

    #[test]
    fn a_synchronous_run_captures_output_and_is_killed_past_its_deadline() {
        let out = Procs::run_sync(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(out.status.code(), Some(3));
        let t = Instant::now();
        let e = Procs::run_sync("sleep", &["30"], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ExecError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            Procs::run_sync("/nonexistent/ip", &[], Duration::from_secs(1)),
            Err(ExecError::Spawn { .. })
        ));
    }

    #[tokio::test]
    async fn a_polite_stop_takes_no_grace() {
        let procs = Procs::new();
        let pid = sleeper(&procs, false, false);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        procs.stop(pid, Duration::from_secs(3));
        assert!(!alive(pid));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

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
