//! Terminal progress: an indicatif spinner per phase on a terminal, plain timestamped lines otherwise.
//! It consumes the same events as everything else.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness_core::event::{Event, EventSink, Phase};
use harness_core::series::Series;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Terminal {
    t0: Instant,
    tty: Option<Tty>,
    patches: usize,
}

struct Tty {
    multi: MultiProgress,
    /// The spinners of the phases running, oldest first (guests booted at once each have one).
    bars: Mutex<HashMap<Phase, Vec<ProgressBar>>>,
}

impl Terminal {
    pub fn new(series: &Series) -> Terminal {
        let tty = std::io::stderr().is_terminal().then(|| Tty {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        });
        Terminal {
            t0: Instant::now(),
            tty,
            patches: series.patches.len(),
        }
    }

    fn line(&self, msg: &str) {
        // Messages carry patch subjects, paths and git's output: nothing reaches the terminal raw.
        let msg = harness_core::text::escape(msg, true);
        let s = format!("[{:7.1}s] {msg}", self.t0.elapsed().as_secs_f64());
        match &self.tty {
            Some(t) => {
                let _ = t.multi.println(s);
            }
            // A closed stderr (a pipe whose reader went away) must not abort the run.
            None => {
                let _ = writeln!(std::io::stderr(), "{s}");
            }
        }
    }

    pub fn note(&self, msg: &str) {
        self.line(msg);
    }

    pub fn finish(&self) {
        if let Some(t) = &self.tty {
            for b in t.bars.lock().unwrap().drain().flat_map(|(_, v)| v) {
                b.finish_and_clear();
            }
        }
    }

    fn bar(&self, phase: Phase, f: impl FnOnce(&ProgressBar)) {
        if let Some(t) = &self.tty {
            if let Some(b) = t.bars.lock().unwrap().get(&phase).and_then(|v| v.last()) {
                f(b);
            }
        }
    }
}

impl EventSink for Terminal {
    fn emit(&self, _elapsed: f64, event: &Event) {
        match event {
            Event::RunStarted {
                run_id,
                series,
                patches,
                job,
            } => {
                self.line(&format!(
                    "run {run_id}: \"{series}\" ({patches} patches), job {job}"
                ));
            }
            Event::PhaseStarted { phase, detail } => match &self.tty {
                Some(t) => {
                    let b = t.multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:>9} [{elapsed:>4}] {msg}")
                            .unwrap(),
                    );
                    b.set_prefix(phase.as_str());
                    b.set_message(detail.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    t.bars.lock().unwrap().entry(*phase).or_default().push(b);
                }
                None => self.line(&format!("{phase}: {detail}")),
            },
            Event::Progress { phase, message } => {
                self.bar(*phase, |b| b.set_message(message.clone()));
                // Each bisection step is part of the story: always a line of its own.
                if self.tty.is_none() || matches!(phase, Phase::Bisect | Phase::Revert) {
                    self.line(&format!("{phase}: {message}"));
                }
            }
            Event::PhaseFinished { phase, seconds, ok } => {
                if let Some(t) = &self.tty {
                    // Phases of one kind that run at once (guests) end in any order; the
                    // events do not say which ended: the oldest spinner goes.
                    let mut bars = t.bars.lock().unwrap();
                    if let Some(v) = bars.get_mut(phase) {
                        if !v.is_empty() {
                            v.remove(0).finish_and_clear();
                        }
                        if v.is_empty() {
                            bars.remove(phase);
                        }
                    }
                }
                self.line(&format!(
                    "{phase}: {} in {seconds:.1}s",
                    if *ok { "done" } else { "FAILED" }
                ));
            }
            Event::PatchApplied { index, subject, ok } => {
                let msg = format!(
                    "patch {index}/{}: {} {subject}",
                    self.patches,
                    if *ok { "applied" } else { "DOES NOT APPLY:" }
                );
                self.bar(Phase::Apply, |b| b.set_message(msg.clone()));
                if !ok || self.tty.is_none() {
                    self.line(&format!("apply: {msg}"));
                }
            }
            Event::PrefixBuilt { index, ok, seconds } => {
                let msg = format!(
                    "prefix {index}/{} {} in {seconds:.1}s",
                    self.patches,
                    if *ok { "built" } else { "FAILED to build" }
                );
                self.bar(Phase::Build, |b| b.set_message(msg.clone()));
                self.line(&format!("build: {msg}"));
            }
            Event::ConsoleLine { line, .. } => {
                // The console artifact has every line; show the guest's progress.
                if let Some(m) = harness_proto::decode(line) {
                    if let Some(s) = m.summary() {
                        self.bar(Phase::Guest, |b| b.set_message(s.clone()));
                        if (self.tty.is_none()
                            && !matches!(m, harness_proto::Msg::Heartbeat { .. }))
                            || m.notable()
                        {
                            self.line(&format!("guest: {s}"));
                        }
                    }
                } else if let Some(rest) = line.find("HARNESS").map(|i| &line[i..]) {
                    self.bar(Phase::Guest, |b| b.set_message(rest.to_string()));
                    if self.tty.is_none() {
                        self.line(&format!("guest: {rest}"));
                    }
                }
            }
            Event::Finding { finding } => {
                self.line(&format!(
                    "FINDING [{}] {} (console line {})",
                    finding.kind, finding.title, finding.line
                ));
            }
            Event::Verdict { verdict, reason } => {
                self.line(&format!("verdict: {verdict} ({reason})"))
            }
            Event::RunFinished { .. } | Event::Attempt { .. } | Event::BaseProfile { .. } => {}
        }
    }
}

/// The terminal, and the store for what must be kept the moment it happens: a guest boot that
/// ended (an interrupted run keeps it; `harness resume` does not make it again).
pub struct Recorder<'a> {
    pub terminal: &'a Terminal,
    pub store: Mutex<harness_store::Store>,
    pub run_id: String,
    /// Where the base's hazard profile is kept (`core::job::profile_key`), if it can be.
    pub profile_key: Option<String>,
}

impl EventSink for Recorder<'_> {
    fn emit(&self, elapsed: f64, event: &Event) {
        match event {
            Event::Attempt { record } => {
                if let Err(e) = self
                    .store
                    .lock()
                    .unwrap()
                    .record_attempt(&self.run_id, record)
                {
                    // The run goes on: only a later resume would have to boot this again.
                    self.terminal.note(&format!(
                        "results store: could not record {}: {e}",
                        record.console
                    ));
                }
            }
            Event::BaseProfile { evictions } => {
                if let Some(key) = &self.profile_key {
                    let p = harness_core::report::BaseProfile {
                        run_id: self.run_id.clone(),
                        evictions: evictions.clone(),
                    };
                    if let Err(e) = self.store.lock().unwrap().save_base_profile(key, &p) {
                        self.terminal.note(&format!(
                            "results store: could not keep the base profile: {e}"
                        ));
                    }
                }
            }
            _ => {}
        }
        self.terminal.emit(elapsed, event);
    }
}
