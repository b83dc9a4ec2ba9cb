//! Fix verification: which failures of the base a series fixes, and which it merely shares with the
//! base (pre-existing, not the series' doing). The questions syzbot's `#syz test` and fix bisection
//! answer, asked of the boots a run made.
//!
//! A boot's *signatures* are the titles of its findings (a failure without one is named by how the
//! guest ended). For every signature the base showed:
//! - the tip showed it too: **pre-existing**;
//! - the tip never showed it: **fixed**, with a confidence from the base's reproduction rate and
//!   the tip's clean boots: the probability that a tip still carrying the bug would have shown it
//!   in at least one of them, `1 - (1 - rate)^passes`, the rate estimated from the base's boots
//!   (Jeffreys: `(k + 1/2) / (n + 1)`, so 1 of 1 does not count as certain).

use std::collections::BTreeSet;

use crate::finding::{Finding, FindingKind};
use crate::report::{PrefixResult, TestResult, Verdict};

/// A fix is verified at this confidence (as the bisection's answers are).
pub const CONFIDENCE: f64 = 0.99;
/// Boots of the tip the check may add to reach [`CONFIDENCE`], unless the job says otherwise.
pub const MAX_BOOTS: u32 = 20;

pub use crate::report::{Fix, PreExisting};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    pub fixes: Vec<Fix>,
    pub pre_existing: Vec<PreExisting>,
}

impl Assessment {
    /// Signatures that are not the series' doing.
    pub fn not_series(&self) -> BTreeSet<&str> {
        self.pre_existing
            .iter()
            .map(|p| p.signature.as_str())
            .collect()
    }
}

/// The reproduction rate estimated from `k` failures in `n` boots (Jeffreys posterior mean).
pub fn rate(k: u32, n: u32) -> f64 {
    (k as f64 + 0.5) / (n as f64 + 1.0)
}

/// Confidence that a bug reproducing at `rate` is gone after `passes` clean boots.
pub fn confidence(rate: f64, passes: u32) -> f64 {
    1.0 - (1.0 - rate.clamp(0.0, 1.0)).powi(passes as i32)
}

/// Clean boots needed for [`CONFIDENCE`] at `rate`.
pub fn boots_needed(rate: f64) -> u32 {
    if rate >= 1.0 {
        return 1;
    }
    if rate <= 0.0 {
        return u32::MAX;
    }
    ((1.0 - CONFIDENCE).ln() / (1.0 - rate).ln()).ceil() as u32
}

/// The signature of a failure that no finding names.
pub fn exit_signature(t: &TestResult) -> String {
    t.exit.signature()
}

/// The signatures one boot showed (hazards are measurements, not failures).
pub fn boot_signatures(t: &TestResult, findings: &[Finding]) -> Vec<String> {
    let mut s: Vec<String> = Vec::new();
    let deadlocks = findings.iter().filter(|f| f.kind == FindingKind::Deadlock);
    for f in deadlocks.chain(findings.iter().filter(|f| f.kind != FindingKind::Deadlock)) {
        if f.console.as_deref() == Some(t.console.as_str())
            && f.kind != FindingKind::Hazard
            && !s.contains(&f.title)
        {
            s.push(f.title.clone());
        }
    }
    if s.is_empty() && t.verdict == Verdict::Fail {
        s.push(exit_signature(t));
    }
    s
}

fn boots(p: &PrefixResult) -> Vec<&TestResult> {
    if p.attempts.is_empty() {
        p.test.iter().collect()
    } else {
        p.attempts.iter().collect()
    }
}

/// Per tested prefix (in order): its boots' signatures.
fn tested(prefixes: &[PrefixResult], findings: &[Finding]) -> Vec<(usize, Vec<Vec<String>>)> {
    prefixes
        .iter()
        .filter(|p| !boots(p).is_empty())
        .map(|p| {
            let sigs = boots(p)
                .into_iter()
                .filter(|t| t.verdict != Verdict::InfraError)
                .map(|t| boot_signatures(t, findings))
                .collect();
            (p.index, sigs)
        })
        .collect()
}

/// What the base's failures became at the tip. Needs the base (prefix 0) and a later prefix booted.
pub fn assess(prefixes: &[PrefixResult], findings: &[Finding]) -> Assessment {
    let tested = tested(prefixes, findings);
    let (Some((0, base)), Some((tip, tip_boots))) = (tested.first(), tested.last()) else {
        return Assessment::default();
    };
    if *tip == 0 {
        return Assessment::default();
    }
    let mut out = Assessment::default();
    let mut sigs: Vec<&String> = Vec::new();
    for b in base {
        for s in b {
            if !sigs.contains(&s) {
                sigs.push(s);
            }
        }
    }
    let count = |boots: &[Vec<String>], s: &str| {
        boots.iter().filter(|b| b.iter().any(|x| x == s)).count() as u32
    };
    for s in sigs {
        let (k, n) = (count(base, s), base.len() as u32);
        let tip_failures = count(tip_boots, s);
        if tip_failures > 0 {
            out.pre_existing.push(PreExisting {
                signature: s.clone(),
                base_failures: k,
                base_boots: n,
                tip_failures,
                tip_boots: tip_boots.len() as u32,
            });
            continue;
        }
        // A clean tip boot is one that failed with nothing at all (another failure may have ended
        // the boot before the trigger).
        let passes = tip_boots.iter().filter(|b| b.is_empty()).count() as u32;
        let c = confidence(rate(k, n), passes);
        // The fixing patch: the lowest prefix from which every tested prefix is free of it, if the
        // prefix just below it was tested and showed it.
        let mut from = None;
        for w in tested.windows(2).rev() {
            let ((lo, lo_boots), (hi, hi_boots)) = (&w[0], &w[1]);
            if count(hi_boots, s) > 0 {
                break;
            }
            if count(lo_boots, s) > 0 {
                from = (*lo + 1 == *hi).then_some(*hi);
                break;
            }
        }
        out.fixes.push(Fix {
            signature: s.clone(),
            base_failures: k,
            base_boots: n,
            tip_passes: passes,
            tip_boots: tip_boots.len() as u32,
            confidence: c,
            confident: c >= CONFIDENCE,
            from_prefix: from,
        });
    }
    out
}

/// "fixes S (base failed 3/4 boots, tip passed 4/4, 99.2%, from patch 1)".
pub fn describe_fix(f: &Fix) -> String {
    let mut s = format!(
        "{} \"{}\" (base failed {}/{} boots, tip passed {}/{}, {:.1}% confidence",
        if f.confident {
            "fixes"
        } else {
            "probably fixes"
        },
        f.signature,
        f.base_failures,
        f.base_boots,
        f.tip_passes,
        f.tip_boots,
        f.confidence * 100.0
    );
    if let Some(k) = f.from_prefix {
        s.push_str(&format!(", from patch {k}"));
    }
    s.push(')');
    s
}

/// "pre-existing S (base 1/1, tip 2/2): not the series' doing".
pub fn describe_pre_existing(p: &PreExisting) -> String {
    format!(
        "pre-existing \"{}\" (base failed {}/{} boots, tip {}/{}): not the series' doing",
        p.signature, p.base_failures, p.base_boots, p.tip_failures, p.tip_boots
    )
}

/// Of an expected fix (`--expect-fix`): why it is not verified, if it is not.
pub fn expectation(a: &Assessment, prefixes: &[PrefixResult], signature: &str) -> Option<String> {
    if let Some(f) = a.fixes.iter().find(|f| f.signature == signature) {
        return (!f.confident).then(|| {
            format!(
                "the fix of \"{signature}\" is not verified: the tip passed {}/{} boots, {:.1}% < {:.0}% confidence",
                f.tip_passes,
                f.tip_boots,
                f.confidence * 100.0,
                CONFIDENCE * 100.0
            )
        });
    }
    if a.pre_existing.iter().any(|p| p.signature == signature) {
        return Some(format!(
            "\"{signature}\" is not fixed: the tip fails with it too"
        ));
    }
    let base_boots = prefixes
        .first()
        .filter(|p| p.index == 0)
        .map(|p| boots(p).len())
        .unwrap_or(0);
    Some(format!(
        "the bug did not reproduce: the base did not fail with \"{signature}\" in {base_boots} boots"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::GuestExit;

    fn boot(console: &str, verdict: Verdict) -> TestResult {
        TestResult {
            verdict,
            exit: if verdict == Verdict::Pass {
                GuestExit::Ok
            } else {
                GuestExit::Timeout
            },
            qemu_status: None,
            seconds: 1.0,
            console: console.into(),
            findings: 0,
            infra: None,
            workloads: Vec::new(),
            evictions: Default::default(),
            fstests: Vec::new(),
            sessions_evicted: 0,
        }
    }

    fn finding(console: &str, prefix: usize, title: &str) -> Finding {
        Finding {
            kind: FindingKind::HungTask,
            title: title.into(),
            excerpt: String::new(),
            line: 1,
            time: None,
            prefix: Some(prefix),
            console: Some(console.into()),
            during: None,
            outside: None,
            step: None,
        }
    }

    /// Prefixes from per-boot outcomes: `None` a clean boot, `Some(title)` a failure.
    fn run(per_prefix: &[&[Option<&str>]]) -> (Vec<PrefixResult>, Vec<Finding>) {
        let mut prefixes = Vec::new();
        let mut findings = Vec::new();
        for (k, outcomes) in per_prefix.iter().enumerate() {
            let mut p = PrefixResult::new(k, format!("patch {k}"));
            p.applied = true;
            p.built = Some(true);
            let mut attempts = Vec::new();
            for (i, o) in outcomes.iter().enumerate() {
                let c = format!("console-{k}-{i}");
                attempts.push(boot(
                    &c,
                    if o.is_some() {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                ));
                if let Some(t) = o {
                    findings.push(finding(&c, k, t));
                }
            }
            p.set_attempts(attempts);
            prefixes.push(p);
        }
        (prefixes, findings)
    }

    const HANG: &str =
        "INFO: task hung in inode_wait_for_writeback (from ceph_put_wrbuffer_cap_refs)";

    #[test]
    fn a_fix_is_confident_once_the_tip_passed_often_enough_for_the_rate() {
        // The 6.12 hunt's shape: the base hangs 3 of 4 boots, the fix passes 4 of 4.
        let (p, f) = run(&[
            &[Some(HANG), Some(HANG), None, Some(HANG)],
            &[None, None, None, None],
        ]);
        let a = assess(&p, &f);
        assert!(a.pre_existing.is_empty());
        let fix = &a.fixes[0];
        assert_eq!((fix.base_failures, fix.base_boots), (3, 4));
        assert_eq!((fix.tip_passes, fix.tip_boots), (4, 4));
        assert!((fix.confidence - (1.0 - 0.3f64.powi(4))).abs() < 1e-9);
        assert!(fix.confident);
        assert_eq!(fix.from_prefix, Some(1));
        assert_eq!(expectation(&a, &p, HANG), None);
        // Two clean boots are not enough for that rate.
        let (p, f) = run(&[&[Some(HANG), Some(HANG), None, Some(HANG)], &[None, None]]);
        let a = assess(&p, &f);
        assert!(!a.fixes[0].confident);
        assert!(expectation(&a, &p, HANG)
            .unwrap()
            .contains("passed 2/2 boots"));
        assert_eq!(boots_needed(rate(3, 4)), 4);
    }

    #[test]
    fn a_failure_the_tip_shares_is_pre_existing() {
        let (p, f) = run(&[
            &[Some("WARNING in ceph_x")],
            &[None],
            &[Some("WARNING in ceph_x")],
        ]);
        let a = assess(&p, &f);
        assert!(a.fixes.is_empty());
        assert_eq!(a.pre_existing[0].signature, "WARNING in ceph_x");
        assert_eq!(a.not_series(), ["WARNING in ceph_x"].into());
        assert!(expectation(&a, &p, "WARNING in ceph_x")
            .unwrap()
            .contains("not fixed"));
    }

    #[test]
    fn the_fixing_patch_is_found_among_tested_prefixes() {
        let w = Some("WARNING in ceph_x");
        let (p, f) = run(&[&[w, w], &[w, w], &[None, None], &[None, None]]);
        assert_eq!(assess(&p, &f).fixes[0].from_prefix, Some(2));
        // A flaky failure seen again above the lowest clean prefix moves the fix up.
        let (p, f) = run(&[&[w, w], &[None, None], &[w, None], &[None, None]]);
        assert_eq!(assess(&p, &f).fixes[0].from_prefix, Some(3));
    }

    #[test]
    fn nothing_to_say_without_a_failing_base() {
        let (p, f) = run(&[&[None], &[Some("WARNING in ceph_y")]]);
        assert_eq!(assess(&p, &f), Assessment::default());
        assert!(expectation(&assess(&p, &f), &p, HANG)
            .unwrap()
            .starts_with("the bug did not reproduce: the base did not fail with"));
        // Only the tip booted: no base, no assessment.
        let (mut p, f) = run(&[&[], &[Some("WARNING in ceph_y")]]);
        p[0].attempts.clear();
        assert_eq!(assess(&p, &f), Assessment::default());
    }

    #[test]
    fn confidence_grows_with_clean_boots() {
        assert_eq!(confidence(0.5, 0), 0.0);
        assert!((confidence(0.5, 7) - (1.0 - 0.5f64.powi(7))).abs() < 1e-12);
        assert_eq!(boots_needed(1.0), 1);
        assert_eq!(boots_needed(0.5), 7);
        // One failure in one boot is not certainty.
        assert!(rate(1, 1) < 1.0);
    }

    #[test]
    fn the_verdict_passes_a_fix_and_does_not_blame_the_series_for_the_base() {
        use crate::report::Report;
        let (p, f) = run(&[
            &[Some(HANG), Some(HANG), None, Some(HANG)],
            &[None, None, None, None],
        ]);
        let a = assess(&p, &f);
        let (v, why) = Report::decide(&p, &f, false, &a, Some(HANG));
        assert_eq!(v, Verdict::Pass, "{why}");
        assert!(
            why.contains("fixes \"INFO: task hung in inode_wait_for_writeback"),
            "{why}"
        );
        // Expecting a fix of something the base never showed: the bug did not reproduce.
        let (v, why) = Report::decide(&p, &f, false, &a, Some("WARNING in ceph_z"));
        assert_eq!(v, Verdict::Fail);
        assert!(
            why.contains("did not reproduce") && why.contains("in 4 boots"),
            "{why}"
        );
        // Pre-existing: the tip fails, but only with what the base had.
        let w = Some("WARNING in ceph_x");
        let (p, f) = run(&[&[w], &[w]]);
        let a = assess(&p, &f);
        let (v, why) = Report::decide(&p, &f, false, &a, None);
        assert_eq!(v, Verdict::Pass, "{why}");
        assert!(why.contains("pre-existing \"WARNING in ceph_x\""), "{why}");
        // The tip's own failure still fails it.
        let (p, f) = run(&[&[w], &[Some("WARNING in ceph_new")]]);
        let a = assess(&p, &f);
        assert_eq!(
            Report::decide(&p, &f, false, &a, None),
            (Verdict::Fail, "WARNING in ceph_new".to_string())
        );
    }
}
