//! Symbolising against a real, unstripped `ceph.ko` built from the cached source tree with the
//! distro headers (about 15 s). Skipped, with a note, where the headers or the tree are missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_core::FindingKind;
use harness_exec::proc::{command, Procs};
use harness_exec::symbolize::Symbolizer;
use harness_scan::frames::Frame;

const RELEASE: &str = "6.1.0-56-amd64";
const TREE: &str = "trees/linux-source-6.1-6.1.192-2";

/// Copy the module's sources (not the tree's build products) to `<tmp>/fs/ceph` and build there,
/// so that DWARF names `<tmp>/fs/ceph/dir.c` as the harness's own builds name `<tree>/fs/ceph/...`.
async fn build_ceph_ko(procs: &Procs, src: &Path, root: &Path) -> PathBuf {
    let dir = root.join("fs/ceph");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.ends_with(".c") || name.ends_with(".h") || name == "Makefile" || name == "Kconfig" {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
    let mut c = command("make", None);
    c.arg("-C")
        .arg(format!("/lib/modules/{RELEASE}/build"))
        .arg(format!("M={}", dir.display()))
        .args(["-j2", "modules"]);
    procs
        .check("make", c, Duration::from_secs(600))
        .await
        .expect("module builds");
    dir.join("ceph.ko")
}

/// The line of `needle` (the start of a definition) in `file`, 1-based.
fn line_of(file: &Path, needle: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    let i = text.lines().position(|l| l.starts_with(needle)).unwrap();
    i as u32 + 1
}

/// `fs/ceph/dir.c:1196` → 1196.
fn line_number(loc: &str, file: &str) -> u32 {
    let rest = loc
        .strip_prefix(&format!("{file}:"))
        .unwrap_or_else(|| panic!("{loc}"));
    rest.parse().unwrap_or_else(|_| panic!("{loc}"))
}

fn exact(function: &str, offset: u64) -> Frame {
    Frame {
        function: function.into(),
        offset,
        size: 0,
        module: Some("ceph".into()),
        uncertain: false,
        return_address: false,
    }
}

#[tokio::test]
async fn symbolises_a_real_module() {
    let src = harness_exec::default_cache_dir().join(TREE).join("fs/ceph");
    if !Path::new(&format!("/lib/modules/{RELEASE}/build")).exists() || !src.is_dir() {
        eprintln!(
            "skipped: needs /lib/modules/{RELEASE}/build and {}",
            src.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let procs = Procs::new();
    let ko = build_ceph_ko(&procs, &src, tmp.path()).await;
    let dir_c = tmp.path().join("fs/ceph/dir.c");
    let symbolizer = |ko: &Path| {
        Symbolizer::new(procs.clone())
            .module("ceph", ko)
            .strip_prefix(tmp.path())
    };
    let sym = symbolizer(&ko);

    // The WARNING of the real fixture: both [ceph] lines (header and RIP) point into dir.c, the
    // vmlinux frames (no debug info in this mode) and all other lines are left as they were.
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/fixtures/warn-in-unlink.log");
    let mut findings = harness_scan::scan_text(&std::fs::read_to_string(log).unwrap());
    findings.retain(|f| f.kind == FindingKind::Warning);
    assert!(!findings.is_empty());
    let before = findings.clone();
    sym.symbolize_findings(&mut findings).await;
    let excerpt = &findings[0].excerpt;
    println!("{excerpt}");
    assert_eq!(excerpt.lines().count(), before[0].excerpt.lines().count());
    let mut annotated = 0;
    for (old, new) in before[0].excerpt.lines().zip(excerpt.lines()) {
        if old.contains("ceph_unlink+0x3b8/0x490 [ceph]") {
            let note = new.strip_prefix(old).unwrap();
            assert!(note.starts_with(" (") && note.ends_with(')'), "{new}");
            assert!(note.contains("fs/ceph/dir.c:"), "{new}");
            annotated += 1;
        } else {
            assert_eq!(old, new);
        }
    }
    assert_eq!(annotated, 2, "WARNING and RIP lines");

    // Symbolising twice changes nothing.
    let once = findings.clone();
    sym.symbolize_findings(&mut findings).await;
    assert_eq!(findings, once);

    // The function's entry is its definition in this very source.
    let def = line_of(&dir_c, "static int ceph_unlink(");
    let super_c = tmp.path().join("fs/ceph/super.c");
    let kill_sb = line_of(&super_c, "static void ceph_kill_sb(");
    let found = sym
        .locate_all(&[exact("ceph_unlink", 0), exact("ceph_kill_sb.cold", 0)])
        .await;
    let entry = &found[&exact("ceph_unlink", 0).key()];
    let line = line_number(entry, "fs/ceph/dir.c");
    assert!(
        (def..=def + 3).contains(&line),
        "ceph_unlink+0x0 at {entry}, defined at dir.c:{def}"
    );
    // A `.cold` part lives in .text.unlikely, whose offsets overlap .text's: it must still land in
    // its own function, not at whatever .text holds at that offset.
    let cold = &found[&exact("ceph_kill_sb.cold", 0).key()];
    let line = line_number(cold.split(' ').next().unwrap(), "fs/ceph/super.c");
    assert!(
        (kill_sb..kill_sb + 80).contains(&line),
        "ceph_kill_sb.cold at {cold}, ceph_kill_sb defined at super.c:{kill_sb}"
    );

    // Without debug info, or without the module at all, the excerpt stays as it was.
    let stripped = tmp.path().join("ceph.stripped.ko");
    let mut c = command("strip", None);
    c.arg("--strip-debug").arg("-o").arg(&stripped).arg(&ko);
    procs
        .check("strip", c, Duration::from_secs(60))
        .await
        .unwrap();
    for object in [stripped, tmp.path().join("missing.ko")] {
        let mut f = before.clone();
        symbolizer(&object).symbolize_findings(&mut f).await;
        assert_eq!(f, before, "{}", object.display());
    }
    assert!(procs.live().is_empty(), "every tool was reaped");
}
