//! The fstests tree built on the host: the shared snapshot (`../shared/third_party/`) unpacked and
//! built in the sandbox into a temp cache, once; a second call finds it in the cache. Needs root
//! (the sandbox user) and scripts/install-deps (fstests' build dependencies).

use std::path::PathBuf;
use std::time::Duration;

use harness_exec::proc::Procs;

fn snapshot() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/third_party/xfstests-63a29724.tar.gz")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_builds_once_in_the_sandbox() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to switch to the sandbox user");
        return;
    }
    let src = snapshot();
    assert!(src.is_file(), "{} is missing", src.display());
    let cache = tempfile::Builder::new()
        .prefix(&format!("harness-{}-fstests-", std::process::id()))
        .tempdir()
        .unwrap();
    let procs = Procs::new();
    let log = cache.path().join("build.log");
    let b =
        harness_exec::fstests::prepare(&procs, cache.path(), &src, &log, Duration::from_secs(1800))
            .await
            .unwrap_or_else(|e| {
                panic!("{e}: {}", std::fs::read_to_string(&log).unwrap_or_default())
            });
    assert!(b.fresh);
    assert!(b.dir.join("check").is_file());
    assert!(b.dir.join("ltp/fsstress").is_file());
    assert!(b.dir.join("tests/generic/group.list").is_file());
    assert!(b.dir.starts_with(cache.path().join("fstests")));
    // No temp sibling left; the second call is a cache hit.
    let left: Vec<_> = std::fs::read_dir(cache.path().join("fstests"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(left.is_empty());
    let again =
        harness_exec::fstests::prepare(&procs, cache.path(), &src, &log, Duration::from_secs(60))
            .await
            .unwrap();
    assert!(!again.fresh);
    assert_eq!(again.dir, b.dir);
    eprintln!("built in {:.0}s", b.seconds);
}
