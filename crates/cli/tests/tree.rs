//! Tree mode end to end: a whole debug kernel (lockdep, KASAN, ...) built from a git tree, every
//! prefix, booted against a live cluster. Opt-in, since the first build of a debug kernel takes
//! a quarter of an hour or more on two cores:
//!
//!     cargo test -p harness-cli --test tree -- --ignored --nocapture
//!
//! The tree is made by scripts/make-kernel-tree from Debian's linux-source-6.1 tarball, plus a
//! `pre-series` commit (the base the 6.1 series applies to). crates/exec/tests/ktree.rs checks the
//! apply and configuration steps on the same tree in every CI run.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel git tree from Debian's tarball with its `pre-series` commit (made once, reused).
fn test_tree() -> PathBuf {
    let tree = harness_exec::default_cache_dir().join("test-trees/linux-6.1");
    assert!(Command::new(repo().join("scripts/make-kernel-tree"))
        .arg(&tree)
        .arg("/usr/src/linux-source-6.1.tar.xz")
        .arg(repo().join("../shared/series/pre-series-6.1.patch"))
        .arg("pre-series")
        .status()
        .unwrap()
        .success());
    tree
}

/// `harness test --job tree-debug` of the series (plus one broken patch of ours) on the test
/// tree: the report, the terminal summary and the results directory.
fn run_tree_debug(broken: Option<&str>) -> (serde_json::Value, String, tempfile::TempDir) {
    let tree = test_tree();
    let results = tempfile::tempdir().unwrap();
    let json = results.path().join("report.json");
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.arg("--results")
        .arg(results.path())
        .args([
            "test",
            "--job",
            "tree-debug",
            "--base",
            "pre-series",
            "--tree",
        ])
        .arg(&tree)
        .arg("--json")
        .arg(&json)
        .arg(repo().join("../shared/series/ceph-cap-locking-6.1.mbox"));
    if let Some(p) = broken {
        c.arg(repo().join("tests/fixtures/broken").join(p));
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    let rep = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (rep, text, results)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
#[ignore = "builds a whole debug kernel (20+ min the first time): run with --ignored"]
fn the_series_passes_on_a_debug_kernel_built_from_a_git_tree() {
    let _g = common::one_at_a_time();
    let (rep, stdout, results) = run_tree_debug(None);
    assert_eq!(rep["verdict"], "pass", "{stdout}");
    let prefixes = rep["prefixes"].as_array().unwrap();
    assert_eq!(prefixes.len(), 7);
    assert!(prefixes.iter().all(|p| p["built"] == true));
    let run = results
        .path()
        .join("runs")
        .join(rep["run_id"].as_str().unwrap());
    for k in 0..7 {
        for f in ["bzImage", "System.map", "config"] {
            assert!(
                run.join(format!("prefix-{k}/{f}")).exists(),
                "prefix-{k}/{f}"
            );
        }
    }
    // The guest program ran every workload on the tree kernel; coverage probes are built-in
    // symbols here (no module), and the hazard probe counted evictions.
    let tip = &prefixes[6]["test"];
    let workloads = tip["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 5, "{tip}");
    assert!(workloads.iter().all(|w| w["ok"] == true), "{tip}");
    let calls = |f: &str| {
        rep["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["functions"].as_array().unwrap())
            .find(|x| x["function"] == f)
            .and_then(|x| x["calls"].as_u64())
    };
    assert!(
        calls("ceph_check_caps").unwrap_or(0) > 0,
        "{}",
        rep["coverage"]
    );
    assert!(!tip["evictions"].as_object().unwrap().is_empty(), "{tip}");
    let console = std::fs::read_to_string(run.join("console-prefix-6.log")).unwrap();
    assert!(
        console.contains("KernelAddressSanitizer initialized"),
        "KASAN is not on"
    );
    assert!(
        console.contains("Lock dependency validator"),
        "lockdep is not on"
    );
    assert!(console.contains(r#"HARNESS/1 {"t":"result","rc":0}"#));
}

/// The series plus one of our broken patches on the debug kernel: the verdict must be `fail`
/// with a first finding of `kind` whose title contains every one of `title_has`. The tree and its
/// build directory are the ones the test above made (each prefix rebuilds incrementally).
fn debug_kernel_catches(patch: &str, kind: &str, title_has: &[&str]) {
    let _g = common::one_at_a_time();
    let (rep, stdout, _results) = run_tree_debug(Some(patch));
    assert_eq!(rep["verdict"], "fail", "{stdout}");
    let f = &rep["findings"][0];
    assert_eq!(f["kind"], kind, "{}", rep["findings"]);
    let title = f["title"].as_str().unwrap();
    for want in title_has {
        assert!(title.contains(want), "{title}");
    }
}

#[test]
#[ignore = "needs the debug kernel build: run with --ignored"]
fn lockdep_reports_the_lock_inversion() {
    // Only a lockdep kernel sees it: the inverted order deadlocks only if both paths race.
    debug_kernel_catches("lock-inversion.patch", "lockdep", &["deadlock"]);
}

#[test]
#[ignore = "needs the debug kernel build: run with --ignored"]
fn kasan_reports_the_dentry_use_after_free() {
    // Only a KASAN kernel sees it: Debian's kernel reads the freed object and goes on.
    debug_kernel_catches(
        "dentry-use-after-free.patch",
        "kasan",
        &["use-after-free", "ceph_d_release"],
    );
}
