//! Bisection and revert, the executor's half: runs the guests the pure search
//! ([`harness_core::bisect`]) asks for, then makes and tests the two ways back (the series without
//! its culprit, and the base).
//!
//! The drivers run over a [`Tester`]: something that boots a variant of the kernel and says how
//! it went, and makes the revert's variants. The pipeline's rig is one (QEMU, a cluster); the unit
//! tests drive the same code with a fake world in milliseconds. The policy (what a run counts as,
//! when to skip a prefix or give up) is pure and lives in [`harness_core::bisect::policy`].

use std::time::Instant;

use harness_core::bisect::policy::{
    self, BootPlan, CleanRuns, Judgement, Policy, Scope, MAX_CLEAN_RUNS,
};
use harness_core::bisect::{self, Bisection, Conclusion, Model, Outcome, Step};
pub(crate) use harness_core::boot::Tried;
use harness_core::event::Phase;
use harness_core::finding::During;
use harness_core::report::{BisectRun, Culprit, Revert, RevertTest, Verdict};
use harness_core::wording;

use crate::Result;

/// A variant of the kernel the drivers boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// Prefix k as built.
    Prefix(usize),
    /// The series without its culprit group; stands for the prefix before the group.
    WithoutCulprit(usize),
    /// The base booted again, as the whole series reverted.
    Base,
}

impl Variant {
    /// The prefix the variant is, or stands for.
    pub fn prefix(self) -> usize {
        match self {
            Variant::Prefix(k) | Variant::WithoutCulprit(k) => k,
            Variant::Base => 0,
        }
    }

    /// The name of its initramfs and recorded boots.
    pub fn name(self) -> String {
        match self {
            Variant::Prefix(k) => format!("prefix-{k}"),
            Variant::WithoutCulprit(_) => "without-culprit".into(),
            Variant::Base => "base".into(),
        }
    }
}

/// The series without a culprit group, as made by the tester.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Without {
    /// Patch `patch` does not apply once the group is dropped (`git am -3`'s message).
    DoesNotApply { patch: usize, message: String },
    /// Written as the artifact `file`; `built` is the build error when it does not build.
    Made {
        file: String,
        built: std::result::Result<(), String>,
    },
}

/// A started phase, handed back to [`Tester::end`].
pub(crate) type Span = (Phase, Instant);

/// One boot of a batch ([`Tester::boot_many`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub variant: Variant,
    /// Its console artifact.
    pub console: String,
    /// What the progress says it is.
    pub what: String,
}

/// What the drivers need from the world.
pub(crate) trait Tester {
    /// Boot `variant` once and run what `plan` says (some or all of the job's workloads, until
    /// the signature shows); `console` names its console artifact.
    async fn boot(
        &mut self,
        variant: Variant,
        console: &str,
        what: &str,
        plan: &BootPlan,
    ) -> Result<Tried>;
    /// Boot each of `boots` once, as many at once as the world has guest slots; the results in
    /// the order of `boots`. Each boot is recorded as it ends, whichever ends first. The default
    /// boots them one after the other.
    async fn boot_many(&mut self, boots: &[Planned], plan: &BootPlan) -> Result<Vec<Tried>> {
        let mut out = Vec::with_capacity(boots.len());
        for b in boots {
            out.push(self.boot(b.variant, &b.console, &b.what, plan).await?);
        }
        Ok(out)
    }
    /// Drop patches `first..=last` and rebase the rest (`git am -3`); write the series as an
    /// mbox artifact and build it. Booted afterwards as [`Variant::WithoutCulprit`].
    async fn without(&mut self, first: usize, last: usize) -> Result<Without>;
    /// `git revert` the `candidates` on the full series and write the patch artifact: its file
    /// name, or the first candidate that does not revert cleanly and why.
    async fn revert_patch(
        &mut self,
        candidates: &[usize],
    ) -> Result<std::result::Result<String, (usize, String)>>;

    fn begin(&self, phase: Phase, detail: String) -> Span;
    fn end(&self, span: Span, ok: bool);
    fn progress(&self, phase: Phase, message: String);
    /// Seconds since the run started.
    fn elapsed(&self) -> f64;
}

/// What the bisection starts from.
pub(crate) struct Input<'a> {
    /// Subjects of patches 1..=n.
    pub subjects: &'a [String],
    /// Per prefix 0..=n: it built.
    pub built: &'a [bool],
    pub model: Model,
    /// Make and test the way back (`on_failure: revert`).
    pub revert: bool,
    /// Every boot of the test so far.
    pub seen: &'a [Seen],
    /// The job's workloads, in order.
    pub workloads: &'a [String],
    /// What the bisection's boots run (job keys `bisect.workloads`, `bisect.steps`,
    /// `bisect.stop_at_signature`).
    pub scope: Scope,
    /// A probe's finding can fail a boot (`probes.hazards_fail`): the boots keep the probes.
    pub probe_findings: bool,
    /// Guests booted at once (`guests.parallel`): prefixes per search round
    /// ([`Bisection::next`]), clean runs of the revert per batch.
    pub slots: usize,
}

/// A boot of the test phase, as the bisection starts from it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub prefix: usize,
    pub verdict: Verdict,
    /// The distinct titles of its findings, in order (a failure without one is named by how the
    /// guest ended).
    pub titles: Vec<String>,
    /// Per title (same order): what the guest was doing when its first finding of that title
    /// appeared, and the step of that workload (`Finding::step`); `(None, None)` for a title no
    /// finding has.
    pub at: Vec<(Option<During>, Option<u64>)>,
}

impl Seen {
    /// Where the first finding titled `title` appeared.
    pub fn at(&self, title: &str) -> (Option<&During>, Option<u64>) {
        self.titles
            .iter()
            .position(|t| t == title)
            .and_then(|i| self.at.get(i))
            .map_or((None, None), |(d, s)| (d.as_ref(), *s))
    }
}

/// What the bisection found, filled in as it goes (a fault midway keeps the runs made).
#[derive(Debug, Default)]
pub(crate) struct Bisected {
    pub culprit: Option<Culprit>,
    pub runs: Vec<BisectRun>,
    pub revert: Option<Revert>,
}

/// Bisect the failure at the highest failing prefix of `input.seen`, then (with
/// `input.revert`) make and test the way back.
pub(crate) async fn bisect<T: Tester>(
    t: &mut T,
    input: &Input<'_>,
    out: &mut Bisected,
) -> Result<()> {
    let n = input.subjects.len();
    let Some(last_fail) = input.seen.iter().rev().find(|s| s.verdict == Verdict::Fail) else {
        return Ok(());
    };
    let trigger = last_fail.prefix;
    let Some(signature) = last_fail.titles.first().cloned() else {
        return Ok(());
    };
    let during = last_fail.at(&signature).0.cloned();
    let step = policy::cut_step(
        during.as_ref(),
        input
            .seen
            .iter()
            .filter(|s| s.prefix == trigger && s.verdict == Verdict::Fail)
            .map(|s| s.at(&signature)),
    );
    let model = input.model;
    let mut plan = policy::boot_plan(
        input.scope,
        &signature,
        during.as_ref(),
        step,
        input.workloads,
        harness_proto::workloads::NEEDS,
        input.probe_findings,
    );
    let p = t.begin(
        Phase::Bisect,
        format!(
            "\"{signature}\" (prefix {trigger}{}) over {n} patches, confidence {}; each boot runs {}{}",
            during.as_ref().map(|d| format!(", during {d}")).unwrap_or_default(),
            model.confidence,
            wording::ran(
                &if plan.all {
                    "every workload".to_string()
                } else {
                    plan.workloads.join(", ")
                },
                plan.cut.as_ref()
            ),
            if plan.stop_at.is_some() {
                " and ends at the signature"
            } else {
                ""
            }
        ),
    );
    // The search from the test's boots, as boots of `plan` would have seen them.
    let start = |plan: &BootPlan| {
        let mut b = Bisection::new(n, model);
        for (k, ok) in input.built.iter().enumerate() {
            if !ok {
                b.observe(k, Outcome::Skip);
            }
        }
        for s in input.seen {
            let (d, step) = s.at(&signature);
            if let Some(o) = policy::seen_outcome(plan, &signature, s.verdict, &s.titles, d, step) {
                b.observe(s.prefix, o);
            }
        }
        b
    };
    let mut b = start(&plan);
    // A cut boot's rate is its own: for a bug that shows in whichever step it likes, lower than
    // a whole boot's. A bug known to be flaky (the test's boots, or a known rate below 1) is
    // bisected with whole workloads; one that shows itself flaky later starts again with them
    // (below).
    if plan.cut.is_some() && b.shown_flaky() {
        plan.cut = None;
        b = start(&plan);
    }
    let mut policy = Policy::new(signature.clone(), n, model.max_runs);
    let mut gave_up = None;
    let conclusion = loop {
        let ks = match b.next(input.slots.max(1)) {
            Step::Done(c) => break c,
            Step::Test(ks) => ks,
        };
        if let Some(why) = policy.budget_spent() {
            gave_up = Some(why);
            break policy::stopped(&b);
        }
        // The round's prefixes boot at once (one guest slot each), then each is observed in order.
        let verify = b.verifying();
        let round: Vec<Planned> = ks
            .iter()
            .map(|&k| {
                let boots = policy.start_boot();
                Planned {
                    variant: Variant::Prefix(k),
                    console: format!("console-bisect-{boots:02}-prefix-{k}.log"),
                    what: format!(
                        "bisect run {boots}{}: prefix {k}",
                        if verify { " (verify)" } else { "" }
                    ),
                }
            })
            .collect();
        let tried_all = t.boot_many(&round, &plan).await?;
        // The round's cut boots after the one that showed the bug flaky: recorded, not observed.
        let mut restarted = false;
        // What the round's boots ran (`plan` may change midway).
        let round_cut = plan.cut.clone();
        for (planned, tried) in round.into_iter().zip(tried_all) {
            let k = planned.variant.prefix();
            let console = planned.console;
            let judged = policy.judge(k, tried.run());
            out.runs.push(BisectRun {
                leader: None,
                confidence: None,
                prefix: k,
                outcome: match judged {
                    Judgement::Observe(o) => o,
                    Judgement::Retry { .. } => Outcome::Other,
                },
                verify,
                verdict: tried.verdict,
                signatures: tried.titles.clone(),
                console,
                seconds: tried.seconds,
                workloads: plan.workloads.clone(),
                stopped: tried.stopped,
                cut: round_cut.clone(),
            });
            if restarted {
                continue;
            }
            let outcome = match judged {
                Judgement::Observe(o) => o,
                Judgement::Retry { gave_up: why } => {
                    t.progress(
                        Phase::Bisect,
                        format!(
                            "prefix {k}: could not be tested ({}); retried, not counted",
                            tried.infra.as_deref().unwrap_or("guest run incomplete")
                        ),
                    );
                    if why.is_some() {
                        gave_up = why;
                    }
                    continue;
                }
            };
            b.observe(k, outcome);
            if let Some(cut) = plan.cut.as_ref().filter(|_| b.shown_flaky()) {
                // Cut boots of a flaky bug say nothing sure about its rate over whole
                // workloads: the search starts again from the test's boots, with whole ones (the
                // cut boots stay in the report, not in the search; the round's other boots, cut
                // too, are recorded, not observed).
                t.progress(
                    Phase::Bisect,
                    format!(
                        "prefix {k}: {}: the bug is flaky; the search starts again from the test's boots, with {} run to its end",
                        wording::outcome(outcome),
                        cut.workload
                    ),
                );
                plan.cut = None;
                b = start(&plan);
                restarted = true;
                continue;
            }
            // What this search's fails and passes have cost so far steers its next choices.
            if let Some(c) = bisect::Costs::measured(
                out.runs
                    .iter()
                    .filter(|r| r.cut == plan.cut)
                    .map(|r| (r.outcome, r.seconds)),
            ) {
                b.set_costs(c);
            }
            let (best, mass) = b.best();
            if let Some(r) = out.runs.last_mut() {
                r.leader = Some(best.clone());
                r.confidence = Some(mass);
            }
            t.progress(
                Phase::Bisect,
                format!(
                    "prefix {k}: {}; most likely culprit {} at {:.1}%, rate {:.2}, {} runs",
                    wording::outcome(outcome),
                    wording::patches(&best),
                    mass * 100.0,
                    b.rate(),
                    b.runs()
                ),
            );
        }
        if gave_up.is_some() {
            break policy::stopped(&b);
        }
    };
    let skipped: Vec<usize> = (0..=n).filter(|&k| b.is_skipped(k)).collect();
    let subject = if conclusion.culprit == 0 {
        "(base)".to_string()
    } else {
        input.subjects[conclusion.culprit - 1].clone()
    };
    out.culprit = Some(Culprit {
        index: conclusion.culprit,
        subject,
        signature: signature.clone(),
        candidates: conclusion.candidates.clone(),
        confidence: conclusion.confidence,
        confident: conclusion.confident,
        verified: conclusion.verified,
        rate: conclusion.rate,
        runs: conclusion.runs,
        rounds: conclusion.rounds,
        skipped,
        found_after_s: t.elapsed(),
    });
    if let Some(why) = &gave_up {
        t.progress(Phase::Bisect, format!("stopped: {why}"));
    }
    t.end(p, conclusion.confident);

    if input.revert && conclusion.culprit > 0 && gave_up.is_none() {
        out.revert = Some(revert(t, input, &b, &conclusion, &signature, &plan).await?);
    }
    Ok(())
}

/// Make and test (a) the series without the culprit and (b) the base, and make the revert patch.
async fn revert<T: Tester>(
    t: &mut T,
    input: &Input<'_>,
    b: &Bisection,
    c: &Conclusion,
    signature: &str,
    plan: &BootPlan,
) -> Result<Revert> {
    let first = c.candidates[0].max(1);
    let last = *c.candidates.last().expect("a group is never empty");
    let need = bisect::clean_runs_needed(c.rate, input.model.confidence, MAX_CLEAN_RUNS);
    let dropped = wording::patches(&c.candidates);
    let p = t.begin(
        Phase::Revert,
        format!(
            "drop {dropped} and rebase the rest with git am -3; test it and the base, {need} clean runs each"
        ),
    );

    // (a) The series without the culprit.
    let mut without = RevertTest {
        what: format!("the series without {dropped} (mbox)"),
        file: None,
        verdict: Verdict::ApplyFailed,
        runs: 0,
        confidence: 0.0,
        note: None,
    };
    match t.without(first, last).await? {
        Without::DoesNotApply { patch, message } => {
            without.note = Some(format!(
                "patch {patch} \"{}\" does not apply without the culprit (git am -3): {}",
                input.subjects[patch - 1],
                message.lines().next().unwrap_or_default()
            ));
        }
        Without::Made { file, built } => {
            without.file = Some(file);
            match built {
                Ok(()) => {
                    let (verdict, runs, note) = test_variant(
                        t,
                        Variant::WithoutCulprit(first - 1),
                        need,
                        0,
                        signature,
                        plan,
                        input.slots,
                    )
                    .await?;
                    without.verdict = verdict;
                    without.runs = runs;
                    without.confidence = bisect::clean_confidence(c.rate, runs);
                    without.note = note;
                }
                Err(error) => {
                    without.verdict = Verdict::BuildFailed;
                    without.note = Some(format!(
                        "does not build: {}",
                        error.lines().next().unwrap_or("")
                    ));
                }
            }
        }
    }

    // (b) The whole series reverted: the base. Its clean runs in the bisection count.
    let base_passes = b
        .observations()
        .iter()
        .filter(|o| o.prefix == 0 && o.outcome == Outcome::Pass)
        .count() as u32;
    let base_fails = b
        .observations()
        .iter()
        .any(|o| o.prefix == 0 && o.outcome == Outcome::Fail);
    let mut whole = RevertTest {
        what: "the whole series reverted (the base)".into(),
        file: None,
        verdict: Verdict::Fail,
        runs: base_passes,
        confidence: 0.0,
        note: None,
    };
    if base_fails {
        whole.note = Some("the base failed with the signature during the bisection".into());
    } else {
        let (verdict, runs, note) = test_variant(
            t,
            Variant::Base,
            need,
            base_passes,
            signature,
            plan,
            input.slots,
        )
        .await?;
        whole.verdict = verdict;
        whole.runs = runs;
        whole.note = note.or((base_passes > 0)
            .then(|| format!("{base_passes} of its clean runs were made by the bisection")));
    }
    whole.confidence = bisect::clean_confidence(c.rate, whole.runs);

    // A `git revert` of the culprit on top of the full series.
    let (revert_patch, revert_note) = match t.revert_patch(&c.candidates).await? {
        Ok(file) => (Some(file), None),
        Err((k, e)) => (
            None,
            Some(format!(
                "patch {k} does not revert cleanly on the full series: {e}"
            )),
        ),
    };
    t.end(p, without.verdict == Verdict::Pass);
    Ok(Revert {
        without_culprit: without,
        whole_series: whole,
        revert_patch,
        revert_note,
    })
}

/// Boot `variant` until it has `need` clean runs (counting `done` made before) or fails: as
/// many at once as the clean runs still wanted, up to `slots`; a failure in a batch ends the test
/// (the batch's other boots are recorded, not counted).
async fn test_variant<T: Tester>(
    t: &mut T,
    variant: Variant,
    need: u32,
    done: u32,
    signature: &str,
    plan: &BootPlan,
    slots: usize,
) -> Result<policy::Tested> {
    let name = variant.name();
    let mut clean = CleanRuns::new(need, done);
    let mut attempt = 0;
    loop {
        if let Some(end) = clean.passed() {
            return Ok(end);
        }
        let wanted = (need.saturating_sub(clean.passes()) as usize).clamp(1, slots.max(1));
        let batch: Vec<Planned> = (0..wanted)
            .map(|_| {
                attempt += 1;
                Planned {
                    variant,
                    console: format!("console-{name}-{attempt}.log"),
                    what: format!("{name} run {attempt} ({}/{need} clean)", clean.passes()),
                }
            })
            .collect();
        let tried = t.boot_many(&batch, plan).await?;
        for (b, tried) in batch.iter().zip(tried) {
            if let Some(end) = clean.count(signature, tried.run(), &b.console) {
                return Ok(end);
            }
        }
    }
}

#[cfg(test)]
mod tests;
