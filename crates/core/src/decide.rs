//! The verdict of a run, decided from its prefixes' results and findings: the first failing
//! stage decides (apply, build, infra, a finding of the series, an unnamed failure).

use crate::finding::Finding;
use crate::report::{PrefixResult, Report, TestResult, Verdict};

impl Report {
    /// The verdict of a run from its prefix results: the first failing stage decides. Hazard
    /// findings fail it only with `hazards_fail`. The base's own failures (prefix 0) and failures
    /// the tip shares with it (`fix.pre_existing`) are not the series' doing; with `expect_fix`,
    /// the base must fail with that signature and the tip must be verified free of it.
    pub fn decide(
        prefixes: &[PrefixResult],
        findings: &[Finding],
        hazards_fail: bool,
        fix: &crate::fix::Assessment,
        expect_fix: Option<&str>,
    ) -> (Verdict, String) {
        if let Some(p) = prefixes.iter().find(|p| !p.applied && p.index > 0) {
            return (
                Verdict::ApplyFailed,
                format!("patch {} does not apply: {}", p.index, p.subject),
            );
        }
        if let Some(p) = prefixes.iter().find(|p| p.built == Some(false)) {
            let what = if p.index == 0 {
                "the base".to_string()
            } else {
                format!("prefix {} ({})", p.index, p.subject)
            };
            return (Verdict::BuildFailed, format!("{what} does not build"));
        }
        let tested: Vec<&TestResult> = prefixes.iter().filter_map(|p| p.test.as_ref()).collect();
        if let Some(t) = tested.iter().find(|t| t.verdict == Verdict::InfraError) {
            return (
                Verdict::InfraError,
                t.infra.clone().unwrap_or_else(|| t.exit.incomplete()),
            );
        }
        let not_series = fix.not_series();
        // The base's failures are its own once a prefix of the series was booted too.
        let series_tested = prefixes.iter().any(|p| p.index > 0 && p.test.is_some());
        let blamed = |k: Option<usize>| !series_tested || k != Some(0);
        let counts = |f: &&Finding| {
            (hazards_fail || f.kind != crate::finding::FindingKind::Hazard)
                && blamed(f.prefix)
                && !not_series.contains(f.title.as_str())
        };
        // A self-deadlock names the failure before the hung tasks that wait behind it.
        let deadlock = findings
            .iter()
            .filter(counts)
            .find(|f| f.kind == crate::finding::FindingKind::Deadlock);
        if let Some(f) = deadlock.or_else(|| findings.iter().find(counts)) {
            return (Verdict::Fail, f.title.clone());
        }
        // A failure no finding names, at a prefix of the series.
        for p in prefixes.iter().filter(|p| blamed(Some(p.index))) {
            let boots: Vec<&TestResult> = if p.attempts.is_empty() {
                p.test.iter().collect()
            } else {
                p.attempts.iter().collect()
            };
            for t in boots.into_iter().filter(|t| t.verdict == Verdict::Fail) {
                let sigs = crate::fix::boot_signatures(t, findings);
                if sigs.iter().all(|s| !not_series.contains(s.as_str())) {
                    if let Some(s) = sigs.into_iter().next() {
                        return (Verdict::Fail, s);
                    }
                }
            }
        }
        if tested.is_empty() {
            return (Verdict::InfraError, "no prefix was tested".into());
        }
        if let Some(why) = expect_fix.and_then(|s| crate::fix::expectation(fix, prefixes, s)) {
            return (Verdict::Fail, why);
        }
        let mut reason = "console clean, workload ok".to_string();
        for f in &fix.fixes {
            reason = format!("{reason}; {}", crate::fix::describe_fix(f));
        }
        for p in &fix.pre_existing {
            reason = format!("{reason}; {}", crate::fix::describe_pre_existing(p));
        }
        (Verdict::Pass, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingKind;
    use crate::verdict::GuestExit;

    fn none() -> crate::fix::Assessment {
        Default::default()
    }

    fn prefix(
        index: usize,
        applied: bool,
        built: Option<bool>,
        test: Option<(Verdict, GuestExit)>,
    ) -> PrefixResult {
        let mut p = PrefixResult::new(index, format!("patch {index}"));
        p.applied = applied;
        p.built = built;
        p.test = test.map(|(verdict, exit)| TestResult {
            verdict,
            exit,
            qemu_status: None,
            seconds: 1.0,
            console: "c".into(),
            findings: 0,
            infra: None,
            workloads: Vec::new(),
            evictions: Default::default(),
            fstests: Vec::new(),
            sessions_evicted: 0,
        });
        p
    }

    fn finding(title: &str) -> Finding {
        Finding {
            console: None,
            during: None,
            outside: None,
            step: None,
            kind: FindingKind::Warning,
            title: title.into(),
            excerpt: String::new(),
            line: 1,
            time: None,
            prefix: Some(2),
        }
    }

    #[test]
    fn the_first_failing_stage_decides() {
        let ok = Some((Verdict::Pass, GuestExit::Ok));
        let all_good = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(true), ok),
        ];
        assert_eq!(
            Report::decide(&all_good, &[], false, &none(), None).0,
            Verdict::Pass
        );

        let not_applied = [
            prefix(0, true, None, None),
            prefix(1, true, None, None),
            prefix(2, false, None, None),
        ];
        let (v, why) = Report::decide(&not_applied, &[], false, &none(), None);
        assert_eq!(v, Verdict::ApplyFailed);
        assert_eq!(why, "patch 2 does not apply: patch 2");

        // A prefix that does not build makes the series unbisectable, even if the tip passes.
        let mid_broken = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(false), None),
            prefix(2, true, Some(true), ok),
        ];
        let (v, why) = Report::decide(&mid_broken, &[], false, &none(), None);
        assert_eq!(v, Verdict::BuildFailed);
        assert_eq!(why, "prefix 1 (patch 1) does not build");

        let warned = [
            prefix(0, true, Some(true), None),
            prefix(1, true, Some(true), Some((Verdict::Fail, GuestExit::Ok))),
        ];
        assert_eq!(
            Report::decide(
                &warned,
                &[finding("WARNING in ceph_unlink")],
                false,
                &none(),
                None
            ),
            (Verdict::Fail, "WARNING in ceph_unlink".into())
        );

        // A guest exit the protocol does not define is the harness's trouble, not the kernel's.
        let odd = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::InfraError, GuestExit::Unexpected)),
        )];
        assert_eq!(
            Report::decide(&odd, &[finding("x")], false, &none(), None).0,
            Verdict::InfraError
        );

        let untested = [prefix(0, true, Some(true), None)];
        assert_eq!(
            Report::decide(&untested, &[], false, &none(), None).0,
            Verdict::InfraError
        );

        let failed_without_finding = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::Fail, GuestExit::WorkloadFailed)),
        )];
        assert_eq!(
            Report::decide(&failed_without_finding, &[], false, &none(), None).0,
            Verdict::Fail
        );

        // A hazard is shown, not failing, unless the job says so.
        let passed = [prefix(
            0,
            true,
            Some(true),
            Some((Verdict::Pass, GuestExit::Ok)),
        )];
        let mut hazard = finding("HAZARD: final iput in the ceph messenger worker");
        hazard.kind = FindingKind::Hazard;
        assert_eq!(
            Report::decide(&passed, std::slice::from_ref(&hazard), false, &none(), None).0,
            Verdict::Pass
        );
        assert_eq!(
            Report::decide(&passed, &[hazard], true, &none(), None).0,
            Verdict::Fail
        );
    }
}
