//! End-to-end tests: the real `harness` binary, real git, a real module build against Debian's
//! headers, a real mini Ceph cluster and a real QEMU guest (TCG here). They need root and the
//! packages of scripts/install-deps, and run one at a time (two cores: one guest at a time).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{assert_no_leftovers, composed, fixture, shared};

struct Run {
    out: Output,
    report: Option<Value>,
    results: tempfile::TempDir,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "no report; stderr:\n{}\nstdout:\n{}",
                self.stderr(),
                self.stdout()
            )
        })
    }
    fn artifact(&self, name: &str) -> String {
        let id = self.report()["run_id"].as_str().unwrap();
        let p = self.results.path().join("runs").join(id).join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

fn harness(args: &[&str], series: &[&Path]) -> Run {
    let (out, report, results) = common::harness_run(args, series);
    Run {
        out,
        report,
        results,
    }
}

/// The good series with one of our deliberately broken patches on top, on the detection job
/// (tests/fixtures/jobs/detect.yaml: the default job's first workload only); the verdict must be
/// `fail`.
fn failing_run(broken: &str) -> Run {
    failing_run_with_job("jobs/detect.yaml", broken)
}

/// The good series with `broken` on top, on the job `tests/fixtures/JOB`.
fn failing_run_with_job(job: &str, broken: &str) -> Run {
    let job = fixture(job);
    // These tests are about detection; the bisection has its own tests (below).
    // (And about the series' failures: the base is not booted to check them; fixes.rs does.)
    let args = [
        "test",
        "--on-failure",
        "none",
        "--no-base-check",
        "--job",
        job.to_str().unwrap(),
    ];
    let r = harness(
        &args,
        &[&shared("ceph-cap-locking-6.1.mbox"), &fixture(broken)],
    );
    assert_eq!(
        r.report()["verdict"],
        "fail",
        "stdout:\n{}\nstderr:\n{}",
        r.stdout(),
        r.stderr()
    );
    assert_eq!(r.code(), 1);
    r
}

#[test]
fn good_series_passes_on_a_live_cluster() {
    let _g = common::one_at_a_time();
    let r = harness(&["test"], &[&shared("ceph-cap-locking-6.1.mbox")]);
    let rep = r.report();
    assert_eq!(
        rep["verdict"],
        "pass",
        "stdout:\n{}\nstderr:\n{}",
        r.stdout(),
        r.stderr()
    );
    assert_eq!(r.code(), 0);
    assert_eq!(rep["series"]["patch_count"], 6);
    assert_eq!(
        rep["series"]["subject"],
        "ceph: remove excess mutex locking from cap/snap flushing codepaths"
    );
    let prefixes = rep["prefixes"].as_array().unwrap();
    assert_eq!(prefixes.len(), 7, "base + 6 prefixes");
    for p in prefixes {
        assert_eq!(p["applied"], true, "{p}");
        assert_eq!(p["built"], true, "{p}");
    }
    let tip = &prefixes[6]["test"];
    assert_eq!(tip["verdict"], "pass");
    assert_eq!(tip["exit"], "ok");
    assert_eq!(tip["qemu_status"], 1, "isa-debug-exit 0 -> qemu status 1");
    let phases: Vec<&str> = rep["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in ["apply", "build", "cluster", "image", "guest", "teardown"] {
        assert!(
            phases.contains(&want),
            "phase {want} missing from {phases:?}"
        );
    }
    // The guest really booted the kernel under test, mounted CephFS from the cluster, and ran the cycles.
    let console = r.artifact("console-prefix-6.log");
    assert!(
        console.contains("Linux version 6.1.0-56-amd64"),
        "not the Debian kernel"
    );
    assert!(
        console.contains("ceph: loading out-of-tree module taints kernel"),
        "the rebuilt ceph.ko was not loaded"
    );
    assert!(console.contains(r#"HARNESS/1 {"t":"result","rc":0}"#));
    // Every workload of the default job ran and reported, with its own counters.
    let workloads = tip["workloads"].as_array().unwrap();
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "umount-stress",
            "iput-stress",
            "snap-stress",
            "cap-revoke",
            "mds-failover"
        ]
    );
    for w in workloads {
        assert_eq!(w["ok"], true, "{w}");
        assert!(w["ops"].as_u64().unwrap() > 0, "{w}");
    }
    let counter = |i: usize, k: &str| workloads[i]["counters"][k].as_u64().unwrap();
    assert_eq!(counter(0, "cycles"), 4);
    assert_eq!(counter(0, "lazy_unmounts"), 1);
    assert!(counter(0, "files_verified") > 0);
    assert_eq!(counter(1, "failed_processes"), 0);
    assert!(counter(1, "files_verified") > 0);
    assert_eq!(counter(2, "snapshots"), 6);
    assert_eq!(counter(3, "records_appended"), 200);
    assert_eq!(counter(4, "failovers"), 1);
    assert!(counter(4, "reconnect_ms") > 0);
    // Patch coverage: every patch lists the functions it changes; the ones the series is about
    // were really called by the workloads.
    let coverage = rep["coverage"].as_array().unwrap();
    assert_eq!(coverage.len(), 6);
    let calls = |f: &str| {
        coverage
            .iter()
            .flat_map(|p| p["functions"].as_array().unwrap())
            .find(|x| x["function"] == f)
            .and_then(|x| x["calls"].as_u64())
            .unwrap_or_else(|| panic!("{f} not counted: {coverage:?}"))
    };
    for f in [
        "ceph_check_caps",
        "try_flush_caps",
        "ceph_flush_snaps",
        "ceph_put_wrbuffer_cap_refs",
        "ceph_handle_quota",
        "send_mds_reconnect",
    ] {
        assert!(calls(f) > 0, "{f} never called");
    }
    // No probed function of the series is left untested by the default workloads.
    let untested: Vec<&Value> = coverage
        .iter()
        .flat_map(|p| p["functions"].as_array().unwrap())
        .filter(|x| x["calls"] == 0)
        .collect();
    assert!(untested.is_empty(), "untested: {untested:?}");
    // Hazard probe: evictions per context were counted, and the tip's final iputs in the
    // messenger worker are flagged without failing the verdict.
    assert!(tip["evictions"]["messenger"].as_u64().unwrap() > 0, "{tip}");
    assert!(rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["kind"] == "hazard"));
    assert!(r.artifact("build-prefix-0.log").contains("ceph.ko"));
    // `harness show` prints the stored run.
    let show = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(r.results.path())
        .args(["show", "last"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success());
    assert!(text.contains("verdict: pass"), "{text}");
    assert!(text.contains(rep["run_id"].as_str().unwrap()));
    assert_no_leftovers();
}

#[test]
fn a_patch_that_warns_fails_with_that_warning() {
    let _g = common::one_at_a_time();
    let r = failing_run("broken/warn-in-unlink.patch");
    let rep = r.report();
    assert_eq!(rep["series"]["patch_count"], 7);
    let f = &rep["findings"][0];
    assert_eq!(f["kind"], "warning", "{}", rep["findings"]);
    assert_eq!(f["title"], "WARNING in ceph_unlink");
    assert_eq!(f["prefix"], 7);
    let excerpt = f["excerpt"].as_str().unwrap();
    assert!(
        excerpt.contains("fs/ceph/dir.c") && excerpt.contains("ceph_unlink"),
        "{excerpt}"
    );
    assert_eq!(rep["reason"], "WARNING in ceph_unlink");
    // Symbolised with the prefix's unstripped module: the WARNING points at a source line.
    assert!(
        excerpt.contains("ceph_unlink+0x") && excerpt.contains(" (fs/ceph/dir.c:"),
        "{excerpt}"
    );
    // The finding points into the stored console.
    let console = r.artifact("console-prefix-7.log");
    let line = console
        .lines()
        .nth(f["line"].as_u64().unwrap() as usize - 1)
        .unwrap();
    assert!(
        line.contains("cut here") || line.contains("WARNING:"),
        "{line}"
    );
    assert_no_leftovers();
}

#[test]
fn a_series_touching_net_ceph_rebuilds_libceph_too() {
    let _g = common::one_at_a_time();
    let series = shared("ceph-cap-locking-6.1.mbox");
    let extra = fixture("libceph-rebuilt.patch");
    let job = fixture("jobs/detect.yaml");
    let r = harness(
        &["test", "--job", job.to_str().unwrap()],
        &[&series, &extra],
    );
    let rep = r.report();
    assert_eq!(rep["verdict"], "pass", "{}\n{}", r.stdout(), r.stderr());
    assert_eq!(r.code(), 0);
    let console = r.artifact("console-prefix-7.log");
    assert!(
        console
            .contains("libceph: loaded (mon/osd proto 15/24), rebuilt from the series under test"),
        "the rebuilt libceph was not the one loaded"
    );
    assert!(console.contains(r#"HARNESS/1 {"t":"result","rc":0}"#));
    let log = r.artifact("build-prefix-7.log");
    assert!(log.contains("NOSTDINC_FLAGS=-nostdinc -I"), "{log}");
    let id = rep["run_id"].as_str().unwrap();
    let ko = r
        .results
        .path()
        .join("runs")
        .join(id)
        .join("libceph-prefix-7.ko");
    assert!(
        ko.metadata().unwrap().len() > 1 << 20,
        "unstripped libceph kept"
    );
    assert_no_leftovers();
}

#[test]
fn a_patch_that_does_not_build_is_a_build_failed_verdict() {
    let _g = common::one_at_a_time();
    let r = harness(
        &["test"],
        &[
            &shared("ceph-cap-locking-6.1.mbox"),
            &fixture("broken/build-error.patch"),
        ],
    );
    let rep = r.report();
    assert_eq!(
        rep["verdict"],
        "build-failed",
        "stdout:\n{}\nstderr:\n{}",
        r.stdout(),
        r.stderr()
    );
    assert_eq!(r.code(), 5);
    let p7 = &rep["prefixes"][7];
    assert_eq!(p7["built"], false);
    assert!(
        p7["build_error"]
            .as_str()
            .unwrap()
            .contains("ceph_caps_sanity_check"),
        "{p7}"
    );
    assert_eq!(rep["prefixes"][6]["built"], true);
    assert!(p7.get("test").is_none(), "an unbuilt prefix is not booted");
    assert_no_leftovers();
}

#[test]
fn a_patch_that_does_not_apply_is_named() {
    let _g = common::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("stale.patch");
    let text = std::fs::read_to_string(fixture("broken/warn-in-unlink.patch")).unwrap();
    std::fs::write(&bad, text.replace(" retry:\n", " retry_later:\n")).unwrap();
    let r = harness(&["test"], &[&shared("ceph-cap-locking-6.1.mbox"), &bad]);
    let rep = r.report();
    assert_eq!(rep["verdict"], "apply-failed");
    assert_eq!(r.code(), 4);
    assert_eq!(rep["prefixes"][7]["applied"], false);
    let err = rep["prefixes"][7]["apply_error"].as_str().unwrap();
    assert!(
        err.contains("patch failed") || err.contains("does not apply"),
        "{err}"
    );
    assert!(rep["reason"]
        .as_str()
        .unwrap()
        .starts_with("patch 7 does not apply"));
    assert!(r.stdout().contains("FAILED"), "{}", r.stdout());
    assert_no_leftovers();
}

#[test]
fn bad_input_gets_one_clear_line_and_an_exit_code() {
    let _g = common::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.mbox");
    let r = harness(&["test"], &[&missing]);
    assert_eq!(r.code(), 3);
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(
        r.stderr().contains("nope.mbox") && r.stderr().contains("No such file"),
        "{}",
        r.stderr()
    );

    let garbage = dir.path().join("garbage.mbox");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 255, 1, 2, 3].repeat(100)).unwrap();
    let r = harness(&["test"], &[&garbage]);
    assert_eq!(r.code(), 3, "{}", r.stderr());
    assert!(
        r.stderr().starts_with("harness: ") && r.stderr().contains("garbage.mbox"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stderr().lines().count(), 1);

    let nopatch = dir.path().join("chat.mbox");
    std::fs::write(
        &nopatch,
        "From a@b Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: Re: lunch?\n\nsure\n",
    )
    .unwrap();
    let r = harness(&["test"], &[&nopatch]);
    assert_eq!(r.code(), 3, "{}", r.stderr());
    assert!(r.stderr().contains("chat.mbox"), "{}", r.stderr());
    // Nothing was recorded for input that never made a run.
    assert!(
        !r.results.path().join("runs").exists()
            || std::fs::read_dir(r.results.path().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );

    // Missing system tools: one line naming them, exit 7, nothing recorded.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .env("PATH", "/nonexistent")
        .arg("--results")
        .arg(dir.path().join("res"))
        .args(["test"])
        .arg(shared("ceph-cap-locking-6.1.mbox"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("harness: missing system packages or tools: git (git)")
            && err.contains("scripts/install-deps"),
        "{err}"
    );
    assert!(!dir.path().join("res").exists());

    // Not root: one line, exit 8 (namespaces and taps need root).
    let series = dir.path().join("series.mbox");
    std::fs::copy(shared("ceph-cap-locking-6.1.mbox"), &series).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_harness"),
            "--results",
        ])
        .arg(dir.path().join("res"))
        .arg("test")
        .arg(&series)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("must run as root"), "{err}");
    assert_no_leftovers();
}

#[test]
fn a_task_stuck_in_sync_is_a_hung_task_finding() {
    let _g = common::one_at_a_time();
    let r = failing_run("broken/hung-task-in-sync.patch");
    let rep = r.report();
    let f = &rep["findings"][0];
    assert_eq!(f["kind"], "hung-task", "{}", rep["findings"]);
    assert_eq!(f["title"], "INFO: task hung in ceph_sync_fs");
    assert!(f["excerpt"]
        .as_str()
        .unwrap()
        .contains("blocked for more than 10 seconds"));
    assert_no_leftovers();
}

#[test]
fn a_leaked_inode_reference_is_busy_inodes_after_unmount() {
    let _g = common::one_at_a_time();
    let r = failing_run("broken/busy-inodes-leak.patch");
    let rep = r.report();
    let titles: Vec<&str> = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles[0], "VFS: Busy inodes after unmount of ceph",
        "{titles:?}"
    );
    // Debian's CONFIG_BUG_ON_DATA_CORRUPTION makes it a BUG, and oops=panic ends the guest.
    assert!(
        titles.contains(&"kernel panic: Fatal exception"),
        "{titles:?}"
    );
    assert_eq!(rep["prefixes"][7]["test"]["exit"], "panic");
    assert_no_leftovers();
}

#[test]
fn an_inode_reference_dropped_twice_is_a_kernel_bug_in_iput() {
    let _g = common::one_at_a_time();
    let r = failing_run("broken/double-iput.patch");
    let rep = r.report();
    let f = &rep["findings"][0];
    assert_eq!(f["kind"], "bug", "{}", rep["findings"]);
    assert_eq!(f["title"], "kernel BUG in iput");
    let excerpt = f["excerpt"].as_str().unwrap();
    assert!(excerpt.contains("kernel BUG at fs/inode.c:"), "{excerpt}");
    // Reached from writeback completion in the messenger worker, as the patch's bug predicts,
    // and symbolised to the patched line.
    assert!(excerpt.contains("ceph_put_wrbuffer_cap_refs"), "{excerpt}");
    assert!(excerpt.contains("fs/ceph/caps.c:"), "{excerpt}");
    assert_eq!(rep["prefixes"][7]["test"]["exit"], "panic");
    assert_no_leftovers();
}

#[test]
fn a_killable_wait_that_never_ends_is_caught_by_the_progress_watchdog() {
    // The task sleeps in TASK_KILLABLE, which the hung task detector skips: only the workload's
    // progress watchdog sees it. The blocked stack is in the finding, and the title names it.
    let _g = common::one_at_a_time();
    let r = failing_run_with_job("jobs/stall.yaml", "broken/fsync-stall.patch");
    let rep = r.report();
    let f = &rep["findings"][0];
    assert_eq!(f["kind"], "hang", "{}", rep["findings"]);
    assert_eq!(f["title"], "INFO: task stalled in ceph_fsync");
    let excerpt = f["excerpt"].as_str().unwrap();
    assert!(excerpt.contains("sysrq: Show Blocked State"), "{excerpt}");
    assert!(excerpt.contains("ceph_fsync+"), "{excerpt}");
    assert_eq!(rep["prefixes"][7]["test"]["exit"], "timeout");
    assert_no_leftovers();
}

#[test]
fn a_guest_that_falls_silent_is_dumped_through_qmp_and_killed() {
    // A spinlock left held: both vCPUs end up spinning, the kernel still prints soft lockup and
    // RCU stall reports, but the guest program falls silent. The host asks for sysrq w and t
    // through QMP, kills the guest and reports a hang, with the kernel's own reports before it.
    let _g = common::one_at_a_time();
    let r = failing_run_with_job("jobs/silence.yaml", "broken/spinlock-leak.patch");
    let rep = r.report();
    let findings = rep["findings"].as_array().unwrap();
    let hang = findings
        .iter()
        .find(|f| f["kind"] == "hang")
        .unwrap_or_else(|| panic!("no hang finding: {findings:?}"));
    assert_eq!(
        hang["title"],
        "INFO: guest stopped responding during workload umount-stress"
    );
    assert_eq!(rep["prefixes"][7]["test"]["exit"], "timeout");
    let console = r.artifact("console-prefix-7.log");
    assert!(console.contains("no sign of life for 30s"), "{console}");
    // The keys reached the guest's keyboard: the kernel ran both sysrq handlers.
    assert!(console.contains("sysrq: Show Blocked State"));
    assert!(console.contains("sysrq: Show State"));
    assert_no_leftovers();
}

#[test]
fn a_guest_stuck_on_a_full_cluster_is_an_infra_error_with_the_clusters_evidence() {
    // A 256 MiB memstore OSD under iput-stress fills up: writes fail, opens block in the MDS. The
    // good series is not to blame; the report says why, in the cluster's own words.
    let _g = common::one_at_a_time();
    let r = harness(
        &[
            "test",
            "--job",
            fixture("jobs/full-osd.yaml").to_str().unwrap(),
        ],
        &[&shared("ceph-cap-locking-6.1.mbox")],
    );
    let rep = r.report();
    assert_eq!(
        rep["verdict"],
        "infra-error",
        "{}\n{}",
        r.stdout(),
        r.stderr()
    );
    let reason = rep["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cluster unhealthy while the guest hung"),
        "{reason}"
    );
    assert!(
        reason.contains("OSD_FULL") || reason.contains("OSD_NEARFULL"),
        "{reason}"
    );
    assert_eq!(rep["prefixes"][6]["test"]["verdict"], "infra-error");
    assert!(r.artifact("cluster-health-prefix-6.txt").contains("full"));
    assert_no_leftovers();
}

/// Start a run of the good series and send `sig` to the harness once the guest has mounted CephFS
/// (cluster, namespace, QEMU and temp dir all exist then). Returns its exit status and results dir.
fn interrupt_during_workload(
    sig: nix::sys::signal::Signal,
) -> (std::process::ExitStatus, tempfile::TempDir) {
    use std::io::{BufRead, BufReader};
    let results = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .arg("test")
        .arg(shared("ceph-cap-locking-6.1.mbox"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut sent = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !sent && line.contains("workload umount-stress") {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
            sent = true;
        }
        seen.push(line);
    }
    assert!(sent, "the guest never mounted:\n{}", seen.join("\n"));
    (child.wait().unwrap(), results)
}

fn listed(results: &Path) -> String {
    let list = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results)
        .arg("list")
        .output()
        .unwrap();
    String::from_utf8_lossy(&list.stdout).into_owned()
}

#[test]
fn ctrl_c_stops_everything_and_marks_the_run_interrupted() {
    let _g = common::one_at_a_time();
    let (st, results) = interrupt_during_workload(nix::sys::signal::Signal::SIGINT);
    assert_eq!(st.code(), Some(130));
    assert_no_leftovers();
    assert!(listed(results.path()).contains("interrupted"));
}

#[test]
fn a_closed_terminal_is_handled_like_ctrl_c() {
    let _g = common::one_at_a_time();
    let (st, results) = interrupt_during_workload(nix::sys::signal::Signal::SIGHUP);
    assert_eq!(st.code(), Some(130));
    assert_no_leftovers();
    assert!(listed(results.path()).contains("interrupted"));
}

#[test]
fn what_a_killed_harness_left_is_swept_by_the_next_run() {
    let _g = common::one_at_a_time();
    // SIGKILL leaves no chance to tear down: cluster daemons, QEMU, namespace and temp dir remain.
    let (st, results) = interrupt_during_workload(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(st.code(), None);
    let ns = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        ns.contains("harness-"),
        "expected the killed run's namespace to remain: {ns}"
    );
    // The killed run is reported as interrupted, not running.
    assert!(listed(results.path()).contains("interrupted"));
    // The next run (here one that stops at a patch that does not apply) removes all of it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("stale.patch");
    let text = std::fs::read_to_string(fixture("broken/warn-in-unlink.patch")).unwrap();
    std::fs::write(&bad, text.replace(" retry:\n", " retry_later:\n")).unwrap();
    let r = harness(&["test"], &[&shared("ceph-cap-locking-6.1.mbox"), &bad]);
    assert_eq!(r.report()["verdict"], "apply-failed");
    assert!(
        r.stderr().contains("removed leftover namespace harness-"),
        "{}",
        r.stderr()
    );
    assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------------
// Bisection and revert (docs/bisection.md). The series are composed at test time by
// scripts/compose-series from the posted mbox and fixture patches; the job runs one short workload.
// ---------------------------------------------------------------------------------------------

fn bisect_run(job: &str, items: &[&str]) -> Run {
    bisect_run_with(job, &[], items)
}

/// [`bisect_run`] with more arguments (e.g. `--on-failure bisect`: no revert).
fn bisect_run_with(job: &str, args: &[&str], items: &[&str]) -> Run {
    let series = composed(items);
    let job = fixture(job);
    let mut all = vec!["bisect", "--job", job.to_str().unwrap()];
    all.extend(args);
    let r = harness(&all, &[series.path()]);
    // The figures, for the test log (--nocapture).
    if let Some(rep) = &r.report {
        eprintln!("culprit: {}\nrevert: {}", rep["culprit"], rep["revert"]);
    }
    r
}

/// The runs the bisection made of one prefix: (fails with the signature, passes).
fn runs_of(rep: &Value, prefix: u64) -> (usize, usize) {
    let runs = rep["bisection"].as_array().unwrap();
    let of = |o: &str| {
        runs.iter()
            .filter(|r| r["prefix"] == prefix && r["outcome"] == o)
            .count()
    };
    (of("fail"), of("pass"))
}

#[test]
fn a_deterministic_bug_is_bisected_to_its_patch_and_the_revert_passes() {
    let _g = common::one_at_a_time();
    // Patch 5 of 7 warns on every unlink; patches 6 and 7 must be rebased without it.
    let r = bisect_run(
        "jobs/bisect.yaml",
        &["1", "2", "3", "4", "broken/warn-in-unlink.patch", "5", "6"],
    );
    let rep = r.report();
    assert_eq!(rep["verdict"], "fail", "{}\n{}", r.stdout(), r.stderr());
    assert_eq!(r.code(), 1);
    let c = &rep["culprit"];
    assert_eq!(c["index"], 5, "{}", r.stdout());
    assert_eq!(
        c["subject"],
        "ceph: warn when unlinking a file with a single link"
    );
    assert_eq!(c["signature"], "WARNING in ceph_unlink");
    assert_eq!(c["confident"], true);
    assert_eq!(c["verified"], true);
    assert!(c["confidence"].as_f64().unwrap() >= 0.99);
    assert!(c["rate"].as_f64().unwrap() > 0.8, "{c}");
    // Verified on real runs: the culprit failed, the prefix before it passed, in verification too.
    let (fails5, _) = runs_of(rep, 5);
    let (fails4, passes4) = runs_of(rep, 4);
    assert!(fails5 >= 1 && passes4 >= 1 && fails4 == 0, "{}", r.stdout());
    assert!(rep["bisection"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["verify"] == true && b["prefix"] == 5 && b["outcome"] == "fail"));
    assert!(
        c["runs"].as_u64().unwrap() <= 16,
        "a deterministic bug in 7 patches: {c}"
    );
    // Each bisection boot ran the workload the warning showed in, and the failing ones ended at
    // the warning (guest exit `stopped`) instead of running it to its end (unless the guest ended
    // by itself within the grace, which the warning early in the workload leaves no time for).
    // The warning showed in the first of umount-stress's two cycles (its steps), so each boot ran
    // that cycle only: a pass means the first cycle ran to its end without the warning.
    let step = |console: &str, n: u32| {
        console.lines().any(|l| {
            l.contains(r#""t":"step","workload":"umount-stress""#)
                && l.contains(&format!(r#""step":{n}}}"#))
        })
    };
    let tip = r.artifact("console-prefix-7.log");
    assert!(step(&tip, 1) && step(&tip, 2), "{tip}");
    assert!(rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["title"] == "WARNING in ceph_unlink" && f["step"] == 1));
    for b in rep["bisection"].as_array().unwrap() {
        assert_eq!(b["workloads"], serde_json::json!(["umount-stress"]), "{b}");
        assert_eq!(
            b["cut"],
            serde_json::json!({"workload": "umount-stress", "step": 1}),
            "{b}"
        );
        if b["stopped"] == true {
            assert_eq!(b["outcome"], "fail", "{b}");
        }
        if b["outcome"] == "pass" {
            let console = r.artifact(b["console"].as_str().unwrap());
            assert!(step(&console, 1) && !step(&console, 2), "{console}");
        }
    }
    assert!(r
        .artifact("bisect-report.txt")
        .contains("(umount-stress through step 1)"));
    let stopped = &rep["bisection"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["stopped"] == true)
        .unwrap()["console"];
    let console = r.artifact(stopped.as_str().unwrap());
    assert!(
        console.contains("\"WARNING in ceph_unlink\" seen (the bisected signature) during workload umount-stress: guest killed"),
        "{console}"
    );
    // The way back: both candidates tested and passing, as files a maintainer can use.
    let rv = &rep["revert"];
    assert_eq!(rv["without_culprit"]["verdict"], "pass", "{rv}");
    assert_eq!(rv["whole_series"]["verdict"], "pass", "{rv}");
    let mbox = r.artifact("without-culprit.mbox");
    let subjects: Vec<&str> = mbox.lines().filter(|l| l.starts_with("Subject:")).collect();
    assert_eq!(subjects.len(), 6, "{subjects:?}");
    assert!(!mbox.contains("warn when unlinking"));
    assert!(mbox.contains("eliminate ceph_async_iput()"));
    let revert = r.artifact("revert-culprit.patch");
    assert!(revert.contains("Revert \"ceph: warn when unlinking a file with a single link\""));
    assert!(revert.contains("-\tWARN_ON_ONCE(op == CEPH_MDS_OP_UNLINK && inode->i_nlink < 2);"));
    let text = r.artifact("bisect-report.txt");
    assert!(text.contains("culprit: patch 5"), "{text}");
    // The summary tells the story too.
    assert!(r
        .stdout()
        .contains("bisection of \"WARNING in ceph_unlink\""));
    assert_no_leftovers();
}

#[test]
fn an_unbuildable_prefix_is_skipped_and_the_bug_after_it_is_found() {
    let _g = common::one_at_a_time();
    // Patch 2 calls a helper patch 3 adds: prefix 2 does not build. Patch 5 warns on unlink.
    let r = bisect_run(
        "jobs/bisect.yaml",
        &[
            "1",
            "broken/build-break.patch",
            "broken/build-fix.patch",
            "2",
            "broken/warn-in-unlink.patch",
            "3",
        ],
    );
    let rep = r.report();
    // The series is not bisectable as posted: that is still its verdict.
    assert_eq!(
        rep["verdict"],
        "build-failed",
        "{}\n{}",
        r.stdout(),
        r.stderr()
    );
    assert_eq!(r.code(), 5);
    assert_eq!(rep["prefixes"][2]["built"], false);
    let c = &rep["culprit"];
    assert_eq!(c["index"], 5, "{}", r.stdout());
    assert_eq!(c["candidates"], serde_json::json!([5]));
    assert_eq!(c["skipped"], serde_json::json!([2]), "{c}");
    assert_eq!(c["verified"], true);
    assert!(
        rep["bisection"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["prefix"] != 2),
        "an unbuildable prefix is never booted"
    );
    assert!(rep["reason"]
        .as_str()
        .unwrap()
        .contains("culprit: patch 5 \"ceph: warn when unlinking a file with a single link\""));
    // Dropping patch 5 and rebasing patch 6 gives a series that builds and passes.
    assert_eq!(rep["revert"]["without_culprit"]["verdict"], "pass");
    assert_no_leftovers();
}

#[test]
fn a_flaky_bug_is_bisected_with_a_stated_confidence() {
    let _g = common::one_at_a_time();
    // Patch 3 of 5 warns in one boot out of two. The job boots the tip 8 times so the failure is
    // seen (a miss has probability (1/2)^8 < 0.4%; then the run is repeated once).
    let items = ["1", "2", "broken/flaky-warn-in-rename.patch", "3", "4"];
    // The search only: the way back has its tests above (at this rate it needs 8 clean runs
    // of each variant, over a minute of CI).
    let run = || {
        bisect_run_with(
            "jobs/bisect-flaky.yaml",
            &["--on-failure", "bisect"],
            &items,
        )
    };
    let mut r = run();
    if r.report()["verdict"] == "pass" {
        r = run();
    }
    let rep = r.report();
    assert_eq!(rep["verdict"], "fail", "{}\n{}", r.stdout(), r.stderr());
    let c = &rep["culprit"];
    assert_eq!(c["signature"], "WARNING in ceph_rename");
    assert_eq!(c["index"], 3, "{}", r.stdout());
    assert_eq!(c["confident"], true, "{c}");
    assert!(c["confidence"].as_f64().unwrap() >= 0.99);
    let rate = c["rate"].as_f64().unwrap();
    assert!((0.2..0.8).contains(&rate), "estimated rate {rate}");
    // Passes of bad prefixes happened (in the tip's eight boots or in the search) and did not
    // mislead it.
    let tip_passes = rep["prefixes"][5]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["verdict"] == "pass")
        .count();
    let bad_passes: usize = tip_passes + (3..=5).map(|k| runs_of(rep, k).1).sum::<usize>();
    assert!(bad_passes > 0, "{}", r.stdout());
    assert_no_leftovers();
}
