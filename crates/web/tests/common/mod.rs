//! A results store with realistic runs for the page tests: two nightlies (a clean six-patch series,
//! then the series with a broken seventh patch, bisected and reverted), a build failure, an
//! interrupted and a running run. Consoles are real captures from `crates/scan/tests/fixtures`;
//! strings from patches, mail headers and consoles carry HTML and script, which every page must
//! show as text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use harness_core::bisect::Outcome;
use harness_core::finding::{During, Finding, FindingKind};
use harness_core::report::{
    AttemptRecord, BisectRun, Culprit, GuestExit, PhaseTime, PrefixResult, Report, Revert,
    RevertTest, SeriesSummary, TestResult, Verdict, WorkloadRun,
};
use harness_core::wording::bisect_text;
use harness_store::Store;

/// The broken patch's subject (from `tests/fixtures/broken/warn-with-markup.patch`).
pub const HOSTILE_SUBJECT: &str =
    "ceph: warn <script>window.__xss=1</script> on unlink & <img src=x onerror=window.__xss=2>";
/// The series (cover letter) subject.
pub const HOSTILE_SERIES: &str =
    "[PATCH 0/7] ceph: cap locking \"fixes\" & <b>bold</b> </title></textarea><script>window.__xss=8</script>";
/// What the broken patch makes the kernel print (a console line).
pub const HOSTILE_CONSOLE: &str =
    "ceph: <script>window.__xss=3</script><img src=x onerror=window.__xss=4> unlink";
/// A workload finding's title: a file name the guest reported.
pub const HOSTILE_TITLE: &str =
    "data mismatch in \"<img src=x onerror=window.__xss=5>\" </textarea><script>window.__xss=6</script> '\"><svg onload=window.__xss=7>";
/// Every hostile string, as it must appear in a page's text.
pub const HOSTILE: &[&str] = &[
    HOSTILE_SUBJECT,
    HOSTILE_SERIES,
    HOSTILE_CONSOLE,
    HOSTILE_TITLE,
];

pub const WORKLOAD: &str = "umount-iput-stress";
pub const SIGNATURE: &str = "WARNING in ceph_unlink";

pub const PASS_RUN: &str = "20260301-020000-a1b2";
pub const FAIL_RUN: &str = "20260302-020000-c3d4";
pub const BUILD_FAIL_RUN: &str = "20260302-093000-e5f6";
pub const INTERRUPTED_RUN: &str = "20260302-110000-0a0b";
pub const RUNNING_RUN: &str = "20260302-120000-0c0d";
pub const NIGHTLY_1: &str = "nightly-20260301-020000";
pub const NIGHTLY_2: &str = "nightly-20260302-020000";
/// The failing prefix of FAIL_RUN (the broken patch).
pub const CULPRIT: usize = 7;

const SUBJECTS: [&str; 6] = [
    "ceph: allow ceph_put_mds_session to take NULL or ERR_PTR",
    "ceph: eliminate session->s_gen_ttl_lock",
    "ceph: don't take s_mutex or snap_rwsem in ceph_check_caps",
    "ceph: don't take s_mutex in try_flush_caps",
    "ceph: don't take s_mutex in ceph_flush_snaps",
    "ceph: eliminate ceph_async_iput()",
];

pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn clean_console() -> String {
    fixture("crates/scan/tests/fixtures/clean-six-patch-series.log")
}

/// The real capture of the WARNING in ceph_unlink, with what the markup patch adds: the kernel's
/// WARN_ONCE message before the first warning, and the guest's report of a bad file before the
/// workload ends.
fn failing_console() -> String {
    let real = fixture("crates/scan/tests/fixtures/warn-in-unlink.log");
    let mut out = String::new();
    let mut warned = false;
    for line in real.lines() {
        if !warned && line.contains("] WARNING: CPU:") {
            out.push_str(&format!("[+    4.939] [    2.334380] {HOSTILE_CONSOLE}\n"));
            warned = true;
        }
        if line.contains("HARNESS: workload end") {
            out.push_str(&format!("[+   29.850] HARNESS: {HOSTILE_TITLE}\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(warned, "warn-in-unlink.log has no WARNING line");
    out
}

fn workload(ok: bool) -> WorkloadRun {
    WorkloadRun {
        name: WORKLOAD.into(),
        seed: 1,
        ok,
        seconds: 24.5,
        ops: 12_156,
        ops_per_s: 496.2,
        counters: Default::default(),
    }
}

fn boot(console: &str, verdict: Verdict, findings: usize) -> TestResult {
    TestResult {
        verdict,
        exit: GuestExit::Ok,
        qemu_status: Some(1),
        seconds: 31.2,
        console: console.into(),
        findings,
        infra: None,
        workloads: vec![workload(true)],
        evictions: Default::default(),
        fstests: Vec::new(),
        sessions_evicted: 0,
    }
}

fn phases(build: f64) -> Vec<PhaseTime> {
    [
        ("apply", 1.8),
        ("build", build),
        ("cluster", 24.0),
        ("image", 3.9),
        ("guest", 212.0),
        ("teardown", 2.5),
    ]
    .into_iter()
    .map(|(n, s)| PhaseTime {
        name: n.into(),
        seconds: s,
    })
    .collect()
}

fn prefixes(subjects: &[&str]) -> Vec<PrefixResult> {
    std::iter::once("(base)")
        .chain(subjects.iter().copied())
        .enumerate()
        .map(|(k, s)| {
            let mut p = PrefixResult::new(k, s);
            p.applied = true;
            p.built = Some(true);
            p.build_seconds = Some(40.0);
            p.build_log = Some(format!("build-prefix-{k}.log"));
            p
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn build_log(k: usize) -> String {
    format!(
        "make -C /lib/modules/6.1.0-56-amd64/build M=fs/ceph modules\n  CC [M]  fs/ceph/super.o\n  CC [M]  fs/ceph/caps.o\n  LD [M]  fs/ceph/ceph.ko\n# prefix {k}: ok\n"
    )
}

fn report(id: &str, subject: &str, prefixes: Vec<PrefixResult>, started_at: &str) -> Report {
    Report {
        run_id: id.into(),
        verdict: Verdict::Pass,
        reason: "console clean, workload ok".into(),
        series: SeriesSummary {
            subject: subject.into(),
            patch_count: prefixes.len() - 1,
            sources: vec!["ceph-cap-locking-6.1.mbox".into()],
        },
        job: "default".into(),
        kernel: "6.1.0-56-amd64".into(),
        accel: Some("tcg".into()),
        prefixes,
        findings: vec![],
        coverage: vec![],
        phases: phases(300.0),
        started_at: started_at.into(),
        seconds: 1210.0,
        culprit: None,
        bisection: vec![],
        revert: None,
        fixes: Vec::new(),
        pre_existing: Vec::new(),
        replayed: 0,
    }
}

pub struct Fixture {
    pub root: PathBuf,
}

/// Build the store under `root`.
pub fn build(root: &Path) -> Fixture {
    let mut store = Store::open(root).unwrap();
    let clean = clean_console();

    // Nightly 1: the six-patch series, every prefix clean.
    store
        .begin_nightly(
            NIGHTLY_1,
            "nightly",
            "2026-03-01T02:00:00Z",
            &suite_source(),
        )
        .unwrap();
    let dir = store
        .begin_run(PASS_RUN, "2026-03-01T02:00:01Z", SUBJECTS[0], 6, "default")
        .unwrap();
    store.attach_to_nightly(PASS_RUN, NIGHTLY_1).unwrap();
    let mut ps = prefixes(&SUBJECTS);
    for p in &mut ps {
        let console = format!("console-prefix-{}.log", p.index);
        write(&dir, &console, &clean);
        write(
            &dir,
            &format!("build-prefix-{}.log", p.index),
            &build_log(p.index),
        );
        p.set_attempts(vec![boot(&console, Verdict::Pass, 0)]);
    }
    let mut r = report(
        PASS_RUN,
        "ceph: remove excess mutex locking from cap/snap flushing codepaths",
        ps,
        "2026-03-01T02:00:01Z",
    );
    r.phases = phases(280.0);
    store.finish_run(&r).unwrap();
    store
        .finish_nightly(
            NIGHTLY_1,
            harness_store::RunStatus::Finished,
            Some(&serde_json::from_value(serde_json::json!({"suite": "nightly", "previous": null,
                "jobs": [{"job": "default", "run": PASS_RUN, "verdict": "pass", "signatures": [], "new": [], "still": [], "fixed": []}],
                "new": [], "still": [], "fixed": []})).unwrap()),
        )
        .unwrap();

    // Nightly 2: the series plus the broken patch: prefix 7 fails, bisected and reverted.
    store
        .begin_nightly(
            NIGHTLY_2,
            "nightly",
            "2026-03-02T02:00:00Z",
            &suite_source(),
        )
        .unwrap();
    let dir = store
        .begin_run(
            FAIL_RUN,
            "2026-03-02T02:00:01Z",
            HOSTILE_SERIES,
            7,
            "default",
        )
        .unwrap();
    store.attach_to_nightly(FAIL_RUN, NIGHTLY_2).unwrap();
    let mut subjects = SUBJECTS.to_vec();
    subjects.push(HOSTILE_SUBJECT);
    let mut ps = prefixes(&subjects);
    let failing = failing_console();
    let console7 = format!("console-prefix-{CULPRIT}.log");
    let mut findings: Vec<Finding> = harness_scan::scan_text(&failing)
        .into_iter()
        .map(|mut f| {
            f.prefix = Some(CULPRIT);
            f.console = Some(console7.clone());
            f.during = Some(During::Workload(WORKLOAD.into()));
            f
        })
        .collect();
    assert!(
        findings.iter().any(|f| f.title == SIGNATURE),
        "the scanner finds no {SIGNATURE}: {findings:?}"
    );
    let bad_line = failing
        .lines()
        .position(|l| l.contains(HOSTILE_TITLE))
        .unwrap()
        + 1;
    findings.push(Finding {
        kind: FindingKind::Workload,
        title: HOSTILE_TITLE.into(),
        excerpt: failing.lines().nth(bad_line - 1).unwrap().to_string(),
        line: bad_line,
        time: Some(29.85),
        prefix: Some(CULPRIT),
        console: Some(console7.clone()),
        during: Some(During::Workload(WORKLOAD.into())),
        outside: None,
        step: None,
    });
    for p in &mut ps {
        let console = format!("console-prefix-{}.log", p.index);
        write(
            &dir,
            &format!("build-prefix-{}.log", p.index),
            &build_log(p.index),
        );
        if p.index == CULPRIT {
            write(&dir, &console, &failing);
            p.set_attempts(vec![boot(&console, Verdict::Fail, findings.len())]);
        } else {
            write(&dir, &console, &clean);
            p.set_attempts(vec![boot(&console, Verdict::Pass, 0)]);
        }
    }
    let mut r = report(FAIL_RUN, HOSTILE_SERIES, ps, "2026-03-02T02:00:01Z");
    r.verdict = Verdict::Fail;
    r.findings = findings;
    let bisection: Vec<BisectRun> = [
        (7, Outcome::Fail, false, Some(0.62)),
        (4, Outcome::Pass, false, Some(0.81)),
        (6, Outcome::Pass, false, Some(0.97)),
        (7, Outcome::Fail, true, Some(0.995)),
        (6, Outcome::Pass, true, Some(0.999)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (prefix, outcome, verify, confidence))| {
        let console = format!("console-bisect-{:02}-prefix-{prefix}.log", i + 1);
        let fail = outcome == Outcome::Fail;
        write(&dir, &console, if fail { &failing } else { &clean });
        BisectRun {
            prefix,
            outcome,
            verify,
            verdict: if fail { Verdict::Fail } else { Verdict::Pass },
            signatures: if fail {
                vec![SIGNATURE.into(), HOSTILE_TITLE.into()]
            } else {
                vec![]
            },
            console,
            seconds: 95.0 + i as f64,
            leader: Some(vec![CULPRIT]),
            confidence,
            workloads: vec!["umount-stress".into()],
            stopped: fail,
            cut: None,
        }
    })
    .collect();
    let culprit = Culprit {
        index: CULPRIT,
        subject: HOSTILE_SUBJECT.into(),
        signature: SIGNATURE.into(),
        candidates: vec![CULPRIT],
        confidence: 0.999,
        confident: true,
        verified: true,
        rate: 1.0,
        runs: 5,
        rounds: 5,
        skipped: vec![],
        found_after_s: 1710.0,
    };
    let revert = Revert {
        without_culprit: RevertTest {
            what: "without the culprit".into(),
            file: Some("without-culprit.mbox".into()),
            verdict: Verdict::Pass,
            runs: 3,
            confidence: 0.999,
            note: None,
        },
        whole_series: RevertTest {
            what: "whole series reverted".into(),
            file: None,
            verdict: Verdict::Pass,
            runs: 3,
            confidence: 0.999,
            note: Some("the base passed in the bisection too".into()),
        },
        revert_patch: Some("revert-culprit.patch".into()),
        revert_note: None,
    };
    write(
        &dir,
        "bisect-report.txt",
        &bisect_text(&culprit, &bisection, Some(&revert)),
    );
    let markup_patch = fixture("tests/fixtures/broken/warn-with-markup.patch");
    write(
        &dir,
        "without-culprit.mbox",
        &fixture("tests/fixtures/broken/warn-in-unlink.patch"),
    );
    write(
        &dir,
        "revert-culprit.patch",
        &format!("Subject: [PATCH] Revert \"{HOSTILE_SUBJECT}\"\n\nThis reverts the culprit.\n"),
    );
    write(&dir, "input/0007-warn-with-markup.patch", &markup_patch);
    // A binary artifact: listed, no viewer.
    std::fs::write(dir.join("ceph.ko"), b"\x7fELF\x02\x01\x01\0\0\0\0\0").unwrap();
    r.bisection = bisection;
    r.culprit = Some(culprit);
    r.revert = Some(revert);
    r.reason = format!("{SIGNATURE}; culprit: patch {CULPRIT}");
    r.phases = phases(330.0);
    r.seconds = 2950.0;
    store.finish_run(&r).unwrap();
    store
        .finish_nightly(
            NIGHTLY_2,
            harness_store::RunStatus::Finished,
            Some(&serde_json::from_value(serde_json::json!({"suite": "nightly", "previous": NIGHTLY_1,
                "jobs": [{"job": "default", "run": FAIL_RUN, "verdict": "fail",
                          "signatures": [SIGNATURE, HOSTILE_TITLE], "new": [SIGNATURE, HOSTILE_TITLE], "still": [], "fixed": []}],
                "new": [SIGNATURE, HOSTILE_TITLE], "still": [], "fixed": []})).unwrap()),
        )
        .unwrap();

    // A series whose second patch does not build (not a nightly).
    let dir = store
        .begin_run(
            BUILD_FAIL_RUN,
            "2026-03-02T09:30:00Z",
            "ceph: rework snaprealm refs",
            3,
            "default",
        )
        .unwrap();
    let mut ps = prefixes(&[
        "ceph: add snaprealm helpers",
        "ceph: use the helpers",
        "ceph: drop old code",
    ]);
    ps[2].built = Some(false);
    ps[2].build_error = Some("fs/ceph/snap.c:412:9: error: implicit declaration of function 'ceph_get_snap_realm_ref' [-Werror=implicit-function-declaration]".into());
    ps[3].built = Some(true);
    for p in &ps {
        write(
            &dir,
            &format!("build-prefix-{}.log", p.index),
            &build_log(p.index),
        );
    }
    let mut r = report(
        BUILD_FAIL_RUN,
        "ceph: rework snaprealm refs",
        ps,
        "2026-03-02T09:30:00Z",
    );
    r.verdict = Verdict::BuildFailed;
    r.reason = "prefix 2 (ceph: use the helpers) does not build".into();
    r.phases = phases(410.0);
    store.finish_run(&r).unwrap();

    // Interrupted after one boot.
    let dir = store
        .begin_run(
            INTERRUPTED_RUN,
            "2026-03-02T11:00:00Z",
            SUBJECTS[1],
            6,
            "default",
        )
        .unwrap();
    write(&dir, "console-prefix-0.log", &clean);
    store
        .record_attempt(
            INTERRUPTED_RUN,
            &AttemptRecord {
                console: "console-prefix-0.log".into(),
                prefix: 0,
                variant: "prefix-0".into(),
                workloads: vec![],
                result: boot("console-prefix-0.log", Verdict::Pass, 0),
                findings: vec![],
                messages: serde_json::json!([]),
            },
        )
        .unwrap();
    store
        .interrupt_run(INTERRUPTED_RUN, "interrupted by SIGINT")
        .unwrap();

    // Still running (this process is its harness).
    store
        .begin_run(
            RUNNING_RUN,
            "2026-03-02T12:00:00Z",
            SUBJECTS[2],
            6,
            "default",
        )
        .unwrap();

    // The running run is running: its harness (this store) stays alive, holding its lock, for
    // as long as the test process runs.
    std::mem::forget(store);
    Fixture {
        root: root.to_path_buf(),
    }
}

fn suite_source() -> harness_store::SuiteSource {
    harness_store::SuiteSource {
        text: "suite: nightly\nseries: [s.mbox]\njobs: [default.yaml]\n".into(),
        file: "jobs/nightly.yaml".into(),
        dir: std::path::PathBuf::from("/jobs"),
    }
}
