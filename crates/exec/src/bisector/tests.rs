//! The bisection and revert drivers over a fake world: which prefixes are bad, how often they
//! fail, which do not build or boot, which boots the infrastructure spoils. The scenarios of the
//! bisection e2e tests (crates/cli/tests/e2e.rs) in milliseconds, and the driver checked against
//! the core simulator.

use std::cell::RefCell;

use harness_core::bisect::sim;
use proptest::prelude::*;

use super::*;

const SIG: &str = "WARNING in ceph_unlink";

/// The truth the fake tester draws from.
#[derive(Debug, Clone)]
struct World {
    patches: usize,
    /// First bad prefix.
    culprit: usize,
    /// How often a bad prefix fails with `SIG`.
    rate: f64,
    false_positive: f64,
    unbuildable: Vec<usize>,
    /// Prefixes whose kernel never starts the guest program.
    unbootable: Vec<usize>,
    /// Prefixes that fail with another signature every time.
    other: Vec<(usize, String)>,
    /// Boots (1-based, over every boot) the infrastructure spoils.
    infra: Vec<u32>,
    /// Without the culprit, this patch does not apply.
    without_does_not_apply: Option<usize>,
    /// Without the culprit, the series does not build.
    without_does_not_build: bool,
    /// This patch does not revert cleanly.
    revert_conflict: Option<usize>,
    /// The series without the culprit still has the bug.
    without_still_bad: bool,
}

impl World {
    fn new(patches: usize, culprit: usize, rate: f64) -> World {
        World {
            patches,
            culprit,
            rate,
            false_positive: 0.0,
            unbuildable: Vec::new(),
            unbootable: Vec::new(),
            other: Vec::new(),
            infra: Vec::new(),
            without_does_not_apply: None,
            without_does_not_build: false,
            revert_conflict: None,
            without_still_bad: false,
        }
    }

    fn subjects(&self) -> Vec<String> {
        (1..=self.patches).map(|k| format!("patch {k}")).collect()
    }

    fn built(&self) -> Vec<bool> {
        (0..=self.patches)
            .map(|k| !self.unbuildable.contains(&k))
            .collect()
    }
}

struct Fake {
    world: World,
    rng: fastrand::Rng,
    /// Every boot: (variant, console).
    boots: Vec<(Variant, String)>,
    /// What each boot was asked to run.
    plans: Vec<BootPlan>,
    /// The groups dropped by `without`.
    dropped: Vec<(usize, usize)>,
    /// The consoles of each batch booted at once (`boot_many`).
    batches: Vec<Vec<String>>,
    /// Phases begun and ended, progress lines.
    log: RefCell<Vec<String>>,
}

impl Fake {
    fn new(world: World, seed: u64) -> Fake {
        Fake {
            world,
            rng: fastrand::Rng::with_seed(seed),
            boots: Vec::new(),
            plans: Vec::new(),
            dropped: Vec::new(),
            batches: Vec::new(),
            log: RefCell::new(Vec::new()),
        }
    }

    /// Whether a variant has the bug, and one draw of the generator (as the simulator draws).
    fn draw(&mut self, variant: Variant) -> bool {
        let w = &self.world;
        let bad = match variant {
            Variant::Prefix(k) => k >= w.culprit,
            Variant::WithoutCulprit(_) => w.culprit == 0 || w.without_still_bad,
            Variant::Base => w.culprit == 0,
        };
        let p = if bad { w.rate } else { w.false_positive };
        self.rng.f64() < p
    }

    /// The test phase: `times` boots of the tip, as (prefix, verdict, titles, during).
    fn test_tip(&mut self, times: usize) -> Vec<Seen> {
        let n = self.world.patches;
        (0..times)
            .map(|_| {
                if self.draw(Variant::Prefix(n)) {
                    failed(n, during(), None)
                } else {
                    Seen {
                        prefix: n,
                        verdict: Verdict::Pass,
                        titles: Vec::new(),
                        at: Vec::new(),
                    }
                }
            })
            .collect()
    }

    fn progress_lines(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

impl Tester for Fake {
    async fn boot(
        &mut self,
        variant: Variant,
        console: &str,
        _what: &str,
        plan: &BootPlan,
    ) -> Result<Tried> {
        self.boots.push((variant, console.to_string()));
        self.plans.push(plan.clone());
        let stop = plan.stop_at.as_deref() == Some(SIG);
        let nth = self.boots.len() as u32;
        let k = variant.prefix();
        let w = &self.world;
        let tried = |verdict, titles: &[&str], booted| Tried {
            verdict,
            titles: titles.iter().map(|t| t.to_string()).collect(),
            booted,
            infra: (verdict == Verdict::InfraError).then(|| "cluster unhealthy".to_string()),
            seconds: 20.0,
            stopped: stop && titles.contains(&SIG),
        };
        if w.infra.contains(&nth) {
            return Ok(tried(Verdict::InfraError, &[], true));
        }
        if matches!(variant, Variant::Prefix(_)) {
            if w.unbootable.contains(&k) {
                return Ok(tried(Verdict::Fail, &["guest exit: Panic"], false));
            }
            if let Some((_, other)) = w.other.iter().find(|(p, _)| *p == k) {
                let other = other.clone();
                return Ok(tried(Verdict::Fail, &[other.as_str()], true));
            }
        }
        Ok(if self.draw(variant) {
            tried(Verdict::Fail, &[SIG], true)
        } else {
            tried(Verdict::Pass, &[], true)
        })
    }

    async fn boot_many(&mut self, boots: &[Planned], plan: &BootPlan) -> Result<Vec<Tried>> {
        self.batches
            .push(boots.iter().map(|b| b.console.clone()).collect());
        let mut out = Vec::new();
        for b in boots {
            out.push(self.boot(b.variant, &b.console, &b.what, plan).await?);
        }
        Ok(out)
    }

    async fn without(&mut self, first: usize, last: usize) -> Result<Without> {
        self.dropped.push((first, last));
        if let Some(patch) = self.world.without_does_not_apply {
            return Ok(Without::DoesNotApply {
                patch,
                message: "error: patch failed: fs/ceph/inode.c:12\nmore".into(),
            });
        }
        Ok(Without::Made {
            file: "without-culprit.mbox".into(),
            built: if self.world.without_does_not_build {
                Err("fs/ceph/dir.c:3: error: implicit declaration\nmore".into())
            } else {
                Ok(())
            },
        })
    }

    async fn revert_patch(
        &mut self,
        candidates: &[usize],
    ) -> Result<std::result::Result<String, (usize, String)>> {
        Ok(match self.world.revert_conflict {
            Some(k) if candidates.contains(&k) => Err((k, "conflict".into())),
            _ => Ok("revert-culprit.patch".into()),
        })
    }

    fn begin(&self, phase: Phase, detail: String) -> Span {
        self.log
            .borrow_mut()
            .push(format!("begin {}: {detail}", phase.as_str()));
        (phase, Instant::now())
    }
    fn end(&self, (phase, _): Span, ok: bool) {
        self.log
            .borrow_mut()
            .push(format!("end {} {ok}", phase.as_str()));
    }
    fn progress(&self, phase: Phase, message: String) {
        self.log
            .borrow_mut()
            .push(format!("{}: {message}", phase.as_str()));
    }
    fn elapsed(&self) -> f64 {
        self.boots.len() as f64 * 20.0
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Bisect in `fake`'s world after the test phase `seen`.
fn drive(fake: &mut Fake, model: Model, revert: bool, seen: &[Seen]) -> Bisected {
    drive_scoped(fake, model, revert, seen, Scope::default())
}

/// The job's workloads in these tests.
const WORKLOADS: [&str; 3] = ["umount-stress", "iput-stress", "snap-stress"];

/// The tip's signature showed during the second workload.
fn during() -> Option<During> {
    Some(During::Workload(WORKLOADS[1].into()))
}

/// A boot of prefix `k` that failed with the signature `during` (in `step` of its workload).
fn failed(k: usize, during: Option<During>, step: Option<u64>) -> Seen {
    Seen {
        prefix: k,
        verdict: Verdict::Fail,
        titles: vec![SIG.to_string()],
        at: vec![(during, step)],
    }
}

fn drive_scoped(
    fake: &mut Fake,
    model: Model,
    revert: bool,
    seen: &[Seen],
    scope: Scope,
) -> Bisected {
    drive_with(fake, model, revert, seen, scope, 1)
}

/// [`drive_scoped`] with `slots` guests booted at once.
fn drive_with(
    fake: &mut Fake,
    model: Model,
    revert: bool,
    seen: &[Seen],
    scope: Scope,
    slots: usize,
) -> Bisected {
    let workloads: Vec<String> = WORKLOADS.iter().map(|w| w.to_string()).collect();
    let subjects = fake.world.subjects();
    let built = fake.world.built();
    let input = Input {
        subjects: &subjects,
        built: &built,
        model,
        revert,
        seen,
        workloads: &workloads,
        scope,
        probe_findings: false,
        slots,
    };
    let mut out = Bisected::default();
    block_on(bisect(fake, &input, &mut out)).expect("the fake never faults");
    out
}

fn tip_failed(n: usize) -> Vec<Seen> {
    vec![failed(n, during(), None)]
}

#[test]
fn every_bisection_and_revert_boot_runs_the_signatures_workload_and_ends_at_it() {
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(7));
    assert_eq!(out.culprit.as_ref().unwrap().index, 5);
    // The revert's boots too (the series without the culprit, the base).
    assert!(fake
        .boots
        .iter()
        .any(|(v, _)| matches!(v, Variant::WithoutCulprit(_))));
    assert_eq!(fake.plans.len(), fake.boots.len());
    for p in &fake.plans {
        assert_eq!(p.workloads, vec!["iput-stress".to_string()]);
        assert!(!p.all);
        assert_eq!(p.stop_at.as_deref(), Some(SIG));
    }
    // The report says what each run ran and which ended at the signature.
    for r in &out.runs {
        assert_eq!(r.workloads, vec!["iput-stress".to_string()]);
        assert_eq!(r.stopped, r.outcome == Outcome::Fail, "{r:?}");
    }
    assert!(out.runs.iter().any(|r| r.stopped));
    assert!(fake.progress_lines().iter().any(|l| l.contains(
        "(prefix 7, during workload iput-stress) over 7 patches, confidence 0.995; each boot runs iput-stress and ends at the signature"
    )), "{:?}", fake.progress_lines());
}

#[test]
fn the_job_can_keep_every_workload_and_full_boots() {
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let scope = Scope {
        workloads: policy::Workloads::All,
        steps: policy::Steps::ThroughSignature,
        stop_at_signature: false,
    };
    let out = drive_scoped(&mut fake, Model::default(), true, &tip_failed(7), scope);
    assert_eq!(out.culprit.as_ref().unwrap().index, 5);
    for p in &fake.plans {
        assert!(p.all && p.stop_at.is_none(), "{p:?}");
        assert_eq!(p.workloads.len(), WORKLOADS.len());
    }
    assert!(out.runs.iter().all(|r| !r.stopped));
    // A signature seen outside any workload (at mount): every workload, still ending at it.
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let seen = vec![failed(7, Some(During::Boot), None)];
    drive(&mut fake, Model::default(), false, &seen);
    for p in &fake.plans {
        assert!(p.all && p.stop_at.as_deref() == Some(SIG), "{p:?}");
    }
}

#[test]
fn a_stepped_workload_runs_through_the_latest_step_the_tip_showed_the_signature_in() {
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    // The tip failed three times: in steps 2 and 1 of iput-stress, and once at boot (no step).
    let seen = vec![
        failed(7, during(), Some(2)),
        failed(7, Some(During::Boot), None),
        failed(7, during(), Some(1)),
    ];
    let out = drive(&mut fake, Model::default(), true, &seen);
    assert_eq!(out.culprit.as_ref().unwrap().index, 5);
    let cut = policy::Cut {
        workload: WORKLOADS[1].into(),
        step: 2,
    };
    // Every boot, the revert's too, and the report of every run.
    assert!(!fake.plans.is_empty());
    assert!(fake.plans.iter().all(|p| p.cut.as_ref() == Some(&cut)));
    assert!(out.runs.iter().all(|r| r.cut.as_ref() == Some(&cut)));
    assert!(fake
        .progress_lines()
        .iter()
        .any(|l| l.contains("each boot runs iput-stress (iput-stress through step 2)")));
    // A boot of the tip without a step for the signature: whole workloads.
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let seen = vec![failed(7, during(), Some(2)), failed(7, during(), None)];
    drive(&mut fake, Model::default(), false, &seen);
    assert!(fake.plans.iter().all(|p| p.cut.is_none()));
}

#[test]
fn a_bug_that_shows_itself_flaky_is_bisected_again_with_whole_workloads() {
    let cut = |p: &BootPlan| p.cut.is_some();
    for seed in 1..=5 {
        let mut fake = Fake::new(World::new(7, 5, 0.5), seed);
        let out = drive(
            &mut fake,
            Model::default(),
            false,
            &[failed(7, during(), Some(1))],
        );
        assert_eq!(out.culprit.as_ref().unwrap().index, 5, "seed {seed}");
        // Cut boots first, until a pass where a fail was seen; whole workloads from then on.
        let first_whole = fake.plans.iter().position(|p| !cut(p)).expect("restarted");
        assert!(first_whole > 0, "seed {seed}");
        assert!(fake.plans[first_whole..].iter().all(|p| !cut(p)));
        assert!(fake
            .progress_lines()
            .iter()
            .any(|l| l.contains("the bug is flaky; the search starts again from the test's boots, with iput-stress run to its end")));
        // The answer rests on whole boots only: the conclusion counts fewer runs than the report.
        let c = out.culprit.as_ref().unwrap();
        let whole = out.runs.iter().filter(|r| r.cut.is_none()).count() as u32;
        assert!(c.runs <= whole + 1, "{} runs, {whole} whole", c.runs);
    }
    // Known flaky before the search (the tip passed once in the test): whole workloads at once.
    let mut fake = Fake::new(World::new(7, 5, 0.5), 1);
    let mut seen = vec![failed(7, during(), Some(1))];
    seen.push(Seen {
        prefix: 7,
        verdict: Verdict::Pass,
        titles: vec![],
        at: vec![],
    });
    drive(&mut fake, Model::default(), false, &seen);
    assert!(fake.plans.iter().all(|p| !cut(p)));
}

/// The runs the bisection made of one prefix: (fails with the signature, passes).
fn runs_of(out: &Bisected, prefix: usize) -> (usize, usize) {
    let of = |o: Outcome| {
        out.runs
            .iter()
            .filter(|r| r.prefix == prefix && r.outcome == o)
            .count()
    };
    (of(Outcome::Fail), of(Outcome::Pass))
}

// The e2e test a_deterministic_bug_is_bisected_to_its_patch_and_the_revert_passes.
#[test]
fn a_deterministic_bug_is_bisected_to_its_patch_and_the_revert_passes() {
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(7));
    let c = out.culprit.as_ref().unwrap();
    assert_eq!(c.index, 5, "{:?}", out.runs);
    assert_eq!(c.subject, "patch 5");
    assert_eq!(c.signature, SIG);
    assert!(c.confident && c.verified, "{c:?}");
    assert!(c.confidence >= 0.99);
    assert!(c.rate > 0.8, "{c:?}");
    assert!(c.runs <= 16, "a deterministic bug in 7 patches: {c:?}");
    let (fails5, _) = runs_of(&out, 5);
    let (fails4, passes4) = runs_of(&out, 4);
    assert!(fails5 >= 1 && passes4 >= 1 && fails4 == 0);
    assert!(out
        .runs
        .iter()
        .any(|r| r.verify && r.prefix == 5 && r.outcome == Outcome::Fail));
    // Every evidence run names the leader after it.
    assert!(out.runs.iter().all(|r| r.leader.is_some()));
    // The way back: both tested and passing.
    let rv = out.revert.as_ref().unwrap();
    assert_eq!(rv.without_culprit.verdict, Verdict::Pass, "{rv:?}");
    assert_eq!(rv.whole_series.verdict, Verdict::Pass, "{rv:?}");
    assert_eq!(
        rv.without_culprit.file.as_deref(),
        Some("without-culprit.mbox")
    );
    assert_eq!(rv.without_culprit.what, "the series without patch 5 (mbox)");
    assert_eq!(rv.revert_patch.as_deref(), Some("revert-culprit.patch"));
    assert_eq!(fake.dropped, vec![(5, 5)]);
    // The variant without the culprit stands for prefix 4; the base is booted as `base`.
    let without: Vec<&str> = fake
        .boots
        .iter()
        .filter(|(v, _)| *v == Variant::WithoutCulprit(4))
        .map(|(_, c)| c.as_str())
        .collect();
    assert_eq!(without.first(), Some(&"console-without-culprit-1.log"));
    assert!(fake
        .boots
        .iter()
        .any(|(v, c)| *v == Variant::Base && c == "console-base-1.log"));
    assert!(fake.boots.iter().all(|(v, c)| match v {
        Variant::Prefix(k) =>
            c.starts_with("console-bisect-") && c.ends_with(&format!("-prefix-{k}.log")),
        _ => true,
    }));
    let text = harness_core::wording::bisect_text(c, &out.runs, out.revert.as_ref());
    assert!(text.contains("culprit: patch 5"), "{text}");
    // The phases, in order: the bisection ends before the revert begins.
    let log = fake.progress_lines();
    let phases: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("begin") || l.starts_with("end"))
        .collect();
    assert_eq!(phases.len(), 4, "{phases:?}");
    assert!(
        phases[0].starts_with("begin bisect: \"WARNING in ceph_unlink\" (prefix 7, during workload iput-stress) over 7 patches")
    );
    assert_eq!(phases[1], "end bisect true");
    assert!(phases[2].starts_with("begin revert: drop patch 5 and rebase the rest"));
    assert_eq!(phases[3], "end revert true");
}

// The e2e test an_unbuildable_prefix_is_skipped_and_the_bug_after_it_is_found.
#[test]
fn an_unbuildable_prefix_is_skipped_and_the_bug_after_it_is_found() {
    let mut world = World::new(6, 5, 1.0);
    world.unbuildable = vec![2];
    let mut fake = Fake::new(world, 2);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(6));
    let c = out.culprit.as_ref().unwrap();
    assert_eq!(c.index, 5, "{:?}", out.runs);
    assert_eq!(c.candidates, vec![5]);
    assert_eq!(c.skipped, vec![2]);
    assert!(c.verified);
    assert!(
        out.runs.iter().all(|r| r.prefix != 2),
        "an unbuildable prefix is never booted"
    );
    assert!(c.describe().contains("culprit: patch 5 \"patch 5\""));
    let rv = out.revert.as_ref().unwrap();
    assert_eq!(rv.without_culprit.verdict, Verdict::Pass);
}

// The e2e test a_flaky_bug_is_bisected_with_a_stated_confidence: patch 3 of 5 fails one boot in
// three; the tip is booted 12 times first. Over many worlds, not one.
#[test]
fn a_flaky_bug_is_bisected_with_a_stated_confidence() {
    let mut bisected = 0;
    let mut right = 0;
    let mut misleading = 0;
    for seed in 0..40 {
        let mut fake = Fake::new(World::new(5, 3, 1.0 / 3.0), seed);
        let seen = fake.test_tip(12);
        if !seen.iter().any(|s| s.verdict == Verdict::Fail) {
            continue; // the e2e test runs again; here: another world
        }
        let out = drive(&mut fake, Model::default(), true, &seen);
        let c = out.culprit.as_ref().unwrap();
        bisected += 1;
        assert_eq!(c.signature, SIG);
        assert!(c.confident, "{c:?}");
        assert!(c.confidence >= 0.99);
        assert!((0.1..0.7).contains(&c.rate), "estimated rate {}", c.rate);
        if c.index == 3 {
            right += 1;
            // Passes of bad prefixes happened (in most worlds) and did not mislead it.
            let bad_passes: usize = (3..=5).map(|k| runs_of(&out, k).1).sum();
            misleading += (bad_passes > 0) as u32;
            assert_eq!(
                out.revert.as_ref().unwrap().without_culprit.verdict,
                Verdict::Pass
            );
        }
    }
    assert!(bisected >= 35, "{bisected}");
    assert!(right >= bisected - 1, "{right} of {bisected} right");
    assert!(
        misleading * 2 >= right,
        "{misleading} of {right} saw a bad prefix pass"
    );
}

#[test]
fn infra_errors_are_retried_not_counted() {
    let mut world = World::new(7, 5, 1.0);
    world.infra = vec![1, 3];
    let mut fake = Fake::new(world, 3);
    let out = drive(&mut fake, Model::default(), false, &tip_failed(7));
    let c = out.culprit.as_ref().unwrap();
    assert_eq!(c.index, 5);
    assert!(c.confident && c.verified);
    let spoiled: Vec<&BisectRun> = out
        .runs
        .iter()
        .filter(|r| r.verdict == Verdict::InfraError)
        .collect();
    assert_eq!(spoiled.len(), 2);
    // Recorded, as not evidence, without a leader.
    assert!(spoiled
        .iter()
        .all(|r| r.outcome == Outcome::Other && r.leader.is_none()));
    // The spoiled boot's prefix is asked again.
    assert_eq!(out.runs[1].prefix, out.runs[0].prefix);
    // Evidence: the tip's run and every completed bisection run.
    assert_eq!(c.runs as usize, 1 + out.runs.len() - 2);
    assert!(fake
        .progress_lines()
        .iter()
        .any(|l| l.contains("could not be tested (cluster unhealthy); retried, not counted")));
    assert!(out.revert.is_none(), "on_failure: bisect");
}

#[test]
fn three_infra_errors_in_a_row_stop_the_search_without_a_revert() {
    let mut world = World::new(7, 5, 1.0);
    world.infra = vec![2, 3, 4];
    let mut fake = Fake::new(world, 4);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(7));
    let c = out.culprit.as_ref().unwrap();
    assert!(!c.confident && !c.verified);
    assert_eq!(c.rounds, 0);
    assert_eq!(out.runs.len(), 4);
    assert!(
        out.revert.is_none(),
        "a search that gave up is not reverted"
    );
    assert!(fake.dropped.is_empty());
    let log = fake.progress_lines();
    assert!(log
        .iter()
        .any(|l| l == "bisect: stopped: 3 guest runs in a row could not be completed"));
    assert_eq!(log.last().unwrap(), "end bisect false");
    assert!(c
        .describe()
        .contains("below the stated confidence: a best guess"));
}

#[test]
fn a_prefix_failing_otherwise_twice_is_skipped() {
    let mut world = World::new(7, 5, 1.0);
    world.other = vec![(
        4,
        "BUG: unable to handle page fault in ceph_fill_inode".into(),
    )];
    let mut fake = Fake::new(world, 5);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(7));
    let c = out.culprit.as_ref().unwrap();
    let of4: Vec<Outcome> = out
        .runs
        .iter()
        .filter(|r| r.prefix == 4)
        .map(|r| r.outcome)
        .collect();
    assert_eq!(of4, vec![Outcome::Other, Outcome::Skip]);
    assert!(out
        .runs
        .iter()
        .filter(|r| r.prefix == 4)
        .all(|r| r.signatures == ["BUG: unable to handle page fault in ceph_fill_inode"]));
    // Prefix 4 cannot be told from 5: the answer is the group, named by its last member.
    assert_eq!(c.skipped, vec![4]);
    assert_eq!(c.candidates, vec![4, 5]);
    assert_eq!(c.index, 5);
    assert!(c.describe().starts_with(
        "culprit: one of patches 4, 5 (untestable prefixes between them), likely 5 \"patch 5\""
    ));
    // The whole group is dropped for the way back.
    assert_eq!(fake.dropped, vec![(4, 5)]);
    let rv = out.revert.as_ref().unwrap();
    assert_eq!(
        rv.without_culprit.what,
        "the series without one of patches 4, 5 (mbox)"
    );
}

#[test]
fn a_kernel_that_never_boots_is_skipped_at_once() {
    let mut world = World::new(7, 5, 1.0);
    world.unbootable = vec![3, 4];
    let mut fake = Fake::new(world, 6);
    let out = drive(&mut fake, Model::default(), false, &tip_failed(7));
    let c = out.culprit.as_ref().unwrap();
    for k in [3, 4] {
        let of: Vec<Outcome> = out
            .runs
            .iter()
            .filter(|r| r.prefix == k)
            .map(|r| r.outcome)
            .collect();
        assert!(
            of.len() <= 1 && of.iter().all(|o| *o == Outcome::Skip),
            "{k}: {of:?}"
        );
    }
    assert_eq!(c.index, 5);
    assert!(c.candidates.contains(&5));
}

#[test]
fn a_base_that_fails_too_is_culprit_zero_and_not_reverted() {
    let mut fake = Fake::new(World::new(4, 0, 1.0), 7);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(4));
    let c = out.culprit.as_ref().unwrap();
    assert_eq!(c.index, 0);
    assert_eq!(c.subject, "(base)");
    assert!(c
        .describe()
        .starts_with("culprit: none in the series, the base fails too"));
    assert!(out.revert.is_none());
}

#[test]
fn the_ways_back_that_cannot_be_made_are_named() {
    let mut world = World::new(7, 5, 1.0);
    world.without_does_not_apply = Some(6);
    world.revert_conflict = Some(5);
    let mut fake = Fake::new(world, 8);
    let rv = drive(&mut fake, Model::default(), true, &tip_failed(7))
        .revert
        .unwrap();
    assert_eq!(rv.without_culprit.verdict, Verdict::ApplyFailed);
    assert_eq!(rv.without_culprit.file, None);
    assert_eq!(
        rv.without_culprit.note.as_deref(),
        Some("patch 6 \"patch 6\" does not apply without the culprit (git am -3): error: patch failed: fs/ceph/inode.c:12")
    );
    assert!(!fake
        .boots
        .iter()
        .any(|(v, _)| matches!(v, Variant::WithoutCulprit(_))));
    assert_eq!(rv.whole_series.verdict, Verdict::Pass);
    assert_eq!(rv.revert_patch, None);
    assert_eq!(
        rv.revert_note.as_deref(),
        Some("patch 5 does not revert cleanly on the full series: conflict")
    );
    assert_eq!(fake.progress_lines().last().unwrap(), "end revert false");

    let mut world = World::new(7, 5, 1.0);
    world.without_does_not_build = true;
    let mut fake = Fake::new(world, 9);
    let rv = drive(&mut fake, Model::default(), true, &tip_failed(7))
        .revert
        .unwrap();
    assert_eq!(rv.without_culprit.verdict, Verdict::BuildFailed);
    assert_eq!(
        rv.without_culprit.file.as_deref(),
        Some("without-culprit.mbox")
    );
    assert_eq!(
        rv.without_culprit.note.as_deref(),
        Some("does not build: fs/ceph/dir.c:3: error: implicit declaration")
    );
}

#[test]
fn a_revert_variant_that_still_fails_is_a_fail() {
    // The bug needs two patches: dropping the culprit is not enough.
    let mut world = World::new(7, 5, 1.0);
    world.without_still_bad = true;
    let mut fake = Fake::new(world, 10);
    let rv = drive(&mut fake, Model::default(), true, &tip_failed(7))
        .revert
        .unwrap();
    assert_eq!(rv.without_culprit.verdict, Verdict::Fail);
    assert_eq!(rv.without_culprit.runs, 0);
    assert_eq!(
        rv.without_culprit.note.as_deref(),
        Some("failed with the signature in console-without-culprit-1.log")
    );
    assert_eq!(rv.whole_series.verdict, Verdict::Pass);
}

#[test]
fn the_bases_clean_runs_in_the_bisection_count_for_the_whole_series() {
    let mut fake = Fake::new(World::new(1, 1, 1.0), 11);
    let out = drive(&mut fake, Model::default(), true, &tip_failed(1));
    let base_passes = out
        .runs
        .iter()
        .filter(|r| r.prefix == 0 && r.outcome == Outcome::Pass)
        .count() as u32;
    assert!(base_passes > 0, "{:?}", out.runs);
    let whole = out.revert.unwrap().whole_series;
    assert_eq!(whole.verdict, Verdict::Pass);
    assert!(whole.runs >= base_passes);
    let base_boots = fake
        .boots
        .iter()
        .filter(|(v, _)| *v == Variant::Base)
        .count() as u32;
    assert_eq!(whole.runs, base_passes + base_boots);
    if base_boots == 0 {
        assert_eq!(
            whole.note,
            Some(format!(
                "{base_passes} of its clean runs were made by the bisection"
            ))
        );
    }
}

/// The driver with a fake that draws as the simulator does ends where the simulator ends.
fn same_as_simulator(world: &sim::World, model: Model, seed: u64) -> (sim::Trial, Bisected) {
    let trial = sim::trial(world, model, seed);
    let mut w = World::new(world.patches, world.culprit, world.rate);
    w.unbuildable = world.unbuildable.clone();
    w.false_positive = world.false_positive;
    let mut fake = Fake::new(w, seed);
    let out = drive(&mut fake, model, false, &tip_failed(world.patches));
    (trial, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn the_driver_makes_the_simulators_runs(
        patches in 1usize..10,
        culprit_at in 0.0f64..1.0,
        rate in prop::sample::select(vec![1.0, 0.8, 0.5, 0.3]),
        unbuildable in prop::collection::vec(1usize..10, 0..3),
        seed in any::<u64>(),
    ) {
        let culprit = ((patches + 1) as f64 * culprit_at) as usize;
        let mut unbuildable: Vec<usize> = unbuildable.into_iter().filter(|&k| k < patches).collect();
        unbuildable.sort();
        unbuildable.dedup();
        let world = sim::World {
            patches,
            culprit: culprit.min(patches),
            rate,
            unbuildable,
            slots: 1,
            false_positive: 0.0,
            costs: None,
            blind: false,
        };
        let (trial, out) = same_as_simulator(&world, Model::default(), seed);
        let c = out.culprit.unwrap();
        prop_assert_eq!(&c.candidates, &trial.conclusion.candidates);
        prop_assert_eq!(c.index, trial.conclusion.culprit);
        prop_assert_eq!(c.confident, trial.conclusion.confident);
        prop_assert_eq!(c.verified, trial.conclusion.verified);
        prop_assert_eq!(c.runs, trial.conclusion.runs);
        prop_assert_eq!(c.rounds, trial.conclusion.rounds);
        // The same runs, in the same order (after the skips and the tip's failure).
        let start = trial.observations.len() - out.runs.len();
        let sim_runs: Vec<(usize, Outcome, bool)> = trial.observations[start..]
            .iter()
            .map(|o| (o.prefix, o.outcome, o.verify))
            .collect();
        let runs: Vec<(usize, Outcome, bool)> =
            out.runs.iter().map(|r| (r.prefix, r.outcome, r.verify)).collect();
        prop_assert_eq!(runs, sim_runs);
    }
}

#[test]
fn the_driver_matches_the_simulators_accuracy() {
    // sim::summarise's worlds: culprits spread over every position, one guest at a time.
    let model = Model::default();
    for (patches, rate, trials) in [(8, 1.0, 16), (8, 0.5, 16), (12, 0.3, 12)] {
        let seed = 42;
        let summary = sim::summarise(&sim::World::new(patches, rate), model, trials, seed);
        let mut correct = 0;
        let mut runs = 0;
        for t in 0..trials {
            let world = sim::World {
                culprit: 1 + (t as usize % patches),
                ..sim::World::new(patches, rate)
            };
            let (_, out) = same_as_simulator(&world, model, seed.wrapping_add(t as u64 * 7919));
            let c = out.culprit.unwrap();
            correct += c.candidates.contains(&world.culprit) as u32;
            runs += c.runs;
        }
        assert_eq!(
            correct as f64 / trials as f64,
            summary.accuracy,
            "{patches} patches, rate {rate}"
        );
        assert_eq!(runs as f64 / trials as f64, summary.mean_runs);
        assert!(summary.accuracy >= 0.9, "{summary:?}");
    }
}

#[test]
fn flaky_bugs_are_named_as_accurately_when_the_search_starts_with_cut_boots() {
    // The same worlds searched from a tip whose signature has a step (the search starts with cut
    // boots, then starts again with whole ones once the bug shows itself flaky) and from one
    // without (whole boots throughout). The fake's rate is the same for both kinds of boot.
    let model = Model::default();
    for (patches, rate, trials) in [(8, 0.5, 16), (12, 0.3, 12)] {
        let (mut cut_right, mut whole_right) = (0, 0);
        for t in 0..trials {
            let culprit = 1 + (t as usize % patches);
            let seed = 42 + t as u64 * 7919;
            for (step, right) in [(Some(1), &mut cut_right), (None, &mut whole_right)] {
                let mut fake = Fake::new(World::new(patches, culprit, rate), seed);
                let out = drive(&mut fake, model, false, &[failed(patches, during(), step)]);
                let c = out.culprit.unwrap();
                *right += c.candidates.contains(&culprit) as u32;
            }
        }
        assert!(
            cut_right + 1 >= whole_right && cut_right as f64 >= 0.9 * trials as f64,
            "{patches} patches, rate {rate}: {cut_right} and {whole_right} of {trials} right"
        );
    }
}

#[test]
fn a_round_of_two_guests_boots_two_prefixes_at_once_and_observes_both() {
    let mut one = Fake::new(World::new(7, 5, 1.0), 1);
    let alone = drive(&mut one, Model::default(), false, &tip_failed(7));
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let out = drive_with(
        &mut fake,
        Model::default(),
        false,
        &tip_failed(7),
        Scope::default(),
        2,
    );
    let c = out.culprit.as_ref().unwrap();
    assert_eq!((c.index, c.verified), (5, true));
    // Every round booted two guests at once, and both answers were observed (each run has
    // the leader after it): no boot is lost or counted twice.
    assert!(!fake.batches.is_empty());
    assert!(
        fake.batches.iter().all(|b| b.len() == 2),
        "{:?}",
        fake.batches
    );
    let consoles: Vec<String> = fake.batches.concat();
    assert_eq!(
        consoles,
        out.runs
            .iter()
            .map(|r| r.console.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        out.runs.iter().all(|r| r.leader.is_some()),
        "{:?}",
        out.runs
    );
    // The first round splits the 8 prefixes in three: two different prefixes.
    assert_ne!(out.runs[0].prefix, out.runs[1].prefix);
    // Numbered as they were planned; fewer rounds than one guest at a time needs.
    assert_eq!(
        out.runs[0].console,
        format!("console-bisect-01-prefix-{}.log", out.runs[0].prefix)
    );
    assert_eq!(
        out.runs[1].console,
        format!("console-bisect-02-prefix-{}.log", out.runs[1].prefix)
    );
    assert!(
        c.rounds < alone.culprit.as_ref().unwrap().rounds,
        "{} rounds with 2 guests, {} with 1",
        c.rounds,
        alone.culprit.as_ref().unwrap().rounds
    );
}

#[test]
fn the_reverts_clean_runs_boot_as_many_at_once_as_are_still_wanted() {
    let mut fake = Fake::new(World::new(7, 5, 1.0), 1);
    let out = drive_with(
        &mut fake,
        Model::default(),
        true,
        &tip_failed(7),
        Scope::default(),
        2,
    );
    let rev = out.revert.as_ref().unwrap();
    assert_eq!(rev.without_culprit.verdict, Verdict::Pass);
    let need = rev.without_culprit.runs as usize;
    let without: Vec<&Vec<String>> = fake
        .batches
        .iter()
        .filter(|b| b[0].starts_with("console-without-culprit-"))
        .collect();
    // At most two at once, never more boots than clean runs wanted.
    assert!(without.iter().all(|b| b.len() <= 2), "{without:?}");
    assert_eq!(without.iter().map(|b| b.len()).sum::<usize>(), need);
    if need > 1 {
        assert_eq!(without[0].len(), 2);
    }
    assert_eq!(
        without
            .iter()
            .flat_map(|b| b.iter().cloned())
            .collect::<Vec<_>>(),
        (1..=need)
            .map(|i| format!("console-without-culprit-{i}.log"))
            .collect::<Vec<_>>()
    );
    // A failure in a batch ends the test: the series without the culprit still has the bug.
    let mut world = World::new(7, 5, 1.0);
    world.without_still_bad = true;
    let mut fake = Fake::new(world, 1);
    let out = drive_with(
        &mut fake,
        Model::default(),
        true,
        &tip_failed(7),
        Scope::default(),
        2,
    );
    let rev = out.revert.as_ref().unwrap();
    assert_eq!(rev.without_culprit.verdict, Verdict::Fail);
    assert_eq!(rev.without_culprit.runs, 0);
}
