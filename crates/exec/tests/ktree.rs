//! Tree mode on a real kernel git tree (made from Debian's linux-source-6.1 tarball by
//! scripts/make-kernel-tree): the series applied in the harness's own worktree, and the kernel
//! configured from defconfig plus the job fragments. The full build is in
//! crates/cli/tests/tree.rs (opt-in: it takes a quarter of an hour here).

use std::path::{Path, PathBuf};
use std::process::Command;

use harness_core::job::{ConfigBase, KernelConfig};
use harness_exec::ktree::{self, KernelTree};
use harness_exec::proc::Procs;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test kernel tree: Linux 6.1.192 (tag v6.1.192) plus a `pre-series` commit, the base the
/// 6.1 series applies to. Made once per cache.
fn test_tree() -> Option<PathBuf> {
    if !Path::new("/usr/src/linux-source-6.1.tar.xz").exists() {
        eprintln!("skipped: /usr/src/linux-source-6.1.tar.xz is not installed");
        return None;
    }
    let dir = harness_exec::default_cache_dir().join("test-trees/linux-6.1");
    let st = Command::new(repo().join("scripts/make-kernel-tree"))
        .arg(&dir)
        .arg("/usr/src/linux-source-6.1.tar.xz")
        .arg(repo().join("../shared/series/pre-series-6.1.patch"))
        .arg("pre-series")
        .status()
        .unwrap();
    assert!(st.success());
    Some(dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_series_applies_in_a_worktree_and_the_debug_config_takes_effect() {
    let Some(tree) = test_tree() else { return };
    let cache = tempfile::tempdir().unwrap();
    let procs = Procs::new();
    let series = harness_core::series::parse_mbox(
        &std::fs::read(repo().join("../shared/series/ceph-cap-locking-6.1.mbox")).unwrap(),
        "6.1.mbox",
    )
    .unwrap();

    // No base: a clear error. An unknown base: named.
    let e = KernelTree::open(&procs, cache.path(), &tree, None, None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("give --base REF"), "{e}");
    let e = KernelTree::open(&procs, cache.path(), &tree, Some("v9.9"), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--base v9.9: no such commit"), "{e}");

    // A base-commit the tree has wins over --base.
    let pre = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(["rev-parse", "pre-series"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let kt = KernelTree::open(
        &procs,
        cache.path(),
        &tree,
        Some("v6.1.192"),
        Some(pre.trim()),
    )
    .await
    .unwrap();
    assert_eq!(kt.base, pre.trim());
    assert!(kt.base_note.contains("base-commit"), "{}", kt.base_note);
    let scratch = tempfile::tempdir().unwrap();
    for p in &series.patches {
        let a = kt.am(&p.raw, scratch.path(), false).await.unwrap();
        assert!(a.ok, "{}: {}", p.subject, a.message);
    }
    // Base + the six patches is stock 6.1.192 again, and the developer's checkout is untouched.
    // (The harness's repository has the developer's objects, not its tags: compare commits.)
    let stock = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(["rev-parse", "v6.1.192^{commit}"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // (The clone belongs to the sandbox user: root's git needs to be told it is fine.)
    let diff = Command::new("git")
        .arg("-C")
        .arg(&kt.dir)
        .args([
            "-c",
            "safe.directory=*",
            "diff",
            "--stat",
            stock.trim(),
            "HEAD",
        ])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff.status.success() && stat.trim().is_empty(),
        "tip differs from v6.1.192:\n{stat}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let head = Command::new("git")
        .arg("-C")
        .arg(&tree)
        .args(["symbolic-ref", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&head.stdout).trim(),
        "refs/heads/master"
    );

    // defconfig + the QEMU guest and debug fragments.
    let config = KernelConfig {
        base: ConfigBase::Target("defconfig".into()),
        fragments: vec![
            repo().join("jobs/kconfig/qemu-guest.config"),
            repo().join("jobs/kconfig/debug.config"),
        ],
    };
    let build = ktree::build_dir(cache.path(), &kt.base, &config, "base").unwrap();
    let mut log = String::new();
    let unmet = ktree::configure(
        &procs,
        &kt.dir,
        &build,
        &config,
        &cache.path().join("ccache"),
        &mut log,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(unmet.is_empty(), "fragment lines not in effect: {unmet:?}");
    let dot = std::fs::read_to_string(build.join(".config")).unwrap();
    for opt in [
        "CONFIG_CEPH_FS=y",
        "CONFIG_VIRTIO_NET=y",
        "CONFIG_PROVE_LOCKING=y",
        "CONFIG_KASAN=y",
        "CONFIG_DEBUG_ATOMIC_SLEEP=y",
        "CONFIG_DETECT_HUNG_TASK=y",
        "CONFIG_DEBUG_OBJECTS=y",
        "CONFIG_KPROBE_EVENTS=y",
    ] {
        assert!(dot.lines().any(|l| l == opt), "{opt} missing from .config");
    }
    // The build directory is per base, configuration and trust domain.
    let other = KernelConfig {
        fragments: vec![repo().join("jobs/kconfig/qemu-guest.config")],
        ..config.clone()
    };
    assert_ne!(
        build,
        ktree::build_dir(cache.path(), &kt.base, &other, "base").unwrap()
    );
    assert_ne!(
        build,
        ktree::build_dir(cache.path(), &kt.base, &config, "series-1").unwrap()
    );
    drop(kt);
    // Worktrees of the test's throw-away cache are pruned from the test tree.
    let _ = Command::new("git")
        .arg("-C")
        .arg(&tree)
        .args(["worktree", "prune"])
        .status();
}
