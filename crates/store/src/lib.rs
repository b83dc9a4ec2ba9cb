//! The results store: the only code that knows the on-disk results format.
//!
//! Layout under the results root (default `results/`):
//! ```text
//! harness.db              SQLite (WAL): runs, prefixes, findings, phases; schema version in `meta`
//! runs/<run-id>/          artifacts: report.json, console-prefix-K.log, build-prefix-K.log, cluster-logs/
//! ```
//! A run is inserted as `running` when it starts and completed in one transaction when it ends; a run
//! whose process died is found `running` with a dead pid and reported as `interrupted`.

use std::path::{Path, PathBuf};

use harness_core::report::Report;
use rusqlite::{params, Connection, OptionalExtension};

pub const SCHEMA_VERSION: i64 = 1;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    root: PathBuf,
    db: Connection,
}

/// One line of `harness list`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub started_at: String,
    pub status: String,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub series: String,
    pub patch_count: i64,
    pub job: String,
    pub seconds: Option<f64>,
}

const MIGRATIONS: &[&str] = &[r#"
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
"#];

impl Store {
    /// Open (creating and migrating) the store under `root`.
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
        db.busy_timeout(std::time::Duration::from_secs(30))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        let mut s = Store {
            root: root.to_path_buf(),
            db,
        };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&mut self) -> Result<()> {
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            [],
        )?;
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
        for (i, m) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            tx.execute_batch(m)?;
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

    /// A new, unique, sortable run id: `YYYYMMDD-HHMMSS-xxxx`.
    pub fn new_run_id() -> String {
        let now = time::OffsetDateTime::now_utc();
        let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
        let rnd = (now.nanosecond() ^ std::process::id().rotate_left(16)) & 0xffff;
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
        Ok(dir)
    }

    /// Record the finished run and its report (report.json written first, atomically).
    pub fn finish_run(&mut self, report: &Report) -> Result<()> {
        let json = serde_json::to_string_pretty(report).expect("report serialises");
        let dir = self.artifact_dir(&report.run_id);
        let tmp = dir.join("report.json.tmp");
        std::fs::write(&tmp, &json).map_err(|e| StoreError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        std::fs::rename(&tmp, dir.join("report.json")).map_err(|e| StoreError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        let tx = self.db.transaction()?;
        tx.execute(
            "UPDATE runs SET status='finished', finished_at=?2, verdict=?3, reason=?4, seconds=?5, report=?6 WHERE id=?1",
            params![report.run_id, Self::now(), report.verdict.as_str(), report.reason, report.seconds, json],
        )?;
        for p in &report.prefixes {
            tx.execute(
                "INSERT OR REPLACE INTO prefixes(run_id, idx, subject, applied, built, test_verdict) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![report.run_id, p.index as i64, p.subject, p.applied, p.built, p.test.as_ref().map(|t| t.verdict.as_str())],
            )?;
        }
        for f in &report.findings {
            tx.execute(
                "INSERT INTO findings(run_id, prefix, kind, title, excerpt, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![report.run_id, f.prefix.map(|p| p as i64), f.kind.as_str(), f.title, f.excerpt, f.line as i64],
            )?;
        }
        for ph in &report.phases {
            tx.execute(
                "INSERT INTO phases(run_id, name, seconds) VALUES (?1, ?2, ?3)",
                params![report.run_id, ph.name, ph.seconds],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Mark a run that will not finish (Ctrl-C, preflight failure after begin).
    pub fn interrupt_run(&self, id: &str, reason: &str) -> Result<()> {
        self.db.execute(
            "UPDATE runs SET status='interrupted', finished_at=?2, reason=?3 WHERE id=?1 AND status='running'",
            params![id, Self::now(), reason],
        )?;
        Ok(())
    }

    /// Runs whose harness process is gone but which are still `running` become `interrupted`.
    fn reap_dead(&self) -> Result<()> {
        let mut st = self
            .db
            .prepare("SELECT id, pid FROM runs WHERE status='running'")?;
        let rows: Vec<(String, Option<i64>)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, pid) in rows {
            let alive = pid
                .map(|p| Path::new(&format!("/proc/{p}")).exists())
                .unwrap_or(false);
            if !alive {
                self.interrupt_run(&id, "the harness process ended before the run finished")?;
            }
        }
        Ok(())
    }

    pub fn list(&self, limit: usize) -> Result<Vec<RunRow>> {
        self.reap_dead()?;
        let mut st = self.db.prepare(
            "SELECT id, started_at, status, verdict, reason, series, patch_count, job, seconds FROM runs ORDER BY started_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map(params![limit as i64], |r| {
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
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
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
        self.list(usize::MAX >> 1)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| StoreError::NoSuchRun(id.into()))
    }

    pub fn report(&self, id: &str) -> Result<Report> {
        let (status, json): (String, Option<String>) = self.db.query_row(
            "SELECT status, report FROM runs WHERE id=?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let json = json.ok_or_else(|| StoreError::NoReport(id.into(), status))?;
        serde_json::from_str(&json).map_err(|e| StoreError::BadReport {
            run: id.into(),
            source: e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_core::finding::{Finding, FindingKind};
    use harness_core::report::{PhaseTime, PrefixResult, SeriesSummary, Verdict};

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
        }
    }

    #[test]
    fn run_round_trip_and_lookup() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
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
        s.finish_run(&report("20260101-000000-abcd")).unwrap();
        assert_eq!(s.resolve("20260101").unwrap(), "20260101-000000-abcd");
        assert_eq!(s.resolve("last").unwrap(), "20260101-000000-abcd");
        assert!(matches!(s.resolve("1999"), Err(StoreError::NoSuchRun(_))));
        let r = s.report("20260101-000000-abcd").unwrap();
        assert_eq!(r.findings[0].title, "WARNING in ceph_unlink");
        assert!(dir.join("report.json").exists());
        let rows = s.list(10).unwrap();
        assert_eq!(rows[0].verdict.as_deref(), Some("fail"));
        // Reopening does not re-run migrations.
        drop(s);
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.list(10).unwrap().len(), 1);
    }

    #[test]
    fn a_run_whose_process_died_is_interrupted() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.begin_run("r1", "2026-01-01T00:00:00Z", "s", 1, "default")
            .unwrap();
        s.db.execute("UPDATE runs SET pid = 999999999 WHERE id='r1'", [])
            .unwrap();
        let rows = s.list(10).unwrap();
        assert_eq!(rows[0].status, "interrupted");
        s.begin_run("r2", "2026-01-01T00:00:01Z", "s", 1, "default")
            .unwrap();
        assert_eq!(s.row("r2").unwrap().status, "running");
        assert!(matches!(s.resolve("r"), Err(StoreError::Ambiguous(_))));
    }
}
