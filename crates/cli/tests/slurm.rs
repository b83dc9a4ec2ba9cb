//! End-to-end: work spread over Slurm (docs/nightly.md, "Past one machine: Slurm";
//! docs/bisection.md, "The bisection's boots on Slurm"). A one-node Slurm on this machine
//! (scripts/slurm-local: its own munge key, slurmctld and slurmd).
//! - A suite of two short jobs submitted as units, the store's runs checked to have a local
//!   nightly's shape; then a unit killed by `scancel` (recorded infra-error with Slurm's state)
//!   and a Ctrl-C of the submitter (the rest cancelled).
//! - `harness test --executor slurm` of a series with a deterministic bug: the test's boot here,
//!   the bisection's boots as Slurm units; the culprit found and verified, the run stored as a
//!   local one is.
//!
//! Nothing may stay queued, running or listening afterwards. The units boot their guests one at
//! a time (the partition gives a unit a whole node); run it under the machine's guest lock
//! (`flock /tmp/harness-guest.lock cargo test -p harness-cli --test slurm`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{assert_no_leftovers, composed, fixture, harness_in};

/// The one-node Slurm; stopped when dropped (a failing test too).
struct LocalSlurm {
    dir: tempfile::TempDir,
}

impl LocalSlurm {
    fn start() -> LocalSlurm {
        let dir = tempfile::Builder::new()
            .prefix("slurm-e2e-")
            .tempdir()
            .unwrap();
        let o = Command::new(common::repo().join("scripts/slurm-local"))
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        let s = LocalSlurm { dir };
        assert!(o.status.success(), "slurm-local start: {}", text(&o));
        s
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn client(&self, program: &str, args: &[&str]) -> String {
        let o = Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap();
        assert!(o.status.success(), "{program}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Jobs queued or running (finished ones are not listed without --states=all).
    fn active(&self) -> Vec<String> {
        self.client("squeue", &["--noheader", "--format=%i|%T|%j"])
            .lines()
            .map(String::from)
            .collect()
    }

    /// Wait until a job of ours is RUNNING; its id.
    fn wait_running(&self, t: Duration) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.active().iter().find(|l| l.contains("|RUNNING|")) {
                return l.split('|').next().unwrap().to_string();
            }
            assert!(t0.elapsed() < t, "no unit running after {t:?}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for LocalSlurm {
    fn drop(&mut self) {
        let _ = Command::new(common::repo().join("scripts/slurm-local"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A short job (one workload) named `name`, written into `dir`.
fn job(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(fixture("jobs/bisect.yaml"))
        .unwrap()
        .replace("name: bisect", &format!("name: {name}"))
        .replace(
            "../../../../shared/series/pre-series-6.1.patch",
            common::shared("pre-series-6.1.patch").to_str().unwrap(),
        );
    std::fs::write(&p, text).unwrap();
    p
}

/// A suite of `jobs` on `series` with a `slurm:` section; `executor: slurm` when `key`.
fn suite(
    dir: &Path,
    name: &str,
    series: &Path,
    jobs: &[PathBuf],
    slurm: &LocalSlurm,
    key: bool,
) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let jobs: Vec<String> = jobs.iter().map(|j| j.display().to_string()).collect();
    std::fs::write(
        &p,
        format!(
            "suite: {name}\nseries: [{}]\njobs: [{}]\non_failure: none\n{}\
             slurm:\n  partition: harness\n  shared_dir: {}\n  conf: {}\n",
            series.display(),
            jobs.join(", "),
            if key { "executor: slurm\n" } else { "" },
            shared.display(),
            slurm.conf().display()
        ),
    )
    .unwrap();
    p
}

fn show(results: &Path, id: &str) -> Value {
    let o = harness_in(results, &["show", "--json", id]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// No daemon of this Slurm, no step of its jobs, is left.
fn assert_slurm_gone(dir: &Path) {
    let st = Command::new("pgrep")
        .args(["-f", &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(
        st.stdout.is_empty(),
        "leftover Slurm processes: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    let st = Command::new("pgrep")
        .args(["-x", "slurmstepd"])
        .output()
        .unwrap();
    assert!(st.stdout.is_empty(), "leftover slurmstepd");
}

#[test]
fn a_nightly_runs_through_slurm_and_slurms_failures_are_infra() {
    let _g = common::one_at_a_time();
    let t0 = Instant::now();
    let slurm = LocalSlurm::start();
    let slurm_dir = slurm.dir.path().to_path_buf();
    // The warning fixture: each job's tip fails (a finding, a signature), then its base check.
    let series = composed(&["1", "broken/warn-in-unlink.patch"]);
    let work = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let jobs = [job(work.path(), "unit-a"), job(work.path(), "unit-b")];
    let s = suite(
        work.path(),
        "e2e-slurm",
        series.path(),
        &jobs,
        &slurm,
        false,
    );

    // 1. Two jobs, two units, one after the other on the one node.
    let o = harness_in(
        results.path(),
        &["nightly", s.to_str().unwrap(), "--executor", "slurm"],
    );
    let all = text(&o);
    eprintln!("{all}");
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert_eq!(all.matches(" is Slurm job ").count(), 2, "{all}");
    assert!(
        all.contains("NEW           WARNING in ceph_unlink"),
        "{all}"
    );
    assert!(slurm.active().is_empty(), "{:?}", slurm.active());
    let o = harness_in(results.path(), &["list", "--nightlies"]);
    let nightlies = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        nightlies.contains("e2e-slurm") && nightlies.contains("finished"),
        "{nightlies}"
    );
    assert!(nightlies.contains("2 run(s)  new 1"), "{nightlies}");
    let (ids, list) = common::listed_runs(results.path());
    assert_eq!(ids.len(), 2, "{list}");
    let store = harness_store::Store::open_read_only(results.path()).unwrap();
    for id in &ids {
        let rep = show(results.path(), id);
        // A local run's report: the verdict, the prefixes built, the boots, the finding.
        assert_eq!(rep["verdict"], "fail", "{rep}");
        assert_eq!(rep["run_id"], *id);
        assert_eq!(rep["prefixes"].as_array().unwrap().len(), 3, "{rep}");
        assert!(rep["findings"]
            .to_string()
            .contains("WARNING in ceph_unlink"));
        assert!(rep["phases"].as_array().unwrap().len() >= 5, "{rep}");
        assert!(rep["accel"].is_string());
        // Its boots were recorded as attempts, its artifacts are the store's.
        let attempts = store.attempts(id).unwrap();
        assert!(attempts.len() >= 2, "{attempts:?}");
        let names: Vec<String> = store
            .artifacts(id)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for a in ["report.json", "slurm-unit.log", "input/run.json"] {
            assert!(names.iter().any(|n| n == a), "{a} missing: {names:?}");
        }
        assert!(
            names.iter().any(|n| n.starts_with("console-prefix-")),
            "{names:?}"
        );
        let row = store.row(id).unwrap();
        assert!(row.nightly.is_some(), "attached to the nightly");
    }
    drop(store);
    eprintln!("slurm e2e: nightly of two units done at {:?}", t0.elapsed());

    // 2. A unit killed by scancel is infra-error with Slurm's state; Ctrl-C cancels the rest.
    // (The suite's own `executor: slurm` this time.)
    let s2 = suite(
        work.path(),
        "e2e-slurm-cancel",
        series.path(),
        &jobs,
        &slurm,
        true,
    );
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(["nightly", s2.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = slurm.wait_running(Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(3));
    slurm.client("scancel", &[&first]);
    // The submitter records it; the second unit then runs.
    let store_has_infra = || {
        let store = harness_store::Store::open_read_only(results.path()).unwrap();
        store
            .list(10)
            .unwrap()
            .into_iter()
            .find(|r| r.verdict.as_deref() == Some("infra-error"))
            .map(|r| r.id)
    };
    let t1 = Instant::now();
    let infra = loop {
        if let Some(id) = store_has_infra() {
            break id;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(120),
            "the cancelled unit was not recorded"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let second = slurm.wait_running(Duration::from_secs(120));
    assert_ne!(first, second);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(out.status.code(), Some(130), "{all}");
    assert!(
        all.contains(&format!("cancelling Slurm job(s) {second}")),
        "{all}"
    );
    let rep = show(results.path(), &infra);
    assert_eq!(rep["verdict"], "infra-error");
    let reason = rep["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("slurm job {first} ended CANCELLED")),
        "{reason}"
    );
    let o = harness_in(results.path(), &["list"]);
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(list.contains("interrupted"), "{list}");
    let o = harness_in(results.path(), &["list", "--nightlies"]);
    let nightlies = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(nightlies.contains("interrupted"), "{nightlies}");
    // Nothing queued or running.
    assert!(slurm.active().is_empty(), "{:?}", slurm.active());
    assert_no_leftovers();

    // 3. The interrupted nightly is finished through Slurm: the infra-error run kept, the
    // interrupted one resumed by a new unit.
    let nightly = nightlies
        .lines()
        .find(|l| l.contains("e2e-slurm-cancel"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let o = harness_in(results.path(), &["resume", &nightly]);
    let all = text(&o);
    eprintln!("{all}");
    // The exit code of the first job that did not pass: the cancelled unit's infra-error.
    assert_eq!(o.status.code(), Some(6), "{all}");
    assert!(
        all.contains(&format!("run {infra} finished before")),
        "{all}"
    );
    assert!(
        all.contains("NEW           WARNING in ceph_unlink"),
        "{all}"
    );
    assert_eq!(all.matches(" is Slurm job ").count(), 1, "{all}");
    let o = harness_in(results.path(), &["list", "--nightlies"]);
    let nightlies = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = nightlies.lines().find(|l| l.starts_with(&nightly)).unwrap();
    assert!(
        line.contains("finished") && line.contains("2 run(s)"),
        "{nightlies}"
    );
    let o = harness_in(results.path(), &["list"]);
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(list.contains("(resumed 1x)"), "{list}");
    assert!(!list.contains("interrupted"), "{list}");
    assert!(slurm.active().is_empty(), "{:?}", slurm.active());
    assert_no_leftovers();
    drop(slurm);
    assert_slurm_gone(&slurm_dir);
    eprintln!("slurm e2e: {:?} in all", t0.elapsed());
}

/// The nodes' cache of the bisection test: not the submitter's (on this one machine the
/// submitter holds its source tree locked for the whole run), kept across test runs.
fn node_cache() -> PathBuf {
    harness_exec::default_cache_dir().join("e2e-slurm-node")
}

#[test]
fn a_bisections_boots_run_as_slurm_units() {
    let _g = common::one_at_a_time();
    let t0 = Instant::now();
    let slurm = LocalSlurm::start();
    let slurm_dir = slurm.dir.path().to_path_buf();
    // Patch 2 of 2 warns on every unlink: the tip fails here, the bisection boots prefixes 0, 1
    // and 2 on Slurm, two at a time (`guests.parallel: 2`).
    let series = composed(&["1", "broken/warn-in-unlink.patch"]);
    let work = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared");
    let job = job(work.path(), "slurm-bisect");
    let yaml = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        format!(
            "{yaml}guests:\n  parallel: 2\nbisect:\n  rate: 1\n\
             slurm:\n  partition: harness\n  shared_dir: {}\n  conf: {}\n  cache: {}\n",
            shared.display(),
            slurm.conf().display(),
            node_cache().display()
        ),
    )
    .unwrap();

    // 1. Ctrl-C once the bisection's first units run: they are cancelled, nothing is left, the
    // run is interrupted with the test's boot recorded.
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(["test", "--on-failure", "bisect", "--executor", "slurm"])
        .arg("--job")
        .arg(&job)
        .arg(series.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let running = slurm.wait_running(Duration::from_secs(240));
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(out.status.code(), Some(130), "{all}");
    let cancelled = all
        .lines()
        .find_map(|l| l.strip_prefix("harness: cancelling Slurm job(s) "))
        .unwrap_or_else(|| panic!("no unit cancelled: {all}"));
    assert!(cancelled.split(' ').any(|i| i == running), "{all}");
    assert!(slurm.active().is_empty(), "{:?}", slurm.active());
    assert_no_leftovers();
    let (ids, list) = common::listed_runs(results.path());
    assert_eq!(ids.len(), 1, "{list}");
    assert!(list.contains("interrupted"), "{list}");
    let id = ids[0].clone();
    eprintln!("slurm bisection e2e: interrupted at {:?}", t0.elapsed());

    // 2. `harness resume` finishes it: the test's boot replayed, the bisection's boots Slurm
    // units again (one of them cancelled by hand: an infra-error boot, retried, not counted),
    // and the run stored as a local bisection's is.
    let json = results.path().join("report.json");
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(["resume", id.as_str(), "--json", json.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let killed = slurm.wait_running(Duration::from_secs(240));
    std::thread::sleep(Duration::from_secs(3));
    slurm.client("scancel", &[&killed]);
    let o = child.wait_with_output().unwrap();
    let all = text(&o);
    eprintln!("{all}");
    assert_eq!(o.status.code(), Some(1), "{all}");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rep["run_id"], id.as_str());
    assert!(
        rep["replayed"].as_u64().unwrap() >= 1,
        "{}",
        rep["replayed"]
    );
    let c = &rep["culprit"];
    assert_eq!(c["index"], 2, "{c}");
    assert_eq!(
        c["subject"],
        "ceph: warn when unlinking a file with a single link"
    );
    assert_eq!(c["signature"], "WARNING in ceph_unlink");
    assert_eq!(c["verified"], true, "{c}");
    assert_eq!(c["confident"], true, "{c}");
    assert!(
        rep["reason"].as_str().unwrap().contains("culprit: patch 2"),
        "{}",
        rep["reason"]
    );
    // Every bisection boot was a Slurm unit; the verification's two went out as one round.
    let runs = rep["bisection"].as_array().unwrap();
    assert!(runs.len() >= 2, "{runs:?}");
    assert_eq!(all.matches(": Slurm job ").count(), runs.len(), "{all}");
    assert!(all.contains("2 boots on Slurm, at once"), "{all}");
    assert!(
        all.contains(&format!(
            "could not be tested (slurm job {killed} ended CANCELLED"
        )),
        "{all}"
    );
    assert_eq!(
        runs.iter()
            .filter(|r| r["verdict"] == "infra-error")
            .count(),
        1,
        "{runs:?}"
    );
    let fails = runs.iter().filter(|r| r["outcome"] == "fail").count();
    let passes = runs.iter().filter(|r| r["outcome"] == "pass").count();
    assert!(fails >= 1 && passes >= 1, "{runs:?}");
    let stem = |c: &str| {
        c.trim_start_matches("console-")
            .trim_end_matches(".log")
            .to_string()
    };
    let store = harness_store::Store::open_read_only(results.path()).unwrap();
    let artifacts: Vec<String> = store
        .artifacts(&id)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let attempts = store.attempts(&id).unwrap();
    // The test's own boot, made here before the interruption.
    assert!(artifacts.iter().any(|n| n == "console-prefix-2.log"));
    assert!(attempts.iter().any(|a| a.console == "console-prefix-2.log"));
    for r in runs {
        let console = r["console"].as_str().unwrap().to_string();
        if r["verdict"] == "infra-error" {
            // The cancelled unit: no boot, no result (and no log if Slurm had not started it).
            assert!(!attempts.iter().any(|a| a.console == console));
            continue;
        }
        // Its console and Slurm's log of its unit are the run's artifacts ...
        for a in [console.clone(), format!("slurm-{}.log", stem(&console))] {
            assert!(artifacts.contains(&a), "{a} missing: {artifacts:?}");
        }
        let log =
            std::fs::read_to_string(results.path().join("runs").join(&id).join(&console)).unwrap();
        assert!(log.contains("HARNESS/1"), "{console}: {log}");
        // ... its boot one of the run's attempts, as a local boot's is ...
        let a = attempts
            .iter()
            .find(|a| a.console == console)
            .unwrap_or_else(|| panic!("{console}: no attempt in {attempts:?}"));
        assert_eq!(a.prefix as u64, r["prefix"].as_u64().unwrap());
        assert_eq!(a.variant, format!("prefix-{}", a.prefix));
        assert_eq!(r["workloads"], serde_json::json!(["umount-stress"]));
        assert_eq!(a.result.verdict.as_str(), r["verdict"].as_str().unwrap());
        // ... and its unit's directory in the shared directory holds its result.
        let unit = shared.join(&id).join(stem(&console));
        assert!(unit.join("result.json").is_file(), "{}", unit.display());
    }
    drop(store);
    assert!(slurm.active().is_empty(), "{:?}", slurm.active());
    assert_no_leftovers();
    drop(slurm);
    assert_slurm_gone(&slurm_dir);
    eprintln!("slurm bisection e2e: {:?}", t0.elapsed());
}
