//! The bisection driver's policy: what a guest run counts as, when a prefix is given up, when
//! the search stops, and how many clean runs make a revert candidate pass. Pure: the executor's
//! driver asks it after every boot.

use super::{classify, Bisection, Conclusion, Outcome};
use crate::finding::During;
use crate::verdict::Verdict;

/// Consecutive runs that could not be completed before the bisection gives up.
pub const MAX_INFRA_IN_A_ROW: u32 = 3;
/// Runs of one prefix that fail otherwise (another signature) before it is skipped.
pub const MAX_OTHER: u32 = 2;
/// Clean runs a revert candidate gets at most.
pub const MAX_CLEAN_RUNS: u32 = 10;

/// What one guest boot of a prefix showed, as far as the policy cares.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub verdict: Verdict,
    /// The distinct titles of its findings (a failure without one is named by its guest exit).
    pub titles: &'a [String],
    /// The guest program started (the kernel booted and the modules loaded).
    pub booted: bool,
}

/// What the driver does with a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Evidence: observe it.
    Observe(Outcome),
    /// It could not be completed (an infrastructure error): not counted, the search asks again.
    /// `gave_up`: too many in a row, the search stops.
    Retry { gave_up: Option<String> },
}

/// The driver's bookkeeping over one bisection.
#[derive(Debug, Clone)]
pub struct Policy {
    signature: String,
    others: Vec<u32>,
    infra_in_a_row: u32,
    boots: u32,
    max_boots: u32,
}

impl Policy {
    /// For a bisection of `signature` over `patches` patches whose model allows `max_runs`
    /// evidence runs (boots, counting those that were no evidence, are capped at twice that).
    pub fn new(signature: impl Into<String>, patches: usize, max_runs: u32) -> Policy {
        Policy {
            signature: signature.into(),
            others: vec![0; patches + 1],
            infra_in_a_row: 0,
            boots: 0,
            max_boots: 2 * max_runs,
        }
    }

    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// Guest boots made so far.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// Before a round of boots: why the search must stop now, if it must.
    pub fn budget_spent(&self) -> Option<String> {
        (self.boots >= self.max_boots)
            .then(|| format!("{} guest boots without enough evidence", self.boots))
    }

    /// Count a boot about to be made; its number (1-based).
    pub fn start_boot(&mut self) -> u32 {
        self.boots += 1;
        self.boots
    }

    /// What a boot of prefix `k` counts as. A kernel that never started the workloads does not
    /// boot (skipped); a prefix that failed otherwise `MAX_OTHER` times is skipped too.
    pub fn judge(&mut self, k: usize, run: Run<'_>) -> Judgement {
        let outcome = match classify(&self.signature, run.verdict, run.titles) {
            None => {
                self.infra_in_a_row += 1;
                let gave_up = (self.infra_in_a_row >= MAX_INFRA_IN_A_ROW).then(|| {
                    format!(
                        "{} guest runs in a row could not be completed",
                        self.infra_in_a_row
                    )
                });
                return Judgement::Retry { gave_up };
            }
            Some(Outcome::Other) if !run.booted => Outcome::Skip,
            Some(Outcome::Other) => {
                self.others[k] += 1;
                if self.others[k] >= MAX_OTHER {
                    Outcome::Skip
                } else {
                    Outcome::Other
                }
            }
            Some(o) => o,
        };
        self.infra_in_a_row = 0;
        Judgement::Observe(outcome)
    }
}

/// The search's answer when it is stopped early: its best guess, not confident.
pub fn stopped(b: &Bisection) -> Conclusion {
    let (candidates, confidence) = b.best();
    Conclusion {
        culprit: *candidates.last().expect("a group is never empty"),
        candidates,
        confidence,
        confident: false,
        verified: false,
        rate: b.rate(),
        runs: b.runs(),
        rounds: 0,
    }
}

/// Which workloads a bisection boot runs (job key `bisect.workloads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workloads {
    /// The workload the signature appeared `during` (and what it needs); all of them when the
    /// signature was seen outside any workload (boot, mount, unmount, shutdown).
    #[default]
    During,
    /// Every workload of the job.
    All,
}

impl Workloads {
    pub fn parse(s: &str) -> Option<Workloads> {
        match s {
            "during" => Some(Workloads::During),
            "all" => Some(Workloads::All),
            _ => None,
        }
    }
}

/// How much of the signature's workload a bisection boot runs (job key `bisect.steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Steps {
    /// A workload made of steps (umount-stress's cycles, cap-revoke's rounds, ...) runs through
    /// the step the signature showed in, then ends as if it had no more: the same run, seen up to
    /// that step. Only with `bisect.workloads: during`.
    #[default]
    ThroughSignature,
    /// Every step.
    All,
}

impl Steps {
    pub fn parse(s: &str) -> Option<Steps> {
        match s {
            "through-signature" => Some(Steps::ThroughSignature),
            "all" => Some(Steps::All),
            _ => None,
        }
    }
}

/// How the bisection's boots (and the revert's) are run (job keys `bisect.workloads`,
/// `bisect.steps`, `bisect.stop_at_signature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    pub workloads: Workloads,
    #[serde(default)]
    pub steps: Steps,
    /// End a boot as soon as the bisected signature has been seen: it is a fail.
    pub stop_at_signature: bool,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            workloads: Workloads::During,
            steps: Steps::ThroughSignature,
            stop_at_signature: true,
        }
    }
}

/// A workload a bisection boot ends early: after step `step` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cut {
    pub workload: String,
    pub step: u64,
}

/// What one bisection boot runs and when it may end (also a Slurm boot unit's, `core::slurm`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BootPlan {
    /// The job's workloads to run, in the job's order.
    pub workloads: Vec<String>,
    /// `workloads` is every workload of the job.
    pub all: bool,
    /// End the boot (a fail) as soon as a finding with this title is seen.
    pub stop_at: Option<String>,
    /// The signature's workload runs through this step only (`bisect.steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Cut>,
    /// Run the job's probes (coverage kprobes, the eviction stacks). Only when a probe's finding
    /// can fail a boot (`probes.hazards_fail`): otherwise nothing a probe sees can be the
    /// signature, and the probes cost a bisection boot about a second to set up and slow its
    /// workload (each probed call traps).
    pub probes: bool,
}

/// The boots of a bisection of `signature`, first seen `during` (the finding's `during`: `None`
/// when not known) in step `step` of that workload (the latest such step of the failing runs),
/// for a job whose workloads are `job` (in order) and which may rely on others as `needs` says
/// (`harness_proto::workloads::NEEDS`). A pass of such a boot means: these workloads ran to their
/// end (the signature's through `step`, when cut) without the signature. `probe_findings`: a
/// probe's finding can fail a boot (`probes.hazards_fail`), so the boots keep the job's probes.
pub fn boot_plan(
    scope: Scope,
    signature: &str,
    during: Option<&During>,
    step: Option<u64>,
    job: &[String],
    needs: &[(&str, &str)],
    probe_findings: bool,
) -> BootPlan {
    let everything = BootPlan {
        workloads: job.to_vec(),
        all: true,
        stop_at: scope.stop_at_signature.then(|| signature.to_string()),
        cut: None,
        probes: probe_findings,
    };
    let (name, step) = match (scope.workloads, during) {
        (Workloads::During, Some(During::Workload(w))) if job.contains(w) => (w, step),
        // A test of a test suite (fstests): its workload (a suite's tests are not steps).
        (Workloads::During, Some(During::Test { workload: w, .. })) if job.contains(w) => (w, None),
        _ => return everything,
    };
    // The workload and, transitively, what it needs.
    let mut want = vec![name.clone()];
    let mut i = 0;
    while i < want.len() {
        for (w, needed) in needs {
            if *w == want[i] && !want.iter().any(|x| x == needed) {
                want.push(needed.to_string());
            }
        }
        i += 1;
    }
    let workloads: Vec<String> = job.iter().filter(|w| want.contains(w)).cloned().collect();
    BootPlan {
        all: workloads.len() == job.len(),
        workloads,
        cut: step
            .filter(|_| scope.steps == Steps::ThroughSignature)
            .map(|step| Cut {
                workload: name.clone(),
                step,
            }),
        ..everything
    }
}

/// The step a bisection boot runs the signature's workload through: the latest step the signature
/// showed in over the trigger prefix's failing boots (`(during, step)` of the signature's first
/// finding in each), counting those it showed `during` the same workload, so that each of them
/// counts as a fail of a cut boot. `None` (no cut) when one of them has no step for it.
pub fn cut_step<'a>(
    during: Option<&During>,
    fails: impl IntoIterator<Item = (Option<&'a During>, Option<u64>)>,
) -> Option<u64> {
    fails
        .into_iter()
        .filter(|(d, _)| d.is_some() && *d == during)
        .try_fold(None, |max: Option<u64>, (_, s)| s.map(|s| max.max(Some(s))))
        .flatten()
}

/// How a boot of the test phase counts for a bisection whose boots are cut (`plan.cut`): the
/// signature first seen in a later step of the cut workload would not have been seen by a cut
/// boot, so that boot is no evidence either way (`None`); else its outcome as is.
pub fn seen_outcome(
    plan: &BootPlan,
    signature: &str,
    verdict: Verdict,
    titles: &[String],
    during: Option<&During>,
    step: Option<u64>,
) -> Option<Outcome> {
    let o = classify(signature, verdict, titles)?;
    let later = match (&plan.cut, during, step) {
        (Some(cut), Some(During::Workload(w)), Some(s)) => *w == cut.workload && s > cut.step,
        _ => false,
    };
    Some(if o == Outcome::Fail && later {
        Outcome::Other
    } else {
        o
    })
}

/// How a variant is tested after the bisection: boot it until it has `need` clean runs or fails.
#[derive(Debug, Clone)]
pub struct CleanRuns {
    need: u32,
    passes: u32,
    infra: u32,
}

/// The end of a variant's test: its verdict and why, when not a pass.
pub type Tested = (Verdict, u32, Option<String>);

impl CleanRuns {
    /// `done`: clean runs made before (the bisection's runs of the base count).
    pub fn new(need: u32, done: u32) -> CleanRuns {
        CleanRuns {
            need,
            passes: done,
            infra: 0,
        }
    }

    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// The test is over with a pass, if it is.
    pub fn passed(&self) -> Option<Tested> {
        (self.passes >= self.need).then_some((Verdict::Pass, self.passes, None))
    }

    /// Count one boot (its console artifact named in the note); `Some` ends the test.
    pub fn count(&mut self, signature: &str, run: Run<'_>, console: &str) -> Option<Tested> {
        match classify(signature, run.verdict, run.titles) {
            Some(Outcome::Pass) => {
                self.passes += 1;
                self.passed()
            }
            Some(Outcome::Fail) => Some((
                Verdict::Fail,
                self.passes,
                Some(format!("failed with the signature in {console}")),
            )),
            Some(_) => Some((
                Verdict::Fail,
                self.passes,
                Some(format!(
                    "failed otherwise in {console}: {}",
                    run.titles.first().map(String::as_str).unwrap_or("")
                )),
            )),
            None => {
                self.infra += 1;
                (self.infra >= MAX_INFRA_IN_A_ROW).then(|| {
                    (
                        Verdict::InfraError,
                        self.passes,
                        Some(format!("{} runs could not be completed", self.infra)),
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(verdict: Verdict, titles: &[String], booted: bool) -> Run<'_> {
        Run {
            verdict,
            titles,
            booted,
        }
    }

    const SIG: &str = "WARNING in ceph_unlink";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_bisection_boot_runs_the_workload_the_signature_showed_in() {
        let job = names(&["umount-stress", "iput-stress", "snap-stress"]);
        let during = During::Workload("iput-stress".into());
        let p = boot_plan(Scope::default(), SIG, Some(&during), None, &job, &[], false);
        assert_eq!(p.workloads, names(&["iput-stress"]));
        assert!(!p.all);
        assert_eq!(p.stop_at.as_deref(), Some(SIG));
        // No probes unless a probe's finding can be the signature.
        assert!(!p.probes);
        assert!(boot_plan(Scope::default(), SIG, Some(&during), None, &job, &[], true).probes);
        // What it needs comes too (transitively), in the job's order.
        let needs = [
            ("iput-stress", "snap-stress"),
            ("snap-stress", "umount-stress"),
        ];
        let p = boot_plan(
            Scope::default(),
            SIG,
            Some(&during),
            None,
            &job,
            &needs,
            false,
        );
        assert_eq!(p.workloads, job);
        assert!(p.all);
    }

    #[test]
    fn outside_any_workload_or_when_the_job_says_so_every_workload_runs() {
        let job = names(&["umount-stress", "iput-stress"]);
        for during in [
            None,
            Some(During::Boot),
            Some(During::Shutdown),
            // A workload the job does not have (a stale finding): all of them.
            Some(During::Workload("cap-revoke".into())),
        ] {
            let p = boot_plan(
                Scope::default(),
                SIG,
                during.as_ref(),
                None,
                &job,
                &[],
                false,
            );
            assert_eq!(
                (p.workloads.clone(), p.all),
                (job.clone(), true),
                "{during:?}"
            );
        }
        let all = Scope {
            workloads: Workloads::All,
            steps: Steps::ThroughSignature,
            stop_at_signature: false,
        };
        let during = During::Workload("iput-stress".into());
        let p = boot_plan(all, SIG, Some(&during), None, &job, &[], false);
        assert_eq!((p.workloads, p.all, p.stop_at), (job, true, None));
        assert_eq!(Workloads::parse("during"), Some(Workloads::During));
        assert_eq!(Workloads::parse("all"), Some(Workloads::All));
        assert_eq!(Workloads::parse("some"), None);
    }

    #[test]
    fn a_stepped_workload_is_cut_after_the_step_the_signature_showed_in() {
        let job = names(&["umount-stress", "iput-stress"]);
        let during = During::Workload("umount-stress".into());
        let p = boot_plan(
            Scope::default(),
            SIG,
            Some(&during),
            Some(2),
            &job,
            &[],
            false,
        );
        let cut = Cut {
            workload: "umount-stress".into(),
            step: 2,
        };
        assert_eq!(p.cut, Some(cut.clone()));
        assert_eq!(p.workloads, names(&["umount-stress"]));
        // Not when the job says so, nor when every workload runs, nor without a step.
        let all_steps = Scope {
            steps: Steps::All,
            ..Scope::default()
        };
        assert_eq!(
            boot_plan(all_steps, SIG, Some(&during), Some(2), &job, &[], false).cut,
            None
        );
        let all = Scope {
            workloads: Workloads::All,
            ..Scope::default()
        };
        assert_eq!(
            boot_plan(all, SIG, Some(&during), Some(2), &job, &[], false).cut,
            None
        );
        assert_eq!(
            boot_plan(Scope::default(), SIG, Some(&during), None, &job, &[], false).cut,
            None
        );
        // A test of a suite is not a step.
        let test = During::Test {
            workload: "umount-stress".into(),
            test: "generic/001".into(),
        };
        assert_eq!(
            boot_plan(
                Scope::default(),
                SIG,
                Some(&test),
                Some(2),
                &job,
                &[],
                false
            )
            .cut,
            None
        );
        assert_eq!(
            Steps::parse("through-signature"),
            Some(Steps::ThroughSignature)
        );
        assert_eq!(Steps::parse("all"), Some(Steps::All));
        assert_eq!(Steps::parse("first"), None);

        // The test phase's boots, as a cut boot would have seen them: the signature in a later
        // step is no evidence; in the step or before it, in another workload, or not at all,
        // the boot counts as it is.
        let sig = vec![SIG.to_string()];
        let o = |d: &During, step| seen_outcome(&p, SIG, Verdict::Fail, &sig, Some(d), step);
        assert_eq!(o(&during, Some(3)), Some(Outcome::Other));
        assert_eq!(o(&during, Some(2)), Some(Outcome::Fail));
        assert_eq!(o(&during, Some(1)), Some(Outcome::Fail));
        assert_eq!(o(&during, None), Some(Outcome::Fail));
        assert_eq!(
            o(&During::Workload("iput-stress".into()), Some(3)),
            Some(Outcome::Fail)
        );
        assert_eq!(
            seen_outcome(&p, SIG, Verdict::Pass, &[], None, None),
            Some(Outcome::Pass)
        );
        // The step: the latest over the trigger's fails in that workload; none if one has none.
        let boot = During::Boot;
        assert_eq!(
            cut_step(
                Some(&during),
                [
                    (Some(&during), Some(2)),
                    (Some(&boot), None),
                    (Some(&during), Some(1))
                ]
            ),
            Some(2)
        );
        assert_eq!(
            cut_step(
                Some(&during),
                [(Some(&during), Some(2)), (Some(&during), None)]
            ),
            None
        );
        assert_eq!(cut_step(None, [(None, Some(2))]), None);
        // Uncut: as classified.
        let uncut = BootPlan { cut: None, ..p };
        assert_eq!(
            seen_outcome(&uncut, SIG, Verdict::Fail, &sig, Some(&during), Some(3)),
            Some(Outcome::Fail)
        );
    }

    #[test]
    fn the_signature_fails_and_a_clean_run_passes() {
        let mut p = Policy::new(SIG, 3, 10);
        let t = vec![SIG.to_string()];
        assert_eq!(
            p.judge(2, run(Verdict::Fail, &t, true)),
            Judgement::Observe(Outcome::Fail)
        );
        assert_eq!(
            p.judge(1, run(Verdict::Pass, &[], true)),
            Judgement::Observe(Outcome::Pass)
        );
    }

    #[test]
    fn another_signature_twice_skips_the_prefix() {
        let mut p = Policy::new(SIG, 3, 10);
        let t = vec!["BUG: kernel NULL pointer dereference".to_string()];
        assert_eq!(
            p.judge(2, run(Verdict::Fail, &t, true)),
            Judgement::Observe(Outcome::Other)
        );
        // Another prefix keeps its own count.
        assert_eq!(
            p.judge(1, run(Verdict::Fail, &t, true)),
            Judgement::Observe(Outcome::Other)
        );
        assert_eq!(
            p.judge(2, run(Verdict::Fail, &t, true)),
            Judgement::Observe(Outcome::Skip)
        );
    }

    #[test]
    fn a_kernel_that_never_booted_is_skipped_at_once() {
        let mut p = Policy::new(SIG, 3, 10);
        let t = vec!["guest exit: Panic".to_string()];
        assert_eq!(
            p.judge(3, run(Verdict::Fail, &t, false)),
            Judgement::Observe(Outcome::Skip)
        );
    }

    #[test]
    fn three_infra_errors_in_a_row_give_up_and_evidence_resets_the_count() {
        let mut p = Policy::new(SIG, 3, 10);
        let infra = run(Verdict::InfraError, &[], true);
        assert_eq!(p.judge(1, infra), Judgement::Retry { gave_up: None });
        assert_eq!(p.judge(1, infra), Judgement::Retry { gave_up: None });
        assert_eq!(
            p.judge(1, run(Verdict::Pass, &[], true)),
            Judgement::Observe(Outcome::Pass)
        );
        assert_eq!(p.judge(1, infra), Judgement::Retry { gave_up: None });
        assert_eq!(p.judge(1, infra), Judgement::Retry { gave_up: None });
        assert_eq!(
            p.judge(1, infra),
            Judgement::Retry {
                gave_up: Some("3 guest runs in a row could not be completed".into())
            }
        );
        // The signature in an infra-error run is still evidence.
        let t = vec![SIG.to_string()];
        assert_eq!(
            p.judge(1, run(Verdict::InfraError, &t, true)),
            Judgement::Observe(Outcome::Fail)
        );
    }

    #[test]
    fn the_boot_budget_is_twice_the_evidence_budget() {
        let mut p = Policy::new(SIG, 3, 2);
        for i in 1..=4 {
            assert_eq!(p.budget_spent(), None);
            assert_eq!(p.start_boot(), i);
        }
        assert_eq!(
            p.budget_spent().as_deref(),
            Some("4 guest boots without enough evidence")
        );
    }

    #[test]
    fn a_stopped_search_gives_its_best_guess_unconfident() {
        let mut b = Bisection::new(3, Default::default());
        b.observe(3, Outcome::Fail);
        b.observe(1, Outcome::Pass);
        let c = stopped(&b);
        assert!(!c.confident && !c.verified);
        assert_eq!(c.rounds, 0);
        assert!(c.candidates.contains(&c.culprit));
        assert!(c.culprit >= 2);
    }

    #[test]
    fn clean_runs_end_on_need_on_failure_or_on_infra_errors() {
        let clean = run(Verdict::Pass, &[], true);
        let mut c = CleanRuns::new(3, 1);
        assert_eq!(c.passed(), None);
        assert_eq!(c.count(SIG, clean, "c1"), None);
        assert_eq!(c.count(SIG, clean, "c2"), Some((Verdict::Pass, 3, None)));
        assert_eq!(
            CleanRuns::new(2, 2).passed(),
            Some((Verdict::Pass, 2, None))
        );

        let t = vec![SIG.to_string()];
        let mut c = CleanRuns::new(3, 0);
        assert_eq!(
            c.count(SIG, run(Verdict::Fail, &t, true), "console-base-1.log"),
            Some((
                Verdict::Fail,
                0,
                Some("failed with the signature in console-base-1.log".into())
            ))
        );
        let other = vec!["WARNING in ceph_rename".to_string()];
        assert_eq!(
            CleanRuns::new(3, 0).count(SIG, run(Verdict::Fail, &other, true), "x.log"),
            Some((
                Verdict::Fail,
                0,
                Some("failed otherwise in x.log: WARNING in ceph_rename".into())
            ))
        );
        // Infra errors need not be in a row here.
        let infra = run(Verdict::InfraError, &[], true);
        let mut c = CleanRuns::new(5, 0);
        assert_eq!(c.count(SIG, infra, "a"), None);
        assert_eq!(c.count(SIG, clean, "b"), None);
        assert_eq!(c.count(SIG, infra, "c"), None);
        assert_eq!(
            c.count(SIG, infra, "d"),
            Some((
                Verdict::InfraError,
                1,
                Some("3 runs could not be completed".into())
            ))
        );
    }
}
