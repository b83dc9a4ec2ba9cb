//! fstests on CephFS, end to end: the shared fstests snapshot built on the host (once, cached),
//! run in a TCG guest on the host's userland against the real mini cluster
//! (tests/fixtures/jobs/fstests.yaml: ceph/002, ceph/004, ceph/005, generic/002 and generic/313;
//! generic/001 and generic/013 take minutes each under TCG, see the job). The good series passes (each test passes or is not run with
//! fstests' reason); a broken fixture patch of ours that leaves mtime alone on a size change
//! (tests/fixtures/broken/truncate-keeps-mtime.patch) fails generic/313 with the signature
//! `fstests generic/313`, and the bisection names it. Needs root and scripts/install-deps.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{assert_no_leftovers, composed, fixture, shared};

struct Run {
    code: Option<i32>,
    report: Value,
    out: String,
    results: tempfile::TempDir,
}

fn run(cmd: &str, job: &str, series: &Path) -> Run {
    let results = tempfile::tempdir().unwrap();
    let json = results.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args([cmd, "--job"])
        .arg(fixture(job))
        // `harness bisect` stops at the culprit here: the revert has its own e2e (e2e.rs), and its
        // boots would double this test's time.
        .args(if cmd == "test" {
            ["--on-failure", "none"]
        } else {
            ["--on-failure", "bisect"]
        })
        .arg("--json")
        .arg(&json)
        .arg(series)
        .output()
        .unwrap();
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(&json)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}):\n{text}"));
    Run {
        code: out.status.code(),
        report,
        out: text,
        results,
    }
}

/// (test, status, reason) of the tip's fstests tests.
fn tests_of(rep: &Value) -> Vec<(String, String, String)> {
    let tip = rep["prefixes"].as_array().unwrap().last().unwrap();
    tip["test"]["fstests"]
        .as_array()
        .unwrap_or_else(|| panic!("no fstests results: {}", tip["test"]))
        .iter()
        .map(|t| {
            (
                t["test"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
                t["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_good_series_passes_fstests() {
    let r = run(
        "test",
        "jobs/fstests.yaml",
        &shared("ceph-cap-locking-6.1.mbox"),
    );
    let tests = tests_of(&r.report);
    for t in &tests {
        eprintln!("{} {} {}", t.0, t.1, t.2);
    }
    assert_eq!(r.report["verdict"], "pass", "{tests:?}\n{}", r.out);
    assert_eq!(r.code, Some(0));
    let names: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
    for want in [
        "ceph/002",
        "ceph/004",
        "ceph/005",
        "generic/002",
        "generic/313",
    ] {
        assert!(names.contains(&want), "{want} not run: {names:?}");
    }
    for (test, status, reason) in &tests {
        match status.as_str() {
            "pass" => {}
            "notrun" => assert!(!reason.is_empty(), "{test}: not run without a reason"),
            s => panic!("{test}: {s} {reason}\n{}", r.out),
        }
    }
    // The POSIX tests the broken fixture is about really ran (not skipped).
    for must in ["generic/002", "generic/313"] {
        assert!(
            tests.iter().any(|t| t.0 == must && t.1 == "pass"),
            "{must}: {tests:?}"
        );
    }
    assert!(r.out.contains("fstests: 5 tests"), "{}", r.out);
    drop(r.results);
    assert_no_leftovers();
}

#[test]
fn a_patch_that_keeps_mtime_on_truncate_fails_generic_313_and_is_bisected() {
    // Two patches of the good series, the broken one, one more: a short bisection (CI time).
    let series = composed(&["1", "2", "broken/truncate-keeps-mtime.patch", "3"]);
    let r = run("bisect", "jobs/fstests-bisect.yaml", series.path());
    let rep = &r.report;
    assert_eq!(rep["verdict"], "fail", "{}", r.out);
    assert_eq!(r.code, Some(1));
    let tests = tests_of(rep);
    assert!(
        tests.iter().any(|t| t.0 == "generic/313" && t.1 == "fail"),
        "{tests:?}"
    );
    let f = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["title"] == "fstests generic/313")
        .unwrap_or_else(|| panic!("no finding: {}", rep["findings"]));
    assert_eq!(f["during"], "workload fstests generic/313");
    let c = &rep["culprit"];
    assert_eq!(c["signature"], "fstests generic/313", "{c}");
    assert_eq!(c["index"], 3, "{c}");
    assert_eq!(
        c["subject"],
        "ceph: leave mtime alone when setattr changes the size"
    );
    // The diff is an artifact.
    let tip = rep["prefixes"].as_array().unwrap().last().unwrap();
    let diff = tip["test"]["fstests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["test"] == "generic/313")
        .and_then(|t| t["diff"].as_str())
        .expect("a diff artifact")
        .to_string();
    let id = rep["run_id"].as_str().unwrap();
    let text = std::fs::read_to_string(r.results.path().join("runs").join(id).join(&diff)).unwrap();
    assert!(text.contains("+++"), "{text}");
    drop(r.results);
    assert_no_leftovers();
}
