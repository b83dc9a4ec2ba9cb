//! Bisection and revert, the executor's half: runs the guests the pure search
//! ([`harness_core::bisect`]) asks for, then makes and tests the two ways back (the series without
//! its culprit, and the base) and writes them as files a maintainer can use.

use harness_core::bisect::{self, Bisection, Conclusion, Outcome, Step};
use harness_core::event::Phase;
use harness_core::job::OnFailure;
use harness_core::report::{BisectRun, Culprit, Revert, RevertTest, Verdict};
use harness_core::series::Series;

use crate::builder::Built;
use crate::pipeline::{Rig, State};
use crate::tree::WorkTree;
use crate::Result;

/// The applied series: `commits[k]` is prefix k, `builds[k]` its build.
pub(crate) struct Chain<'a> {
    pub work: &'a WorkTree,
    pub series: &'a Series,
    pub commits: &'a [String],
    pub builds: &'a [Built],
}

/// Consecutive runs that could not be completed before the bisection gives up.
const MAX_INFRA_IN_A_ROW: u32 = 3;
/// Runs of one prefix that fail otherwise (another signature) before it is skipped.
const MAX_OTHER: u32 = 2;
/// Clean runs a revert candidate gets at most.
const MAX_CLEAN_RUNS: u32 = 10;

/// Bisect the failure `seen` at the highest failing prefix, then (for `on_failure: revert`) make
/// and test the way back. `seen`: every boot so far as (prefix, verdict, titles).
pub(crate) async fn bisect(
    rig: &Rig<'_>,
    st: &mut State<'_>,
    chain: &Chain<'_>,
    seen: &[(usize, Verdict, Vec<String>)],
) -> Result<()> {
    let n = chain.commits.len() - 1;
    let Some((trigger, _, titles)) = seen.iter().rev().find(|(_, v, _)| *v == Verdict::Fail) else {
        return Ok(());
    };
    let Some(signature) = titles.first().cloned() else {
        return Ok(());
    };
    let model = rig.job.bisect;
    let p = st.begin(
        Phase::Bisect,
        format!(
            "\"{signature}\" (prefix {trigger}) over {n} patches, confidence {}",
            model.confidence
        ),
    );
    let mut b = Bisection::new(n, model);
    for (k, built) in chain.builds.iter().enumerate() {
        if !built.ok {
            b.observe(k, Outcome::Skip);
        }
    }
    for (k, v, t) in seen {
        if let Some(o) = bisect::classify(&signature, *v, t) {
            b.observe(*k, o);
        }
    }
    let mut others = vec![0u32; n + 1];
    let mut infra_in_a_row = 0;
    let mut boots = 0u32;
    let mut gave_up = None;
    let conclusion = loop {
        let ks = match b.next(1) {
            Step::Done(c) => break c,
            Step::Test(ks) => ks,
        };
        if boots >= 2 * model.max_runs {
            gave_up = Some(format!("{boots} guest boots without enough evidence"));
            break stop(&b);
        }
        for k in ks {
            boots += 1;
            let verify = b.verifying();
            let console = format!("console-bisect-{boots:02}-prefix-{k}.log");
            let what = format!(
                "bisect run {boots}{}: prefix {k}",
                if verify { " (verify)" } else { "" }
            );
            let boot = rig
                .boot(
                    st,
                    k,
                    &chain.builds[k],
                    &format!("prefix-{k}"),
                    &console,
                    &what,
                )
                .await?;
            let titles = boot.titles();
            let outcome = match bisect::classify(&signature, boot.result.verdict, &titles) {
                None => None,
                // A kernel that never started the workloads does not boot: skipped.
                Some(Outcome::Other) if !boot.booted() => Some(Outcome::Skip),
                Some(Outcome::Other) => {
                    others[k] += 1;
                    Some(if others[k] >= MAX_OTHER {
                        Outcome::Skip
                    } else {
                        Outcome::Other
                    })
                }
                o => o,
            };
            st.bisection.push(BisectRun {
                leader: None,
                confidence: None,
                prefix: k,
                outcome: outcome.unwrap_or(Outcome::Other),
                verify,
                verdict: boot.result.verdict,
                signatures: titles,
                console,
                seconds: boot.result.seconds,
            });
            let Some(outcome) = outcome else {
                infra_in_a_row += 1;
                st.progress(
                    Phase::Bisect,
                    format!(
                        "prefix {k}: could not be tested ({}); retried, not counted",
                        boot.result
                            .infra
                            .as_deref()
                            .unwrap_or("guest run incomplete")
                    ),
                );
                if infra_in_a_row >= MAX_INFRA_IN_A_ROW {
                    gave_up = Some(format!(
                        "{infra_in_a_row} guest runs in a row could not be completed"
                    ));
                }
                continue;
            };
            infra_in_a_row = 0;
            b.observe(k, outcome);
            let (best, mass) = b.best();
            if let Some(r) = st.bisection.last_mut() {
                r.leader = Some(best.clone());
                r.confidence = Some(mass);
            }
            st.progress(
                Phase::Bisect,
                format!(
                    "prefix {k}: {}; most likely culprit {} at {:.1}%, rate {:.2}, {} runs",
                    outcome_word(outcome),
                    patches(&best),
                    mass * 100.0,
                    b.rate(),
                    b.runs()
                ),
            );
        }
        if gave_up.is_some() {
            break stop(&b);
        }
    };
    let skipped: Vec<usize> = (0..=n).filter(|&k| b.is_skipped(k)).collect();
    let subject = if conclusion.culprit == 0 {
        "(base)".to_string()
    } else {
        chain.series.patches[conclusion.culprit - 1].subject.clone()
    };
    st.culprit = Some(Culprit {
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
        found_after_s: st.t0.elapsed().as_secs_f64(),
    });
    if let Some(why) = &gave_up {
        st.progress(Phase::Bisect, format!("stopped: {why}"));
    }
    st.end(p, conclusion.confident);

    if rig.job.on_failure == OnFailure::Revert && conclusion.culprit > 0 && gave_up.is_none() {
        let r = revert(rig, st, chain, &b, &conclusion, &signature).await?;
        st.revert = Some(r);
    }
    let text = harness_core::report::bisect_text(
        st.culprit.as_ref().expect("set above"),
        &st.bisection,
        st.revert.as_ref(),
    );
    let _ = crate::write(&rig.artifacts.join("bisect-report.txt"), text);
    Ok(())
}

/// The search's answer when it is stopped early.
fn stop(b: &Bisection) -> Conclusion {
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

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Fail => "fails with the signature",
        Outcome::Pass => "passes",
        Outcome::Other => "fails otherwise (not evidence)",
        Outcome::Skip => "skipped",
    }
}

fn patches(group: &[usize]) -> String {
    match group {
        [0] => "the base".into(),
        [k] => format!("patch {k}"),
        g => format!(
            "one of patches {}",
            g.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Make and test (a) the series without the culprit and (b) the base; write the mbox and the
/// revert patch.
async fn revert(
    rig: &Rig<'_>,
    st: &mut State<'_>,
    chain: &Chain<'_>,
    b: &Bisection,
    c: &Conclusion,
    signature: &str,
) -> Result<Revert> {
    let n = chain.commits.len() - 1;
    let first = c.candidates[0].max(1);
    let last = *c.candidates.last().expect("a group is never empty");
    let need = bisect::clean_runs_needed(c.rate, rig.job.bisect.confidence, MAX_CLEAN_RUNS);
    let p = st.begin(
        Phase::Revert,
        format!(
            "drop {} and rebase the rest with git am -3; test it and the base, {need} clean runs each",
            patches(&c.candidates)
        ),
    );
    let work = chain.work;
    let dropped = patches(&c.candidates);

    // (a) The series without the culprit.
    let without_what = format!("the series without {dropped} (mbox)");
    let mut without = RevertTest {
        what: without_what,
        file: None,
        verdict: Verdict::ApplyFailed,
        runs: 0,
        confidence: 0.0,
        note: None,
    };
    work.checkout(&chain.commits[first - 1]).await?;
    let mut applied = true;
    for j in last + 1..=n {
        let patch = &chain.series.patches[j - 1];
        let a = work.am(&patch.raw, rig.scratch, true).await?;
        if !a.ok {
            applied = false;
            without.note = Some(format!(
                "patch {j} \"{}\" does not apply without the culprit (git am -3): {}",
                patch.subject,
                a.message.lines().next().unwrap_or_default()
            ));
            break;
        }
    }
    if applied {
        let mbox = work
            .git_out(&[
                "format-patch",
                "--stdout",
                &format!("{}..HEAD", chain.commits[0]),
            ])
            .await?;
        let file = "without-culprit.mbox";
        crate::write(&rig.artifacts.join(file), format!("{mbox}\n"))?;
        without.file = Some(file.into());
        // Without later patches the variant is the prefix before the culprit, already built.
        let fresh;
        let built = if last == n {
            &chain.builds[first - 1]
        } else {
            let ccache = rig.kernel.ccache_dir(rig.cache);
            fresh = rig
                .kernel
                .build(
                    rig.procs,
                    &rig.scratch.join("without-culprit"),
                    &rig.artifacts.join("without-culprit"),
                    &rig.artifacts.join("build-without-culprit.log"),
                    &ccache,
                    rig.job.timeouts.build,
                    true,
                )
                .await?;
            &fresh
        };
        if built.ok {
            let (verdict, runs, note) = test_variant(
                rig,
                st,
                first - 1,
                built,
                "without-culprit",
                need,
                0,
                signature,
            )
            .await?;
            without.verdict = verdict;
            without.runs = runs;
            without.confidence = bisect::clean_confidence(c.rate, runs);
            without.note = note;
        } else {
            without.verdict = Verdict::BuildFailed;
            without.note = Some(format!(
                "does not build: {}",
                built
                    .error_excerpt
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
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
            rig,
            st,
            0,
            &chain.builds[0],
            "base",
            need,
            base_passes,
            signature,
        )
        .await?;
        whole.verdict = verdict;
        whole.runs = runs;
        whole.note = note.or((base_passes > 0)
            .then(|| format!("{base_passes} of its clean runs were made by the bisection")));
    }
    whole.confidence = bisect::clean_confidence(c.rate, whole.runs);

    // A `git revert` of the culprit on top of the full series.
    work.checkout(&chain.commits[n]).await?;
    let mut revert_patch = None;
    let mut revert_note = None;
    let mut reverted = true;
    for &k in c.candidates.iter().rev().filter(|&&k| k > 0) {
        if let Err(e) = work
            .git_out(&["revert", "--no-edit", &chain.commits[k]])
            .await
        {
            let _ = work.git_out(&["revert", "--abort"]).await;
            revert_note = Some(format!(
                "patch {k} does not revert cleanly on the full series: {e}"
            ));
            reverted = false;
            break;
        }
    }
    if reverted {
        let patch = work
            .git_out(&[
                "format-patch",
                "--stdout",
                &format!("{}..HEAD", chain.commits[n]),
            ])
            .await?;
        let file = "revert-culprit.patch";
        crate::write(&rig.artifacts.join(file), format!("{patch}\n"))?;
        revert_patch = Some(file.to_string());
    }
    st.end(p, without.verdict == Verdict::Pass);
    Ok(Revert {
        without_culprit: without,
        whole_series: whole,
        revert_patch,
        revert_note,
    })
}

/// Run `built` until it has `need` clean runs (counting `done` made before) or fails.
#[allow(clippy::too_many_arguments)]
async fn test_variant(
    rig: &Rig<'_>,
    st: &mut State<'_>,
    prefix: usize,
    built: &Built,
    name: &str,
    need: u32,
    done: u32,
    signature: &str,
) -> Result<(Verdict, u32, Option<String>)> {
    let mut passes = done;
    let mut attempt = 0;
    let mut infra = 0;
    while passes < need {
        attempt += 1;
        let console = format!("console-{name}-{attempt}.log");
        let what = format!("{name} run {attempt} ({passes}/{need} clean)");
        let boot = rig.boot(st, prefix, built, name, &console, &what).await?;
        let titles = boot.titles();
        match bisect::classify(signature, boot.result.verdict, &titles) {
            Some(Outcome::Pass) => passes += 1,
            Some(Outcome::Fail) => {
                return Ok((
                    Verdict::Fail,
                    passes,
                    Some(format!("failed with the signature in {console}")),
                ))
            }
            Some(_) => {
                return Ok((
                    Verdict::Fail,
                    passes,
                    Some(format!(
                        "failed otherwise in {console}: {}",
                        titles.first().map(String::as_str).unwrap_or("")
                    )),
                ))
            }
            None => {
                infra += 1;
                if infra >= MAX_INFRA_IN_A_ROW {
                    return Ok((
                        Verdict::InfraError,
                        passes,
                        Some(format!("{infra} runs could not be completed")),
                    ));
                }
            }
        }
    }
    Ok((Verdict::Pass, passes, None))
}
