//! `harness export`: a run's report for other tools. JSON is the report itself; JUnit XML maps
//! the run onto what CI systems show natively: one test suite per prefix (apply, build, and each
//! workload of each guest boot as a test case), and one for the bisection and the revert.

use harness_core::finding::{Finding, FindingKind};
use harness_core::report::{Report, TestResult, Verdict};
use harness_proto::fstests::Status;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// One test case: its name, time, and how it failed (message, text), if it did.
struct Case {
    class: String,
    name: String,
    seconds: f64,
    failure: Option<(String, String)>,
    /// `skipped` with a reason (not built, not tested).
    skipped: Option<String>,
    /// An infrastructure fault: `error`, not `failure`.
    error: Option<String>,
    console: Option<String>,
}

struct Suite {
    name: String,
    cases: Vec<Case>,
}

fn excerpts(findings: &[&Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "[{}] {} ({} line {})\n{}",
                f.kind,
                f.title,
                f.console.as_deref().unwrap_or("console"),
                f.line,
                f.excerpt
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The test cases of one guest boot: one per workload that ran, plus one for the kernel's
/// console outside the workloads (boot, shutdown) when it said something.
fn boot_cases(r: &Report, k: usize, n: usize, t: &TestResult) -> Vec<Case> {
    let class = format!("prefix-{k}");
    let attempt = if n > 1 {
        format!(" (attempt {n})")
    } else {
        String::new()
    };
    let mine: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.prefix == Some(k) && f.console.as_deref().is_none_or(|c| c == t.console))
        .collect();
    let mut cases = Vec::new();
    for w in &t.workloads {
        // A test of a test suite (fstests) is a case of its own (below).
        let found: Vec<&Finding> = mine
            .iter()
            .copied()
            .filter(|f| f.workload() == Some(w.name.as_str()) && f.test().is_none())
            .collect();
        let tests_failed = t.fstests.iter().any(|x| x.status == Status::Fail);
        let failure = if !found.is_empty() {
            Some((found[0].title.clone(), excerpts(&found)))
        } else if !w.ok && !tests_failed {
            Some((format!("workload {} failed", w.name), String::new()))
        } else {
            None
        };
        cases.push(Case {
            class: class.clone(),
            name: format!("{}{attempt}", w.name),
            seconds: w.seconds,
            failure,
            skipped: None,
            error: None,
            console: Some(t.console.clone()),
        });
    }
    // One case per fstests test: failed (its findings: the signature and the diff), skipped
    // (not run, with fstests' reason) or passed.
    for x in &t.fstests {
        let found: Vec<&Finding> = mine
            .iter()
            .copied()
            .filter(|f| f.test() == Some(x.test.as_str()))
            .collect();
        cases.push(Case {
            class: format!("{class}.fstests"),
            name: format!("{}{attempt}", x.test),
            seconds: x.seconds,
            failure: match x.status {
                Status::Fail => Some((
                    harness_proto::fstests::signature(&x.test),
                    if found.is_empty() {
                        x.reason.clone()
                    } else {
                        excerpts(&found)
                    },
                )),
                _ => None,
            },
            skipped: (x.status == Status::Notrun).then(|| x.reason.clone()),
            error: None,
            console: x.diff.clone().or_else(|| Some(t.console.clone())),
        });
    }
    let ran: Vec<&str> = t.workloads.iter().map(|w| w.name.as_str()).collect();
    let elsewhere: Vec<&Finding> = mine
        .iter()
        .copied()
        .filter(|f| f.kind != FindingKind::Hazard)
        .filter(|f| f.workload().is_none_or(|w| !ran.contains(&w)))
        .collect();
    let error = (t.verdict == Verdict::InfraError)
        .then(|| t.infra.clone().unwrap_or_else(|| t.exit.incomplete()));
    if !elsewhere.is_empty() || error.is_some() || t.workloads.is_empty() {
        cases.push(Case {
            class,
            name: format!("guest{attempt}"),
            seconds: t.seconds,
            failure: match elsewhere.first() {
                Some(f) => Some((f.title.clone(), excerpts(&elsewhere))),
                None if t.verdict == Verdict::Fail => Some((t.exit.signature(), String::new())),
                None => None,
            },
            skipped: None,
            error,
            console: Some(t.console.clone()),
        });
    }
    cases
}

fn suites(r: &Report) -> Vec<Suite> {
    let mut out = Vec::new();
    for p in &r.prefixes {
        let mut cases = Vec::new();
        let class = format!("prefix-{}", p.index);
        if p.index > 0 {
            cases.push(Case {
                class: class.clone(),
                name: "apply".into(),
                seconds: 0.0,
                failure: p
                    .apply_error
                    .as_ref()
                    .map(|e| (format!("patch {} does not apply", p.index), e.clone())),
                skipped: (!p.applied && p.apply_error.is_none())
                    .then(|| "an earlier patch did not apply".to_string()),
                error: None,
                console: None,
            });
        }
        if p.applied {
            cases.push(Case {
                class: class.clone(),
                name: "build".into(),
                seconds: p.build_seconds.unwrap_or(0.0),
                failure: (p.built == Some(false)).then(|| {
                    (
                        format!("prefix {} does not build", p.index),
                        p.build_error.clone().unwrap_or_default(),
                    )
                }),
                skipped: p.built.is_none().then(|| "not built".to_string()),
                error: None,
                console: p.build_log.clone(),
            });
        }
        let attempts: Vec<&TestResult> = if p.attempts.is_empty() {
            p.test.iter().collect()
        } else {
            p.attempts.iter().collect()
        };
        for (i, t) in attempts.iter().enumerate() {
            cases.extend(boot_cases(r, p.index, i + 1, t));
        }
        // The base's own failures, once the series is known to fix them or to share them, are
        // not failures of this run.
        if p.index == 0 && (!r.fixes.is_empty() || !r.pre_existing.is_empty()) {
            for c in &mut cases {
                if let Some((msg, _)) = c.failure.take() {
                    c.skipped = Some(format!("the base's own failure, not the series': {msg}"));
                }
            }
        }
        out.push(Suite {
            name: format!("prefix {}: {}", p.index, p.subject),
            cases,
        });
    }
    if !r.fixes.is_empty() || !r.pre_existing.is_empty() {
        let mut cases = Vec::new();
        for f in &r.fixes {
            cases.push(Case {
                class: "whose".into(),
                name: format!("fixes \"{}\"", f.signature),
                seconds: 0.0,
                failure: None,
                skipped: None,
                error: None,
                console: None,
            });
            if !f.confident {
                cases.last_mut().unwrap().skipped = Some(harness_core::fix::describe_fix(f));
            }
        }
        for pe in &r.pre_existing {
            cases.push(Case {
                class: "whose".into(),
                name: format!("pre-existing \"{}\"", pe.signature),
                seconds: 0.0,
                failure: None,
                skipped: Some(harness_core::fix::describe_pre_existing(pe)),
                error: None,
                console: None,
            });
        }
        out.push(Suite {
            name: "whose failures".into(),
            cases,
        });
    }
    if let Some(c) = &r.culprit {
        let mut cases = vec![Case {
            class: "bisect".into(),
            name: format!("culprit of \"{}\"", c.signature),
            seconds: c.found_after_s,
            failure: (c.index > 0).then(|| {
                (
                    c.describe(),
                    harness_core::wording::bisect_text(c, &r.bisection, r.revert.as_ref()),
                )
            }),
            skipped: None,
            error: None,
            console: None,
        }];
        if let Some(rv) = &r.revert {
            for t in [&rv.without_culprit, &rv.whole_series] {
                let msg = format!("{}: {} after {} runs", t.what, t.verdict, t.runs);
                cases.push(Case {
                    class: "revert".into(),
                    name: t.what.clone(),
                    seconds: 0.0,
                    failure: matches!(
                        t.verdict,
                        Verdict::Fail | Verdict::ApplyFailed | Verdict::BuildFailed
                    )
                    .then(|| (msg.clone(), t.note.clone().unwrap_or_default())),
                    skipped: None,
                    error: (t.verdict == Verdict::InfraError).then(|| msg.clone()),
                    console: t.file.clone(),
                });
            }
        }
        out.push(Suite {
            name: "bisection".into(),
            cases,
        });
    }
    out
}

/// The report as JUnit XML.
pub fn junit(r: &Report) -> String {
    let suites = suites(r);
    let count = |f: &dyn Fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .flat_map(|s| &s.cases)
            .filter(|c| f(c))
            .count()
    };
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let ev = |w: &mut Writer<Vec<u8>>, e: Event| w.write_event(e).expect("writing to a Vec");
    ev(
        &mut w,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", format!("cephfs-harness {}", r.run_id).as_str()));
    root.push_attribute(("tests", count(&|_| true).to_string().as_str()));
    root.push_attribute((
        "failures",
        count(&|c| c.failure.is_some()).to_string().as_str(),
    ));
    root.push_attribute(("errors", count(&|c| c.error.is_some()).to_string().as_str()));
    root.push_attribute(("time", format!("{:.3}", r.seconds).as_str()));
    ev(&mut w, Event::Start(root));
    for s in &suites {
        let mut e = BytesStart::new("testsuite");
        e.push_attribute(("name", s.name.as_str()));
        e.push_attribute(("tests", s.cases.len().to_string().as_str()));
        let n = |f: &dyn Fn(&Case) -> bool| s.cases.iter().filter(|c| f(c)).count().to_string();
        e.push_attribute(("failures", n(&|c| c.failure.is_some()).as_str()));
        e.push_attribute(("errors", n(&|c| c.error.is_some()).as_str()));
        e.push_attribute(("skipped", n(&|c| c.skipped.is_some()).as_str()));
        e.push_attribute((
            "time",
            format!("{:.3}", s.cases.iter().map(|c| c.seconds).sum::<f64>()).as_str(),
        ));
        e.push_attribute(("timestamp", r.started_at.as_str()));
        ev(&mut w, Event::Start(e));
        ev(&mut w, Event::Start(BytesStart::new("properties")));
        for (k, v) in [
            ("run", r.run_id.as_str()),
            ("series", r.series.subject.as_str()),
            ("job", r.job.as_str()),
            ("kernel", r.kernel.as_str()),
            ("verdict", r.verdict.as_str()),
        ] {
            let mut p = BytesStart::new("property");
            p.push_attribute(("name", k));
            p.push_attribute(("value", v));
            ev(&mut w, Event::Empty(p));
        }
        ev(&mut w, Event::End(BytesEnd::new("properties")));
        for c in &s.cases {
            let mut e = BytesStart::new("testcase");
            e.push_attribute(("classname", c.class.as_str()));
            e.push_attribute(("name", c.name.as_str()));
            e.push_attribute(("time", format!("{:.3}", c.seconds).as_str()));
            ev(&mut w, Event::Start(e));
            if let Some((msg, text)) = &c.failure {
                let mut f = BytesStart::new("failure");
                f.push_attribute(("message", msg.as_str()));
                f.push_attribute(("type", "kernel"));
                ev(&mut w, Event::Start(f));
                ev(&mut w, Event::Text(BytesText::new(text)));
                ev(&mut w, Event::End(BytesEnd::new("failure")));
            }
            if let Some(msg) = &c.error {
                let mut f = BytesStart::new("error");
                f.push_attribute(("message", msg.as_str()));
                f.push_attribute(("type", "infra"));
                ev(&mut w, Event::Empty(f));
            }
            if let Some(why) = &c.skipped {
                let mut f = BytesStart::new("skipped");
                f.push_attribute(("message", why.as_str()));
                ev(&mut w, Event::Empty(f));
            }
            if let Some(file) = &c.console {
                ev(&mut w, Event::Start(BytesStart::new("system-out")));
                ev(
                    &mut w,
                    Event::Text(BytesText::new(&format!("[[ATTACHMENT|{file}]]"))),
                );
                ev(&mut w, Event::End(BytesEnd::new("system-out")));
            }
            ev(&mut w, Event::End(BytesEnd::new("testcase")));
        }
        ev(&mut w, Event::End(BytesEnd::new("testsuite")));
    }
    ev(&mut w, Event::End(BytesEnd::new("testsuites")));
    let mut s = String::from_utf8(w.into_inner()).expect("XML of UTF-8 strings");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::report::{GuestExit, PrefixResult, SeriesSummary, WorkloadRun};

    fn workload(name: &str, ok: bool) -> WorkloadRun {
        WorkloadRun {
            name: name.into(),
            seed: 1,
            ok,
            seconds: 2.0,
            ops: 10,
            ops_per_s: 5.0,
            counters: Default::default(),
        }
    }

    fn report() -> Report {
        let boot = |console: &str, verdict| TestResult {
            verdict,
            exit: GuestExit::Ok,
            qemu_status: Some(1),
            seconds: 9.0,
            console: console.into(),
            findings: 0,
            infra: None,
            workloads: vec![
                workload("umount-stress", true),
                workload("iput-stress", true),
            ],
            evictions: Default::default(),
            fstests: Vec::new(),
            sessions_evicted: 0,
        };
        let mut base = PrefixResult::new(0, "(base)");
        base.applied = true;
        base.built = Some(true);
        base.set_attempts(vec![boot("console-prefix-0.log", Verdict::Pass)]);
        let mut p1 = PrefixResult::new(1, "ceph: <b>break</b> & \"quote\"");
        p1.applied = true;
        p1.built = Some(true);
        p1.set_attempts(vec![boot("console-prefix-1.log", Verdict::Fail)]);
        let mut p2 = PrefixResult::new(2, "ceph: does not build");
        p2.applied = true;
        p2.built = Some(false);
        p2.build_error = Some("error: ]]> </failure>".into());
        let p3 = PrefixResult::new(3, "ceph: not applied");
        Report {
            run_id: "r1".into(),
            verdict: Verdict::Fail,
            reason: "WARNING in ceph_unlink".into(),
            series: SeriesSummary {
                subject: "s <script>".into(),
                patch_count: 3,
                sources: vec![],
            },
            job: "default".into(),
            kernel: "k".into(),
            accel: None,
            prefixes: vec![base, p1, p2, p3],
            findings: vec![Finding {
                kind: FindingKind::Warning,
                title: "WARNING in ceph_unlink".into(),
                excerpt: "<script>alert(1)</script>\n]]>".into(),
                line: 12,
                time: None,
                prefix: Some(1),
                console: Some("console-prefix-1.log".into()),
                during: Some(harness_core::finding::During::Workload(
                    "iput-stress".into(),
                )),
                outside: None,
                step: None,
            }],
            coverage: vec![],
            phases: vec![],
            started_at: "2026-01-01T00:00:00Z".into(),
            seconds: 60.0,
            culprit: None,
            bisection: vec![],
            revert: None,
            fixes: Vec::new(),
            pre_existing: Vec::new(),
            replayed: 0,
        }
    }

    /// (classname, name, failure message) of every test case, read back with an XML parser.
    fn cases(xml: &str) -> Vec<(String, String, Option<String>, bool)> {
        let mut r = quick_xml::Reader::from_str(xml);
        let mut out: Vec<(String, String, Option<String>, bool)> = Vec::new();
        let attr = |e: &BytesStart, k: &str| {
            e.try_get_attribute(k).unwrap().map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
        };
        loop {
            match r.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => match e.name().into_inner() {
                    "testcase" => out.push((
                        attr(&e, "classname").unwrap(),
                        attr(&e, "name").unwrap(),
                        None,
                        false,
                    )),
                    "failure" => out.last_mut().unwrap().2 = attr(&e, "message"),
                    "skipped" => out.last_mut().unwrap().3 = true,
                    _ => {}
                },
                _ => {}
            }
        }
        out
    }

    #[test]
    fn junit_has_a_case_per_stage_and_workload() {
        let xml = junit(&report());
        let c = cases(&xml);
        let find = |class: &str, name: &str| {
            c.iter()
                .find(|x| x.0 == class && x.1 == name)
                .unwrap_or_else(|| panic!("{class} {name} in {c:?}"))
        };
        assert_eq!(find("prefix-0", "umount-stress").2, None);
        // The WARN is attributed to the workload it happened in.
        assert_eq!(
            find("prefix-1", "iput-stress").2.as_deref(),
            Some("WARNING in ceph_unlink")
        );
        assert_eq!(find("prefix-1", "umount-stress").2, None);
        assert_eq!(
            find("prefix-2", "build").2.as_deref(),
            Some("prefix 2 does not build")
        );
        assert!(find("prefix-3", "apply").3, "not applied is skipped");
        assert!(xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!xml.contains("<script>"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(
            xml.contains("testsuites name=\"cephfs-harness r1\" tests=\"10\" failures=\"2\""),
            "{xml}"
        );
    }

    #[test]
    fn junit_has_a_case_per_fstests_test() {
        use harness_core::report::FstestsResult;
        let mut r = report();
        let t = |test: &str, status, reason: &str| FstestsResult {
            test: test.into(),
            status,
            seconds: 3.0,
            reason: reason.into(),
            diff: (status == Status::Fail)
                .then(|| format!("fstests-prefix-1/{}.out.bad.diff", test.replace('/', "-"))),
            full: None,
        };
        let p1 = &mut r.prefixes[1];
        let mut boot = p1.attempts[0].clone();
        boot.workloads = vec![workload("fstests", false)];
        boot.fstests = vec![
            t("generic/001", Status::Pass, ""),
            t(
                "ceph/002",
                Status::Notrun,
                "this test requires a valid $SCRATCH_DEV",
            ),
            t("generic/313", Status::Fail, "- output mismatch"),
        ];
        p1.set_attempts(vec![boot]);
        r.findings = vec![Finding {
            kind: FindingKind::Workload,
            title: "fstests generic/313".into(),
            excerpt: "fstests: - output mismatch\n+mtime not updated".into(),
            line: 40,
            time: None,
            prefix: Some(1),
            console: Some("console-prefix-1.log".into()),
            during: Some(harness_core::finding::During::Test {
                workload: "fstests".into(),
                test: "generic/313".into(),
            }),
            outside: None,
            step: None,
        }];
        let xml = junit(&r);
        let c = cases(&xml);
        let find = |name: &str| {
            c.iter()
                .find(|x| x.0 == "prefix-1.fstests" && x.1 == name)
                .unwrap_or_else(|| panic!("{name} in {c:?}"))
        };
        assert_eq!(find("generic/001").2, None);
        assert!(find("ceph/002").3, "not run is skipped");
        assert_eq!(
            find("generic/313").2.as_deref(),
            Some("fstests generic/313")
        );
        assert!(xml.contains("+mtime not updated"));
        assert!(xml.contains("[[ATTACHMENT|fstests-prefix-1/generic-313.out.bad.diff]]"));
        // The workload's own case does not count the test's failure twice.
        let w = c
            .iter()
            .find(|x| x.0 == "prefix-1" && x.1 == "fstests")
            .unwrap();
        assert_eq!(w.2, None);
    }
}
