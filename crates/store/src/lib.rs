//! The results store: the only code that knows the on-disk results format.
//!
//! Layout under the results root (default `results/`):
//! ```text
//! harness.db              SQLite (WAL): runs, prefixes, attempts, findings, phases, bisection,
//!                         culprits, reverts, artifacts, nightlies; schema version in `meta`
//! runs/<run-id>/          artifacts: report.json, console-prefix-K.log, build-prefix-K.log, cluster-logs/
//! runs/<run-id>/input/    what the run started from (job text, series files, overrides): resume
//! ```
//! A run is inserted as `running` when it starts, its guest boots as they end, and the rest in one
//! transaction when it ends. The harness running a run (or a nightly) holds a lock on
//! `locks/run-<id>.lock` (flock) for as long as it runs it; a `running` run whose lock nobody holds
//! is reported as `interrupted` (whatever its pid: pids are reused and differ across namespaces
//! and hosts) and can be taken over ([`Store::claim_resume`]).
//!
//! Read commands open the store with [`Store::open_read_only`]: no migration, no write, and a
//! read-only mount works.

use std::path::{Path, PathBuf};

use harness_core::nightly::Summary;
use harness_core::report::{AttemptRecord, BaseProfile, Report};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql};

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("results store {path}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("results store query")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no run matches `{0}` (see `harness list`)")]
    NoSuchRun(String),
    #[error("`{0}` matches several runs; give more of the id")]
    Ambiguous(String),
    #[error("run {0} has no report (status: {1})")]
    NoReport(String, String),
    #[error("report of run {run}: {source}")]
    BadReport {
        run: String,
        source: serde_json::Error,
    },
    #[error("results store has schema version {found}, this harness knows up to {SCHEMA_VERSION}")]
    TooNew { found: i64 },
    #[error("results store {} has schema version {found} (this harness reads {SCHEMA_VERSION}): a read command does not migrate it; run a writing command (harness test) once", path.display())]
    Outdated { path: PathBuf, found: i64 },
    #[error("results store {} cannot be opened read-only", path.display())]
    ReadOnly {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("run {id} is {status}: only an interrupted run can be resumed")]
    NotResumable { id: String, status: RunStatus },
    #[error("run {run}: input/run.json: {why}")]
    BadInputs { run: String, why: String },
    #[error("run {0} has no artifact `{1}`")]
    NoArtifact(String, String),
    #[error("migration to schema version {version}: {why}")]
    Migration { version: usize, why: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a run started from, kept for `harness resume`: the series files in groups (one per
/// input given on the command line) as (origin, bytes), and the command's own record of the run
/// (job, overrides; JSON the store keeps as it is given).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedInputs {
    pub series: Vec<Vec<(String, Vec<u8>)>>,
    pub run: serde_json::Value,
}

/// Where a run (or a nightly) is: the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Running,
    Finished,
    /// Stopped before it finished (Ctrl-C, a killed harness); resumable.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Finished,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl FromSql for RunStatus {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        RunStatus::parse(s).ok_or_else(|| FromSqlError::Other(format!("run status `{s}`").into()))
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

pub struct Store {
    root: PathBuf,
    db: Connection,
    read_only: bool,
    /// The liveness locks of the runs and nightlies this process runs (see [`Store::begin_run`]).
    held: std::sync::Mutex<Vec<(String, nix::fcntl::Flock<std::fs::File>)>>,
}

/// One line of `harness list`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub started_at: String,
    pub status: RunStatus,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub series: String,
    pub patch_count: i64,
    pub job: String,
    pub seconds: Option<f64>,
    /// The nightly this run belongs to.
    pub nightly: Option<String>,
    /// How often it was resumed after an interruption.
    pub resumes: i64,
}

/// A finding signature across runs (`harness serve`'s findings page).
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureRow {
    pub title: String,
    pub kind: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Runs it was seen in, and its findings in all.
    pub runs: i64,
    pub count: i64,
    /// The newest run that has it.
    pub last_run: String,
}

/// The phase times of one finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRow {
    pub run_id: String,
    pub started_at: String,
    pub nightly: Option<String>,
    pub job: String,
    pub phases: Vec<(String, f64)>,
}

/// One nightly: a suite's jobs run together, compared with the suite's previous nightly.
#[derive(Debug, Clone, PartialEq)]
pub struct NightlyRow {
    pub id: String,
    pub suite: String,
    pub started_at: String,
    pub status: RunStatus,
    /// The comparison with the previous nightly (None until it finished).
    pub summary: Option<Summary>,
    pub runs: Vec<String>,
    /// The suite it ran: its text, file name and directory (None before schema version 3).
    pub suite_source: Option<SuiteSource>,
}

/// A suite file as a nightly read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteSource {
    pub text: String,
    pub file: String,
    pub dir: PathBuf,
}

/// One step of a migration: SQL, or code over the open transaction (backfills).
enum Step {
    Sql(&'static str),
    Code(fn(&rusqlite::Transaction) -> Result<()>),
}

/// Schema migrations, applied in order; the store's version is the number applied. Append only.
const MIGRATIONS: &[&[Step]] = &[
    &[Step::Sql(V1)],
    &[Step::Sql(V2), Step::Code(backfill_v2)],
    &[Step::Sql(V3)],
    &[Step::Sql(V4)],
];

const V1: &str = r#"
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- running | finished | interrupted
    pid INTEGER,
    verdict TEXT,
    reason TEXT,
    series TEXT NOT NULL,
    patch_count INTEGER NOT NULL,
    job TEXT NOT NULL,
    seconds REAL,
    report TEXT                      -- the --json report
);
CREATE TABLE prefixes (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    subject TEXT NOT NULL,
    applied INTEGER NOT NULL,
    built INTEGER,
    test_verdict TEXT,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE findings (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    prefix INTEGER,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    line INTEGER NOT NULL
);
CREATE INDEX findings_title ON findings(title);
CREATE TABLE phases (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    seconds REAL NOT NULL
);
"#;

/// v2: attempts recorded as they happen (resume), bisection, culprit, revert, artifacts, nightlies.
const V2: &str = r#"
ALTER TABLE runs ADD COLUMN nightly TEXT;
ALTER TABLE runs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN console TEXT;
CREATE TABLE attempts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    console TEXT NOT NULL,           -- names the boot within its run
    seq INTEGER NOT NULL,
    prefix INTEGER NOT NULL,
    variant TEXT NOT NULL,
    verdict TEXT NOT NULL,
    exit TEXT NOT NULL,
    seconds REAL NOT NULL,
    record TEXT NOT NULL,            -- AttemptRecord JSON
    PRIMARY KEY (run_id, console)
);
CREATE TABLE bisect_runs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    prefix INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    verify INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    signatures TEXT NOT NULL,        -- JSON array
    console TEXT NOT NULL,
    seconds REAL NOT NULL,
    confidence REAL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE culprits (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    subject TEXT NOT NULL,
    signature TEXT NOT NULL,
    confidence REAL NOT NULL,
    verified INTEGER NOT NULL,
    rate REAL NOT NULL,
    runs INTEGER NOT NULL,
    found_after_s REAL NOT NULL
);
CREATE TABLE reverts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    what TEXT NOT NULL,
    verdict TEXT NOT NULL,
    runs INTEGER NOT NULL,
    confidence REAL NOT NULL,
    file TEXT,
    note TEXT,
    PRIMARY KEY (run_id, what)
);
CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,              -- relative to runs/<id>/
    bytes INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE nightlies (
    id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- running | finished | interrupted
    pid INTEGER,
    summary TEXT                     -- JSON: the comparison with the previous nightly
);
CREATE INDEX runs_nightly ON runs(nightly);
CREATE INDEX nightlies_suite ON nightlies(suite, started_at);
"#;

/// v3: a nightly keeps its suite (text, file name, directory), so `harness resume` can finish it.
const V3: &str = r#"
ALTER TABLE nightlies ADD COLUMN suite_text TEXT;
ALTER TABLE nightlies ADD COLUMN suite_file TEXT;
ALTER TABLE nightlies ADD COLUMN suite_dir TEXT;
"#;

/// v4: the base's hazard profile per kernel and job, for runs that do not boot the base.
const V4: &str = r#"
CREATE TABLE base_profiles (
    key TEXT PRIMARY KEY,            -- core::job::profile_key: the kernel, base and workloads
    run_id TEXT NOT NULL,            -- the run whose base boot measured it
    evictions TEXT NOT NULL          -- JSON: final iputs per context
);
"#;

/// v1 stores kept the whole report only: fill the new tables from it.
fn backfill_v2(tx: &rusqlite::Transaction) -> Result<()> {
    let rows: Vec<(String, String)> = {
        let mut st = tx.prepare("SELECT id, report FROM runs WHERE report IS NOT NULL")?;
        let r = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        r
    };
    for (id, json) in rows {
        let report: Report = serde_json::from_str(&json).map_err(|e| StoreError::Migration {
            version: 2,
            why: format!("report of run {id}: {e}"),
        })?;
        insert_details(tx, &report)?;
    }
    Ok(())
}

/// The per-run tables a finished report fills (replacing what an earlier attempt wrote).
fn insert_details(tx: &rusqlite::Transaction, report: &Report) -> Result<()> {
    let id = &report.run_id;
    for t in [
        "prefixes",
        "findings",
        "phases",
        "bisect_runs",
        "culprits",
        "reverts",
    ] {
        tx.execute(&format!("DELETE FROM {t} WHERE run_id=?1"), params![id])?;
    }
    for p in &report.prefixes {
        tx.execute(
            "INSERT INTO prefixes(run_id, idx, subject, applied, built, test_verdict) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, p.index as i64, p.subject, p.applied, p.built, p.test.as_ref().map(|t| t.verdict.as_str())],
        )?;
    }
    for f in &report.findings {
        tx.execute(
            "INSERT INTO findings(run_id, prefix, kind, title, excerpt, line, console) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, f.prefix.map(|p| p as i64), f.kind.as_str(), f.title, f.excerpt, f.line as i64, f.console],
        )?;
    }
    for ph in &report.phases {
        tx.execute(
            "INSERT INTO phases(run_id, name, seconds) VALUES (?1, ?2, ?3)",
            params![id, ph.name, ph.seconds],
        )?;
    }
    for (i, b) in report.bisection.iter().enumerate() {
        tx.execute(
            "INSERT INTO bisect_runs(run_id, seq, prefix, outcome, verify, verdict, signatures, console, seconds, confidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                i as i64 + 1,
                b.prefix as i64,
                format!("{:?}", b.outcome).to_lowercase(),
                b.verify,
                b.verdict.as_str(),
                serde_json::to_string(&b.signatures).expect("strings serialise"),
                b.console,
                b.seconds,
                b.confidence
            ],
        )?;
    }
    if let Some(c) = &report.culprit {
        tx.execute(
            "INSERT INTO culprits(run_id, idx, subject, signature, confidence, verified, rate, runs, found_after_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![id, c.index as i64, c.subject, c.signature, c.confidence, c.verified, c.rate, c.runs, c.found_after_s],
        )?;
    }
    if let Some(r) = &report.revert {
        for t in [&r.without_culprit, &r.whole_series] {
            tx.execute(
                "INSERT OR REPLACE INTO reverts(run_id, what, verdict, runs, confidence, file, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, t.what, t.verdict.as_str(), t.runs, t.confidence, t.file, t.note],
            )?;
        }
    }
    Ok(())
}

/// Every file under `dir`, relative to it, with its size (sorted).
fn list_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = p.strip_prefix(dir) {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        out.push((rel.to_string_lossy().into_owned(), len));
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

const RUN_COLUMNS: &str =
    "id, started_at, status, verdict, reason, series, patch_count, job, seconds, nightly, resumes";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        started_at: r.get(1)?,
        status: r.get(2)?,
        verdict: r.get(3)?,
        reason: r.get(4)?,
        series: r.get(5)?,
        patch_count: r.get(6)?,
        job: r.get(7)?,
        seconds: r.get(8)?,
        nightly: r.get(9)?,
        resumes: r.get(10)?,
    })
}

/// The liveness lock file of a run (`kind` = "run") or nightly.
fn lock_path(root: &Path, kind: &str, id: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join("locks").join(format!("{kind}-{safe}.lock"))
}

/// Is the lock of `path` held by some process? `None` when there is no lock file (a run recorded
/// by an older harness: its pid is all there is).
fn lock_held(path: &Path) -> Option<bool> {
    let f = std::fs::File::open(path).ok()?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockSharedNonblock) {
        Ok(_unlocked_on_drop) => Some(false),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Some(true),
        Err(_) => Some(true),
    }
}

/// Percent-encode what a SQLite URI filename must not hold raw.
fn uri_path(p: &Path) -> String {
    let mut s = String::from("file:");
    for b in p.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => s.push_str(&format!("%{b:02X}")),
            _ => s.push(*b as char),
        }
    }
    s
}

fn pid_alive(pid: Option<i64>) -> bool {
    pid.map(|p| Path::new(&format!("/proc/{p}")).exists())
        .unwrap_or(false)
}

impl Store {
    /// Open (creating and migrating) the store under `root`. Several processes may have it open
    /// at once: SQLite in WAL mode, writers wait for each other (busy timeout), every write is one
    /// transaction.
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root.join("runs")).map_err(|e| StoreError::Io {
            path: root.to_path_buf(),
            source: e,
        })?;
        let path = root.join("harness.db");
        let db = Connection::open(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            source: e,
        })?;
        db.busy_timeout(std::time::Duration::from_secs(60))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        let mut s = Store {
            root: root.to_path_buf(),
            db,
            read_only: false,
            held: Default::default(),
        };
        s.migrate()?;
        Ok(s)
    }

    /// Open the store under `root` for reading only (list, show, export, serve, report): nothing
    /// is created, migrated or written, and a store on a read-only mount opens. A store that does
    /// not exist yet reads as empty; one of another schema version is an error naming it.
    pub fn open_read_only(root: &Path) -> Result<Store> {
        let path = root.join("harness.db");
        if !path.exists() {
            let mut s = Store {
                root: root.to_path_buf(),
                db: Connection::open_in_memory()?,
                read_only: false,
                held: Default::default(),
            };
            s.migrate()?;
            s.read_only = true;
            return Ok(s);
        }
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |uri: String| -> Result<Connection> {
            let db = Connection::open_with_flags(uri, flags).map_err(|e| StoreError::ReadOnly {
                path: path.clone(),
                source: e,
            })?;
            db.busy_timeout(std::time::Duration::from_secs(60))?;
            // A WAL database needs its -shm file: on a read-only mount, reading fails here.
            db.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| StoreError::ReadOnly {
                path: path.clone(),
                source: e,
            })?;
            Ok(db)
        };
        let db = match open(uri_path(&path)) {
            Ok(db) => db,
            // Nobody can be writing to a read-only mount: read the file as it is.
            Err(_) => open(format!("{}?immutable=1", uri_path(&path)))?,
        };
        let s = Store {
            root: root.to_path_buf(),
            db,
            read_only: true,
            held: Default::default(),
        };
        let v = s.schema_version()?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: v });
        }
        if v < SCHEMA_VERSION {
            return Err(StoreError::Outdated { path, found: v });
        }
        Ok(s)
    }

    /// Hold the liveness lock of a run or nightly this process runs, until it ends.
    fn hold(&self, kind: &str, id: &str) -> Result<()> {
        let p = lock_path(&self.root, kind, id);
        let dir = p.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| StoreError::Io {
                path: p.clone(),
                source: e,
            })?;
        let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| StoreError::Io {
                path: p.clone(),
                source: std::io::Error::from(e),
            })?;
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((format!("{kind}-{id}"), lock));
        Ok(())
    }

    /// Let go of a run's or nightly's liveness lock (it ended).
    fn release(&self, kind: &str, id: &str) {
        let key = format!("{kind}-{id}");
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held.iter().position(|(k, _)| *k == key) {
            let _ = std::fs::remove_file(lock_path(&self.root, kind, id));
            held.remove(i);
        }
    }

    /// Is the process running this `running` run or nightly still there? By its lock; by its
    /// pid only for one recorded before locks (no lock file).
    fn alive(&self, kind: &str, id: &str, pid: Option<i64>) -> bool {
        let key = format!("{kind}-{id}");
        if self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(k, _)| *k == key)
        {
            return true;
        }
        lock_held(&lock_path(&self.root, kind, id)).unwrap_or_else(|| pid_alive(pid))
    }

    /// In a read-only store nothing is marked: a `running` row whose process is gone reads as
    /// `interrupted`.
    fn effective_status(&self, kind: &str, id: &str, status: RunStatus) -> RunStatus {
        if !self.read_only || status != RunStatus::Running {
            return status;
        }
        let table = if kind == "run" { "runs" } else { "nightlies" };
        let pid: Option<i64> = self
            .db
            .query_row(
                &format!("SELECT pid FROM {table} WHERE id=?1"),
                params![id],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
            .flatten();
        if self.alive(kind, id, pid) {
            status
        } else {
            RunStatus::Interrupted
        }
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    fn migrate(&mut self) -> Result<()> {
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            [],
        )?;
        // IMMEDIATE: two harnesses opening an old store at once migrate it once.
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v: i64 = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: v });
        }
        for (i, steps) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            for step in steps.iter() {
                match step {
                    Step::Sql(sql) => tx.execute_batch(sql)?,
                    Step::Code(f) => f(&tx)?,
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
                params![(i + 1).to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn artifact_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// A new, unique, sortable run id: `YYYYMMDD-HHMMSS-xxxx`. The suffix starts from a value
    /// drawn once per process (pid and clock) and counts up, so one process never repeats itself
    /// and two processes rarely meet (and `begin_run` refuses a duplicate).
    pub fn new_run_id() -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        static BASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let now = time::OffsetDateTime::now_utc();
        let base = *BASE.get_or_init(|| {
            let m =
                (now.nanosecond() ^ std::process::id().rotate_left(16)).wrapping_mul(0x9e37_79b9);
            m ^ (m >> 16)
        });
        let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
        let rnd = base.wrapping_add(SEQ.fetch_add(1, Ordering::Relaxed)) & 0xffff;
        format!("{}-{rnd:04x}", now.format(&fmt).unwrap_or_default())
    }

    pub fn now() -> String {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// Record a run as started; returns its (created) artifact directory.
    pub fn begin_run(
        &self,
        id: &str,
        started_at: &str,
        series: &str,
        patch_count: usize,
        job: &str,
    ) -> Result<PathBuf> {
        let dir = self.artifact_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
            path: dir.clone(),
            source: e,
        })?;
        self.db.execute(
            "INSERT INTO runs(id, started_at, status, pid, series, patch_count, job) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
            params![id, started_at, std::process::id(), series, patch_count as i64, job],
        )?;
        self.hold("run", id)?;
        Ok(dir)
    }

    /// Keep what a run started from (what `harness resume` needs) under `input/`: each series
    /// file as `series-G-I` (group G, file I) and `run.json`, the command's record with the
    /// files' origins added as `series`.
    pub fn save_inputs(&self, run_id: &str, inputs: &SavedInputs) -> Result<()> {
        let mut origins = Vec::new();
        for (g, group) in inputs.series.iter().enumerate() {
            let mut o = Vec::new();
            for (i, (origin, bytes)) in group.iter().enumerate() {
                self.save_input(run_id, &format!("series-{g}-{i}"), bytes)?;
                o.push(origin.clone());
            }
            origins.push(o);
        }
        let mut run = match &inputs.run {
            serde_json::Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        run.insert("series".into(), serde_json::json!(origins));
        let json = serde_json::to_vec_pretty(&run).expect("JSON serialises");
        self.save_input(run_id, "run.json", &json)
    }

    /// What [`Store::save_inputs`] kept of a run.
    pub fn saved_inputs(&self, run_id: &str) -> Result<SavedInputs> {
        let meta = self.input(run_id, "run.json")?;
        let bad = |why: String| StoreError::BadInputs {
            run: run_id.into(),
            why,
        };
        let mut run: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&meta).map_err(|e| bad(e.to_string()))?;
        let origins: Vec<Vec<String>> = run
            .remove("series")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| bad(format!("series: {e}")))?
            .unwrap_or_default();
        let mut series = Vec::new();
        for (g, group) in origins.into_iter().enumerate() {
            let mut files = Vec::new();
            for (i, origin) in group.into_iter().enumerate() {
                files.push((origin, self.input(run_id, &format!("series-{g}-{i}"))?));
            }
            series.push(files);
        }
        Ok(SavedInputs {
            series,
            run: serde_json::Value::Object(run),
        })
    }

    fn save_input(&self, run_id: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.artifact_dir(run_id).join("input");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
            path: dir.clone(),
            source: e,
        })?;
        write_atomic(&dir.join(name), bytes)
    }

    fn input(&self, run_id: &str, name: &str) -> Result<Vec<u8>> {
        let p = self.artifact_dir(run_id).join("input").join(name);
        std::fs::read(&p).map_err(|e| StoreError::Io { path: p, source: e })
    }

    /// A guest boot that just ended (kept even if the run is interrupted later).
    pub fn record_attempt(&self, run_id: &str, a: &AttemptRecord) -> Result<()> {
        let record = serde_json::to_string(a).expect("attempt serialises");
        self.db.execute(
            "INSERT OR REPLACE INTO attempts(run_id, console, seq, prefix, variant, verdict, exit, seconds, record)
             VALUES (?1, ?2, (SELECT COUNT(*) + 1 FROM attempts WHERE run_id=?1), ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run_id,
                a.console,
                a.prefix as i64,
                a.variant,
                a.result.verdict.as_str(),
                serde_json::to_value(a.result.exit).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                a.result.seconds,
                record
            ],
        )?;
        Ok(())
    }

    /// Keep the base's eviction profile for `key` (the newest measurement wins).
    pub fn save_base_profile(&self, key: &str, p: &BaseProfile) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO base_profiles(key, run_id, evictions) VALUES (?1, ?2, ?3)",
            params![
                key,
                p.run_id,
                serde_json::to_string(&p.evictions).expect("counts serialise")
            ],
        )?;
        Ok(())
    }

    /// The base's eviction profile recorded for `key`, if a run measured one.
    pub fn base_profile(&self, key: &str) -> Result<Option<BaseProfile>> {
        let row: Option<(String, String)> = self
            .db
            .query_row(
                "SELECT run_id, evictions FROM base_profiles WHERE key=?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(run_id, json)| {
            Some(BaseProfile {
                run_id,
                evictions: serde_json::from_str(&json).ok()?,
            })
        }))
    }

    /// The guest boots of a run, in the order they ended.
    pub fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        let mut st = self
            .db
            .prepare("SELECT record FROM attempts WHERE run_id=?1 ORDER BY seq")?;
        let rows: Vec<String> = st
            .query_map(params![run_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|j| {
                serde_json::from_str(&j).map_err(|e| StoreError::BadReport {
                    run: run_id.into(),
                    source: e,
                })
            })
            .collect()
    }

    /// Record the finished run and its report (report.json written first, atomically), its
    /// prefixes, findings, phases, bisection, culprit, revert and artifact list: one transaction.
    pub fn finish_run(&mut self, report: &Report) -> Result<()> {
        let json = serde_json::to_string_pretty(report).expect("report serialises");
        let dir = self.artifact_dir(&report.run_id);
        write_atomic(&dir.join("report.json"), json.as_bytes())?;
        let files = list_files(&dir);
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE runs SET status='finished', finished_at=?2, verdict=?3, reason=?4, seconds=?5, report=?6 WHERE id=?1",
            params![report.run_id, Self::now(), report.verdict.as_str(), report.reason, report.seconds, json],
        )?;
        insert_details(&tx, report)?;
        tx.execute(
            "DELETE FROM artifacts WHERE run_id=?1",
            params![report.run_id],
        )?;
        for (name, bytes) in files {
            tx.execute(
                "INSERT INTO artifacts(run_id, name, bytes) VALUES (?1, ?2, ?3)",
                params![report.run_id, name, bytes as i64],
            )?;
        }
        tx.commit()?;
        self.release("run", &report.run_id);
        Ok(())
    }

    /// Take over the artifacts a run made elsewhere (a Slurm unit's, in the shared results
    /// directory): every regular file under `from`, copied into the run's artifact dir under
    /// the same relative name; the names the store owns (`report.json`, `input/`) are not taken.
    /// Returns how many files were copied.
    pub fn import_artifacts(&self, run_id: &str, from: &Path) -> Result<usize> {
        let dir = self.artifact_dir(run_id);
        let mut n = 0;
        for (name, _) in list_files(from) {
            if name == "report.json" || name.starts_with("input/") {
                continue;
            }
            let src = from.join(&name);
            let dst = dir.join(&name);
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Io {
                    path: parent.to_path_buf(),
                    source: e,
                })?;
            }
            std::fs::copy(&src, &dst).map_err(|e| StoreError::Io {
                path: src.clone(),
                source: e,
            })?;
            n += 1;
        }
        Ok(n)
    }

    /// Mark a run that will not finish (Ctrl-C, preflight failure after begin).
    pub fn interrupt_run(&self, id: &str, reason: &str) -> Result<()> {
        self.db.execute(
            "UPDATE runs SET status='interrupted', finished_at=?2, reason=?3 WHERE id=?1 AND status='running'",
            params![id, Self::now(), reason],
        )?;
        self.release("run", id);
        Ok(())
    }

    /// Take an interrupted run over to continue it in this process.
    pub fn claim_resume(&self, id: &str) -> Result<()> {
        self.reap_dead()?;
        let n = self.db.execute(
            "UPDATE runs SET status='running', pid=?2, resumes=resumes+1, finished_at=NULL WHERE id=?1 AND status='interrupted'",
            params![id, std::process::id()],
        )?;
        if n > 0 {
            self.hold("run", id)?;
        }
        if n == 0 {
            let status: RunStatus =
                self.db
                    .query_row("SELECT status FROM runs WHERE id=?1", params![id], |r| {
                        r.get(0)
                    })?;
            return Err(StoreError::NotResumable {
                id: id.into(),
                status,
            });
        }
        Ok(())
    }

    /// Runs (and nightlies) whose harness process is gone but which are still `running` become
    /// `interrupted`.
    fn reap_dead(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        for table in ["runs", "nightlies"] {
            let mut st = self.db.prepare(&format!(
                "SELECT id, pid FROM {table} WHERE status='running'"
            ))?;
            let rows: Vec<(String, Option<i64>)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let kind = if table == "runs" { "run" } else { "nightly" };
            for (id, _) in rows
                .into_iter()
                .filter(|(id, pid)| !self.alive(kind, id, *pid))
            {
                if table == "runs" {
                    self.interrupt_run(&id, "the harness process ended before the run finished")?;
                } else {
                    self.db.execute(
                        "UPDATE nightlies SET status='interrupted', finished_at=?2 WHERE id=?1 AND status='running'",
                        params![id, Self::now()],
                    )?;
                }
            }
        }
        Ok(())
    }

    pub fn list(&self, limit: usize) -> Result<Vec<RunRow>> {
        self.reap_dead()?;
        let mut st = self.db.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?1"
        ))?;
        let rows = st
            .query_map(params![limit.min(i64::MAX as usize) as i64], run_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                r.status = self.effective_status("run", &r.id, r.status);
                r
            })
            .collect())
    }

    /// Resolve a run id, a unique prefix of one, or `last`.
    pub fn resolve(&self, query: &str) -> Result<String> {
        self.reap_dead()?;
        if query == "last" || query == "latest" {
            return self
                .db
                .query_row(
                    "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NoSuchRun(query.into()));
        }
        let like = format!("{}%", query.replace('%', "").replace('_', "\\_"));
        let mut st = self
            .db
            .prepare("SELECT id FROM runs WHERE id LIKE ?1 ESCAPE '\\' LIMIT 2")?;
        let ids: Vec<String> = st
            .query_map(params![like], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        match ids.len() {
            0 => Err(StoreError::NoSuchRun(query.into())),
            1 => Ok(ids.into_iter().next().unwrap()),
            _ => Err(StoreError::Ambiguous(query.into())),
        }
    }

    pub fn row(&self, id: &str) -> Result<RunRow> {
        self.reap_dead()?;
        let mut r = self
            .db
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id=?1"),
                params![id],
                run_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchRun(id.into()))?;
        r.status = self.effective_status("run", &r.id, r.status);
        Ok(r)
    }

    pub fn report(&self, id: &str) -> Result<Report> {
        let (status, json): (String, Option<String>) = self
            .db
            .query_row(
                "SELECT status, report FROM runs WHERE id=?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchRun(id.into()))?;
        let json = json.ok_or_else(|| StoreError::NoReport(id.into(), status))?;
        serde_json::from_str(&json).map_err(|e| StoreError::BadReport {
            run: id.into(),
            source: e,
        })
    }

    /// Finding signatures across runs, most recently seen first.
    pub fn signatures(&self, limit: usize) -> Result<Vec<SignatureRow>> {
        let mut st = self.db.prepare(
            "SELECT f.title, MIN(f.kind), MIN(r.started_at), MAX(r.started_at), COUNT(DISTINCT f.run_id), COUNT(*),
                    (SELECT f2.run_id FROM findings f2 JOIN runs r2 ON r2.id = f2.run_id WHERE f2.title = f.title
                     ORDER BY r2.started_at DESC, r2.id DESC LIMIT 1)
             FROM findings f JOIN runs r ON r.id = f.run_id
             GROUP BY f.title ORDER BY MAX(r.started_at) DESC, f.title LIMIT ?1",
        )?;
        let rows = st
            .query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
                Ok(SignatureRow {
                    title: r.get(0)?,
                    kind: r.get(1)?,
                    first_seen: r.get(2)?,
                    last_seen: r.get(3)?,
                    runs: r.get(4)?,
                    count: r.get(5)?,
                    last_run: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The runs that have a finding with this signature, newest first.
    pub fn runs_with_signature(&self, title: &str) -> Result<Vec<String>> {
        let mut st = self.db.prepare(
            "SELECT DISTINCT f.run_id, r.started_at FROM findings f JOIN runs r ON r.id = f.run_id
             WHERE f.title = ?1 ORDER BY r.started_at DESC, f.run_id DESC",
        )?;
        let rows = st
            .query_map(params![title], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// Phase times of finished runs, oldest first (`nightly_only`: runs of nightlies).
    pub fn phase_history(&self, limit: usize, nightly_only: bool) -> Result<Vec<PhaseRow>> {
        let mut st = self.db.prepare(&format!(
            "SELECT id, started_at, nightly, job FROM runs WHERE status='finished' {}
             ORDER BY started_at DESC, id DESC LIMIT ?1",
            if nightly_only {
                "AND nightly IS NOT NULL"
            } else {
                ""
            }
        ))?;
        let mut rows = st
            .query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
                Ok(PhaseRow {
                    run_id: r.get(0)?,
                    started_at: r.get(1)?,
                    nightly: r.get(2)?,
                    job: r.get(3)?,
                    phases: Vec::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        let mut ph = self
            .db
            .prepare("SELECT name, SUM(seconds) FROM phases WHERE run_id=?1 GROUP BY name ORDER BY MIN(rowid)")?;
        for row in &mut rows {
            row.phases = ph
                .query_map(params![row.run_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(rows)
    }

    /// The path of one of a run's artifacts. `name` must be a file the run recorded (no path
    /// tricks: the name is looked up, never joined blindly).
    pub fn artifact(&self, run_id: &str, name: &str) -> Result<PathBuf> {
        let known: Option<String> = self
            .db
            .query_row(
                "SELECT name FROM artifacts WHERE run_id=?1 AND name=?2",
                params![run_id, name],
                |r| r.get(0),
            )
            .optional()?;
        let dir = self.artifact_dir(run_id);
        let ok_name = !name.is_empty()
            && Path::new(name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        // A running or interrupted run has no artifact list yet: its directory is listed instead.
        let listed =
            known.is_some() || (ok_name && list_files(&dir).iter().any(|(n, _)| n == name));
        if !listed {
            return Err(StoreError::NoArtifact(run_id.into(), name.into()));
        }
        Ok(dir.join(name))
    }

    /// A run's artifacts (name, bytes), as recorded when it finished (else as found now).
    pub fn artifacts(&self, run_id: &str) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .db
            .prepare("SELECT name, bytes FROM artifacts WHERE run_id=?1 ORDER BY name")?;
        let rows = st
            .query_map(params![run_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(list_files(&self.artifact_dir(run_id)));
        }
        Ok(rows)
    }

    /// Start a nightly of `suite` (read from `source`).
    pub fn begin_nightly(
        &self,
        id: &str,
        suite: &str,
        started_at: &str,
        source: &SuiteSource,
    ) -> Result<()> {
        self.db.execute(
            "INSERT INTO nightlies(id, suite, started_at, status, pid, suite_text, suite_file, suite_dir)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7)",
            params![
                id,
                suite,
                started_at,
                std::process::id(),
                source.text,
                source.file,
                source.dir.to_string_lossy()
            ],
        )?;
        self.hold("nightly", id)?;
        Ok(())
    }

    /// Take an interrupted nightly over to finish it in this process.
    pub fn claim_nightly_resume(&self, id: &str) -> Result<NightlyRow> {
        self.reap_dead()?;
        let n = self.db.execute(
            "UPDATE nightlies SET status='running', pid=?2, finished_at=NULL WHERE id=?1 AND status='interrupted'",
            params![id, std::process::id()],
        )?;
        if n > 0 {
            self.hold("nightly", id)?;
        }
        let row = self
            .nightlies(None, usize::MAX >> 1)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| StoreError::NoSuchRun(id.into()))?;
        if n == 0 {
            return Err(StoreError::NotResumable {
                id: id.into(),
                status: row.status,
            });
        }
        Ok(row)
    }

    /// Make a run part of a nightly.
    pub fn attach_to_nightly(&self, run_id: &str, nightly: &str) -> Result<()> {
        self.db.execute(
            "UPDATE runs SET nightly=?2 WHERE id=?1",
            params![run_id, nightly],
        )?;
        Ok(())
    }

    pub fn finish_nightly(
        &self,
        id: &str,
        status: RunStatus,
        summary: Option<&Summary>,
    ) -> Result<()> {
        let summary = serde_json::to_string(&summary).expect("a summary serialises");
        self.db.execute(
            "UPDATE nightlies SET status=?2, finished_at=?3, summary=?4 WHERE id=?1",
            params![id, status, Self::now(), summary],
        )?;
        self.release("nightly", id);
        Ok(())
    }

    /// Nightlies, newest first (`suite`: of that suite only).
    pub fn nightlies(&self, suite: Option<&str>, limit: usize) -> Result<Vec<NightlyRow>> {
        self.reap_dead()?;
        let mut st = self.db.prepare(
            "SELECT id, suite, started_at, status, summary, suite_text, suite_file, suite_dir FROM nightlies
             WHERE ?1 IS NULL OR suite = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2",
        )?;
        let mut rows = st
            .query_map(params![suite, limit.min(i64::MAX as usize) as i64], |r| {
                Ok(NightlyRow {
                    id: r.get(0)?,
                    suite: r.get(1)?,
                    started_at: r.get(2)?,
                    status: r.get(3)?,
                    summary: r
                        .get::<_, Option<String>>(4)?
                        .and_then(|s| serde_json::from_str(&s).ok()),
                    runs: Vec::new(),
                    suite_source: match (
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ) {
                        (Some(text), Some(file), Some(dir)) => Some(SuiteSource {
                            text,
                            file,
                            dir: PathBuf::from(dir),
                        }),
                        _ => None,
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self
            .db
            .prepare("SELECT id FROM runs WHERE nightly=?1 ORDER BY started_at, id")?;
        for n in &mut rows {
            n.status = self.effective_status("nightly", &n.id, n.status);
            n.runs = st
                .query_map(params![n.id], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(rows)
    }

    /// The newest finished nightly of `suite` that started before `this` one.
    pub fn previous_nightly(&self, suite: &str, this: &str) -> Result<Option<NightlyRow>> {
        let all = self.nightlies(Some(suite), usize::MAX >> 1)?;
        let before = all
            .iter()
            .find(|n| n.id == this)
            .map(|n| n.started_at.clone());
        Ok(all.into_iter().find(|n| {
            n.id != this
                && n.status == RunStatus::Finished
                && before.as_ref().is_none_or(|b| n.started_at < *b)
        }))
    }

    /// Check the database file (`PRAGMA integrity_check`).
    pub fn integrity(&self) -> Result<String> {
        Ok(self
            .db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// Write via a temp file (a fresh name beside `path`) that is synced and renamed: readers see the
/// old file or the whole new one, and a failure leaves no temp file behind.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| StoreError::Io { path: p, source: e }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::finding::{Finding, FindingKind};
    use harness_core::report::{
        GuestExit, PhaseTime, PrefixResult, SeriesSummary, TestResult, Verdict,
    };

    fn report(id: &str) -> Report {
        Report {
            run_id: id.into(),
            verdict: Verdict::Fail,
            reason: "WARNING in ceph_unlink".into(),
            series: SeriesSummary {
                subject: "s".into(),
                patch_count: 1,
                sources: vec![],
            },
            job: "default".into(),
            kernel: "k".into(),
            accel: Some("tcg".into()),
            prefixes: vec![PrefixResult::new(0, "(base)")],
            findings: vec![Finding {
                kind: FindingKind::Warning,
                title: "WARNING in ceph_unlink".into(),
                excerpt: "x".into(),
                line: 3,
                time: None,
                prefix: Some(1),
                console: Some("console-prefix-1.log".into()),
                during: None,
                outside: None,
                step: None,
            }],
            coverage: vec![],
            phases: vec![PhaseTime {
                name: "build".into(),
                seconds: 1.5,
            }],
            started_at: "2026-01-01T00:00:00Z".into(),
            seconds: 2.0,
            culprit: None,
            bisection: vec![],
            revert: None,
            fixes: Vec::new(),
            pre_existing: Vec::new(),
            replayed: 0,
        }
    }

    fn suite_source() -> SuiteSource {
        SuiteSource {
            text: "suite: nightly\n".into(),
            file: "jobs/nightly.yaml".into(),
            dir: PathBuf::from("/j"),
        }
    }

    fn attempt(console: &str, prefix: usize) -> AttemptRecord {
        AttemptRecord {
            console: console.into(),
            prefix,
            variant: format!("prefix-{prefix}"),
            workloads: vec![],
            result: TestResult {
                verdict: Verdict::Pass,
                exit: GuestExit::Ok,
                qemu_status: Some(1),
                seconds: 5.0,
                console: console.into(),
                findings: 0,
                infra: None,
                workloads: vec![],
                evictions: Default::default(),
                fstests: Vec::new(),
                sessions_evicted: 0,
            },
            findings: vec![],
            messages: serde_json::json!([{"hello": 1}]),
        }
    }

    #[test]
    fn the_base_profile_is_kept_per_key_and_the_newest_wins() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.base_profile("k").unwrap(), None);
        let p = |run: &str, n: u64| BaseProfile {
            run_id: run.into(),
            evictions: [("messenger".to_string(), n)].into_iter().collect(),
        };
        s.save_base_profile("k", &p("r1", 3)).unwrap();
        s.save_base_profile("other", &p("r2", 9)).unwrap();
        assert_eq!(s.base_profile("k").unwrap(), Some(p("r1", 3)));
        s.save_base_profile("k", &p("r3", 5)).unwrap();
        assert_eq!(s.base_profile("k").unwrap(), Some(p("r3", 5)));
    }

    #[test]
    fn run_round_trip_and_lookup() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let dir = s
            .begin_run(
                "20260101-000000-abcd",
                "2026-01-01T00:00:00Z",
                "s",
                1,
                "default",
            )
            .unwrap();
        assert!(dir.is_dir());
        assert!(matches!(
            s.report("20260101-000000-abcd"),
            Err(StoreError::NoReport(..))
        ));
        std::fs::write(dir.join("console-prefix-1.log"), "boot\n").unwrap();
        s.finish_run(&report("20260101-000000-abcd")).unwrap();
        assert_eq!(s.resolve("20260101").unwrap(), "20260101-000000-abcd");
        assert_eq!(s.resolve("last").unwrap(), "20260101-000000-abcd");
        assert!(matches!(s.resolve("1999"), Err(StoreError::NoSuchRun(_))));
        let r = s.report("20260101-000000-abcd").unwrap();
        assert_eq!(r.findings[0].title, "WARNING in ceph_unlink");
        assert!(dir.join("report.json").exists());
        let rows = s.list(10).unwrap();
        assert_eq!(rows[0].verdict.as_deref(), Some("fail"));
        let arts = s.artifacts("20260101-000000-abcd").unwrap();
        assert!(
            arts.contains(&("console-prefix-1.log".to_string(), 5)),
            "{arts:?}"
        );
        assert!(s
            .artifact("20260101-000000-abcd", "console-prefix-1.log")
            .unwrap()
            .is_file());
        // Reopening does not re-run migrations.
        drop(s);
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.list(10).unwrap().len(), 1);
    }

    #[test]
    fn a_units_artifacts_are_imported_but_not_the_stores_own_names() {
        let d = tempfile::tempdir().unwrap();
        let unit = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        std::fs::create_dir_all(unit.path().join("cluster-logs")).unwrap();
        std::fs::create_dir_all(unit.path().join("input")).unwrap();
        for f in [
            "console-prefix-1.log",
            "cluster-logs/mon.a.log",
            "report.json",
            "input/run.json",
        ] {
            std::fs::write(unit.path().join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", unit.path().join("link")).unwrap();
        assert_eq!(s.import_artifacts("r1", unit.path()).unwrap(), 2);
        s.finish_run(&report("r1")).unwrap();
        let names: Vec<String> = s
            .artifacts("r1")
            .unwrap()
            .into_iter()
            .map(|a| a.0)
            .collect();
        assert_eq!(
            names,
            [
                "cluster-logs/mon.a.log",
                "console-prefix-1.log",
                "report.json"
            ]
        );
        // The store's report is its own, not the unit's file.
        let rep = std::fs::read_to_string(s.artifact("r1", "report.json").unwrap()).unwrap();
        assert!(rep.contains("\"run_id\""), "{rep}");
    }

    #[test]
    fn artifact_names_are_looked_up_never_joined() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        std::fs::write(d.path().join("secret"), "x").unwrap();
        s.finish_run(&report("r1")).unwrap();
        for bad in [
            "../../secret",
            "/etc/passwd",
            "",
            "..",
            "report.json/../../../secret",
        ] {
            assert!(
                matches!(s.artifact("r1", bad), Err(StoreError::NoArtifact(..))),
                "{bad}"
            );
        }
        assert!(s.artifact("r1", "report.json").is_ok());
    }

    impl Store {
        /// What the death of the process running the runs does to their locks.
        fn forget_locks(&self) {
            self.held.lock().unwrap().clear();
        }
    }

    #[test]
    fn liveness_is_the_lock_not_the_pid() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        // A pid that is dead (or reused, or of another namespace) does not matter while the lock
        // is held: another reader, in this process or another, sees the run running.
        s.db.execute("UPDATE runs SET pid = 999999999 WHERE id='r1'", [])
            .unwrap();
        let other = Store::open(d.path()).unwrap();
        assert_eq!(other.row("r1").unwrap().status, "running");
        let ro = Store::open_read_only(d.path()).unwrap();
        assert_eq!(ro.list(10).unwrap()[0].status, "running");
        // A live pid does not keep a run whose lock nobody holds alive.
        s.db.execute(
            &format!("UPDATE runs SET pid = {} WHERE id='r1'", std::process::id()),
            [],
        )
        .unwrap();
        s.forget_locks();
        // The read-only store says interrupted without writing it...
        assert_eq!(ro.row("r1").unwrap().status, "interrupted");
        let raw: String =
            s.db.query_row("SELECT status FROM runs WHERE id='r1'", [], |r| r.get(0))
                .unwrap();
        assert_eq!(raw, "running");
        // ... a writer marks it.
        assert_eq!(other.row("r1").unwrap().status, "interrupted");
        // A finished run lets its lock file go.
        other.claim_resume("r1").unwrap();
        assert!(lock_path(d.path(), "run", "r1").exists());
        other.interrupt_run("r1", "test").unwrap();
        assert!(!lock_path(d.path(), "run", "r1").exists());
    }

    #[test]
    fn the_read_only_store_writes_nothing_and_names_the_path() {
        let d = tempfile::tempdir().unwrap();
        // No store yet: reads as empty, creates nothing.
        let ro = Store::open_read_only(d.path()).unwrap();
        assert!(ro.list(10).unwrap().is_empty());
        assert!(std::fs::read_dir(d.path()).unwrap().next().is_none());
        drop(ro);
        let s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        drop(s);
        let db = d.path().join("harness.db");
        let before = std::fs::read(&db).unwrap();
        let ro = Store::open_read_only(d.path()).unwrap();
        assert_eq!(ro.list(10).unwrap().len(), 1);
        assert!(ro.db.execute("DELETE FROM runs", []).is_err(), "writable");
        drop(ro);
        assert_eq!(std::fs::read(&db).unwrap(), before);
        // An older schema is not migrated by a reader: the error names the store.
        let c = Connection::open(&db).unwrap();
        c.execute("UPDATE meta SET value='1' WHERE key='schema_version'", [])
            .unwrap();
        drop(c);
        let e = Store::open_read_only(d.path()).err().unwrap().to_string();
        assert!(
            e.contains(&db.display().to_string()) && e.contains("schema version 1"),
            "{e}"
        );
    }

    #[test]
    fn atomic_writes_leave_no_temp_files() {
        let d = tempfile::tempdir().unwrap();
        write_atomic(&d.path().join("a.json"), b"one").unwrap();
        write_atomic(&d.path().join("a.json"), b"two").unwrap();
        assert_eq!(std::fs::read(d.path().join("a.json")).unwrap(), b"two");
        // Into a directory that does not exist: an error, and nothing left behind.
        assert!(write_atomic(&d.path().join("no/a.json"), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn saved_inputs_round_trip_in_the_input_layout() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 2, "default")
            .unwrap();
        let inputs = SavedInputs {
            series: vec![
                vec![("a.mbox".into(), b"one".to_vec())],
                vec![
                    ("dir/0001.patch".into(), b"two".to_vec()),
                    ("dir/0002.patch".into(), b"three".to_vec()),
                ],
            ],
            run: serde_json::json!({"job": {"text": "name: x"}, "cache": null}),
        };
        s.save_inputs("r1", &inputs).unwrap();
        assert_eq!(s.saved_inputs("r1").unwrap(), inputs);
        // The layout `harness resume` has always read: run.json names the files' origins.
        let input = s.artifact_dir("r1").join("input");
        assert_eq!(std::fs::read(input.join("series-1-1")).unwrap(), b"three");
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(input.join("run.json")).unwrap()).unwrap();
        assert_eq!(
            run["series"],
            serde_json::json!([["a.mbox"], ["dir/0001.patch", "dir/0002.patch"]])
        );
        assert_eq!(run["job"]["text"], "name: x");
        assert!(matches!(s.saved_inputs("nope"), Err(StoreError::Io { .. })));
    }

    #[test]
    fn a_run_whose_process_died_is_interrupted_and_resumable() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        s.record_attempt("r1", &attempt("console-prefix-0.log", 0))
            .unwrap();
        // Its process is gone: nobody holds its lock (its pid says nothing).
        s.forget_locks();
        let rows = s.list(10).unwrap();
        assert_eq!(rows[0].status, "interrupted");
        s.begin_run("r2", "2026-01-01T00:00:01Z", "s", 1, "default")
            .unwrap();
        assert_eq!(s.row("r2").unwrap().status, "running");
        assert!(matches!(s.resolve("r"), Err(StoreError::Ambiguous(_))));
        // A running run cannot be taken over; an interrupted one can, once.
        assert!(matches!(
            s.claim_resume("r2"),
            Err(StoreError::NotResumable { .. })
        ));
        s.claim_resume("r1").unwrap();
        let row = s.row("r1").unwrap();
        assert_eq!((row.status.as_str(), row.resumes), ("running", 1));
        assert!(s.claim_resume("r1").is_err());
        // Its boots are kept, and a boot recorded again replaces the old one.
        s.record_attempt("r1", &attempt("console-prefix-1.log", 1))
            .unwrap();
        s.record_attempt("r1", &attempt("console-prefix-1.log", 1))
            .unwrap();
        let a = s.attempts("r1").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], attempt("console-prefix-0.log", 0));
    }

    /// A v1 store (the whole report only) is migrated and its new tables filled from the reports.
    #[test]
    fn a_version_1_store_is_migrated() {
        let d = tempfile::tempdir().unwrap();
        {
            let db = Connection::open(d.path().join("harness.db")).unwrap();
            db.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '1');",
            )
            .unwrap();
            db.execute_batch(V1).unwrap();
            let mut r = report("old");
            r.culprit = Some(harness_core::report::Culprit {
                index: 1,
                subject: "ceph: x".into(),
                signature: "WARNING in ceph_unlink".into(),
                candidates: vec![1],
                confidence: 0.999,
                confident: true,
                verified: true,
                rate: 1.0,
                runs: 4,
                rounds: 4,
                skipped: vec![],
                found_after_s: 60.0,
            });
            db.execute(
                "INSERT INTO runs(id, started_at, status, series, patch_count, job, report, verdict) VALUES ('old', '2025-01-01T00:00:00Z', 'finished', 's', 1, 'default', ?1, 'fail')",
                params![serde_json::to_string(&r).unwrap()],
            )
            .unwrap();
            db.execute(
                "INSERT INTO findings(run_id, prefix, kind, title, excerpt, line) VALUES ('old', 1, 'warning', 'WARNING in ceph_unlink', 'x', 3)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let idx: i64 =
            s.db.query_row("SELECT idx FROM culprits WHERE run_id='old'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(idx, 1);
        // The backfill replaced the v1 finding rows instead of doubling them.
        let sig = s.signatures(10).unwrap();
        assert_eq!((sig[0].runs, sig[0].count), (1, 1));
        assert_eq!(s.row("old").unwrap().resumes, 0);
    }

    #[test]
    fn a_store_newer_than_the_harness_is_refused() {
        let d = tempfile::tempdir().unwrap();
        drop(Store::open(d.path()).unwrap());
        let db = Connection::open(d.path().join("harness.db")).unwrap();
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'", [])
            .unwrap();
        assert!(matches!(
            Store::open(d.path()),
            Err(StoreError::TooNew { found: 99 })
        ));
    }

    #[test]
    fn signatures_phases_and_nightlies_across_runs() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        for (i, id) in ["n1", "n2", "n3"].iter().enumerate() {
            let nid = format!("night-{i}");
            s.begin_nightly(
                &nid,
                "nightly",
                &format!("2026-01-0{}T00:00:00Z", i + 1),
                &suite_source(),
            )
            .unwrap();
            s.begin_run(
                id,
                &format!("2026-01-0{}T00:00:01Z", i + 1),
                "s",
                1,
                "default",
            )
            .unwrap();
            s.attach_to_nightly(id, &nid).unwrap();
            let mut r = report(id);
            if i == 2 {
                r.findings.clear();
                r.verdict = Verdict::Pass;
            }
            r.phases[0].seconds = i as f64 + 1.0;
            s.finish_run(&r).unwrap();
            let summary = harness_core::nightly::compare("n", None, Vec::new());
            s.finish_nightly(&nid, RunStatus::Finished, Some(&summary))
                .unwrap();
        }
        let sig = s.signatures(10).unwrap();
        assert_eq!(sig.len(), 1);
        assert_eq!(sig[0].runs, 2);
        assert_eq!(sig[0].first_seen, "2026-01-01T00:00:01Z");
        assert_eq!(sig[0].last_seen, "2026-01-02T00:00:01Z");
        assert_eq!(sig[0].last_run, "n2");
        assert_eq!(
            s.runs_with_signature("WARNING in ceph_unlink").unwrap(),
            vec!["n2", "n1"]
        );
        let ph = s.phase_history(10, true).unwrap();
        let builds: Vec<f64> = ph.iter().map(|p| p.phases[0].1).collect();
        assert_eq!(builds, vec![1.0, 2.0, 3.0]);
        let n = s.nightlies(Some("nightly"), 10).unwrap();
        assert_eq!(n.len(), 3);
        assert_eq!(n[0].runs, vec!["n3"]);
        assert_eq!(
            s.previous_nightly("nightly", "night-2")
                .unwrap()
                .unwrap()
                .id,
            "night-1"
        );
        assert!(s.previous_nightly("other", "x").unwrap().is_none());
        assert_eq!(n[0].suite_source, Some(suite_source()));
        // Only an interrupted nightly can be taken over.
        assert!(matches!(
            s.claim_nightly_resume("night-2"),
            Err(StoreError::NotResumable { .. })
        ));
        s.begin_nightly(
            "night-x",
            "nightly",
            "2026-01-09T00:00:00Z",
            &suite_source(),
        )
        .unwrap();
        s.forget_locks();
        let row = s.claim_nightly_resume("night-x").unwrap();
        assert_eq!(
            (row.status.as_str(), row.suite.as_str()),
            ("running", "nightly")
        );
    }

    /// Several harness processes on one machine share the store: writers wait for each other and
    /// nothing is lost.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        drop(Store::open(d.path()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let root = d.path().to_path_buf();
                std::thread::spawn(move || {
                    let mut s = Store::open(&root).unwrap();
                    for i in 0..25 {
                        let id = format!("t{t}-{i}");
                        s.begin_run(&id, &Store::now(), "s", 1, "default").unwrap();
                        s.record_attempt(&id, &attempt("console-prefix-0.log", 0))
                            .unwrap();
                        s.finish_run(&report(&id)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.list(1000).unwrap().len(), 100);
        assert_eq!(s.signatures(10).unwrap()[0].count, 100);
        assert_eq!(s.integrity().unwrap(), "ok");
        let ids: std::collections::BTreeSet<String> =
            (0..1000).map(|_| Store::new_run_id()).collect();
        assert_eq!(ids.len(), 1000, "run ids collide");
    }

    /// The body of `a_writer_killed_mid_write_leaves_a_sound_store`'s child process.
    #[test]
    fn child_writer() {
        let Ok(root) = std::env::var("HARNESS_STORE_CHILD") else {
            return;
        };
        let mut s = Store::open(Path::new(&root)).unwrap();
        s.begin_run("victim", &Store::now(), "s", 1, "default")
            .unwrap();
        for i in 0.. {
            let id = format!("c{i}");
            s.begin_run(&id, &Store::now(), "s", 1, "default").unwrap();
            s.record_attempt("victim", &attempt(&format!("console-{i}.log"), i))
                .unwrap();
            s.finish_run(&report(&id)).unwrap();
        }
    }

    #[test]
    fn a_writer_killed_mid_write_leaves_a_sound_store() {
        let d = tempfile::tempdir().unwrap();
        drop(Store::open(d.path()).unwrap());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HARNESS_STORE_CHILD", d.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let s = Store::open(d.path()).unwrap();
        let t0 = std::time::Instant::now();
        while s.list(1000).unwrap().len() < 20 {
            assert!(t0.elapsed().as_secs() < 60, "child wrote nothing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL, mid-transaction more often than not
        child.wait().unwrap();
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.integrity().unwrap(), "ok");
        let rows = s.list(10_000).unwrap();
        // Every run is whole: finished with its report, or interrupted.
        for r in &rows {
            match r.status.as_str() {
                "finished" => assert!(s.report(&r.id).is_ok()),
                "interrupted" => {}
                other => panic!("run {} is {other}", r.id),
            }
        }
        assert_eq!(s.row("victim").unwrap().status, "interrupted");
        let kept = s.attempts("victim").unwrap().len();
        assert!(kept >= 19, "{kept} attempts kept");
        s.claim_resume("victim").unwrap();
    }
}
