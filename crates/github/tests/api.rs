//! The GitHub calls against a local stand-in for the API: an axum server on 127.0.0.1 that records
//! every request (method, path, query, headers, JSON body) and answers as GitHub does, with the
//! fields the harness reads. No test reaches the internet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use harness_core::report::{Report, Verdict};
use harness_github::{
    post_result, render, track_regression, Change, Config, GithubError, IssueAction, Posted,
    Regression, Target, Token,
};
use serde_json::{json, Value};

const SECRET: &str = "ghp_integrationSecretDoNotLeak0123";
const REPO: &str = "ceph/ceph-client";
const SIG: &str = "WARNING in ceph_unlink";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Value,
}

#[derive(Default)]
struct Gh {
    requests: Vec<Recorded>,
    /// Issues and pull requests, as GitHub lists them.
    issues: Vec<Value>,
    next_id: u64,
    /// Answer every request with this status and message (`{auth}` is replaced by the request's
    /// Authorization header, as a careless server might echo it).
    fail: Option<(u16, String)>,
    /// Items per page of the issue list (GitHub's `per_page`, made small to test pagination).
    page_size: Option<usize>,
    /// Make the next-page link point to another host.
    foreign_next: bool,
}

type Shared = Arc<Mutex<Gh>>;

struct Server {
    url: String,
    gh: Shared,
}

impl Server {
    async fn start() -> Server {
        let gh: Shared = Arc::default();
        let app = Router::new().fallback(handle).with_state(gh.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, gh }
    }

    fn config(&self) -> Config {
        Config::new(&self.url, REPO, token()).unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.gh.lock().unwrap().requests.clone()
    }

    fn clear(&self) {
        self.gh.lock().unwrap().requests.clear();
    }

    /// Put an issue (or, with `pull_request`, a pull request) on the stand-in.
    fn seed(&self, title: &str, body: &str, labels: &[&str], pull_request: bool) -> u64 {
        let mut gh = self.gh.lock().unwrap();
        let number = gh.issues.len() as u64 + 1;
        let mut issue = issue_json(number, title, body, labels);
        if pull_request {
            issue["pull_request"] = json!({ "url": "x" });
        }
        gh.issues.push(issue);
        number
    }

    fn issue(&self, number: u64) -> Value {
        self.gh.lock().unwrap().issues[number as usize - 1].clone()
    }
}

fn token() -> Token {
    // One variable, one value, for every test of this binary: they run in parallel.
    std::env::set_var("HARNESS_GITHUB_API_TEST_TOKEN", SECRET);
    Token::from_env("HARNESS_GITHUB_API_TEST_TOKEN")
        .unwrap()
        .expect("token set")
}

fn issue_json(number: u64, title: &str, body: &str, labels: &[&str]) -> Value {
    json!({
        "id": 1000 + number,
        "number": number,
        "title": title,
        "body": body,
        "state": "open",
        "labels": labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
        "html_url": format!("https://github.example/{REPO}/issues/{number}"),
    })
}

async fn handle(
    State(gh): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("request bodies are JSON")
    };
    let mut gh = gh.lock().unwrap();
    gh.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect(),
        body: body.clone(),
    });
    if let Some((status, message)) = gh.fail.clone() {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return answer(
            status,
            json!({
                "message": message.replace("{auth}", auth),
                "errors": if status == 422 { json!([{ "resource": "Issue", "code": "invalid", "field": "title" }]) } else { Value::Null },
                "documentation_url": "https://docs.github.com/rest",
            }),
        );
    }
    gh.next_id += 1;
    let id = 5000 + gh.next_id;
    let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}")) else {
        return answer(404, json!({ "message": "Not Found" }));
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["check-runs"]) => {
            let mut run = body.clone();
            run["id"] = json!(id);
            run["html_url"] = json!(format!("https://github.example/{REPO}/runs/{id}"));
            answer(201, run)
        }
        ("POST", ["issues", n, "comments"]) => answer(
            201,
            json!({
                "id": id,
                "body": body["body"],
                "html_url": format!("https://github.example/{REPO}/issues/{n}#issuecomment-{id}"),
            }),
        ),
        ("POST", ["issues"]) => {
            let number = gh.issues.len() as u64 + 1;
            let labels: Vec<&str> = body["labels"]
                .as_array()
                .map(|ls| ls.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let issue = issue_json(
                number,
                body["title"].as_str().unwrap(),
                body["body"].as_str().unwrap(),
                &labels,
            );
            gh.issues.push(issue.clone());
            answer(201, issue)
        }
        ("PATCH", ["issues", n]) => {
            let n: usize = n.parse().unwrap();
            let Some(issue) = gh.issues.get_mut(n - 1) else {
                return answer(404, json!({ "message": "Not Found" }));
            };
            for (k, v) in body.as_object().unwrap() {
                issue[k] = v.clone();
            }
            answer(200, issue.clone())
        }
        ("GET", ["issues"]) => {
            let label = query.get("labels").cloned().unwrap_or_default();
            let state = query.get("state").cloned().unwrap_or("open".into());
            let listed: Vec<Value> = gh
                .issues
                .iter()
                .filter(|i| i["state"] == state.as_str())
                .filter(|i| {
                    label.is_empty()
                        || i["labels"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|l| l["name"] == label.as_str())
                })
                .cloned()
                .collect();
            let per_page = gh
                .page_size
                .unwrap_or_else(|| query.get("per_page").map_or(30, |p| p.parse().unwrap()));
            let page: usize = query.get("page").map_or(1, |p| p.parse().unwrap());
            let items: Vec<Value> = listed
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let mut response = answer(200, Value::Array(items));
            if page * per_page < listed.len() {
                let host = headers["host"].to_str().unwrap().to_string();
                // Another host that is still this machine (nothing listens there): following it
                // would fail the request, and no test may leave the loopback.
                let host = if gh.foreign_next {
                    host.replace("127.0.0.1", "127.0.0.2")
                } else {
                    host
                };
                let link = format!(
                    "<http://{host}/repos/{REPO}/issues?state={state}&labels={label}&per_page=100&page={}>; rel=\"next\"",
                    page + 1
                );
                response.headers_mut().insert("link", link.parse().unwrap());
            }
            response
        }
        _ => answer(404, json!({ "message": "Not Found" })),
    }
}

fn answer(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn report(verdict: Verdict) -> Report {
    let mut r: Report = serde_json::from_str(include_str!("fixtures/report-fail.json")).unwrap();
    r.verdict = verdict;
    r
}

fn regression<'a>(report: &'a Report, signature: &'a str, change: Change) -> Regression<'a> {
    Regression {
        suite: "nightly",
        job: "default",
        signature,
        change,
        report,
        dashboard: Some("https://dash.example/"),
    }
}

fn assert_authorised(r: &Recorded) {
    assert_eq!(
        r.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {SECRET}").as_str()),
        "{} {}",
        r.method,
        r.path
    );
}

fn no_secret(e: &GithubError) {
    let all = format!("{e} | {e:?} | {}", chain(e));
    assert!(!all.contains(SECRET), "{all}");
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[tokio::test]
async fn a_check_run_goes_on_the_commit() {
    let srv = Server::start().await;
    let cfg = srv.config();
    assert!(!format!("{cfg:?}").contains(SECRET));

    let r = report(Verdict::Fail);
    let posted = post_result(
        &cfg,
        &r,
        &Target::Commit { sha: SHA.into() },
        Some("https://dash.example"),
    )
    .await
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(
        posted,
        Posted {
            id: 5001,
            url: Some(format!("https://github.example/{REPO}/runs/5001")),
        }
    );
    assert_eq!(
        (q.method.as_str(), q.path.as_str()),
        ("POST", "/repos/ceph/ceph-client/check-runs")
    );
    assert_authorised(q);
    assert!(q.headers["content-type"].starts_with("application/json"));
    let b = &q.body;
    assert!(
        b["name"].as_str().unwrap().starts_with("cephfs-harness / "),
        "{}",
        b["name"]
    );
    assert_eq!(b["head_sha"], SHA);
    assert_eq!(b["status"], "completed");
    assert_eq!(b["conclusion"], "failure");
    assert_eq!(b["details_url"], "https://dash.example/runs/run-1.html");
    assert_eq!(b["output"]["title"], "fail: WARNING in ceph_unlink");
    let summary = b["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("**Verdict: fail**"), "{summary}");
    assert!(
        !summary.contains("<script>") && !summary.contains("@someone"),
        "{summary}"
    );
    assert!(b["output"]["text"].as_str().unwrap().contains("````text\n"));

    // An infrastructure fault is not the kernel's: cancelled, not failure.
    srv.clear();
    post_result(
        &cfg,
        &report(Verdict::InfraError),
        &Target::Commit { sha: SHA.into() },
        None,
    )
    .await
    .unwrap();
    let b = &srv.requests()[0].body;
    assert_eq!(b["conclusion"], "cancelled");
    assert!(b.get("details_url").is_none());
    srv.clear();
    post_result(
        &cfg,
        &report(Verdict::Pass),
        &Target::Commit { sha: SHA.into() },
        None,
    )
    .await
    .unwrap();
    assert_eq!(srv.requests()[0].body["conclusion"], "success");

    // Not a full commit id: refused before anything is sent.
    srv.clear();
    let e = post_result(
        &cfg,
        &r,
        &Target::Commit {
            sha: "abc123".into(),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, GithubError::InvalidSha { .. }), "{e}");
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn a_comment_goes_on_the_pull_request() {
    let srv = Server::start().await;
    let posted = post_result(
        &srv.config(),
        &report(Verdict::Fail),
        &Target::PullRequest { number: 42 },
        Some("https://dash.example"),
    )
    .await
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(
        (q.method.as_str(), q.path.as_str()),
        ("POST", "/repos/ceph/ceph-client/issues/42/comments")
    );
    assert_authorised(q);
    let body = q.body["body"].as_str().unwrap();
    assert!(body.contains("### cephfs-harness: fail"), "{body}");
    assert!(
        body.contains("[run-1](https://dash.example/runs/run-1.html)"),
        "{body}"
    );
    assert!(
        body.contains("&lt;script&gt;") && body.contains("@&#8203;someone"),
        "{body}"
    );
    assert!(
        !body.contains("<script>") && !body.contains("@someone"),
        "{body}"
    );
    assert_eq!(posted.id, 5001);
    assert!(posted
        .url
        .unwrap()
        .ends_with("/issues/42#issuecomment-5001"));
}

#[tokio::test]
async fn a_regression_gets_one_issue_from_new_to_fixed() {
    let srv = Server::start().await;
    let cfg = srv.config();
    let r = report(Verdict::Fail);

    // New: searched by label among open issues, then created with label and marker.
    let action = track_regression(&cfg, &regression(&r, SIG, Change::New))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Created { number: 1 });
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    let (list, create) = (&reqs[0], &reqs[1]);
    assert_eq!(
        (list.method.as_str(), list.path.as_str()),
        ("GET", "/repos/ceph/ceph-client/issues")
    );
    assert_eq!(list.query["state"], "open");
    assert_eq!(list.query["labels"], "cephfs-harness");
    assert_eq!(list.query["per_page"], "100");
    assert_authorised(list);
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/repos/ceph/ceph-client/issues")
    );
    assert_authorised(create);
    assert_eq!(
        create.body["title"],
        "cephfs-harness: WARNING in ceph_unlink"
    );
    assert_eq!(create.body["labels"], json!(["cephfs-harness"]));
    let body = create.body["body"].as_str().unwrap();
    assert!(body.starts_with(&render::marker(SIG)), "{body}");
    assert!(body.contains("- **Culprit:** patch 2 "), "{body}");
    assert!(
        body.contains("- **Run:** [run-1](https://dash.example/runs/run-1.html)"),
        "{body}"
    );
    assert!(body.contains("````text\n[  12.5] WARNING"), "{body}");
    assert!(
        !body.contains("<script>") && !body.contains("@someone"),
        "{body}"
    );

    // New again (or still failing) with the marked issue open: a comment, never a second issue.
    for change in [Change::New, Change::StillFailing] {
        srv.clear();
        let action = track_regression(&cfg, &regression(&r, SIG, change))
            .await
            .unwrap();
        assert_eq!(action, IssueAction::Updated { number: 1 });
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2, "{reqs:#?}");
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(
            (reqs[1].method.as_str(), reqs[1].path.as_str()),
            ("POST", "/repos/ceph/ceph-client/issues/1/comments")
        );
        assert_authorised(&reqs[1]);
        let c = reqs[1].body["body"].as_str().unwrap();
        assert!(c.starts_with("Still failing in run [run-1]"), "{c}");
        assert!(!reqs
            .iter()
            .any(|q| q.method == "POST" && q.path.ends_with("/issues")));
    }

    // Fixed: a comment, then the issue is closed.
    srv.clear();
    let pass = report(Verdict::Pass);
    let action = track_regression(&cfg, &regression(&pass, SIG, Change::Fixed))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Closed { number: 1 });
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("POST", "/repos/ceph/ceph-client/issues/1/comments")
    );
    assert!(reqs[1].body["body"]
        .as_str()
        .unwrap()
        .starts_with("Fixed in run [run-1]"));
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].path.as_str()),
        ("PATCH", "/repos/ceph/ceph-client/issues/1")
    );
    assert_authorised(&reqs[2]);
    assert_eq!(reqs[2].body["state"], "closed");
    assert_eq!(srv.issue(1)["state"], "closed");

    // Fixed with no open issue: nothing is written.
    srv.clear();
    let action = track_regression(&cfg, &regression(&pass, SIG, Change::Fixed))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Nothing);
    assert!(srv.requests().iter().all(|q| q.method == "GET"));

    // Still failing after the issue was closed (by hand, say): a new issue.
    let action = track_regression(&cfg, &regression(&r, SIG, Change::StillFailing))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Created { number: 2 });
}

#[tokio::test]
async fn only_the_marker_identifies_an_issue() {
    let srv = Server::start().await;
    let cfg = srv.config();
    let r = report(Verdict::Fail);
    let title = render::issue_title(SIG);
    // Same title and label, no marker (opened by a person).
    srv.seed(&title, "I saw this too", &["cephfs-harness"], false);
    // The marker of another signature.
    srv.seed(
        &title,
        &render::marker("BUG in ceph_other"),
        &["cephfs-harness"],
        false,
    );
    // The marker, but only inside a quoted console excerpt.
    srv.seed(
        &title,
        &format!("```\n{}\n```", render::marker(SIG)),
        &["cephfs-harness"],
        false,
    );
    // The marker on a pull request (the issues endpoint lists those too).
    srv.seed(&title, &render::marker(SIG), &["cephfs-harness"], true);

    let action = track_regression(&cfg, &regression(&r, SIG, Change::New))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Created { number: 5 });
    let fixed = track_regression(&cfg, &regression(&r, SIG, Change::Fixed))
        .await
        .unwrap();
    assert_eq!(fixed, IssueAction::Closed { number: 5 });
    for n in 1..=4 {
        assert_eq!(srv.issue(n)["state"], "open", "issue {n}");
    }
}

#[tokio::test]
async fn the_issue_search_follows_pages() {
    let srv = Server::start().await;
    let cfg = srv.config();
    srv.gh.lock().unwrap().page_size = Some(2);
    for i in 0..4 {
        srv.seed(
            &format!("other {i}"),
            "no marker",
            &["cephfs-harness"],
            false,
        );
    }
    let wanted = srv.seed(
        "renamed by hand",
        &format!("text\n{}\n", render::marker(SIG)),
        &["cephfs-harness"],
        false,
    );
    let r = report(Verdict::Fail);
    let action = track_regression(&cfg, &regression(&r, SIG, Change::StillFailing))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Updated { number: wanted });
    let gets: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|q| q.method == "GET")
        .collect();
    assert_eq!(gets.len(), 3);
    assert_eq!(gets[2].query["page"], "3");
    gets.iter().for_each(assert_authorised);
}

#[tokio::test]
async fn a_next_page_on_another_host_is_not_followed() {
    let srv = Server::start().await;
    let cfg = srv.config();
    {
        let mut gh = srv.gh.lock().unwrap();
        gh.page_size = Some(1);
        gh.foreign_next = true;
    }
    srv.seed("a", "no marker", &["cephfs-harness"], false);
    srv.seed("b", "no marker", &["cephfs-harness"], false);
    let r = report(Verdict::Fail);
    let action = track_regression(&cfg, &regression(&r, SIG, Change::New))
        .await
        .unwrap();
    assert_eq!(action, IssueAction::Created { number: 3 });
    let gets = srv.requests().iter().filter(|q| q.method == "GET").count();
    assert_eq!(gets, 1);
}

#[tokio::test]
async fn error_answers_name_the_status_and_never_the_token() {
    let srv = Server::start().await;
    let cfg = srv.config();
    let r = report(Verdict::Fail);

    // A server that echoes the credentials it was sent.
    srv.gh.lock().unwrap().fail = Some((401, "Bad credentials: {auth}".into()));
    let e = post_result(&cfg, &r, &Target::Commit { sha: SHA.into() }, None)
        .await
        .unwrap_err();
    no_secret(&e);
    let msg = e.to_string();
    assert!(
        matches!(e, GithubError::Status { status: 401, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("401") && msg.contains("Bad credentials"),
        "{msg}"
    );
    assert!(
        msg.contains("POST /repos/ceph/ceph-client/check-runs"),
        "{msg}"
    );
    assert!(msg.contains("***"), "{msg}");

    srv.gh.lock().unwrap().fail = Some((422, "Validation Failed".into()));
    let e = track_regression(&cfg, &regression(&r, SIG, Change::New))
        .await
        .unwrap_err();
    no_secret(&e);
    let msg = e.to_string();
    assert!(
        msg.contains("422") && msg.contains("Validation Failed"),
        "{msg}"
    );
    assert!(msg.contains("\"field\":\"title\""), "{msg}");

    srv.gh.lock().unwrap().fail = Some((500, "{auth}".into()));
    let e = post_result(&cfg, &r, &Target::PullRequest { number: 1 }, None)
        .await
        .unwrap_err();
    no_secret(&e);
    assert!(e.to_string().contains("500"), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_request_error() {
    // Bind and drop: a local port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = Config::new(&format!("http://127.0.0.1:{port}"), REPO, token()).unwrap();
    let e = post_result(
        &cfg,
        &report(Verdict::Pass),
        &Target::PullRequest { number: 7 },
        None,
    )
    .await
    .unwrap_err();
    no_secret(&e);
    assert!(matches!(e, GithubError::Request { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("POST /repos/ceph/ceph-client/issues/7/comments failed"),
        "{e}"
    );
}
