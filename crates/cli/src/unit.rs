//! `harness unit --out DIR`: a unit of work on a Slurm node. The submitting harness wrote
//! DIR/unit.json ([`UnitFile`]), one of two kinds:
//! - a nightly's job ([`UnitSpec`], submitted by `slurm`: what `harness test` would have
//!   prepared, with the run id it recorded): the unit runs the job like `harness test` but,
//!   instead of the store (only the submitter writes it), writes into DIR: `events.jsonl` (each
//!   guest boot as it ends, the base's profile), `artifacts/` (consoles, logs), then
//!   `report.json` (atomically, last);
//! - one boot of a bisection round ([`BootSpec`], submitted by `boot_units`): the run's series
//!   and job and the boot (`core::slurm::BootUnit`); the unit applies and builds that prefix,
//!   boots it once against the node's own cluster (`pipeline::boot_unit`) and writes
//!   `artifacts/` (its console, ...) then `result.json` (`core::slurm::BootResult`, atomically,
//!   last).
//!
//! Either writes `error.txt` when the harness itself failed; Slurm's own output is
//! `artifacts/slurm-unit.log`. The exit code is 0 whenever a report or result was written,
//! whatever its verdict: Slurm's state says whether the unit ran, the report what it found.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use harness_core::event::{Event, EventSink};
use harness_core::report::{AttemptRecord, BaseProfile, Report};
use harness_core::slurm::BootUnit;

use crate::exit::{bad_input, chain, Fail};
use crate::prepare::{checked, job_from_source, parse_groups, Prepared, RawInputs, RunRecord};
use crate::{render, reporter};

/// The files of a unit's directory (one place names them; both sides use it).
pub(crate) struct UnitDir(pub(crate) PathBuf);

impl UnitDir {
    pub(crate) fn spec(&self) -> PathBuf {
        self.0.join("unit.json")
    }
    pub(crate) fn script(&self) -> PathBuf {
        self.0.join("unit.sh")
    }
    pub(crate) fn events(&self) -> PathBuf {
        self.0.join("events.jsonl")
    }
    pub(crate) fn artifacts(&self) -> PathBuf {
        self.0.join("artifacts")
    }
    /// Slurm's output of the job: an artifact of the run.
    pub(crate) fn slurm_log(&self) -> PathBuf {
        self.artifacts().join("slurm-unit.log")
    }
    pub(crate) fn report(&self) -> PathBuf {
        self.0.join("report.json")
    }
    /// A boot unit's result (`core::slurm::BootResult`).
    pub(crate) fn result(&self) -> PathBuf {
        self.0.join("result.json")
    }
    pub(crate) fn error(&self) -> PathBuf {
        self.0.join("error.txt")
    }
}

/// What the submitter hands a unit (DIR/unit.json): which kind, and what it needs.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum UnitFile {
    /// One job of a nightly: a whole run.
    Run(UnitSpec),
    /// One boot of a bisection round.
    Boot(BootSpec),
}

/// One job of a nightly.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct UnitSpec {
    /// The run the submitter recorded (the report carries it).
    pub(crate) run_id: String,
    pub(crate) started_at: String,
    /// The job, where the series came from, the overrides, the node's cache.
    pub(crate) record: RunRecord,
    /// The series' bytes, grouped as given.
    pub(crate) series: RawInputs,
    /// Guest boots an interrupted run recorded (a resumed nightly): not booted again.
    #[serde(default)]
    pub(crate) replay: Vec<AttemptRecord>,
    /// The base's hazard profile the store kept for this kernel and job.
    #[serde(default)]
    pub(crate) base_profile: Option<BaseProfile>,
}

/// One boot of a bisection round: the run's series and job as the submitter prepared them, and
/// which prefix to boot how.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct BootSpec {
    /// The submitter's run (the boot is one of its attempts).
    pub(crate) run_id: String,
    pub(crate) started_at: String,
    /// The job, where the series came from, the overrides, the node's cache.
    pub(crate) record: RunRecord,
    /// The series' bytes, grouped as given.
    pub(crate) series: RawInputs,
    pub(crate) boot: BootUnit,
}

/// What a unit tells the store through its events file, one JSON object a line.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(crate) enum UnitEvent {
    Attempt {
        record: Box<AttemptRecord>,
    },
    BaseProfile {
        evictions: std::collections::BTreeMap<String, u64>,
    },
}

/// The unit's events file as far as it was written (a line cut short by a killed unit is
/// skipped).
pub(crate) fn read_events(path: &Path) -> Vec<UnitEvent> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The terminal (Slurm's output file), and the events file for what the store must keep.
struct UnitSink<'a> {
    terminal: &'a reporter::Terminal,
    events: Mutex<std::fs::File>,
}

impl EventSink for UnitSink<'_> {
    fn emit(&self, elapsed: f64, event: &Event) {
        let line = match event {
            Event::Attempt { record } => Some(UnitEvent::Attempt {
                record: record.clone(),
            }),
            Event::BaseProfile { evictions } => Some(UnitEvent::BaseProfile {
                evictions: evictions.clone(),
            }),
            _ => None,
        };
        if let Some(ev) = line {
            let mut s = serde_json::to_string(&ev).expect("event serialises");
            s.push('\n');
            // One write per line, synced: the submitter may read it after a node is lost.
            let mut f = self.events.lock().unwrap();
            if let Err(e) = f.write_all(s.as_bytes()).and_then(|_| f.sync_data()) {
                self.terminal
                    .note(&format!("unit: could not write an event: {e}"));
            }
        }
        self.terminal.emit(elapsed, event);
    }
}

pub(crate) fn run(out: &Path) -> Result<u8, Fail> {
    let dir = UnitDir(out.to_path_buf());
    match run_unit(&dir) {
        Ok(()) => Ok(crate::exit::PASS),
        Err(f) => {
            let msg = chain(f.error());
            let _ = std::fs::write(dir.error(), format!("{}\n", harness_core::text::line(&msg)));
            Err(f)
        }
    }
}

fn run_unit(dir: &UnitDir) -> Result<(), Fail> {
    let text = std::fs::read_to_string(dir.spec())
        .with_context(|| dir.spec().display().to_string())
        .map_err(bad_input)?;
    let unit: UnitFile = serde_json::from_str(&text)
        .with_context(|| dir.spec().display().to_string())
        .map_err(bad_input)?;
    match unit {
        UnitFile::Run(spec) => run_job(dir, spec),
        UnitFile::Boot(spec) => run_boot(dir, spec),
    }
}

/// The run and series as the submitter prepared them, checked again against this node's tools.
fn prepared(record: &RunRecord, series: &RawInputs) -> Result<Prepared, Fail> {
    checked(Prepared {
        job: job_from_source(&record.job)?,
        job_src: record.job.clone(),
        series: parse_groups(series)?,
        sources: record.sources.clone(),
        raw: series.clone(),
        overrides: record.overrides.clone(),
        cache: record.cache.clone(),
    })
}

/// The unit's artifacts directory, made.
fn artifacts_dir(dir: &UnitDir) -> Result<PathBuf, Fail> {
    let artifacts = dir.artifacts();
    std::fs::create_dir_all(&artifacts)
        .with_context(|| artifacts.display().to_string())
        .map_err(Fail::Infra)?;
    Ok(artifacts)
}

/// What the pipeline runs for a unit of run `run_id`: nothing replayed, no base profile, no
/// remote boots (a unit boots on its own node).
fn run_input(
    run_id: &str,
    started_at: &str,
    prep: Prepared,
    artifacts: PathBuf,
) -> harness_exec::pipeline::RunInput {
    harness_exec::pipeline::RunInput {
        run_id: run_id.to_string(),
        job: prep.job,
        series: prep.series,
        sources: prep.sources,
        artifacts,
        cache: prep.cache.unwrap_or_else(harness_exec::default_cache_dir),
        started_at: started_at.to_string(),
        replay: Vec::new(),
        base_profile: None,
        remote: None,
        one_boot: None,
    }
}

fn run_boot(dir: &UnitDir, spec: BootSpec) -> Result<(), Fail> {
    let prep = prepared(&spec.record, &spec.series)?;
    let artifacts = artifacts_dir(dir)?;
    let terminal = reporter::Terminal::new(&prep.series);
    let input = harness_exec::pipeline::RunInput {
        one_boot: Some(spec.boot),
        ..run_input(&spec.run_id, &spec.started_at, prep, artifacts)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // scancel and a time limit send SIGTERM first: the run's teardown runs before SIGKILL.
    let outcome =
        crate::cmd::run::until_signal(&rt, harness_exec::pipeline::boot_unit(input, &terminal))?;
    terminal.finish();
    let result = match outcome {
        None => {
            return Err(Fail::Infra(anyhow::anyhow!(
                "the unit was stopped by a signal (scancel, or its time limit) before it booted"
            )))
        }
        Some(Err(e)) => return Err(Fail::Infra(e.into())),
        Some(Ok(r)) => r,
    };
    crate::cmd::run::write_json(&dir.result(), &result)?;
    println!(
        "harness unit: {}: {}{}",
        result
            .attempt
            .as_ref()
            .map(|a| a.console.as_str())
            .unwrap_or("no boot"),
        result.tried.verdict,
        result
            .tried
            .infra
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(())
}

fn run_job(dir: &UnitDir, spec: UnitSpec) -> Result<(), Fail> {
    let job = job_from_source(&spec.record.job)?;
    // The same checks as on the submitting machine, now against this node's tools.
    let prep = checked(Prepared {
        job,
        job_src: spec.record.job.clone(),
        series: parse_groups(&spec.series)?,
        sources: spec.record.sources.clone(),
        raw: spec.series.clone(),
        overrides: spec.record.overrides.clone(),
        cache: spec.record.cache.clone(),
    })?;
    let artifacts = artifacts_dir(dir)?;
    let events = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.events())
        .with_context(|| dir.events().display().to_string())
        .map_err(Fail::Infra)?;
    let terminal = reporter::Terminal::new(&prep.series);
    let sink = UnitSink {
        terminal: &terminal,
        events: Mutex::new(events),
    };
    let input = harness_exec::pipeline::RunInput {
        replay: spec.replay,
        base_profile: spec.base_profile,
        ..run_input(&spec.run_id, &spec.started_at, prep, artifacts.clone())
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // scancel and a time limit send SIGTERM first: the run's teardown runs before SIGKILL.
    let outcome = crate::cmd::run::run_until_signal(&rt, input, &sink)?;
    terminal.finish();
    let report: Report = match outcome {
        None => {
            return Err(Fail::Infra(anyhow::anyhow!(
                "the unit was stopped by a signal (scancel, or its time limit) before it finished"
            )))
        }
        Some(Err(e)) => return Err(Fail::Infra(e.into())),
        Some(Ok(r)) => r,
    };
    crate::cmd::run::write_json(&dir.report(), &report)?;
    render::print_report(&report, &artifacts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_units_spec_round_trips_and_says_its_kind() {
        let spec = UnitFile::Boot(BootSpec {
            run_id: "20261207-081500-1a2b".into(),
            started_at: "2026-12-07T08:15:00Z".into(),
            record: RunRecord {
                job: crate::prepare::JobSource {
                    text: "name: j\n".into(),
                    name: "j.yaml".into(),
                    dir: PathBuf::from("/jobs"),
                },
                sources: vec!["s.mbox".into()],
                overrides: crate::prepare::Overrides {
                    executor: Some("slurm".into()),
                    ..Default::default()
                },
                cache: Some(PathBuf::from("/node-cache")),
            },
            series: vec![vec![("s.mbox".into(), b"From x\n".to_vec())]],
            boot: BootUnit {
                prefix: 2,
                variant: "prefix-2".into(),
                console: "console-bisect-03-prefix-2.log".into(),
                what: "bisect run 3 (verify): prefix 2".into(),
                plan: harness_core::bisect::policy::BootPlan {
                    workloads: vec!["umount-stress".into()],
                    all: true,
                    stop_at: Some("WARNING in ceph_unlink".into()),
                    cut: Some(harness_core::bisect::policy::Cut {
                        workload: "umount-stress".into(),
                        step: 1,
                    }),
                    probes: false,
                },
            },
        });
        let text = serde_json::to_string(&spec).unwrap();
        assert!(text.starts_with(r#"{"kind":"boot","#), "{text}");
        let UnitFile::Boot(back) = serde_json::from_str::<UnitFile>(&text).unwrap() else {
            panic!("not a boot unit: {text}")
        };
        assert_eq!(back.boot.console, "console-bisect-03-prefix-2.log");
        assert_eq!(
            back.boot.plan.stop_at.as_deref(),
            Some("WARNING in ceph_unlink")
        );
        assert_eq!(back.series[0][0].1, b"From x\n");
        assert_eq!(back.record.cache, Some(PathBuf::from("/node-cache")));
        assert_eq!(back.record.overrides.executor.as_deref(), Some("slurm"));
        // A nightly's unit is the other kind.
        let run = UnitFile::Run(UnitSpec {
            run_id: "r".into(),
            started_at: "t".into(),
            record: back.record,
            series: back.series,
            replay: Vec::new(),
            base_profile: None,
        });
        let text = serde_json::to_string(&run).unwrap();
        assert!(text.starts_with(r#"{"kind":"run","#), "{text}");
        assert!(matches!(
            serde_json::from_str::<UnitFile>(&text).unwrap(),
            UnitFile::Run(_)
        ));
    }

    #[test]
    fn a_torn_last_event_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        let ev = UnitEvent::BaseProfile {
            evictions: [("ceph_evict_inode".to_string(), 3)].into(),
        };
        let line = serde_json::to_string(&ev).unwrap();
        // A unit killed mid-write leaves half a line.
        std::fs::write(&p, format!("{line}\n{}", &line[..line.len() / 2])).unwrap();
        let got = read_events(&p);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&got[0], UnitEvent::BaseProfile { evictions } if evictions["ceph_evict_inode"] == 3)
        );
        assert!(read_events(&dir.path().join("missing")).is_empty());
    }
}
