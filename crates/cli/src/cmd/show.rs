//! `show`, `list`, `series show` and `export`: read the store and the inputs.

use std::path::Path;

use anyhow::Context;
use harness_store::Store;

use crate::args::*;
use crate::exit::{self, bad_input, Fail};
use crate::export as formats;
use crate::prepare::*;
use crate::render::*;

pub(crate) fn show(results: &Path, run: &str, json: bool) -> Result<u8, Fail> {
    let store = Store::open_read_only(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    match store.report(&id) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_report(&r, &store.artifact_dir(&id));
            }
        }
        Err(harness_store::StoreError::NoReport(..)) => {
            let row = store.row(&id)?;
            println!(
                "run {}  {}  job {}  status {}",
                row.id, row.started_at, row.job, row.status
            );
            println!(
                "series: {} ({} patches)",
                harness_core::text::line(&row.series),
                row.patch_count
            );
            if let Some(r) = row.reason {
                println!("reason: {r}");
            }
            // What an unfinished run has done so far: its guest boots, as they ended.
            for a in store.attempts(&id)? {
                let titles: Vec<&str> = a.findings.iter().map(|f| f.title.as_str()).collect();
                let line = format!(
                    "  boot {:<34} prefix {:>2}  {:<11} {:5.0}s  {}",
                    a.console,
                    a.prefix,
                    a.result.verdict,
                    a.result.seconds,
                    titles.join(" | ")
                );
                println!("{}", harness_core::text::line(line.trim_end()));
            }
            if row.status == harness_store::RunStatus::Interrupted {
                println!("`harness resume {id}` continues it");
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

pub(crate) fn list(results: &Path, limit: usize, nightlies: bool) -> Result<u8, Fail> {
    let store = Store::open_read_only(results)?;
    if nightlies {
        for n in store.nightlies(None, limit)? {
            let count = |k: fn(&harness_core::nightly::Summary) -> &Vec<String>| {
                n.summary
                    .as_ref()
                    .map(|s| k(s).len().to_string())
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{}  {:<16}  {:<11}  {}  {} run(s)  new {}  still failing {}  fixed {}",
                n.id,
                n.suite,
                n.status,
                n.started_at,
                n.runs.len(),
                count(|s| &s.new),
                count(|s| &s.still),
                count(|s| &s.fixed)
            );
        }
        return Ok(0);
    }
    for r in store.list(limit)? {
        let mut notes = String::new();
        if let Some(n) = &r.nightly {
            notes.push_str(&format!("  [{n}]"));
        }
        if r.resumes > 0 {
            notes.push_str(&format!("  (resumed {}x)", r.resumes));
        }
        println!(
            "{}  {:<11}  {:<12}  {:>6}  {:<40.40}  {}{notes}",
            r.id,
            r.status,
            r.verdict.as_deref().unwrap_or("-"),
            r.seconds.map(|s| format!("{s:.0}s")).unwrap_or_default(),
            harness_core::text::line(&r.series),
            harness_core::text::line(&r.reason.unwrap_or_default())
        );
    }
    Ok(0)
}

pub(crate) fn series_show(args: &SeriesArgs) -> Result<u8, Fail> {
    let (s, _, _) = load_series(args)?;
    use harness_core::text::line as t;
    match &s.cover {
        Some(c) => println!("cover: {}\n  from {}", t(&c.subject), t(&c.author)),
        None => println!("cover: (none)"),
    }
    if let Some(b) = &s.base_commit {
        println!("base-commit: {b}");
    }
    for (i, p) in s.patches.iter().enumerate() {
        let n = p
            .number
            .map(|(k, n)| format!("{k}/{n}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "[{}] ({n}) {}\n    from {}  ({})",
            i + 1,
            t(&p.subject),
            t(&p.author),
            t(&p.origin)
        );
        for f in &p.files {
            println!("    {:<40} +{} -{}", t(&f.path), f.added, f.removed);
        }
    }
    for d in &s.diagnostics {
        println!("{:?}: {}: {}", d.severity, t(&d.origin), t(&d.message));
    }
    Ok(if s.has_errors() { exit::BAD_INPUT } else { 0 })
}

pub(crate) fn export(
    results: &Path,
    run: &str,
    format: &str,
    output: Option<&Path>,
) -> Result<u8, Fail> {
    let store = Store::open_read_only(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    let report = store.report(&id).map_err(bad_input)?;
    let text = match format {
        "junit" => formats::junit(&report),
        _ => serde_json::to_string_pretty(&report)? + "\n",
    };
    match output {
        Some(p) => {
            // A fresh temp name beside the target, synced, renamed; removed on any failure.
            use std::io::Write;
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".export-")
                .tempfile_in(dir)
                .with_context(|| dir.display().to_string())?;
            tmp.write_all(text.as_bytes())
                .and_then(|_| tmp.as_file().sync_all())
                .with_context(|| p.display().to_string())?;
            tmp.persist(p)
                .map_err(|e| e.error)
                .with_context(|| p.display().to_string())?;
        }
        None => print!("{text}"),
    }
    Ok(0)
}
