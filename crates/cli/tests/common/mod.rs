//! Helpers of the end-to-end test binaries (each binary runs its guests one at a time, every
//! test holding [`one_at_a_time`]; cargo runs the binaries one after the other).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held by every test that starts a harness run: the tests of one binary run on parallel threads,
/// and two runs at once would share the 2 cores (timeouts) and each see the other's cluster,
/// guest and scratch dir as the other's leftovers ([`assert_no_leftovers`]).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn shared(p: &str) -> PathBuf {
    repo().join("../shared/series").join(p)
}

pub fn fixture(p: &str) -> PathBuf {
    repo().join("tests/fixtures").join(p)
}

/// Nothing a run started may survive it: no namespace, no qemu, no ceph daemon, no temp dir.
pub fn assert_no_leftovers() {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(
        !ns.lines().any(|l| l.starts_with("harness-")),
        "leftover namespaces:\n{ns}"
    );
    for p in [
        "qemu-system-x86_64",
        "ceph-mon",
        "ceph-osd",
        "ceph-mds",
        "ceph-mgr",
    ] {
        // pgrep -x matches the 15-character command name (`qemu-system-x86`): a longer name
        // would match nothing.
        let comm: String = p.chars().take(15).collect();
        let st = Command::new("pgrep").args(["-x", &comm]).output().unwrap();
        assert!(
            st.stdout.is_empty(),
            "leftover {p} processes: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
    let tmp: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        // Directories only: /tmp/harness-guest.lock is the machine's guest lock, not a leftover.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // A run's scratch dir is `harness-<pid>-...` (not, say, a lock file of the test set-up).
        .filter(|n| {
            n.strip_prefix("harness-")
                .and_then(|r| r.split_once('-'))
                .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    assert!(tmp.is_empty(), "leftover temp dirs: {tmp:?}");
}

/// `items`: patch numbers of the 6.1 backport, or fixture paths under tests/fixtures.
pub fn composed(items: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("series-")
        .tempdir()
        .unwrap();
    let mut c = Command::new(repo().join("scripts/compose-series"));
    c.arg(dir.path()).arg(shared("ceph-cap-locking-6.1.mbox"));
    for i in items {
        if i.chars().all(|c| c.is_ascii_digit()) {
            c.arg(i);
        } else {
            c.arg(fixture(i));
        }
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// A finished `harness` run that wrote a report.
pub struct Ran {
    pub code: Option<i32>,
    pub report: Value,
    /// stdout and stderr, for messages.
    pub text: String,
    /// The results directory (the store and the run's artifacts), removed when dropped.
    pub results: tempfile::TempDir,
}

impl Ran {
    /// An artifact of the run, as text.
    pub fn artifact(&self, name: &str) -> String {
        let id = self.report["run_id"].as_str().unwrap();
        let p = self.results.path().join("runs").join(id).join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

/// `harness --results TMP ARGS... --json TMP/report.json SERIES...`: its output, its report if it
/// wrote one, and the results directory.
pub fn harness_run<A: AsRef<OsStr>, S: AsRef<OsStr>>(
    args: &[A],
    series: &[S],
) -> (std::process::Output, Option<Value>, tempfile::TempDir) {
    let results = tempfile::tempdir().unwrap();
    let json = results.path().join("report.json");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(args)
        .arg("--json")
        .arg(&json)
        .args(series)
        .output()
        .unwrap();
    // Where a test's time goes (`--nocapture` shows it): CI's budget is the sum of these.
    eprintln!(
        "[e2e] harness {} ({} series file(s)): {:.0} s, exit {:?}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        series.len(),
        started.elapsed().as_secs_f64(),
        out.status.code()
    );
    let report = std::fs::read_to_string(&json)
        .ok()
        .map(|s| serde_json::from_str(&s).unwrap());
    (out, report, results)
}

/// `harness --results RESULTS ARGS...`, for the commands that write no `--json` report
/// (`nightly`, `list`, `show`).
pub fn harness_in<A: AsRef<OsStr>>(results: &Path, args: &[A]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results)
        .args(args)
        .output()
        .unwrap()
}

/// `harness list` of `results`: the run ids, newest first, and the listing (for messages).
pub fn listed_runs(results: &Path) -> (Vec<String>, String) {
    let o = harness_in(results, &["list"]);
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    let ids = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (ids, list)
}

/// [`harness_run`] that must write a report.
pub fn harness_report<A: AsRef<OsStr>, S: AsRef<OsStr>>(args: &[A], series: &[S]) -> Ran {
    let (out, report, results) = harness_run(args, series);
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report.unwrap_or_else(|| panic!("no report; {text}"));
    Ran {
        code: out.status.code(),
        report,
        text,
        results,
    }
}
