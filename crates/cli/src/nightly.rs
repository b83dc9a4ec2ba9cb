//! `harness nightly SUITE`: every job of the suite on its series, one after the other, compared
//! with the suite's previous nightly; the comparison is stored with the nightly (the dashboard
//! shows it) and, when the suite names a GitHub repository, reported there: an issue per new
//! regression signature (updated while it keeps failing, closed when fixed) and a check run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use harness_core::job::{Executor, Suite};
use harness_core::nightly::{self, JobOutcome, Summary};
use harness_core::report::Report;
use harness_github::{Change, IssueAction, Regression, Target};
use harness_store::{NightlyRow, RunStatus, Store, SuiteSource};

use crate::args::SeriesArgs;
use crate::cmd::run::{execute, Outputs};
use crate::exit::{self, bad_input, Fail};
use crate::github;
use crate::prepare::{prepare, Overrides, Prepared};

pub fn run(
    results: &Path,
    suite_path: &Path,
    cache: Option<PathBuf>,
    executor: Option<&str>,
) -> Result<u8, Fail> {
    let text = std::fs::read_to_string(suite_path)
        .with_context(|| suite_path.display().to_string())
        .map_err(bad_input)?;
    let dir = suite_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let source = SuiteSource {
        text,
        file: suite_path.display().to_string(),
        dir: std::path::absolute(dir).unwrap_or(dir.to_path_buf()),
    };
    let executor = executor.and_then(Executor::parse);
    run_suite(results, &source, cache, None, executor)
}

/// `harness resume NIGHTLY`: finish an interrupted nightly. Its finished runs are kept, an
/// interrupted one is resumed, the jobs it had not reached are run; then the comparison.
pub fn resume(results: &Path, id: &str) -> Result<u8, Fail> {
    let store = Store::open(results)?;
    let row = store.claim_nightly_resume(id).map_err(bad_input)?;
    let Some(source) = row.suite_source.clone() else {
        store.finish_nightly(id, RunStatus::Interrupted, None)?;
        return Err(bad_input(anyhow::anyhow!(
            "nightly {id} kept no suite (it was started by an older harness)"
        )));
    };
    drop(store);
    run_suite(results, &source, None, Some(row), None)
}

fn run_suite(
    results: &Path,
    source: &SuiteSource,
    cache: Option<PathBuf>,
    resumed: Option<NightlyRow>,
    executor: Option<Executor>,
) -> Result<u8, Fail> {
    let suite = Suite::from_yaml(&source.text, &source.file, &source.dir).map_err(bad_input)?;
    let executor = executor.unwrap_or(suite.executor);
    let slurm_spec = match (executor, &suite.slurm) {
        (Executor::Local, _) => None,
        (Executor::Slurm, Some(s)) => Some(s.clone()),
        (Executor::Slurm, None) => {
            return Err(Fail::Usage(anyhow::anyhow!(
                "{}: --executor slurm needs the suite's `slurm:` section (at least `shared_dir:`)",
                source.file
            )))
        }
    };
    // Everything is checked before the first job starts: the token, the jobs, the series.
    let gh = match &suite.github {
        None => None,
        Some(g) => {
            let token = github::token(&g.token_env, g.token_file.as_deref())?;
            Some(github::client(
                &g.api,
                &g.repo,
                token,
                suite.dashboard.clone(),
            )?)
        }
    };
    let input = SeriesArgs {
        series: suite.series.clone(),
        range: suite.range.clone(),
        msgid: None,
        lore_url: harness_exec::lore::DEFAULT_BASE.into(),
        tree: suite.tree.clone(),
    };
    let overrides = Overrides {
        on_failure: suite.on_failure.map(|o| o.as_str().to_string()),
        three_way: false,
        tree: suite.tree.clone(),
        base: None,
        range: suite.range.is_some(),
        expect_fix: None,
        no_base_check: false,
        executor: None,
    };
    let preps = suite
        .jobs
        .iter()
        .map(|j| prepare(Some(j), &input, overrides.clone(), cache.clone()))
        .collect::<Result<Vec<_>, _>>()?;

    let store = Store::open(results)?;
    let id = match &resumed {
        Some(n) => n.id.clone(),
        None => {
            let id = format!("nightly-{}", Store::new_run_id());
            store.begin_nightly(&id, &suite.name, &Store::now(), source)?;
            id
        }
    };
    let previous = store.previous_nightly(&suite.name, &id)?;
    let prev_summary: Option<Summary> = previous.as_ref().and_then(|n| n.summary.clone());
    eprintln!(
        "harness: {} {id} of suite {}: {} job(s); compared with {}",
        if resumed.is_some() {
            "resuming nightly"
        } else {
            "nightly"
        },
        suite.name,
        preps.len(),
        previous
            .as_ref()
            .map(|p| p.id.as_str())
            .unwrap_or("nothing (the suite's first nightly)")
    );
    // A resumed nightly's runs, by job.
    let mut earlier: Vec<harness_store::RunRow> = Vec::new();
    if let Some(n) = &resumed {
        for r in &n.runs {
            earlier.push(store.row(r)?);
        }
    }

    let finished_before = |job: &str| {
        earlier
            .iter()
            .find(|r| r.job == job)
            .filter(|r| r.status == RunStatus::Finished)
            .and_then(|r| store.report(&r.id).ok())
    };
    // Through Slurm: every job not finished before is a unit, submitted at once and collected
    // as the units end; the loop below then only reads what they became.
    // Each job: its name, whether hazards fail it, and its prepared run unless a unit ran it.
    let mut jobs: Vec<(String, bool, Option<Prepared>)> = preps
        .into_iter()
        .map(|p| (p.job.name.clone(), p.job.probes.hazards_fail, Some(p)))
        .collect();
    let mut units: Vec<Option<(u8, Option<Report>)>> = vec![None; jobs.len()];
    let mut units_interrupted = false;
    if let Some(spec) = &slurm_spec {
        let mut work = Vec::new();
        let mut at = Vec::new();
        for (i, (name, _, prep)) in jobs.iter_mut().enumerate() {
            if finished_before(name).is_some() {
                continue;
            }
            let again = earlier
                .iter()
                .find(|r| &r.job == name && r.status == RunStatus::Interrupted)
                .cloned();
            at.push(i);
            work.push(crate::slurm::Work {
                prep: prep.take().expect("each job prepared once"),
                again,
            });
        }
        let collected = crate::slurm::run_units(results, &id, spec, work)?;
        for (i, r) in at.into_iter().zip(collected.results) {
            units[i] = r;
        }
        units_interrupted = collected.interrupted;
    }

    let mut outcomes = Vec::new();
    let mut reports: Vec<Option<Report>> = Vec::new();
    let mut code = exit::PASS;
    for (i, (job, hazards_fail, prep)) in jobs.into_iter().enumerate() {
        let before = earlier.iter().find(|r| r.job == job);
        let done = finished_before(&job);
        let unit = units[i].take();
        if slurm_spec.is_some() && done.is_none() && unit.is_none() {
            // Not collected: the nightly was interrupted.
            continue;
        }
        let (c, report) = if let Some(r) = unit {
            r
        } else if let Some(report) = done {
            eprintln!(
                "harness: nightly job {job}: run {} finished before",
                report.run_id
            );
            (crate::exit::verdict_code(report.verdict), Some(report))
        } else {
            let out = Outputs {
                nightly: Some(id.clone()),
                ..Outputs::default()
            };
            let again = before
                .filter(|r| r.status == RunStatus::Interrupted)
                .map(|r| r.id.as_str());
            let prep = prep.expect("a job not run as a unit is prepared");
            match execute(results, prep, again, &out) {
                Ok((exit::INTERRUPTED, None)) => {
                    let partial = nightly::compare(&suite.name, prev_summary.as_ref(), outcomes);
                    store.finish_nightly(&id, RunStatus::Interrupted, Some(&partial))?;
                    eprintln!("harness: `harness resume {id}` finishes the nightly");
                    return Ok(exit::INTERRUPTED);
                }
                Ok(r) => r,
                Err(f) => {
                    eprintln!(
                        "harness: nightly job {job}: {}",
                        crate::exit::chain(f.error())
                    );
                    (f.process_exit_code(), None)
                }
            }
        };
        if code == exit::PASS {
            code = c;
        }
        outcomes.push(JobOutcome {
            job,
            run: report.as_ref().map(|r| r.run_id.clone()),
            verdict: report.as_ref().map(|r| r.verdict),
            signatures: report
                .as_ref()
                .map(|r| nightly::signatures(r, hazards_fail))
                .unwrap_or_default(),
            new: vec![],
            still: vec![],
            fixed: vec![],
        });
        reports.push(report);
    }
    if units_interrupted {
        let partial = nightly::compare(&suite.name, prev_summary.as_ref(), outcomes);
        store.finish_nightly(&id, RunStatus::Interrupted, Some(&partial))?;
        eprintln!("harness: `harness resume {id}` finishes the nightly");
        return Ok(exit::INTERRUPTED);
    }
    let mut summary = nightly::compare(&suite.name, prev_summary.as_ref(), outcomes);
    summary.previous = previous.map(|p| p.id);
    store.finish_nightly(&id, RunStatus::Finished, Some(&summary))?;
    print_summary(&id, &summary);
    if let Some(c) = &gh {
        report_to_github(c, &suite, &summary, &reports);
    }
    Ok(code)
}

fn print_summary(id: &str, s: &Summary) {
    println!("nightly {id} (suite {}):", s.suite);
    for j in &s.jobs {
        println!(
            "  job {:<14} run {:<22} {}",
            j.job,
            j.run.as_deref().unwrap_or("-"),
            j.verdict.map(|v| v.as_str()).unwrap_or("not run")
        );
        for (word, sigs) in [
            ("NEW", &j.new),
            ("still failing", &j.still),
            ("fixed", &j.fixed),
        ] {
            for sig in sigs {
                println!("    {word:<13} {}", harness_core::text::line(sig));
            }
        }
    }
    println!(
        "signatures: {} new, {} still failing, {} fixed (compared with {})",
        s.new.len(),
        s.still.len(),
        s.fixed.len(),
        s.previous.as_deref().unwrap_or("nothing")
    );
}

/// Issues for the signatures that changed, and a check run per job when the suite names a
/// commit. A failure to report is printed and does not change the nightly's exit code.
fn report_to_github(c: &github::Client, suite: &Suite, s: &Summary, reports: &[Option<Report>]) {
    let Some(spec) = &suite.github else { return };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harness: github: {e}");
            return;
        }
    };
    for (j, report) in s.jobs.iter().zip(reports) {
        let Some(report) = report else { continue };
        if spec.issues {
            let changes = [
                (Change::New, &j.new),
                (Change::StillFailing, &j.still),
                (Change::Fixed, &j.fixed),
            ];
            for (change, sigs) in changes {
                for sig in sigs {
                    let r = Regression {
                        suite: &s.suite,
                        job: &j.job,
                        signature: sig,
                        change,
                        report,
                        dashboard: c.dashboard.as_deref(),
                    };
                    match rt.block_on(harness_github::track_regression(&c.cfg, &r)) {
                        Ok(IssueAction::Created { number }) => {
                            println!("github: opened issue #{number} for \"{sig}\"")
                        }
                        Ok(IssueAction::Updated { number }) => {
                            println!("github: updated issue #{number} for \"{sig}\"")
                        }
                        Ok(IssueAction::Closed { number }) => {
                            println!("github: closed issue #{number}: \"{sig}\" is fixed")
                        }
                        Ok(IssueAction::Nothing) => {}
                        Err(e) => eprintln!(
                            "harness: github: issue for \"{sig}\": {}",
                            crate::exit::chain(&e.into())
                        ),
                    }
                }
            }
        }
        if let Some(sha) = &spec.commit {
            github::post(&rt, c, report, &Target::Commit { sha: sha.clone() });
        }
    }
}
