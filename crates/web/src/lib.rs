//! The dashboard: read-only pages over the results store, served by `harness serve` (axum) or
//! written as static files by `harness report RUN --html DIR`.
//!
//! Every page has the same relative path in both forms and links only relatively, so a static copy
//! works from `file://`:
//!
//! ```text
//! index.html                       runs over time, verdict strip, nightly history
//! runs/<id>.html                   a run: matrix, findings, bisection, revert, phases, artifacts
//! runs/<id>/<artifact>.html        a text artifact, line-numbered, findings highlighted
//! signatures.html                  findings grouped by signature across runs
//! phases.html                      phase times across nightly runs
//! raw/<id>/<artifact>              the artifact itself (served only; text/plain or octet-stream)
//! ```
//!
//! Pages are minijinja templates (embedded) with HTML autoescaping: every string that came from a
//! patch, a mail header or a console is escaped by the engine, never by hand and never marked
//! safe. Plots are SVG drawn by the templates from numbers computed in Rust. No JavaScript; a CSP
//! forbids it anyway (defence in depth). Artifacts are only ever looked up by the names the store
//! lists, so no path from a URL reaches the file system.

use std::path::{Component, Path, PathBuf};

use harness_store::{Store, StoreError};

pub mod matrix;
pub mod plot;
mod server;
mod templates;
mod view;

pub use server::{serve, serve_listener, serve_with_options, serve_with_shutdown, ServeOptions};

/// The Content-Security-Policy of every page (also sent as a header when served).
pub const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

/// The served pages' policy header: [`CSP`] plus what a `<meta>` policy cannot say (no framing).
pub const CSP_HEADER: &str =
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template {name}")]
    Template {
        name: String,
        source: minijinja::Error,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("http server")]
    Serve(#[source] std::io::Error),
    #[error("run id `{0}` cannot name a file")]
    BadRunId(String),
}

/// A rendered page (or raw artifact).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Page {
    pub const HTML: &'static str = "text/html; charset=utf-8";
    pub const TEXT: &'static str = "text/plain; charset=utf-8";
    pub const BINARY: &'static str = "application/octet-stream";

    /// The body as text (pages are UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a URL path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Index,
    Signatures,
    Phases,
    Run(String),
    Artifact(String, String),
    Raw(String, String),
}

/// Percent-decoding of a URL path; `None` if it is not valid UTF-8 afterwards.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encoding of a path for an href: everything but unreserved characters and `/`.
pub(crate) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'/' | b'+') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// A relative name that stays where it is put: plain components only.
fn plain_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\0')
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !name
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
}

/// A run id usable as one path component.
fn plain_id(id: &str) -> bool {
    plain_relative(id) && !id.contains('/')
}

fn route(path: &str) -> Option<Route> {
    let path = percent_decode(path.split(['?', '#']).next().unwrap_or_default())?;
    let path = path.trim_start_matches('/');
    match path {
        "" | "index.html" => return Some(Route::Index),
        "signatures.html" => return Some(Route::Signatures),
        "phases.html" => return Some(Route::Phases),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("raw/") {
        let (id, name) = rest.split_once('/')?;
        return (plain_id(id) && plain_relative(name))
            .then(|| Route::Raw(id.to_string(), name.to_string()));
    }
    let rest = path.strip_prefix("runs/")?;
    let rest = rest.strip_suffix(".html")?;
    match rest.split_once('/') {
        None => plain_id(rest).then(|| Route::Run(rest.to_string())),
        Some((id, name)) => (plain_id(id) && plain_relative(name))
            .then(|| Route::Artifact(id.to_string(), name.to_string())),
    }
}

/// Render the page at a URL path (as in an href, percent-encoded; a leading `/` is optional).
/// `Ok(None)`: no such page (404).
pub fn render(store: &Store, path: &str) -> Result<Option<Page>, WebError> {
    let Some(route) = route(path) else {
        return Ok(None);
    };
    view::render_route(store, &route, &view::Site::Served)
}

/// The file of a raw artifact URL (`/raw/<run>/<name>`) and its content type, for streaming.
pub fn raw_file(store: &Store, path: &str) -> Result<Option<(&'static str, PathBuf)>, WebError> {
    match route(path) {
        Some(Route::Raw(id, name)) => view::raw_file(store, &id, &name),
        _ => Ok(None),
    }
}

/// Write the pages of one run as static files under `dir`: the index, the run's page and its
/// artifact viewers, the signatures and phase-time pages. Links to runs that were not written are
/// left out. Returns the files written.
pub fn write_static(store: &Store, run_id: &str, dir: &Path) -> Result<Vec<PathBuf>, WebError> {
    if !plain_id(run_id) {
        return Err(WebError::BadRunId(run_id.into()));
    }
    store.row(run_id)?;
    let site = view::Site::Static {
        run: run_id.to_string(),
    };
    let mut paths = vec![
        "index.html".to_string(),
        "signatures.html".to_string(),
        "phases.html".to_string(),
        format!("runs/{run_id}.html"),
    ];
    for name in view::viewable_artifacts(store, run_id)? {
        paths.push(format!("runs/{run_id}/{name}.html"));
    }
    // Every page is rendered before anything is written, and the pages are written into a
    // sibling temp dir first: a failure leaves `dir` as it was.
    let mut pages = Vec::new();
    for rel in paths {
        let Some(route) = route(&encode_path(&rel)) else {
            continue;
        };
        if let Some(page) = view::render_route(store, &route, &site)? {
            pages.push((rel, page));
        }
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WebError::Io { path, source }
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".harness-report-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    for (rel, page) in &pages {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, &page.body).map_err(io(&path))?;
    }
    let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none());
    match empty {
        // A new (or empty) directory: the whole tree moves into place at once.
        Err(_) | Ok(true) => {
            let _ = std::fs::remove_dir(dir);
            let tmp = tmp.keep();
            std::fs::rename(&tmp, dir).map_err(io(dir))?;
        }
        // An existing report: each page is replaced whole.
        Ok(false) => {
            for (rel, _) in &pages {
                let to = dir.join(rel);
                if let Some(p) = to.parent() {
                    std::fs::create_dir_all(p).map_err(io(p))?;
                }
                std::fs::rename(tmp.path().join(rel), &to).map_err(io(&to))?;
            }
        }
    }
    Ok(pages.into_iter().map(|(rel, _)| dir.join(rel)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/"), Some(Route::Index));
        assert_eq!(route("index.html"), Some(Route::Index));
        assert_eq!(route("/signatures.html?x=1"), Some(Route::Signatures));
        assert_eq!(route("/runs/r1.html"), Some(Route::Run("r1".into())));
        assert_eq!(
            route("/runs/r1/cluster-logs/mon.a.log.html"),
            Some(Route::Artifact(
                "r1".into(),
                "cluster-logs/mon.a.log".into()
            ))
        );
        assert_eq!(
            route("/runs/r1/a%20b.log.html"),
            Some(Route::Artifact("r1".into(), "a b.log".into()))
        );
        assert_eq!(
            route("/raw/r1/console-prefix-1.log"),
            Some(Route::Raw("r1".into(), "console-prefix-1.log".into()))
        );
        for bad in [
            "/runs/../harness.db.html",
            "/runs/r1/../../harness.db.html",
            "/runs/r1/%2e%2e/%2e%2e/harness.db.html",
            "/runs/r1//etc/passwd.html",
            "/raw/r1/../../harness.db",
            "/raw/../runs/r1/report.json",
            "/raw/r1/%2Fetc%2Fpasswd",
            "/runs/.html",
            "/runs/r1/.html",
            "/runs/r1/a%00b.html",
            "/style.css/../harness.db",
            "/harness.db",
            "/runs/r1",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_round_trip_through_encoding() {
        for name in [
            "console-prefix-1.log",
            "a b#c?.log",
            "dir/x%y.txt",
            "ünï.log",
        ] {
            assert_eq!(percent_decode(&encode_path(name)).as_deref(), Some(name));
        }
        assert_eq!(encode_path("a\"<b>"), "a%22%3Cb%3E");
        assert_eq!(percent_decode("%zz%4"), Some("%zz%4".into()));
    }
}
