//! The patch × workload matrix of a run: one row per prefix, one column per workload the guests
//! ran. Pure: a report in, cells out.
//!
//! A kernel finding belongs to the workload that was running when it appeared (`during ==
//! "workload NAME"`); a workload that reported `ok: false` fails with its own findings. Findings of
//! the boot, the shutdown or of no known phase are listed per row, beside the cells.

use harness_core::finding::{Finding, FindingKind};
use harness_core::report::{PrefixResult, Report, TestResult};
use serde::Serialize;

/// What a workload did on a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Ran in every boot that got to it, without a finding.
    Pass,
    /// Failed in at least one boot (`signatures` says with what).
    Fail,
    /// The prefix booted, but the guest never started this workload (it died earlier).
    NotRun,
    /// The prefix built but was not tested.
    Skipped,
    /// The prefix did not build (or its build was not attempted).
    NotBuilt,
    /// The prefix's patch did not apply (or an earlier one did not).
    NotApplied,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Pass => "pass",
            CellState::Fail => "fail",
            CellState::NotRun => "not-run",
            CellState::Skipped => "skipped",
            CellState::NotBuilt => "not-built",
            CellState::NotApplied => "not-applied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub state: CellState,
    /// Boots in which the workload ran, and in which it failed.
    pub runs: usize,
    pub failed: usize,
    /// Finding titles of its failures, first seen first.
    pub signatures: Vec<String>,
    /// What the cell says: "pass", "fail 2/3", "not run", ...
    pub label: String,
}

impl Cell {
    fn new(state: CellState, runs: usize, failed: usize, signatures: Vec<String>) -> Cell {
        let label = match state {
            CellState::Pass if runs > 1 => format!("pass ×{runs}"),
            CellState::Fail if runs > 1 => format!("fail {failed}/{runs}"),
            CellState::NotRun => "not run".into(),
            CellState::NotBuilt => "not built".into(),
            CellState::NotApplied => "not applied".into(),
            s => s.as_str().into(),
        };
        Cell {
            state,
            runs,
            failed,
            signatures,
            label,
        }
    }
}

/// How far a prefix got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowState {
    NotApplied,
    NotBuilt,
    /// Built, not booted.
    Untested,
    Tested,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub index: usize,
    pub subject: String,
    pub state: RowState,
    /// The prefix's guest verdict (its first failing boot, else its last), if it was tested.
    pub verdict: Option<String>,
    /// Guest boots of the prefix.
    pub boots: usize,
    pub cells: Vec<Cell>,
    /// Titles of findings not attributed to a workload (boot, shutdown, unknown phase; hazards).
    pub other: Vec<String>,
    /// The whole row in one cell (for a run whose guests ran no workload at all): fail if a
    /// workload failed or the prefix's guest verdict is fail, with every signature.
    pub summary: Cell,
    /// The bisection's runs of this prefix (fail: with the bisected signature), if it made any.
    pub bisection: Option<Cell>,
    /// fstests on this prefix, over its boots (None: it ran none).
    pub fstests: Option<FstestsCell>,
}

/// fstests outcomes of a prefix: counts over its boots, and the tests that failed or did not run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FstestsCell {
    pub pass: usize,
    pub fail: usize,
    pub notrun: usize,
    /// "12 tests: 10 pass, 1 fail, 1 not run"
    pub label: String,
    /// (test, the diff artifact) of each failure, in order.
    pub failed: Vec<(String, Option<String>)>,
    /// (test, fstests' reason) of each test not run.
    pub notrun_tests: Vec<(String, String)>,
}

fn fstests_cell(boots: &[&TestResult]) -> Option<FstestsCell> {
    use harness_core::report::FstestsStatus as Status;
    let all: Vec<_> = boots.iter().flat_map(|b| &b.fstests).collect();
    if all.is_empty() {
        return None;
    }
    let n = |s: Status| all.iter().filter(|t| t.status == s).count();
    let (pass, fail, notrun) = (n(Status::Pass), n(Status::Fail), n(Status::Notrun));
    Some(FstestsCell {
        pass,
        fail,
        notrun,
        label: format!(
            "{} tests: {pass} pass, {fail} fail, {notrun} not run",
            all.len()
        ),
        failed: all
            .iter()
            .filter(|t| t.status == Status::Fail)
            .map(|t| (t.test.clone(), t.diff.clone()))
            .collect(),
        notrun_tests: all
            .iter()
            .filter(|t| t.status == Status::Notrun)
            .map(|t| (t.test.clone(), t.reason.clone()))
            .collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// The columns: workloads in the order the guests first ran them.
    pub workloads: Vec<String>,
    /// The run was bisected: rows have a bisection column.
    pub bisected: bool,
    /// Some prefix ran fstests: rows have an fstests column.
    pub fstests: bool,
    pub rows: Vec<Row>,
}

/// The workload a finding was seen during, if any.
fn workload_of(f: &Finding) -> Option<&str> {
    f.workload()
}

/// The boots of a prefix: its attempts, or the one summarised test of an older report.
fn boots(p: &PrefixResult) -> Vec<&TestResult> {
    if p.attempts.is_empty() {
        p.test.iter().collect()
    } else {
        p.attempts.iter().collect()
    }
}

/// The findings of one boot: those pointing into its console; without a console name (older
/// reports), those of its prefix.
fn findings_of<'a>(
    report: &'a Report,
    prefix: usize,
    boot: &TestResult,
) -> impl Iterator<Item = &'a Finding> {
    let console = boot.console.clone();
    report.findings.iter().filter(move |f| match &f.console {
        Some(c) => *c == console,
        None => f.prefix == Some(prefix),
    })
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Per boot and workload: did it run, did it fail, with what.
struct BootOutcome {
    /// (workload, failed, signatures)
    workloads: Vec<(String, bool, Vec<String>)>,
    other: Vec<String>,
}

fn boot_outcome(report: &Report, prefix: usize, boot: &TestResult) -> BootOutcome {
    let mut out = BootOutcome {
        workloads: Vec::new(),
        other: Vec::new(),
    };
    let findings: Vec<&Finding> = findings_of(report, prefix, boot).collect();
    for w in &boot.workloads {
        if !out.workloads.iter().any(|(n, _, _)| *n == w.name) {
            out.workloads.push((w.name.clone(), false, Vec::new()));
        }
        if !w.ok {
            let e = out
                .workloads
                .iter_mut()
                .find(|(n, _, _)| *n == w.name)
                .expect("just pushed");
            e.1 = true;
        }
    }
    for f in &findings {
        match workload_of(f) {
            Some(name) if f.kind != FindingKind::Hazard => {
                // A workload whose guest died under it has a start but no end: it ran.
                let i = match out.workloads.iter().position(|(n, _, _)| n == name) {
                    Some(i) => i,
                    None => {
                        out.workloads.push((name.to_string(), false, Vec::new()));
                        out.workloads.len() - 1
                    }
                };
                out.workloads[i].1 = true;
                push_unique(&mut out.workloads[i].2, &f.title);
            }
            _ => push_unique(&mut out.other, &f.title),
        }
    }
    for (_, failed, sigs) in &mut out.workloads {
        if *failed && sigs.is_empty() {
            sigs.push("workload reported failure".into());
        }
    }
    out
}

fn summarise(state: RowState, cells: &[Cell], other: &[String], test: Option<&TestResult>) -> Cell {
    match state {
        RowState::NotApplied => Cell::new(CellState::NotApplied, 0, 0, vec![]),
        RowState::NotBuilt => Cell::new(CellState::NotBuilt, 0, 0, vec![]),
        RowState::Untested => Cell::new(CellState::Skipped, 0, 0, vec![]),
        RowState::Tested => {
            let mut sigs = Vec::new();
            for c in cells.iter().filter(|c| c.state == CellState::Fail) {
                for s in &c.signatures {
                    push_unique(&mut sigs, s);
                }
            }
            let failed = test.is_some_and(|t| t.verdict == harness_core::report::Verdict::Fail);
            if failed || !sigs.is_empty() {
                for s in other {
                    push_unique(&mut sigs, s);
                }
                Cell::new(CellState::Fail, 0, 0, sigs)
            } else if cells.iter().any(|c| c.state == CellState::Pass) || test.is_some() {
                Cell::new(CellState::Pass, 0, 0, vec![])
            } else {
                Cell::new(CellState::NotRun, 0, 0, vec![])
            }
        }
    }
}

/// What the bisection's runs of a prefix said about the bisected signature (runs that were not
/// evidence, another signature or a skip, are not counted).
fn bisection_cell(report: &Report, prefix: usize) -> Option<Cell> {
    use harness_core::bisect::Outcome;
    let runs: Vec<_> = report
        .bisection
        .iter()
        .filter(|b| b.prefix == prefix)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let failed = runs.iter().filter(|b| b.outcome == Outcome::Fail).count();
    let passed = runs.iter().filter(|b| b.outcome == Outcome::Pass).count();
    let sig = report.culprit.as_ref().map(|c| c.signature.clone());
    Some(if failed > 0 {
        Cell::new(
            CellState::Fail,
            failed + passed,
            failed,
            sig.into_iter().collect(),
        )
    } else if passed > 0 {
        Cell::new(CellState::Pass, passed, 0, vec![])
    } else {
        Cell::new(CellState::Skipped, 0, 0, vec![])
    })
}

/// The matrix of a finished run.
pub fn matrix(report: &Report) -> Matrix {
    let outcomes: Vec<Vec<BootOutcome>> = report
        .prefixes
        .iter()
        .map(|p| {
            boots(p)
                .into_iter()
                .map(|b| boot_outcome(report, p.index, b))
                .collect()
        })
        .collect();
    let mut workloads: Vec<String> = Vec::new();
    for boot in outcomes.iter().flatten() {
        for (name, _, _) in &boot.workloads {
            push_unique(&mut workloads, name);
        }
    }
    let rows: Vec<Row> = report
        .prefixes
        .iter()
        .zip(&outcomes)
        .map(|(p, boots)| {
            let state = if p.index > 0 && !p.applied {
                RowState::NotApplied
            } else if p.built != Some(true) {
                RowState::NotBuilt
            } else if boots.is_empty() {
                RowState::Untested
            } else {
                RowState::Tested
            };
            let mut other = Vec::new();
            for b in boots {
                for t in &b.other {
                    push_unique(&mut other, t);
                }
            }
            let cells: Vec<Cell> = workloads
                .iter()
                .map(|w| match state {
                    RowState::NotApplied => Cell::new(CellState::NotApplied, 0, 0, vec![]),
                    RowState::NotBuilt => Cell::new(CellState::NotBuilt, 0, 0, vec![]),
                    RowState::Untested => Cell::new(CellState::Skipped, 0, 0, vec![]),
                    RowState::Tested => {
                        let (mut runs, mut failed, mut sigs) = (0, 0, Vec::new());
                        for b in boots {
                            if let Some((_, f, s)) = b.workloads.iter().find(|(n, _, _)| n == w) {
                                runs += 1;
                                if *f {
                                    failed += 1;
                                    for t in s {
                                        push_unique(&mut sigs, t);
                                    }
                                }
                            }
                        }
                        let st = if failed > 0 {
                            CellState::Fail
                        } else if runs > 0 {
                            CellState::Pass
                        } else {
                            CellState::NotRun
                        };
                        Cell::new(st, runs, failed, sigs)
                    }
                })
                .collect();
            let summary = summarise(state, &cells, &other, p.test.as_ref());
            Row {
                fstests: fstests_cell(&self::boots(p)),
                bisection: bisection_cell(report, p.index),
                summary,
                index: p.index,
                subject: p.subject.clone(),
                state,
                verdict: p.test.as_ref().map(|t| t.verdict.as_str().to_string()),
                boots: boots.len(),
                cells,
                other,
            }
        })
        .collect();
    Matrix {
        workloads,
        bisected: !report.bisection.is_empty(),
        fstests: rows.iter().any(|r: &Row| r.fstests.is_some()),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::report::{GuestExit, SeriesSummary, Verdict, WorkloadRun};

    fn wl(name: &str, ok: bool) -> WorkloadRun {
        WorkloadRun {
            name: name.into(),
            seed: 1,
            ok,
            seconds: 1.0,
            ops: 10,
            ops_per_s: 10.0,
            counters: Default::default(),
        }
    }

    fn boot(console: &str, verdict: Verdict, workloads: Vec<WorkloadRun>) -> TestResult {
        TestResult {
            verdict,
            exit: GuestExit::Ok,
            qemu_status: Some(1),
            seconds: 10.0,
            console: console.into(),
            findings: 0,
            infra: None,
            workloads,
            evictions: Default::default(),
            fstests: Vec::new(),
            sessions_evicted: 0,
        }
    }

    fn finding(kind: FindingKind, title: &str, console: &str, during: Option<&str>) -> Finding {
        Finding {
            kind,
            title: title.into(),
            excerpt: "x".into(),
            line: 1,
            time: None,
            prefix: None,
            console: Some(console.into()),
            during: during.and_then(harness_core::finding::During::parse),
            outside: None,
            step: None,
        }
    }

    fn prefix(
        index: usize,
        applied: bool,
        built: Option<bool>,
        boots: Vec<TestResult>,
    ) -> PrefixResult {
        let mut p = PrefixResult::new(index, format!("patch {index}"));
        p.applied = applied;
        p.built = built;
        p.set_attempts(boots);
        p
    }

    fn report(prefixes: Vec<PrefixResult>, findings: Vec<Finding>) -> Report {
        Report {
            run_id: "r".into(),
            verdict: Verdict::Fail,
            reason: String::new(),
            series: SeriesSummary {
                subject: "s".into(),
                patch_count: prefixes.len().saturating_sub(1),
                sources: vec![],
            },
            job: "default".into(),
            kernel: "k".into(),
            accel: None,
            prefixes,
            findings,
            coverage: vec![],
            phases: vec![],
            started_at: String::new(),
            seconds: 0.0,
            culprit: None,
            bisection: vec![],
            revert: None,
            fixes: Vec::new(),
            pre_existing: Vec::new(),
            replayed: 0,
        }
    }

    fn states(m: &Matrix, row: usize) -> Vec<CellState> {
        m.rows[row].cells.iter().map(|c| c.state).collect()
    }

    #[test]
    fn fstests_counts_per_prefix_and_the_failed_tests() {
        use harness_core::report::{FstestsResult, FstestsStatus as S};
        let t = |test: &str, status: S| FstestsResult {
            test: test.into(),
            status,
            seconds: 1.0,
            reason: if status == S::Notrun {
                "needs fsgqa".into()
            } else {
                String::new()
            },
            diff: (status == S::Fail)
                .then(|| format!("fstests-prefix-1/{}.out.bad.diff", test.replace('/', "-"))),
            full: None,
        };
        let mut good = boot(
            "console-prefix-0.log",
            Verdict::Pass,
            vec![wl("fstests", true)],
        );
        good.fstests = vec![t("generic/001", S::Pass), t("generic/313", S::Pass)];
        let mut bad = boot(
            "console-prefix-1.log",
            Verdict::Fail,
            vec![wl("fstests", false)],
        );
        bad.fstests = vec![
            t("generic/001", S::Pass),
            t("generic/313", S::Fail),
            t("ceph/002", S::Notrun),
        ];
        let m = matrix(&report(
            vec![
                prefix(0, true, Some(true), vec![good]),
                prefix(1, true, Some(true), vec![bad]),
                prefix(2, true, Some(false), vec![]),
            ],
            vec![finding(
                FindingKind::Workload,
                "fstests generic/313",
                "console-prefix-1.log",
                Some("workload fstests generic/313"),
            )],
        ));
        assert!(m.fstests);
        let f0 = m.rows[0].fstests.as_ref().unwrap();
        assert_eq!((f0.pass, f0.fail, f0.notrun), (2, 0, 0));
        let f1 = m.rows[1].fstests.as_ref().unwrap();
        assert_eq!(f1.label, "3 tests: 1 pass, 1 fail, 1 not run");
        assert_eq!(
            f1.failed,
            [(
                "generic/313".to_string(),
                Some("fstests-prefix-1/generic-313.out.bad.diff".to_string())
            )]
        );
        assert_eq!(f1.notrun_tests[0].1, "needs fsgqa");
        assert!(m.rows[2].fstests.is_none());
        // The test's finding is the fstests workload's: its cell fails with the signature.
        assert_eq!(m.rows[1].cells[0].signatures, ["fstests generic/313"]);
    }

    #[test]
    fn every_kind_of_cell() {
        use CellState::*;
        let a = || wl("a", true);
        let b = || wl("b", true);
        let r = report(
            vec![
                // The base is prefix 0: never "applied" by git am, still tested.
                prefix(
                    0,
                    false,
                    Some(true),
                    vec![boot("c0", Verdict::Pass, vec![a(), b()])],
                ),
                prefix(1, true, Some(true), vec![]),
                // A WARNING while `b` ran; `b` still ended ok.
                prefix(
                    2,
                    true,
                    Some(true),
                    vec![boot("c2", Verdict::Fail, vec![a(), b()])],
                ),
                // An oops under `a` killed the guest: `b` never started.
                prefix(3, true, Some(true), vec![boot("c3", Verdict::Fail, vec![])]),
                // Died while booting.
                prefix(4, true, Some(true), vec![boot("c4", Verdict::Fail, vec![])]),
                prefix(5, true, Some(false), vec![]),
                prefix(6, false, None, vec![]),
            ],
            vec![
                finding(
                    FindingKind::Warning,
                    "WARNING in ceph_unlink",
                    "c2",
                    Some("workload b"),
                ),
                finding(
                    FindingKind::Oops,
                    "BUG: unable to handle page fault in ceph_x",
                    "c3",
                    Some("workload a"),
                ),
                finding(
                    FindingKind::Panic,
                    "Kernel panic - not syncing: boot",
                    "c4",
                    Some("boot"),
                ),
            ],
        );
        let m = matrix(&r);
        assert_eq!(m.workloads, ["a", "b"]);
        assert_eq!(states(&m, 0), [Pass, Pass]);
        assert_eq!(states(&m, 1), [Skipped, Skipped]);
        assert_eq!(states(&m, 2), [Pass, Fail]);
        assert_eq!(m.rows[2].cells[1].signatures, ["WARNING in ceph_unlink"]);
        assert_eq!(m.rows[2].cells[1].label, "fail");
        assert_eq!(states(&m, 3), [Fail, NotRun]);
        assert_eq!(
            m.rows[3].cells[0].signatures,
            ["BUG: unable to handle page fault in ceph_x"]
        );
        assert_eq!(states(&m, 4), [NotRun, NotRun]);
        assert_eq!(m.rows[4].other, ["Kernel panic - not syncing: boot"]);
        assert_eq!(states(&m, 5), [NotBuilt, NotBuilt]);
        assert_eq!(states(&m, 6), [NotApplied, NotApplied]);
        assert_eq!(m.rows[6].state, RowState::NotApplied);
        assert_eq!(m.rows[2].verdict.as_deref(), Some("fail"));
        let summary: Vec<CellState> = m.rows.iter().map(|r| r.summary.state).collect();
        assert_eq!(
            summary,
            [Pass, Skipped, Fail, Fail, Fail, NotBuilt, NotApplied]
        );
        assert_eq!(
            m.rows[4].summary.signatures,
            ["Kernel panic - not syncing: boot"]
        );
        assert_eq!(m.rows[2].summary.signatures, ["WARNING in ceph_unlink"]);
    }

    #[test]
    fn a_failed_workload_fails_with_its_own_finding_or_says_so() {
        let r = report(
            vec![prefix(
                0,
                true,
                Some(true),
                vec![boot(
                    "c0",
                    Verdict::Fail,
                    vec![wl("a", false), wl("b", false)],
                )],
            )],
            vec![finding(
                FindingKind::Workload,
                "data mismatch in file 3",
                "c0",
                Some("workload a"),
            )],
        );
        let m = matrix(&r);
        assert_eq!(m.rows[0].cells[0].signatures, ["data mismatch in file 3"]);
        assert_eq!(m.rows[0].cells[1].state, CellState::Fail);
        assert_eq!(m.rows[0].cells[1].signatures, ["workload reported failure"]);
    }

    #[test]
    fn repeats_are_counted_and_findings_go_to_their_own_boot() {
        let r = report(
            vec![prefix(
                0,
                true,
                Some(true),
                vec![
                    boot("c0-1", Verdict::Pass, vec![wl("a", true)]),
                    boot("c0-2", Verdict::Fail, vec![wl("a", true)]),
                    boot("c0-3", Verdict::Pass, vec![wl("a", true)]),
                ],
            )],
            vec![
                finding(
                    FindingKind::HungTask,
                    "INFO: task hung in ceph_fsync",
                    "c0-2",
                    Some("workload a"),
                ),
                // A bisection boot of the same prefix is not one of its attempts.
                finding(
                    FindingKind::Warning,
                    "WARNING in other",
                    "console-bisect-01-prefix-0.log",
                    Some("workload a"),
                ),
                // Hazards are shown, not failing.
                finding(
                    FindingKind::Hazard,
                    "HAZARD: final iput in the messenger",
                    "c0-3",
                    Some("workload a"),
                ),
            ],
        );
        let m = matrix(&r);
        let c = &m.rows[0].cells[0];
        assert_eq!((c.state, c.runs, c.failed), (CellState::Fail, 3, 1));
        assert_eq!(c.label, "fail 1/3");
        assert_eq!(c.signatures, ["INFO: task hung in ceph_fsync"]);
        assert_eq!(m.rows[0].other, ["HAZARD: final iput in the messenger"]);
        assert_eq!(m.rows[0].boots, 3);
    }

    #[test]
    fn an_older_report_without_console_names_attributes_by_prefix() {
        let mut f = finding(
            FindingKind::Warning,
            "WARNING in ceph_unlink",
            "",
            Some("workload a"),
        );
        f.console = None;
        f.prefix = Some(1);
        let mut p1 = PrefixResult::new(1, "p1");
        p1.applied = true;
        p1.built = Some(true);
        p1.test = Some(boot("c1", Verdict::Fail, vec![wl("a", true)]));
        let r = report(
            vec![
                prefix(
                    0,
                    true,
                    Some(true),
                    vec![boot("c0", Verdict::Pass, vec![wl("a", true)])],
                ),
                p1,
            ],
            vec![f],
        );
        let m = matrix(&r);
        assert_eq!(m.rows[0].cells[0].state, CellState::Pass);
        assert_eq!(m.rows[1].cells[0].state, CellState::Fail);
        assert_eq!(m.rows[1].cells[0].label, "fail");
    }

    #[test]
    fn bisection_runs_get_their_own_column() {
        use harness_core::bisect::Outcome;
        use harness_core::report::BisectRun;
        let run = |prefix, outcome| BisectRun {
            prefix,
            outcome,
            verify: false,
            verdict: Verdict::Pass,
            signatures: vec![],
            console: format!("console-bisect-prefix-{prefix}.log"),
            seconds: 5.0,
            leader: None,
            confidence: None,
            workloads: vec![],
            stopped: false,
            cut: None,
        };
        let mut r = report(
            vec![
                prefix(0, true, Some(true), vec![]),
                prefix(
                    1,
                    true,
                    Some(true),
                    vec![boot("c1", Verdict::Fail, vec![wl("u", true)])],
                ),
                prefix(2, true, Some(true), vec![]),
            ],
            vec![],
        );
        assert!(!matrix(&r).bisected);
        r.bisection = vec![
            run(0, Outcome::Pass),
            run(1, Outcome::Fail),
            run(0, Outcome::Pass),
            run(1, Outcome::Pass),
            run(1, Outcome::Fail),
            run(1, Outcome::Other),
        ];
        let m = matrix(&r);
        assert!(m.bisected);
        // The base was not tested in the test phase, but the bisection booted it twice.
        assert_eq!(m.rows[0].cells[0].state, CellState::Skipped);
        assert_eq!(m.rows[0].bisection.as_ref().unwrap().label, "pass ×2");
        let b1 = m.rows[1].bisection.as_ref().unwrap();
        assert_eq!((b1.state, b1.label.as_str()), (CellState::Fail, "fail 2/3"));
        assert!(m.rows[2].bisection.is_none());
    }
}
