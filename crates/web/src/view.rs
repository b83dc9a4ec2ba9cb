//! From the store to the page: each page's view is a plain struct of display-ready values (text
//! still unescaped: the template engine escapes it), rendered by its template.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use harness_core::bisect::Outcome;
use harness_core::finding::Finding;
use harness_core::report::{Report, TestResult};
use harness_store::{RunRow, Store, StoreError};
use serde::Serialize;

use crate::plot::{self, Plot, Series, Strip, YAxis};
use crate::{encode_path, matrix, templates, Page, Route, WebError};

/// Runs on the index page (newest first), and in its verdict strip.
const INDEX_RUNS: usize = 500;
const STRIP_RUNS: usize = 200;
const NIGHTLIES: usize = 100;
const SIGNATURES: usize = 1000;
/// Runs in the phase-time plot.
const PHASE_RUNS: usize = 200;
/// Runs listed per signature on the signatures page.
const RUNS_PER_SIGNATURE: usize = 8;
/// A viewer shows at most this much of an artifact.
const MAX_VIEW_BYTES: u64 = 16 << 20;
/// Bytes looked at to tell text from binary.
const SNIFF_BYTES: u64 = 8192;

/// Where the pages go: served (every page exists), or a static export of one run (links to other
/// runs' pages would dangle, so they are left out; no raw downloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Site {
    Served,
    Static { run: String },
}

impl Site {
    fn has_run(&self, id: &str) -> bool {
        match self {
            Site::Served => true,
            Site::Static { run } => run == id,
        }
    }

    fn run_href(&self, id: &str) -> Option<String> {
        self.has_run(id)
            .then(|| format!("runs/{}.html", encode_path(id)))
    }

    fn artifact_href(&self, id: &str, name: &str) -> Option<String> {
        self.has_run(id)
            .then(|| format!("runs/{}/{}.html", encode_path(id), encode_path(name)))
    }

    fn raw_href(&self, id: &str, name: &str) -> Option<String> {
        (*self == Site::Served).then(|| format!("raw/{}/{}", encode_path(id), encode_path(name)))
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers

/// `../` up to the site root from a page at `path`.
fn root_of(path: &str) -> String {
    "../".repeat(path.matches('/').count())
}

/// A stable HTML id for any string (signatures, nightly ids): FNV-1a.
pub(crate) fn anchor(kind: &str, s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{kind}-{h:016x}")
}

/// "2026-01-01T00:00:01Z" → "2026-01-01 00:00".
fn date(s: &str) -> String {
    if s.len() >= 16 && s.as_bytes()[10] == b'T' && s.is_char_boundary(16) {
        format!("{} {}", &s[..10], &s[11..16])
    } else {
        s.to_string()
    }
}

/// "12.3s", "3m 05s", "1h 02m".
pub(crate) fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let t = s.round() as u64;
    if t < 3600 {
        format!("{}m {:02}s", t / 60, t % 60)
    } else {
        format!("{}h {:02}m", t / 3600, (t % 3600) / 60)
    }
}

fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1 << 10) as f64),
        n => format!("{n} B"),
    }
}

/// The CSS class of a run's state: `v-pass`, `v-fail`, ..., `v-running`, `v-interrupted`.
fn state_of(status: &str, verdict: Option<&str>) -> (String, String) {
    let s = match (status, verdict) {
        ("finished", Some(v)) => v,
        (s, _) => s,
    };
    let class = match s {
        "pass" | "fail" | "apply-failed" | "build-failed" | "infra-error" | "running"
        | "interrupted" => format!("v-{s}"),
        _ => "v-other".into(),
    };
    (s.to_string(), class)
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Fail => "fail",
        Outcome::Pass => "pass",
        Outcome::Other => "other",
        Outcome::Skip => "skip",
    }
}

fn patches(list: &[usize]) -> String {
    match list {
        [] => "none".into(),
        [0] => "the base".into(),
        [k] => format!("patch {k}"),
        g => format!("patches {}", harness_core::wording::numbers(g)),
    }
}

fn render(name: &str, ctx: impl Serialize) -> Result<Page, WebError> {
    let body = templates::render(name, ctx)?;
    Ok(Page {
        content_type: Page::HTML,
        body: body.into_bytes(),
    })
}

// ---------------------------------------------------------------------------------------------
// Artifacts

fn read_prefix(path: &Path, limit: u64) -> Result<(Vec<u8>, u64), WebError> {
    let io = |e| WebError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut buf = Vec::new();
    f.take(limit).read_to_end(&mut buf).map_err(io)?;
    Ok((buf, len))
}

/// Text, for a viewer: no NUL byte near the start.
fn is_text(path: &Path) -> bool {
    read_prefix(path, SNIFF_BYTES)
        .map(|(b, _)| !b.contains(&0))
        .unwrap_or(false)
}

/// The path of an artifact the store lists for the run (`None`: no such artifact).
fn lookup(store: &Store, id: &str, name: &str) -> Result<Option<std::path::PathBuf>, WebError> {
    if !store.artifacts(id)?.iter().any(|(n, _)| n == name) {
        return Ok(None);
    }
    match store.artifact(id, name) {
        Ok(p) if p.is_file() => Ok(Some(p)),
        Ok(_) | Err(StoreError::NoArtifact(..)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The artifacts of a run that get a viewer page.
pub(crate) fn viewable_artifacts(store: &Store, id: &str) -> Result<Vec<String>, WebError> {
    let mut out = Vec::new();
    for (name, _) in store.artifacts(id)? {
        if let Some(p) = lookup(store, id, &name)? {
            if is_text(&p) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Pages

pub(crate) fn render_route(
    store: &Store,
    route: &Route,
    site: &Site,
) -> Result<Option<Page>, WebError> {
    let row = |id: &str| match store.row(id) {
        Ok(r) => Ok(Some(r)),
        Err(StoreError::NoSuchRun(_)) => Ok(None),
        Err(e) => Err(WebError::from(e)),
    };
    match route {
        Route::Index => index(store, site).map(Some),
        Route::Signatures => signatures(store, site).map(Some),
        Route::Phases => phases(store, site).map(Some),
        Route::Run(id) => match row(id)? {
            Some(r) if site.has_run(id) => run(store, site, r).map(Some),
            _ => Ok(None),
        },
        Route::Artifact(id, name) => {
            if !site.has_run(id) || row(id)?.is_none() {
                return Ok(None);
            }
            match lookup(store, id, name)? {
                Some(p) if is_text(&p) => artifact(store, site, id, name, &p).map(Some),
                _ => Ok(None),
            }
        }
        Route::Raw(id, name) => {
            if *site != Site::Served || row(id)?.is_none() {
                return Ok(None);
            }
            let Some(p) = lookup(store, id, name)? else {
                return Ok(None);
            };
            let body = std::fs::read(&p).map_err(|e| WebError::Io {
                path: p.clone(),
                source: e,
            })?;
            let content_type = if body.iter().take(SNIFF_BYTES as usize).any(|&b| b == 0) {
                Page::BINARY
            } else {
                Page::TEXT
            };
            Ok(Some(Page { content_type, body }))
        }
    }
}

/// A raw artifact's file and content type (binary if its first bytes hold a NUL), unread.
pub(crate) fn raw_file(
    store: &Store,
    id: &str,
    name: &str,
) -> Result<Option<(&'static str, std::path::PathBuf)>, WebError> {
    if store.row(id).ok().is_none() {
        return Ok(None);
    }
    let Some(p) = lookup(store, id, name)? else {
        return Ok(None);
    };
    let (head, _) = read_prefix(&p, SNIFF_BYTES)?;
    let content_type = if head.contains(&0) {
        Page::BINARY
    } else {
        Page::TEXT
    };
    Ok(Some((content_type, p)))
}

#[derive(Serialize)]
struct Base {
    root: String,
    generated: String,
    csp: &'static str,
}

fn base(path: &str) -> Base {
    Base {
        root: root_of(path),
        generated: date(&Store::now()),
        csp: crate::CSP,
    }
}

// --- index -----------------------------------------------------------------------------------

#[derive(Serialize)]
struct RunLine {
    id: String,
    href: Option<String>,
    started: String,
    started_full: String,
    nightly: Option<String>,
    nightly_anchor: Option<String>,
    job: String,
    series: String,
    patches: i64,
    state: String,
    class: String,
    reason: Option<String>,
    culprit: Option<String>,
    duration: Option<String>,
    resumes: i64,
}

#[derive(Serialize)]
struct NightlyRun {
    id: String,
    href: Option<String>,
    job: String,
    state: String,
    class: String,
}

#[derive(Serialize)]
struct NightlyView {
    id: String,
    anchor: String,
    suite: String,
    started: String,
    status: String,
    class: String,
    runs: Vec<NightlyRun>,
    new: Vec<String>,
    still: Vec<String>,
    fixed: Vec<String>,
    previous: Option<String>,
    previous_anchor: Option<String>,
}

#[derive(Serialize)]
struct IndexPage {
    base: Base,
    runs: Vec<RunLine>,
    more: bool,
    strip: Strip,
    nightlies: Vec<NightlyView>,
}

/// "patch 3: subject (99.1%)" for the index.
fn culprit_line(report: &Report) -> Option<String> {
    let c = report.culprit.as_ref()?;
    let who = match c.candidates.as_slice() {
        [0] => "the base fails too".to_string(),
        [k] => format!("patch {k}: {}", c.subject),
        g => format!("{} (likely {}: {})", patches(g), c.index, c.subject),
    };
    Some(format!("{who} ({})", percent(c.confidence)))
}

fn index(store: &Store, site: &Site) -> Result<Page, WebError> {
    let rows = store.list(INDEX_RUNS + 1)?;
    let more = rows.len() > INDEX_RUNS;
    let rows = &rows[..rows.len().min(INDEX_RUNS)];
    let by_id: BTreeMap<&str, &RunRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let runs: Vec<RunLine> = rows
        .iter()
        .map(|r| {
            let (state, class) = state_of(r.status.as_str(), r.verdict.as_deref());
            // Only a failed run can have a culprit: read just those reports.
            let culprit = if r.verdict.as_deref() == Some("fail") {
                store.report(&r.id).ok().as_ref().and_then(culprit_line)
            } else {
                None
            };
            RunLine {
                id: r.id.clone(),
                href: site.run_href(&r.id),
                started: date(&r.started_at),
                started_full: r.started_at.clone(),
                nightly: r.nightly.clone(),
                nightly_anchor: r.nightly.as_deref().map(|n| anchor("nightly", n)),
                job: r.job.clone(),
                series: r.series.clone(),
                patches: r.patch_count,
                state,
                class,
                reason: r.reason.clone(),
                culprit,
                duration: r.seconds.map(duration),
                resumes: r.resumes,
            }
        })
        .collect();
    let strip = plot::strip(
        runs.iter()
            .take(STRIP_RUNS)
            .rev()
            .map(|r| {
                (
                    r.class.clone(),
                    format!("{} {} {}: {}", r.started, r.job, r.state, r.series),
                    r.href.clone(),
                )
            })
            .collect(),
    );
    let mut nightlies = Vec::new();
    for n in store.nightlies(None, NIGHTLIES)? {
        let summary = n.summary.as_ref();
        let jobs: BTreeMap<String, String> = summary
            .map(|s| {
                s.jobs
                    .iter()
                    .filter_map(|j| Some((j.run.clone()?, j.job.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let mut nruns = Vec::new();
        for id in &n.runs {
            let row = match by_id.get(id.as_str()) {
                Some(r) => Some((*r).clone()),
                None => store.row(id).ok(),
            };
            let (state, class) = row
                .as_ref()
                .map(|r| state_of(r.status.as_str(), r.verdict.as_deref()))
                .unwrap_or_else(|| ("?".into(), "v-other".into()));
            nruns.push(NightlyRun {
                id: id.clone(),
                href: site.run_href(id),
                job: jobs
                    .get(id)
                    .cloned()
                    .or_else(|| row.map(|r| r.job))
                    .unwrap_or_default(),
                state,
                class,
            });
        }
        let previous = summary.and_then(|s| s.previous.clone());
        let (_, class) = state_of(n.status.as_str(), None);
        nightlies.push(NightlyView {
            anchor: anchor("nightly", &n.id),
            previous_anchor: previous.as_deref().map(|p| anchor("nightly", p)),
            previous,
            id: n.id,
            suite: n.suite,
            started: date(&n.started_at),
            status: n.status.to_string(),
            class,
            runs: nruns,
            new: summary.map(|s| s.new.clone()).unwrap_or_default(),
            still: summary.map(|s| s.still.clone()).unwrap_or_default(),
            fixed: summary.map(|s| s.fixed.clone()).unwrap_or_default(),
        });
    }
    render(
        "index.html",
        IndexPage {
            base: base("index.html"),
            runs,
            more,
            strip,
            nightlies,
        },
    )
}

// --- run -------------------------------------------------------------------------------------

#[derive(Serialize)]
struct RunHead {
    id: String,
    started: String,
    status: String,
    state: String,
    class: String,
    reason: Option<String>,
    series: String,
    patch_count: i64,
    job: String,
    duration: Option<String>,
    nightly: Option<String>,
    nightly_anchor: Option<String>,
    resumes: i64,
}

#[derive(Serialize)]
struct MatrixRowView {
    #[serde(flatten)]
    row: matrix::Row,
    /// Per cell: where its first finding is.
    links: Vec<Option<String>>,
    /// Links to the prefix's boots (console viewers).
    consoles: Vec<Link>,
    apply_error: Option<String>,
    build_error: Option<String>,
    build_log: Option<Link>,
    /// Each failed fstests test, linked to its diff.
    fstests_failed: Vec<Link>,
}

#[derive(Serialize)]
struct Link {
    text: String,
    href: Option<String>,
}

#[derive(Serialize)]
struct Occurrence {
    prefix: Option<usize>,
    during: Option<String>,
    /// The function a crash happened in, outside the code under test.
    outside: Option<String>,
    console: Option<String>,
    line: usize,
    href: Option<String>,
}

#[derive(Serialize)]
struct SignatureGroup {
    anchor: String,
    title: String,
    kind: String,
    count: usize,
    prefixes: String,
    excerpt: String,
    occurrences: Vec<Occurrence>,
}

#[derive(Serialize)]
struct BootView {
    prefix: usize,
    console: Link,
    verdict: String,
    class: String,
    exit: String,
    seconds: String,
    findings: usize,
    infra: Option<String>,
    workloads: String,
}

#[derive(Serialize)]
struct BisectRow {
    n: usize,
    prefix: usize,
    subject: String,
    verify: bool,
    outcome: &'static str,
    verdict: String,
    signatures: Vec<String>,
    seconds: String,
    elapsed: String,
    leader: Option<String>,
    confidence: Option<String>,
    console: Link,
}

#[derive(Serialize)]
struct CulpritView {
    describe: String,
    index: usize,
    subject: String,
    signature: String,
    signature_anchor: String,
    candidates: String,
    confidence: String,
    confident: bool,
    verified: bool,
    rate: String,
    runs: u32,
    rounds: u32,
    skipped: Option<String>,
    found_after: String,
}

#[derive(Serialize)]
struct RevertRow {
    what: String,
    verdict: String,
    class: String,
    runs: u32,
    confidence: String,
    file: Option<Link>,
    note: Option<String>,
}

#[derive(Serialize)]
struct RevertView {
    tests: Vec<RevertRow>,
    patch: Option<Link>,
    note: Option<String>,
}

#[derive(Serialize)]
struct PhaseBar {
    name: String,
    duration: String,
    /// Share of the longest phase, 0..=100 (the bar's width).
    width: f64,
}

#[derive(Serialize)]
struct ReportView {
    kernel: String,
    accel: Option<String>,
    subject: String,
    sources: Vec<String>,
    replayed: u32,
    workloads: Vec<String>,
    /// The matrix has a bisection column.
    bisected: bool,
    /// Some prefix ran fstests: the matrix has an fstests column.
    fstests: bool,
    rows: Vec<MatrixRowView>,
    groups: Vec<SignatureGroup>,
    boots: Vec<BootView>,
    culprit: Option<CulpritView>,
    /// What the series fixes (core::fix), worded.
    fixes: Vec<String>,
    /// Failures the base shows too: not the series' doing.
    pre_existing: Vec<String>,
    bisection: Vec<BisectRow>,
    confidence_plot: Option<Plot>,
    revert: Option<RevertView>,
    phases: Vec<PhaseBar>,
}

#[derive(Serialize)]
struct ArtifactLine {
    name: String,
    size: String,
    href: Option<String>,
    raw: Option<String>,
}

#[derive(Serialize)]
struct RunPage {
    base: Base,
    run: RunHead,
    report: Option<ReportView>,
    /// Boots recorded so far, for a run without a report.
    boots: Vec<BootView>,
    artifacts: Vec<ArtifactLine>,
}

fn console_link(site: &Site, id: &str, console: &str, line: Option<usize>) -> Link {
    Link {
        text: console.to_string(),
        href: site.artifact_href(id, console).map(|h| match line {
            Some(l) => format!("{h}#L{l}"),
            None => h,
        }),
    }
}

fn boot_view(site: &Site, id: &str, prefix: usize, t: &TestResult) -> BootView {
    let (verdict, class) = state_of("finished", Some(t.verdict.as_str()));
    let exit = serde_json::to_value(t.exit)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    BootView {
        prefix,
        console: console_link(site, id, &t.console, None),
        verdict,
        class,
        exit,
        seconds: duration(t.seconds),
        findings: t.findings,
        infra: t.infra.clone(),
        workloads: t
            .workloads
            .iter()
            .map(|w| format!("{} {}", w.name, if w.ok { "ok" } else { "failed" }))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn groups(site: &Site, id: &str, findings: &[Finding]) -> Vec<SignatureGroup> {
    let mut order: Vec<&str> = Vec::new();
    let mut by: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        if !by.contains_key(f.title.as_str()) {
            order.push(&f.title);
        }
        by.entry(&f.title).or_default().push(f);
    }
    order
        .into_iter()
        .map(|title| {
            let fs = &by[title];
            let prefixes: BTreeSet<usize> = fs.iter().filter_map(|f| f.prefix).collect();
            SignatureGroup {
                anchor: anchor("sig", title),
                title: title.to_string(),
                kind: fs[0].kind.as_str().to_string(),
                count: fs.len(),
                prefixes: prefixes
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                excerpt: fs[0].excerpt.clone(),
                occurrences: fs
                    .iter()
                    .map(|f| Occurrence {
                        prefix: f.prefix,
                        during: f.during.as_ref().map(|d| d.to_string()),
                        outside: f.outside.clone(),
                        console: f.console.clone(),
                        line: f.line,
                        href: f
                            .console
                            .as_deref()
                            .and_then(|c| site.artifact_href(id, c))
                            .map(|h| format!("{h}#L{}", f.line)),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn report_view(site: &Site, id: &str, r: &Report, artifacts: &BTreeSet<String>) -> ReportView {
    let m = matrix::matrix(r);
    let known = |name: &str| artifacts.contains(name);
    let rows = m
        .rows
        .into_iter()
        .zip(&r.prefixes)
        .map(|(row, p)| {
            let links = m
                .workloads
                .iter()
                .zip(&row.cells)
                .map(|(w, c)| {
                    if c.state != matrix::CellState::Fail {
                        return None;
                    }
                    let consoles: Vec<&str> =
                        p.attempts.iter().map(|a| a.console.as_str()).collect();
                    let f = r.findings.iter().find(|f| {
                        f.workload() == Some(w.as_str())
                            && match &f.console {
                                Some(c) => consoles.contains(&c.as_str()),
                                None => false,
                            }
                    })?;
                    site.artifact_href(id, f.console.as_deref()?)
                        .filter(|_| known(f.console.as_deref().unwrap_or_default()))
                        .map(|h| format!("{h}#L{}", f.line))
                })
                .collect();
            let consoles = p
                .attempts
                .iter()
                .chain(p.test.iter().filter(|_| p.attempts.is_empty()))
                .map(|t| console_link(site, id, &t.console, None))
                .collect();
            let fstests_failed = row
                .fstests
                .iter()
                .flat_map(|f| &f.failed)
                .map(|(test, diff)| Link {
                    text: test.clone(),
                    href: diff
                        .as_deref()
                        .and_then(|d| site.artifact_href(id, d).filter(|_| known(d))),
                })
                .collect();
            MatrixRowView {
                fstests_failed,
                links,
                consoles,
                apply_error: p.apply_error.clone(),
                build_error: p.build_error.clone(),
                build_log: p.build_log.as_deref().map(|b| Link {
                    text: b.to_string(),
                    href: site.artifact_href(id, b).filter(|_| known(b)),
                }),
                row,
            }
        })
        .collect();
    let mut boots = Vec::new();
    for p in &r.prefixes {
        let list: Vec<&TestResult> = if p.attempts.is_empty() {
            p.test.iter().collect()
        } else {
            p.attempts.iter().collect()
        };
        for t in list {
            boots.push(boot_view(site, id, p.index, t));
        }
    }
    let subject_of = |k: usize| {
        r.prefixes
            .iter()
            .find(|p| p.index == k)
            .map(|p| p.subject.clone())
            .unwrap_or_default()
    };
    let mut elapsed = 0.0;
    let bisection: Vec<BisectRow> = r
        .bisection
        .iter()
        .enumerate()
        .map(|(i, b)| {
            elapsed += b.seconds;
            BisectRow {
                n: i + 1,
                prefix: b.prefix,
                subject: subject_of(b.prefix),
                verify: b.verify,
                outcome: outcome_str(b.outcome),
                verdict: b.verdict.as_str().to_string(),
                signatures: b.signatures.clone(),
                seconds: duration(b.seconds),
                elapsed: duration(elapsed),
                leader: b.leader.as_deref().map(patches),
                confidence: b.confidence.map(percent),
                console: console_link(site, id, &b.console, None),
            }
        })
        .collect();
    let confidence_plot = r.bisection.iter().any(|b| b.confidence.is_some()).then(|| {
        let labels: Vec<String> = (1..=r.bisection.len()).map(|i| i.to_string()).collect();
        let notes = r
            .bisection
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    format!(
                        "run {}: prefix {} {}{}{}",
                        i + 1,
                        b.prefix,
                        outcome_str(b.outcome),
                        if b.verify { " (verify)" } else { "" },
                        b.confidence
                            .map(|c| format!(
                                ", {} on {}",
                                percent(c),
                                b.leader.as_deref().map(patches).unwrap_or_default()
                            ))
                            .unwrap_or_default()
                    ),
                    format!("o-{}", outcome_str(b.outcome)),
                )
            })
            .collect();
        plot::line_plot(
            "bisection run",
            &labels,
            YAxis::Probability,
            &[Series {
                name: "confidence in the leading culprit".into(),
                values: r.bisection.iter().map(|b| b.confidence).collect(),
                notes,
            }],
        )
    });
    let culprit = r.culprit.as_ref().map(|c| CulpritView {
        describe: c.describe(),
        index: c.index,
        subject: c.subject.clone(),
        signature_anchor: anchor("sig", &c.signature),
        signature: c.signature.clone(),
        candidates: patches(&c.candidates),
        confidence: percent(c.confidence),
        confident: c.confident,
        verified: c.verified,
        rate: format!("{:.2}", c.rate),
        runs: c.runs,
        rounds: c.rounds,
        skipped: (!c.skipped.is_empty()).then(|| {
            c.skipped
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }),
        found_after: duration(c.found_after_s),
    });
    let file_link = |f: &str| Link {
        text: f.to_string(),
        href: site.artifact_href(id, f).filter(|_| known(f)),
    };
    let revert = r.revert.as_ref().map(|rv| RevertView {
        tests: [&rv.without_culprit, &rv.whole_series]
            .into_iter()
            .map(|t| {
                let (verdict, class) = state_of("finished", Some(t.verdict.as_str()));
                RevertRow {
                    what: t.what.clone(),
                    verdict,
                    class,
                    runs: t.runs,
                    confidence: percent(t.confidence),
                    file: t.file.as_deref().map(file_link),
                    note: t.note.clone(),
                }
            })
            .collect(),
        patch: rv.revert_patch.as_deref().map(file_link),
        note: rv.revert_note.clone(),
    });
    let longest = r
        .phases
        .iter()
        .map(|p| p.seconds)
        .filter(|s| s.is_finite())
        .fold(0.0f64, f64::max);
    let phases = r
        .phases
        .iter()
        .map(|p| PhaseBar {
            name: p.name.clone(),
            duration: duration(p.seconds),
            width: if longest > 0.0 && p.seconds.is_finite() {
                ((p.seconds / longest * 1000.0).round() / 10.0).clamp(0.0, 100.0)
            } else {
                0.0
            },
        })
        .collect();
    ReportView {
        kernel: r.kernel.clone(),
        accel: r.accel.clone(),
        subject: r.series.subject.clone(),
        sources: r.series.sources.clone(),
        replayed: r.replayed,
        workloads: m.workloads,
        bisected: m.bisected,
        fstests: m.fstests,
        rows,
        groups: groups(site, id, &r.findings),
        boots,
        culprit,
        fixes: r
            .fixes
            .iter()
            .map(harness_core::fix::describe_fix)
            .collect(),
        pre_existing: r
            .pre_existing
            .iter()
            .map(harness_core::fix::describe_pre_existing)
            .collect(),
        bisection,
        confidence_plot,
        revert,
        phases,
    }
}

fn run(store: &Store, site: &Site, row: RunRow) -> Result<Page, WebError> {
    let id = row.id.clone();
    let report = match store.report(&id) {
        Ok(r) => Some(r),
        Err(StoreError::NoReport(..)) => None,
        Err(e) => return Err(e.into()),
    };
    let viewable: BTreeSet<String> = viewable_artifacts(store, &id)?.into_iter().collect();
    let artifacts = store
        .artifacts(&id)?
        .into_iter()
        .map(|(name, size)| ArtifactLine {
            href: site
                .artifact_href(&id, &name)
                .filter(|_| viewable.contains(&name)),
            raw: site.raw_href(&id, &name),
            size: bytes(size),
            name,
        })
        .collect();
    let boots = if report.is_none() {
        store
            .attempts(&id)?
            .iter()
            .map(|a| boot_view(site, &id, a.prefix, &a.result))
            .collect()
    } else {
        Vec::new()
    };
    let (state, class) = state_of(row.status.as_str(), row.verdict.as_deref());
    let path = format!("runs/{id}.html");
    render(
        "run.html",
        RunPage {
            base: base(&path),
            report: report
                .as_ref()
                .map(|r| report_view(site, &id, r, &viewable)),
            boots,
            artifacts,
            run: RunHead {
                started: date(&row.started_at),
                status: row.status.to_string(),
                state,
                class,
                reason: row.reason,
                series: row.series,
                patch_count: row.patch_count,
                job: row.job,
                duration: row.seconds.map(duration),
                nightly_anchor: row.nightly.as_deref().map(|n| anchor("nightly", n)),
                nightly: row.nightly,
                resumes: row.resumes,
                id,
            },
        },
    )
}

// --- artifact viewer -------------------------------------------------------------------------

#[derive(Serialize)]
struct FindingRef {
    line: usize,
    end: usize,
    kind: String,
    title: String,
    prefix: Option<usize>,
    during: Option<String>,
    outside: Option<String>,
    anchor: String,
}

#[derive(Serialize)]
struct TextLine {
    n: usize,
    text: String,
    hl: bool,
}

#[derive(Serialize)]
struct ArtifactPage {
    base: Base,
    run: String,
    run_href: Option<String>,
    name: String,
    size: String,
    raw: Option<String>,
    findings: Vec<FindingRef>,
    lines: Vec<TextLine>,
    truncated: bool,
}

fn artifact(
    store: &Store,
    site: &Site,
    id: &str,
    name: &str,
    path: &Path,
) -> Result<Page, WebError> {
    let (buf, len) = read_prefix(path, MAX_VIEW_BYTES)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<TextLine> = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| TextLine {
            n: i + 1,
            text: l.trim_end_matches('\n').trim_end_matches('\r').to_string(),
            hl: false,
        })
        .collect();
    // The run's findings in this file: from the report, else from the boots recorded so far.
    let findings: Vec<Finding> = match store.report(id) {
        Ok(r) => r.findings,
        Err(StoreError::NoReport(..)) => store
            .attempts(id)?
            .into_iter()
            .flat_map(|a| {
                let console = a.console;
                a.findings.into_iter().map(move |mut f| {
                    f.console.get_or_insert_with(|| console.clone());
                    f
                })
            })
            .collect(),
        Err(e) => return Err(e.into()),
    };
    let mut refs: Vec<FindingRef> = findings
        .iter()
        .filter(|f| f.console.as_deref() == Some(name) && f.line >= 1)
        .map(|f| {
            let end = f.line + f.excerpt.lines().count().max(1) - 1;
            FindingRef {
                line: f.line,
                end,
                kind: f.kind.as_str().to_string(),
                title: f.title.clone(),
                prefix: f.prefix,
                during: f.during.as_ref().map(|d| d.to_string()),
                outside: f.outside.clone(),
                anchor: format!("L{}", f.line),
            }
        })
        .collect();
    refs.sort_by_key(|f| f.line);
    for f in &refs {
        for l in lines.iter_mut().skip(f.line - 1).take(f.end + 1 - f.line) {
            l.hl = true;
        }
    }
    let path = format!("runs/{id}/{name}.html");
    render(
        "artifact.html",
        ArtifactPage {
            base: base(&path),
            run: id.to_string(),
            run_href: site.run_href(id),
            name: name.to_string(),
            size: bytes(len),
            raw: site.raw_href(id, name),
            findings: refs,
            truncated: len > buf.len() as u64,
            lines,
        },
    )
}

// --- signatures ------------------------------------------------------------------------------

#[derive(Serialize)]
struct SignatureLine {
    title: String,
    kind: String,
    first_seen: String,
    last_seen: String,
    runs: i64,
    count: i64,
    last_run: String,
    last_href: Option<String>,
    recent: Vec<Link>,
}

#[derive(Serialize)]
struct SignaturesPage {
    base: Base,
    signatures: Vec<SignatureLine>,
}

fn signatures(store: &Store, site: &Site) -> Result<Page, WebError> {
    let mut out = Vec::new();
    for s in store.signatures(SIGNATURES)? {
        let recent = store
            .runs_with_signature(&s.title)?
            .into_iter()
            .take(RUNS_PER_SIGNATURE)
            .map(|id| Link {
                href: site
                    .run_href(&id)
                    .map(|h| format!("{h}#{}", anchor("sig", &s.title))),
                text: id,
            })
            .collect();
        out.push(SignatureLine {
            last_href: site
                .run_href(&s.last_run)
                .map(|h| format!("{h}#{}", anchor("sig", &s.title))),
            first_seen: date(&s.first_seen),
            last_seen: date(&s.last_seen),
            title: s.title,
            kind: s.kind,
            runs: s.runs,
            count: s.count,
            last_run: s.last_run,
            recent,
        });
    }
    render(
        "signatures.html",
        SignaturesPage {
            base: base("signatures.html"),
            signatures: out,
        },
    )
}

// --- phases ----------------------------------------------------------------------------------

#[derive(Serialize)]
struct PhaseRowView {
    run: Link,
    started: String,
    nightly: Option<String>,
    job: String,
    /// Per phase column: the duration, or empty.
    cells: Vec<String>,
    total: String,
}

#[derive(Serialize)]
struct PhasesPage {
    base: Base,
    nightly: bool,
    names: Vec<String>,
    plot: Option<Plot>,
    rows: Vec<PhaseRowView>,
}

fn phases(store: &Store, site: &Site) -> Result<Page, WebError> {
    let mut history = store.phase_history(PHASE_RUNS, true)?;
    let nightly = !history.is_empty();
    if !nightly {
        history = store.phase_history(PHASE_RUNS, false)?;
    }
    let mut names: Vec<String> = Vec::new();
    for h in &history {
        for (n, _) in &h.phases {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let value = |h: &harness_store::PhaseRow, n: &str| {
        h.phases.iter().find(|(p, _)| p == n).map(|(_, s)| *s)
    };
    let plot = (!history.is_empty()).then(|| {
        // "MM-DD HH:MM": several runs a day stay apart.
        let labels: Vec<String> = history
            .iter()
            .map(|h| {
                let d = date(&h.started_at);
                d.get(5..)
                    .filter(|_| d.len() == 16)
                    .unwrap_or(&d)
                    .to_string()
            })
            .collect();
        let series: Vec<Series> = names
            .iter()
            .map(|n| Series {
                name: n.clone(),
                values: history.iter().map(|h| value(h, n)).collect(),
                notes: history
                    .iter()
                    .map(|h| {
                        (
                            format!(
                                "{}: {} {}",
                                n,
                                h.run_id,
                                value(h, n).map(duration).unwrap_or_default()
                            ),
                            String::new(),
                        )
                    })
                    .collect(),
            })
            .collect();
        plot::line_plot(
            if nightly { "nightly run" } else { "run" },
            &labels,
            YAxis::Seconds,
            &series,
        )
    });
    let rows = history
        .iter()
        .rev()
        .map(|h| PhaseRowView {
            run: Link {
                text: h.run_id.clone(),
                href: site.run_href(&h.run_id),
            },
            started: date(&h.started_at),
            nightly: h.nightly.clone(),
            job: h.job.clone(),
            cells: names
                .iter()
                .map(|n| value(h, n).map(duration).unwrap_or_default())
                .collect(),
            total: duration(h.phases.iter().map(|(_, s)| s).sum()),
        })
        .collect();
    render(
        "phases.html",
        PhasesPage {
            base: base("phases.html"),
            nightly,
            names,
            plot,
            rows,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::finding::FindingKind;
    use harness_core::report::{GuestExit, PrefixResult, SeriesSummary, Verdict};

    const SUBJECT: &str =
        "ceph: <script>window.__xss=1</script> & <img src=x onerror=window.__xss=2>";

    /// A patch subject with markup is text on every page that shows it.
    #[test]
    fn a_subject_with_markup_is_escaped() {
        let d = tempfile::tempdir().unwrap();
        let mut store = Store::open(d.path()).unwrap();
        let dir = store
            .begin_run("r1", "2026-01-01T00:00:00Z", SUBJECT, 1, "default")
            .unwrap();
        std::fs::write(
            dir.join("console-prefix-1.log"),
            format!("boot\n{SUBJECT}\nWARNING: x\n"),
        )
        .unwrap();
        let mut p0 = PrefixResult::new(0, "(base)");
        p0.built = Some(true);
        let mut p1 = PrefixResult::new(1, SUBJECT);
        p1.applied = true;
        p1.built = Some(true);
        p1.set_attempts(vec![TestResult {
            verdict: Verdict::Fail,
            exit: GuestExit::Ok,
            qemu_status: Some(1),
            seconds: 3.0,
            console: "console-prefix-1.log".into(),
            findings: 1,
            infra: None,
            workloads: vec![],
            evictions: Default::default(),
            fstests: vec![
                harness_core::report::FstestsResult {
                    test: "generic/313".into(),
                    status: harness_core::report::FstestsStatus::Fail,
                    seconds: 2.0,
                    reason: "- output mismatch".into(),
                    diff: Some("fstests-prefix-1/generic-313.out.bad.diff".into()),
                    full: None,
                },
                harness_core::report::FstestsResult {
                    test: "ceph/002".into(),
                    status: harness_core::report::FstestsStatus::Notrun,
                    seconds: 1.0,
                    reason: SUBJECT.into(),
                    diff: None,
                    full: None,
                },
            ],
            sessions_evicted: 0,
        }]);
        std::fs::create_dir_all(dir.join("fstests-prefix-1")).unwrap();
        std::fs::write(
            dir.join("fstests-prefix-1/generic-313.out.bad.diff"),
            "+mtime\n",
        )
        .unwrap();
        let report = Report {
            run_id: "r1".into(),
            verdict: Verdict::Fail,
            reason: SUBJECT.into(),
            series: SeriesSummary {
                subject: SUBJECT.into(),
                patch_count: 1,
                sources: vec![],
            },
            job: "default".into(),
            kernel: "k".into(),
            accel: None,
            prefixes: vec![p0, p1],
            findings: vec![Finding {
                kind: FindingKind::Warning,
                title: SUBJECT.into(),
                excerpt: format!("{SUBJECT}\nWARNING: x"),
                line: 2,
                time: None,
                prefix: Some(1),
                console: Some("console-prefix-1.log".into()),
                during: Some(harness_core::finding::During::Boot),
                outside: Some("net_rx_action".into()),
                step: None,
            }],
            coverage: vec![],
            phases: vec![],
            started_at: "2026-01-01T00:00:00Z".into(),
            seconds: 5.0,
            culprit: None,
            bisection: vec![],
            revert: None,
            fixes: vec![harness_core::report::Fix {
                signature: SUBJECT.into(),
                base_failures: 2,
                base_boots: 2,
                tip_passes: 3,
                tip_boots: 3,
                confidence: 0.995,
                confident: true,
                from_prefix: None,
            }],
            pre_existing: vec![harness_core::report::PreExisting {
                signature: "WARNING in ceph_unlink".into(),
                base_failures: 1,
                base_boots: 1,
                tip_failures: 1,
                tip_boots: 1,
            }],
            replayed: 0,
        };
        store.finish_run(&report).unwrap();
        for path in [
            "index.html",
            "runs/r1.html",
            "runs/r1/console-prefix-1.log.html",
            "signatures.html",
        ] {
            let html = crate::render(&store, path).unwrap().unwrap().text();
            assert!(html.contains("&lt;script&gt;window.__xss=1"), "{path}");
            assert!(
                html.contains("&lt;img src=x onerror=window.__xss=2&gt;"),
                "{path}"
            );
            let lower = html.to_ascii_lowercase();
            assert!(
                !lower.contains("<script") && !lower.contains("<img"),
                "{path}: {html}"
            );
        }
        // fstests per prefix: counts, the failed test linked to its diff.
        let run = crate::render(&store, "runs/r1.html")
            .unwrap()
            .unwrap()
            .text();
        assert!(run.contains("2 tests: 0 pass, 1 fail, 1 not run"), "{run}");
        assert!(
            run.contains(
                "fstests-prefix-1&#x2f;generic-313.out.bad.diff.html\">fstests generic&#x2f;313</a>"
            ),
            "{run}"
        );
        // The boot finding of a run without workloads: the row fails in the summary cell.
        let run = crate::render(&store, "runs/r1.html")
            .unwrap()
            .unwrap()
            .text();
        assert!(
            run.contains("<td class=\"cell fail\" data-prefix=\"1\">fail"),
            "{run}"
        );
        // What the series fixes and what the base had already, distinctly; a crash outside the
        // code under test says so.
        assert!(run.contains("<div class=\"fix\"><strong>fixes "), "{run}");
        assert!(
            run.contains("<div class=\"pre-existing\">pre-existing "),
            "{run}"
        );
        assert!(
            run.contains("<strong>outside the code under test</strong> (in net_rx_action)"),
            "{run}"
        );
        let console = crate::render(&store, "runs/r1/console-prefix-1.log.html")
            .unwrap()
            .unwrap()
            .text();
        assert!(console.contains("<span class=\"ln hl\" id=\"L2\">"));
        assert!(console.contains("<span class=\"ln hl\" id=\"L3\">"));
        assert!(console.contains("<span class=\"ln\" id=\"L1\">"));
    }

    #[test]
    fn formatting() {
        assert_eq!(date("2026-01-02T03:04:05Z"), "2026-01-02 03:04");
        assert_eq!(date("garbage"), "garbage");
        assert_eq!(duration(12.34), "12.3s");
        assert_eq!(duration(185.0), "3m 05s");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(duration(f64::NAN), "?");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(root_of("runs/x/cluster-logs/a.log.html"), "../../../");
        assert_eq!(root_of("index.html"), "");
        assert_eq!(anchor("sig", "a"), anchor("sig", "a"));
        assert_ne!(anchor("sig", "a"), anchor("sig", "b"));
        assert_eq!(patches(&[2, 3]), "patches 2, 3");
        assert_eq!(state_of("finished", Some("fail")).1, "v-fail");
        assert_eq!(state_of("interrupted", None).1, "v-interrupted");
        assert_eq!(state_of("finished", Some("<x>")).1, "v-other");
    }
}
