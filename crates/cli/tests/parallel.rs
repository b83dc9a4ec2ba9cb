//! End to end: two guests at once (`guests.parallel: 2`, tests/fixtures/jobs/parallel.yaml). The
//! tip's two attempts boot together, each with its own tap, address, console, QMP socket and
//! CephFS (its own file system and MDS in the run's cluster). broken/second-attempt-hangs.patch
//! hangs the second attempt (the mkdir of its workspace, named after the boot, never returns);
//! the first finishes with its own verdict, unaffected and not held to the hung one's deadline,
//! and nothing is left behind. Real module build, real cluster, two real TCG guests.

mod common;
use common::{assert_no_leftovers, fixture};

/// `(start, end)` in seconds since the run started of each guest boot, from the progress lines
/// (`[  t s] guest: done in Xs`, or `FAILED`), in the order they ended.
fn guest_spans(stderr: &str) -> Vec<(f64, f64, bool)> {
    stderr
        .lines()
        .filter_map(|l| {
            let (t, rest) = l.strip_prefix('[')?.split_once("s] guest: ")?;
            let end: f64 = t.trim().parse().ok()?;
            let (ok, secs) = if let Some(s) = rest.strip_prefix("done in ") {
                (true, s)
            } else {
                (false, rest.strip_prefix("FAILED in ")?)
            };
            let secs: f64 = secs.trim_end_matches('s').parse().ok()?;
            Some((end - secs, end, ok))
        })
        .collect()
}

#[test]
fn two_guests_at_once_a_hung_one_does_not_hold_up_the_other() {
    let job = fixture("jobs/parallel.yaml");
    let t0 = std::time::Instant::now();
    let ran = common::harness_report(
        &[
            "test".as_ref(),
            "--on-failure".as_ref(),
            "none".as_ref(),
            "--no-base-check".as_ref(),
            "--job".as_ref(),
            job.as_os_str(),
        ],
        &[fixture("broken/second-attempt-hangs.patch")],
    );
    let (r, text) = (&ran.report, &ran.text);
    eprintln!("run took {:.0}s", t0.elapsed().as_secs_f64());
    assert_eq!(r["verdict"], "fail", "{}; {text}", r["reason"]);
    assert_eq!(ran.code, Some(1), "{text}");
    let attempts = r["prefixes"][1]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{text}");
    let (first, second) = (&attempts[0], &attempts[1]);
    // The first attempt passed on its own, next to the hung one.
    assert_eq!(first["console"], "console-prefix-1.log");
    assert_eq!(first["verdict"], "pass", "{first}; {text}");
    assert_eq!(first["workloads"][0]["ok"], true, "{first}");
    // The second hung in the patch's mkdir and was caught by the progress watchdog.
    assert_eq!(second["console"], "console-prefix-1-attempt-2.log");
    assert_eq!(second["verdict"], "fail", "{second}");
    assert_eq!(second["exit"], "timeout", "{second}");
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == "hang"
            && f["title"] == "INFO: task stalled in ceph_mkdir"
            && f["console"] == "console-prefix-1-attempt-2.log"),
        "{findings:?}"
    );
    // Only the hung guest has findings of its own (a hazard is the prefix's eviction profile,
    // from its first attempt: no console).
    assert!(
        findings
            .iter()
            .filter(|f| f["kind"] != "hazard")
            .all(|f| f["console"] == "console-prefix-1-attempt-2.log"),
        "{findings:?}"
    );
    let c1 = ran.artifact("console-prefix-1.log");
    let c2 = ran.artifact("console-prefix-1-attempt-2.log");
    assert!(c2.contains("HARNESS: net up"), "{c2}");
    // The hung guest's session was evicted from its own file system, after it was killed; the
    // healthy guest left none (and the mgr's sessions are not a guest's).
    assert!(
        second["sessions_evicted"].as_u64().unwrap() >= 1,
        "{second}"
    );
    assert!(first["sessions_evicted"].is_null(), "{first}");
    // Both booted at once: the second started before the first ended; the first ended long
    // before the hung one, and took less than half its time.
    let spans = guest_spans(text);
    assert_eq!(spans.len(), 2, "{spans:?}; {text}");
    let (pass, hung) = (spans[0], spans[1]);
    assert!(pass.2 && !hung.2, "{spans:?}");
    assert!(
        hung.0 < pass.1 && pass.0 < hung.1,
        "the boots did not overlap: {spans:?}"
    );
    let (s1, s2) = (
        first["seconds"].as_f64().unwrap(),
        second["seconds"].as_f64().unwrap(),
    );
    assert!(s1 < s2 && pass.1 + 20.0 < hung.1, "{s1} vs {s2}; {spans:?}");
    eprintln!(
        "guest boots: pass {s1:.0}s, hung {s2:.0}s; spans {spans:?}; consoles {} and {} lines",
        c1.lines().count(),
        c2.lines().count()
    );
    for l in text.lines().filter(|l| l.contains("] cluster: ")) {
        eprintln!("{l}");
    }
    assert_no_leftovers();
}
