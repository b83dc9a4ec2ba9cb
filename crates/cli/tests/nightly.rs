//! End-to-end tests of what surrounds a run: nightlies compared with the previous one and
//! reported to GitHub (a local stand-in for its API that records every call: no test reaches the
//! internet), the dashboard and static report over the real runs, shown in Debian's Chromium,
//! JUnit export, and `harness resume` of a run killed half-way. Real guests against a real
//! cluster, one at a time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};

mod common;
use common::{assert_no_leftovers, composed, fixture};

const SECRET: &str = "ghp_e2eSecretThatMustNeverBePrinted42";
const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// One API call the stand-in received.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    auth: String,
    body: Value,
}

#[derive(Default)]
struct Gh {
    calls: Vec<Call>,
    issues: Vec<Value>,
}

/// A stand-in for GitHub's REST API on 127.0.0.1: keeps issues, answers with the fields the
/// harness reads, records every call.
struct StandIn {
    url: String,
    gh: Arc<Mutex<Gh>>,
    _rt: tokio::runtime::Runtime,
}

impl StandIn {
    fn start() -> StandIn {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let gh: Arc<Mutex<Gh>> = Arc::default();
        let app = axum::Router::new().fallback(api).with_state(gh.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn { url, gh, _rt: rt }
    }

    /// The calls made since the last `take`.
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.gh.lock().unwrap().calls)
    }
}

async fn api(
    State(gh): State<Arc<Mutex<Gh>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut gh = gh.lock().unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    gh.calls.push(Call {
        method: method.to_string(),
        path: path.clone(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: body.clone(),
    });
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let answer = match (method.as_str(), parts.as_slice()) {
        ("GET", ["repos", _, _, "issues"]) => Value::Array(
            gh.issues
                .iter()
                .filter(|i| i["state"] == "open")
                .cloned()
                .collect(),
        ),
        ("POST", ["repos", _, _, "issues"]) => {
            let number = gh.issues.len() as u64 + 1;
            let labels: Vec<Value> = body["labels"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|l| json!({ "name": l }))
                .collect();
            let issue = json!({
                "id": 1000 + number, "number": number, "state": "open",
                "title": body["title"], "body": body["body"], "labels": labels,
                "html_url": format!("https://github.invalid/o/r/issues/{number}"),
            });
            gh.issues.push(issue.clone());
            issue
        }
        ("PATCH", ["repos", _, _, "issues", n]) => {
            let n: u64 = n.parse().unwrap();
            let issue = &mut gh.issues[n as usize - 1];
            if let Some(s) = body.get("state") {
                issue["state"] = s.clone();
            }
            issue.clone()
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            json!({ "id": 77, "html_url": "https://github.invalid/c/77", "body": body["body"] })
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            json!({ "id": 55, "html_url": "https://github.invalid/runs/55" })
        }
        _ => {
            return (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(json!({ "message": "Not Found" })),
            )
                .into_response()
        }
    };
    let status = if method == Method::POST {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    (status, axum::Json(answer)).into_response()
}

fn harness(results: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results)
        .args(args)
        .env("E2E_GITHUB_TOKEN", SECRET)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A nightly suite of the bisection job on `series`, reporting to the stand-in.
fn suite(dir: &Path, series: &Path, gh: &StandIn) -> PathBuf {
    let p = dir.join("suite.yaml");
    std::fs::write(
        &p,
        format!(
            "suite: e2e-nightly\nseries: [{}]\njobs: [{}]\non_failure: bisect\n\
             dashboard: http://127.0.0.1:8080\n\
             github:\n  repo: ceph/ceph-client\n  api: {}\n  token_env: E2E_GITHUB_TOKEN\n  commit: {SHA}\n",
            series.display(),
            fixture("jobs/bisect.yaml").display(),
            gh.url
        ),
    )
    .unwrap();
    p
}

fn posts_to<'a>(calls: &'a [Call], method: &str, path: &str) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.method == method && c.path == path)
        .collect()
}

/// The DOM of a page after Chromium (Debian's package) loaded it.
fn chromium_dom(url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium (scripts/install-deps installs it)");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("</html>"), "{url}: no page\n{}", text(&out));
    dom
}

/// A screenshot of the page by Chromium; checks it is a PNG of the window's size.
fn chromium_screenshot(url: &str, png: &Path) {
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .unwrap();
    let b = std::fs::read(png).unwrap_or_else(|e| panic!("{}: {e}\n{}", png.display(), text(&out)));
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    assert_eq!((w, h), (1280, 900), "{}", png.display());
    // A blank page compresses to almost nothing.
    assert!(b.len() > 20_000, "{}: {} bytes", png.display(), b.len());
}

/// Hostile strings of the series and the console show as text: escaped in the DOM the browser
/// built, never as elements.
fn assert_shown_as_text(dom: &str, what: &str) {
    for raw in ["<script>window.__xss", "<img src=\"x\"", "<img src=x"] {
        assert!(
            !dom.contains(raw),
            "{what}: markup from the data became an element ({raw})"
        );
    }
    assert!(
        dom.contains("&lt;script&gt;window.__xss="),
        "{what}: the hostile text is not shown"
    );
}

#[test]
fn nightlies_track_signatures_on_github_and_the_dashboard_shows_them() {
    let _g = common::one_at_a_time();
    let gh = StandIn::start();
    let broken = composed(&["broken/warn-with-markup.patch"]);
    let clean = composed(&["1"]);
    let results = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();

    // 1: the regression appears: an issue is opened, a failing check run posted.
    let s = suite(work.path(), broken.path(), &gh);
    let o = harness(results.path(), &["nightly", s.to_str().unwrap()]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(!all.contains(SECRET), "the token was printed");
    assert!(
        all.contains("NEW           WARNING in ceph_unlink"),
        "{all}"
    );
    assert!(all.contains("github: opened issue #1"), "{all}");
    let calls = gh.take();
    assert!(
        calls.iter().all(|c| c.auth == format!("Bearer {SECRET}")),
        "{calls:?}"
    );
    let opened = posts_to(&calls, "POST", "/repos/ceph/ceph-client/issues");
    assert_eq!(opened.len(), 1, "{calls:?}");
    let body = opened[0].body["body"].as_str().unwrap();
    assert!(body.contains("WARNING in ceph_unlink"), "{body}");
    assert!(body.contains("patch 1"), "the culprit: {body}");
    assert!(
        body.contains("http://127.0.0.1:8080/runs/"),
        "dashboard link: {body}"
    );
    assert!(body.contains("unlink"), "the excerpt: {body}");
    // Markup of the subject is escaped; the console excerpt is in a code fence, shown as text.
    let (prose, fenced) = body.split_once("```").unwrap_or((body, ""));
    assert!(
        !prose.contains("<script>"),
        "markup reached GitHub unescaped: {body}"
    );
    assert!(prose.contains("&lt;script&gt;window"), "{body}");
    assert!(fenced.contains("ceph_unlink"), "the excerpt: {body}");
    let checks = posts_to(&calls, "POST", "/repos/ceph/ceph-client/check-runs");
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].body["head_sha"], SHA);
    assert_eq!(checks[0].body["conclusion"], "failure");
    assert_eq!(
        checks[0].body["name"], "cephfs-harness / bisect",
        "one check per job"
    );

    // 2: still failing: the same issue is updated, never a second one.
    let o = harness(results.path(), &["nightly", s.to_str().unwrap()]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains("still failing WARNING in ceph_unlink"),
        "{all}"
    );
    let calls = gh.take();
    assert!(
        posts_to(&calls, "POST", "/repos/ceph/ceph-client/issues").is_empty(),
        "{calls:?}"
    );
    assert_eq!(
        posts_to(&calls, "POST", "/repos/ceph/ceph-client/issues/1/comments").len(),
        1,
        "{calls:?}"
    );

    // 3: the series without the bug: fixed, the issue is closed.
    let s = suite(work.path(), clean.path(), &gh);
    let o = harness(results.path(), &["nightly", s.to_str().unwrap()]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(
        all.contains("fixed         WARNING in ceph_unlink"),
        "{all}"
    );
    let calls = gh.take();
    let closed = posts_to(&calls, "PATCH", "/repos/ceph/ceph-client/issues/1");
    assert_eq!(closed.len(), 1, "{calls:?}");
    assert_eq!(closed[0].body["state"], "closed");
    assert_eq!(
        gh.gh.lock().unwrap().issues.len(),
        1,
        "one issue for one signature"
    );
    assert_no_leftovers();

    // The store has the three nightlies' runs.
    let (ids, list) = common::listed_runs(results.path());
    assert_eq!(ids.len(), 3, "{list}");
    let first = ids[2].as_str();

    // JUnit for CI systems: the failing workload is a failure with the signature.
    let o = harness(results.path(), &["export", first, "--format", "junit"]);
    let xml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        xml.contains("<testcase classname=\"prefix-1\" name=\"umount-stress\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"WARNING in ceph_unlink\""),
        "{xml}"
    );
    assert!(xml.contains("&lt;script&gt;"), "{xml}");

    // The dashboard over these runs, in a real browser.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    let pages: HashMap<&str, String> = [
        ("index", format!("{base}/index.html")),
        ("run", format!("{base}/runs/{first}.html")),
        (
            "console",
            format!("{base}/runs/{first}/console-prefix-1.log.html"),
        ),
        ("signatures", format!("{base}/signatures.html")),
        ("phases", format!("{base}/phases.html")),
    ]
    .into_iter()
    .collect();
    let doms: HashMap<&str, String> = pages.iter().map(|(k, u)| (*k, chromium_dom(u))).collect();
    for (k, u) in &pages {
        chromium_screenshot(u, &shots.join(format!("{k}.png")));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    for k in ["index", "run", "console"] {
        assert_shown_as_text(&doms[k], k);
    }
    assert!(doms["run"].contains("WARNING in ceph_unlink"));
    assert!(
        doms["run"].contains("umount-stress"),
        "the matrix's workload column"
    );
    assert!(doms["index"].contains(ids[0].as_str()) && doms["index"].contains(first));
    assert!(doms["signatures"].contains("WARNING in ceph_unlink"));
    assert!(doms["console"].contains("WARNING: CPU:"));
    assert!(doms["phases"].contains("<svg"), "the phase plot");

    // The same pages as static files (a CI artifact), from file://.
    let html = tempfile::tempdir().unwrap();
    let o = harness(
        results.path(),
        &["report", first, "--html", html.path().to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dom = chromium_dom(&format!(
        "file://{}/runs/{first}.html",
        html.path().display()
    ));
    assert_shown_as_text(&dom, "static run page");
    assert!(dom.contains("WARNING in ceph_unlink"));
    chromium_screenshot(
        &format!("file://{}/runs/{first}.html", html.path().display()),
        &shots.join("static-run.png"),
    );
}

/// A nightly killed with SIGKILL in the middle of its run (no teardown at all): the run and the
/// nightly are `interrupted`, the store is sound; `harness resume RUN` sweeps what the dead
/// harness left, does not boot again what it recorded, and finishes the run under its own id;
/// `harness resume NIGHTLY` then finishes the nightly from that run without booting anything.
#[test]
fn a_killed_nightly_and_its_run_are_resumed_without_booting_again_what_they_recorded() {
    let _g = common::one_at_a_time();
    let series = composed(&["1", "broken/warn-in-unlink.patch", "2"]);
    let results = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let suite = work.path().join("suite.yaml");
    std::fs::write(
        &suite,
        format!(
            "suite: e2e-resume\nseries: [{}]\njobs: [{}]\n",
            series.path().display(),
            fixture("jobs/bisect.yaml").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results.path())
        .arg("nightly")
        .arg(&suite)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has recorded two guest boots (the test's and the bisection's first).
    let t0 = std::time::Instant::now();
    loop {
        let n = harness_store::Store::open(results.path())
            .ok()
            .and_then(|s| {
                let id = s.list(1).ok()?.first()?.id.clone();
                s.attempts(&id).ok().map(|a| a.len())
            })
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 600,
            "no boot recorded in 10 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let o = harness(results.path(), &["list"]);
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(list.contains("interrupted"), "{list}");
    let id = list.split_whitespace().next().unwrap().to_string();
    let o = harness(results.path(), &["list", "--nightlies"]);
    let nightlies = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(nightlies.contains("interrupted"), "{nightlies}");
    let nightly = nightlies.split_whitespace().next().unwrap().to_string();

    let o = harness(results.path(), &["resume", &id]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("removed leftover namespace"), "{all}");
    assert!(
        all.contains("recorded before the interruption (not booted again)"),
        "{all}"
    );
    let o = harness(results.path(), &["export", &id]);
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["run_id"], id.as_str());
    assert!(
        rep["replayed"].as_u64().unwrap() >= 2,
        "{}",
        rep["replayed"]
    );
    assert_eq!(rep["culprit"]["index"], 2);
    let o = harness(results.path(), &["list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("finished"));
    // A finished run cannot be resumed.
    let o = harness(results.path(), &["resume", &id]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("only an interrupted run can be resumed"));

    // The nightly is finished from its (now finished) run: nothing is booted again.
    let o = harness(results.path(), &["resume", &nightly]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("run {id} finished before")), "{all}");
    assert!(!all.contains("boot /boot/vmlinuz"), "booted again: {all}");
    assert!(
        all.contains("NEW           WARNING in ceph_unlink"),
        "{all}"
    );
    let o = harness(results.path(), &["list", "--nightlies"]);
    let nightlies = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        nightlies.contains("finished") && nightlies.contains("new 1"),
        "{nightlies}"
    );
    let o = harness(results.path(), &["list"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "no second run"
    );
    assert_no_leftovers();
}
