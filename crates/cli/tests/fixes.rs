//! Series that fix bugs, bugs the base already has, and boots that start clean after a crash:
//! end to end with real module builds, a real cluster and real TCG guests on Debian's 6.1.
//! The fixtures: tests/fixtures/jobs/{warn-in-base,warn-in-base-tip,crash-then-good}.yaml.

use serde_json::Value;

mod common;
use common::{assert_no_leftovers, composed, fixture, harness_report};

const WARN: &str = "WARNING in ceph_unlink";

/// `harness test --job tests/fixtures/jobs/JOB.yaml ARGS... SERIES`.
fn run(job: &str, args: &[&str], series: &std::path::Path) -> (Option<i32>, Value, String) {
    let job = fixture(&format!("jobs/{job}.yaml"));
    let mut all = vec!["test", "--job", job.to_str().unwrap()];
    all.extend(args);
    let r = harness_report(&all, &[series]);
    (r.code, r.report, r.text)
}

fn boots(r: &Value, prefix: usize) -> &Vec<Value> {
    r["prefixes"][prefix]["attempts"].as_array().unwrap()
}

/// The base carries a WARN (a second base patch); the series removes it: the verdict passes and
/// says what the series fixes, with the base's failures and the tip's passes counted.
#[test]
fn a_series_that_removes_a_warning_of_its_base_passes_and_fixes_it() {
    let _g = common::one_at_a_time();
    let (code, r, text) = run(
        "warn-in-base",
        &["--expect-fix", WARN],
        &fixture("fixes/remove-warn-in-unlink.patch"),
    );
    assert_eq!(r["verdict"], "pass", "{}; {text}", r["reason"]);
    assert_eq!(code, Some(0), "{text}");
    let fixes = r["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 1, "{}", r["fixes"]);
    let f = &fixes[0];
    assert_eq!(f["signature"], WARN);
    // The base failed every boot; the tip passed every boot, enough of them for 99% confidence
    // at the rate the base showed (1 of 1: Jeffreys 0.75 → 4 clean boots).
    let (k, n) = (f["base_failures"].as_u64(), f["base_boots"].as_u64());
    assert_eq!(k, n, "{f}");
    assert!(n >= Some(1), "{f}");
    assert_eq!(f["tip_passes"], f["tip_boots"], "{f}");
    assert!(f["tip_boots"].as_u64().unwrap() >= 4, "{f}");
    assert!(f["confidence"].as_f64().unwrap() >= 0.99, "{f}");
    assert_eq!(f["confident"], true);
    assert_eq!(boots(&r, 0).len() as u64, n.unwrap());
    assert!(boots(&r, 1).iter().all(|b| b["verdict"] == "pass"));
    assert!(r["pre_existing"].as_array().is_none_or(|a| a.is_empty()));
    // Said where a reader looks: the reason and the terminal report.
    assert!(
        r["reason"].as_str().unwrap().contains("fixes"),
        "{}",
        r["reason"]
    );
    assert!(text.contains(&format!("fixes \"{WARN}\"")), "{text}");
    // Nothing to bisect: the base's failure is not the series'.
    assert!(r["culprit"].is_null(), "{}", r["culprit"]);
    assert_no_leftovers();
}

/// The base carries a WARN that the series keeps: only the tip is tested, so the base check boots
/// the base, sees the same WARN, and the finding is pre-existing, not the series' doing.
#[test]
fn a_warning_the_base_already_has_is_pre_existing() {
    let _g = common::one_at_a_time();
    let series = composed(&["1", "2"]);
    let (code, r, text) = run("warn-in-base-tip", &[], series.path());
    assert_eq!(r["verdict"], "pass", "{}; {text}", r["reason"]);
    assert_eq!(code, Some(0), "{text}");
    let pre = r["pre_existing"].as_array().unwrap();
    assert_eq!(pre.len(), 1, "{}", r["pre_existing"]);
    assert_eq!(pre[0]["signature"], WARN);
    assert_eq!(pre[0]["base_failures"], pre[0]["base_boots"], "{}", pre[0]);
    assert_eq!(pre[0]["tip_failures"], pre[0]["tip_boots"], "{}", pre[0]);
    // The base was booted by the check (the job tests the tip only).
    let base = boots(&r, 0);
    assert_eq!(base.len(), 1, "{}", r["prefixes"][0]);
    assert!(
        base[0]["console"].as_str().unwrap().contains("base-check"),
        "{}",
        base[0]
    );
    assert!(r["fixes"].as_array().is_none_or(|a| a.is_empty()));
    assert!(text.contains(&format!("pre-existing \"{WARN}\"")), "{text}");
    assert_no_leftovers();
}

/// Prefix 1 panics in the middle of iput-stress while its client holds an MDS session and caps;
/// prefix 2 is good again and boots next on the same cluster: the harness evicted the dead
/// client, and prefix 2 runs in a fresh workspace without waiting for anything the crash left.
#[test]
fn a_good_boot_after_a_crashed_one_sees_nothing_of_it() {
    let _g = common::one_at_a_time();
    let series = composed(&[
        "broken/bug-on-40th-eviction.patch",
        "fixes/drop-eviction-counter.patch",
    ]);
    let (code, r, text) = run("crash-then-good", &[], series.path());
    // The crash is the series' (prefix 1), so the run fails; the point is prefix 2.
    assert_eq!(r["verdict"], "fail", "{}; {text}", r["reason"]);
    assert_eq!(code, Some(1), "{text}");
    let crashed = &boots(&r, 1)[0];
    assert_eq!(crashed["exit"], "panic", "{crashed}");
    assert!(
        r["findings"].as_array().unwrap().iter().any(|f| f["title"]
            == "kernel BUG in ceph_evict_inode"
            && f["prefix"] == 1
            && f["during"] == "workload iput-stress"
            && f["outside"].is_null()),
        "{}",
        r["findings"]
    );
    // The harness evicted the session the crashed guest left; a clean boot leaves none.
    assert!(crashed["sessions_evicted"].as_u64() >= Some(1), "{crashed}");
    let (base, good) = (&boots(&r, 0)[0], &boots(&r, 2)[0]);
    assert_eq!(base["verdict"], "pass", "{base}");
    assert_eq!(good["verdict"], "pass", "{good}; {text}");
    assert!(good["sessions_evicted"].is_null(), "{good}");
    // Nothing of the crashed boot: no finding at prefix 2 (its files, its caps)...
    assert!(
        !r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["prefix"] == 2),
        "{}",
        r["findings"]
    );
    // ...and no wait for the dead client's caps: the MDS would hold them for its session
    // timeout (60 s) before the new client may use the directories the dead one had cached.
    // The same workload on the base took `base` seconds on the same cluster; the margin is wide
    // (a busy 2-core machine), the wait it rules out is not.
    let (tb, tg) = (
        base["seconds"].as_f64().unwrap(),
        good["seconds"].as_f64().unwrap(),
    );
    eprintln!(
        "boot seconds: base {tb:.1}, crashed {}, good after the crash {tg:.1}",
        crashed["seconds"]
    );
    assert!(
        tg < tb + 45.0,
        "the good boot took {tg:.1}s, the base {tb:.1}s"
    );
    assert_no_leftovers();
}
