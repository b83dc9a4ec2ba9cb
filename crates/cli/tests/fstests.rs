//! fstests on CephFS, end to end: the shared fstests snapshot built on the host (once, cached),
//! run in a TCG guest on the host's userland against the real mini cluster
//! (tests/fixtures/jobs/fstests.yaml: ceph/002, ceph/004, ceph/005 and generic/002;
//! generic/001 and generic/013 take minutes each under TCG, see the job). The good series
//! passes (each test passes or is not run with fstests' reason); a broken fixture patch of ours that leaves mtime alone on a size change
//! (tests/fixtures/broken/truncate-keeps-mtime.patch) fails generic/313 with the signature
//! `fstests generic/313`, and the bisection names it. Needs root and scripts/install-deps.

use serde_json::Value;
use std::path::Path;

mod common;
use common::{assert_no_leftovers, composed, fixture, harness_report, shared, Ran};

/// `harness CMD --job tests/fixtures/JOB SERIES`: `test` reports only, `bisect` stops at the
/// culprit (the revert has its own e2e in e2e.rs, and its boots would double this test's time).
fn run(cmd: &str, job: &str, series: &Path) -> Ran {
    let job = fixture(job);
    let on_failure = if cmd == "test" { "none" } else { "bisect" };
    let args = [
        cmd,
        "--job",
        job.to_str().unwrap(),
        "--on-failure",
        on_failure,
    ];
    harness_report(&args, &[series])
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
    let _g = common::one_at_a_time();
    let r = run(
        "test",
        "jobs/fstests.yaml",
        &shared("ceph-cap-locking-6.1.mbox"),
    );
    let tests = tests_of(&r.report);
    for t in &tests {
        eprintln!("{} {} {}", t.0, t.1, t.2);
    }
    assert_eq!(r.report["verdict"], "pass", "{tests:?}\n{}", r.text);
    assert_eq!(r.code, Some(0));
    let names: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
    for want in ["ceph/002", "ceph/004", "ceph/005", "generic/002"] {
        assert!(names.contains(&want), "{want} not run: {names:?}");
    }
    for (test, status, reason) in &tests {
        match status.as_str() {
            "pass" => {}
            "notrun" => assert!(!reason.is_empty(), "{test}: not run without a reason"),
            s => panic!("{test}: {s} {reason}\n{}", r.text),
        }
    }
    // A POSIX test really ran (not skipped); generic/313, the broken fixture's, passes in the
    // bisection below wherever the fixture is not applied.
    assert!(
        tests.iter().any(|t| t.0 == "generic/002" && t.1 == "pass"),
        "{tests:?}"
    );
    assert!(r.text.contains("fstests: 4 tests"), "{}", r.text);
    drop(r.results);
    assert_no_leftovers();
}

#[test]
fn a_patch_that_keeps_mtime_on_truncate_fails_generic_313_and_is_bisected() {
    let _g = common::one_at_a_time();
    // Two patches of the good series, the broken one, one more: a short bisection (CI time).
    let series = composed(&["1", "2", "broken/truncate-keeps-mtime.patch", "3"]);
    let r = run("bisect", "jobs/fstests-bisect.yaml", series.path());
    let rep = &r.report;
    assert_eq!(rep["verdict"], "fail", "{}", r.text);
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
    // Without the fixture generic/313 passes: the search's boots of prefixes 0-2 ran it to its
    // end without the signature.
    let good_passes = rep["bisection"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["prefix"].as_u64().unwrap() < 3 && b["outcome"] == "pass")
        .count();
    assert!(good_passes > 0, "{}", rep["bisection"]);
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
    let text = r.artifact(&diff);
    assert!(text.contains("+++"), "{text}");
    drop(r.results);
    assert_no_leftovers();
}
