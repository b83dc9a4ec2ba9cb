//! A series that attacks the host at build time, through the real `harness test` (real git am,
//! real module build in the real sandbox, real cluster and guest). Its Makefile hunk tries to write
//! proof files outside the tree, to print `$(GITHUB_TOKEN)` (set to a canary) and the environment
//! into the build log, to read /etc/shadow and /root, and to see the network. None of it may reach
//! the host; the verdict is whatever the code itself earns (it builds and is harmless: pass).
//! Needs root and scripts/install-deps; boots one guest (run under the machine's guest lock).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{assert_no_leftovers, fixture, shared};

const CANARY: &str = "ghp_harnessCanary7f3e9a1c5b";

fn proof_files(cache: &Path) -> Vec<PathBuf> {
    vec![
        PathBuf::from("/tmp/cephfs-harness-proof"),
        PathBuf::from("/var/tmp/cephfs-harness-proof"),
        PathBuf::from("/root/cephfs-harness-proof"),
        cache.join("trees/cephfs-harness-proof"),
        cache.join("cephfs-harness-proof"),
    ]
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let b = std::fs::read(&p).unwrap();
                if b.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

#[test]
fn a_series_attacking_at_build_time_stays_in_the_sandbox() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // A cache of this test's own (the sandbox user owns its trees).
    let cache = harness_cache();
    for p in proof_files(&cache) {
        let _ = std::fs::remove_file(p);
    }
    let results = tempfile::tempdir().unwrap();
    let json = results.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(["test", "--on-failure", "none", "--json"])
        .arg(&json)
        .arg(shared("ceph-cap-locking-6.1.mbox"))
        .arg(fixture("hostile-build/makefile-escape.patch"))
        .env("GITHUB_TOKEN", CANARY)
        .env("HARNESS_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .unwrap_or_else(|e| panic!("no report ({e}):\n{stderr}\n{stdout}")),
    )
    .unwrap();
    // The verdict is the code's own: it builds, loads and passes.
    assert_eq!(report["verdict"], "pass", "{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(0));

    // Nothing was written outside the tree.
    for p in proof_files(&cache) {
        assert!(
            !p.exists(),
            "{} was written by the series' Makefile",
            p.display()
        );
    }
    // The token is nowhere in what the run keeps.
    let hits = files_containing(results.path(), CANARY.as_bytes());
    assert!(hits.is_empty(), "the canary token leaked into {hits:?}");

    // The build log shows what the Makefile saw: no token, no secrets, the sandbox user.
    let id = report["run_id"].as_str().unwrap();
    let log = std::fs::read_to_string(
        results
            .path()
            .join("runs")
            .join(id)
            .join("build-prefix-7.log"),
    )
    .unwrap();
    assert!(log.contains("HARNESS-TOKEN=[]"), "{log}");
    let line = |tag: &str| {
        log.lines()
            .find(|l| l.contains(tag))
            .unwrap_or_else(|| panic!("no {tag} in the build log"))
            .to_string()
    };
    assert!(line("HARNESS-SHADOW=").contains("No such file"), "{log}");
    assert!(line("HARNESS-ROOT=").contains("No such file"), "{log}");
    assert!(!line("HARNESS-ID=").contains("uid=0("), "{log}");
    assert!(!line("HARNESS-ENV=").contains("GITHUB"), "{log}");
    // No host interface: sysfs is not there, or it shows only the loopback device (all zeros).
    let net = line("HARNESS-NET=");
    let is_mac = |w: &str| {
        w.len() == 17
            && w.split(':').count() == 6
            && w.split(':')
                .all(|h| h.len() == 2 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let inside = net
        .split_once("HARNESS-NET=[")
        .map(|(_, r)| r)
        .unwrap_or("");
    assert!(
        !inside
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .any(|w| is_mac(w) && w != "00:00:00:00:00:00"),
        "{net}"
    );
    eprintln!(
        "{}\n{}\n{}\n{}\n{}",
        line("HARNESS-ID="),
        line("HARNESS-SHADOW="),
        line("HARNESS-ROOT="),
        line("HARNESS-NET="),
        line("HARNESS-ENV=")
    );
    assert_no_leftovers();
}

fn harness_cache() -> PathBuf {
    let base = std::env::var_os("HARNESS_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/cephfs-harness-sandbox-test-cache"));
    std::fs::create_dir_all(&base).unwrap();
    base
}
