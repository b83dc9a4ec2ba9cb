//! GitHub reporting: the only code that knows GitHub's API.
//!
//! After a run, [`post_result`] puts the report on a commit (a check run) or a pull request (a
//! comment). After a nightly run, [`track_regression`] keeps one issue per signature: opened for a
//! new regression, commented while it keeps failing, closed when it is fixed; never duplicated.
//!
//! What is said is rendered by the pure functions of [`render`]; [`api`] makes the calls. The
//! token is read by [`Token`], which never prints it, and goes only into the Authorization header.

mod api;
mod error;
pub mod render;
mod token;

use harness_core::report::Report;
use serde_json::{json, Value};

use api::{id_of, Api};
pub use error::GithubError;
pub use render::{
    check_run_body, conclusion, issue_body, issue_comment, issue_title, pr_comment, run_url,
};
pub use token::Token;

/// The default REST API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where and as whom to report. `Debug` is safe to log: the token prints as `Token(***)`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The REST API root, without a trailing slash ([`DEFAULT_API_URL`], or a GitHub Enterprise
    /// `https://host/api/v3`).
    pub api_url: String,
    /// `owner/name`.
    pub repo: String,
    pub token: Token,
}

impl Config {
    pub fn new(api_url: &str, repo: &str, token: Token) -> Result<Config, GithubError> {
        let api_url = api_url.trim().trim_end_matches('/');
        let uri_ok = api_url
            .parse::<http::Uri>()
            .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
        if !uri_ok || api_url.contains(['?', '#']) {
            return Err(GithubError::InvalidApiUrl {
                url: api_url.into(),
            });
        }
        // The token goes in a header: never in clear over a network (a loopback test server aside).
        if let Ok(u) = api_url.parse::<http::Uri>() {
            if u.scheme_str() == Some("http") && !is_loopback(u.host().unwrap_or("")) {
                return Err(GithubError::CleartextApiUrl {
                    url: api_url.into(),
                });
            }
        }
        if !valid_repo(repo) {
            return Err(GithubError::InvalidRepo { repo: repo.into() });
        }
        Ok(Config {
            api_url: api_url.into(),
            repo: repo.into(),
            token,
        })
    }
}

/// `localhost`, 127.0.0.0/8, `[::1]`.
fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// GitHub's rules, which also keep both parts safe in a URL path: owner of ASCII letters, digits
/// and inner hyphens (≤ 39), name of letters, digits, `.`, `-`, `_` (≤ 100, not `.` or `..`).
fn valid_repo(repo: &str) -> bool {
    let Some((owner, name)) = repo.split_once('/') else {
        return false;
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !owner.starts_with('-')
        && !owner.ends_with('-');
    let name_ok = (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name != "."
        && name != "..";
    owner_ok && name_ok
}

/// Where a run's result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A check run on this commit (the full 40- or 64-hex-digit id).
    Commit { sha: String },
    /// A comment on this pull request.
    PullRequest { number: u64 },
}

/// What [`post_result`] created: the check run or comment, and its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub url: Option<String>,
    pub id: u64,
}

/// Post a run's report: a completed check run on a commit, or a comment on a pull request.
/// `dashboard` is the dashboard's base URL; the run's page is linked when it is given.
pub async fn post_result(
    cfg: &Config,
    report: &Report,
    target: &Target,
    dashboard: Option<&str>,
) -> Result<Posted, GithubError> {
    let (path, body) = match target {
        Target::Commit { sha } => {
            let full = matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit());
            if !full {
                return Err(GithubError::InvalidSha { sha: sha.clone() });
            }
            let mut body = check_run_body(report, dashboard);
            body["head_sha"] = Value::String(sha.to_ascii_lowercase());
            ("/check-runs".to_string(), body)
        }
        Target::PullRequest { number } => (
            format!("/issues/{number}/comments"),
            json!({ "body": pr_comment(report, dashboard) }),
        ),
    };
    let api = Api::new(cfg)?;
    let path = api.repo_path(&path);
    let answer = api.post(&path, &body).await?;
    Ok(Posted {
        id: id_of("POST", &path, &answer, "id")?,
        url: answer
            .get("html_url")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// What a nightly run says about a signature, compared with the run before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It fails now and did not before.
    New,
    /// It failed before and fails again.
    StillFailing,
    /// It failed before and does not now.
    Fixed,
}

/// One signature's change in a nightly run, with the run's report as evidence.
#[derive(Debug, Clone, Copy)]
pub struct Regression<'a> {
    pub suite: &'a str,
    pub job: &'a str,
    pub signature: &'a str,
    pub change: Change,
    pub report: &'a Report,
    /// The dashboard's base URL.
    pub dashboard: Option<&'a str>,
}

/// What [`track_regression`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueAction {
    Created { number: u64 },
    Updated { number: u64 },
    Closed { number: u64 },
    Nothing,
}

/// Keep the signature's issue in step: one open issue per signature, found by the marker in its
/// body (never by its title). New or still failing: comment on the open issue, or open one (also
/// when the last one was closed by hand). Fixed: comment and close it; nothing if there is none.
pub async fn track_regression(
    cfg: &Config,
    r: &Regression<'_>,
) -> Result<IssueAction, GithubError> {
    let api = Api::new(cfg)?;
    let existing = find_issue(&api, r.signature).await?;
    match (r.change, existing) {
        (Change::New | Change::StillFailing, None) => {
            let path = api.repo_path("/issues");
            let answer = api
                .post(
                    &path,
                    &json!({
                        "title": issue_title(r.signature),
                        "body": issue_body(r),
                        "labels": [render::NAME],
                    }),
                )
                .await?;
            let number = id_of("POST", &path, &answer, "number")?;
            let labelled = answer["labels"]
                .as_array()
                .is_some_and(|ls| ls.iter().any(|l| l["name"] == render::NAME));
            if !labelled {
                // GitHub drops the labels of a token without push access; without the label the
                // next run will not find this issue.
                tracing::warn!(
                    "issue #{number} was created without the {} label: the token needs push access",
                    render::NAME
                );
            }
            Ok(IssueAction::Created { number })
        }
        (Change::New | Change::StillFailing, Some(number)) => {
            comment(&api, number, &issue_comment(r)).await?;
            Ok(IssueAction::Updated { number })
        }
        (Change::Fixed, Some(number)) => {
            comment(&api, number, &issue_comment(r)).await?;
            let path = api.repo_path(&format!("/issues/{number}"));
            api.patch(
                &path,
                &json!({ "state": "closed", "state_reason": "completed" }),
            )
            .await?;
            Ok(IssueAction::Closed { number })
        }
        (Change::Fixed, None) => Ok(IssueAction::Nothing),
    }
}

async fn comment(api: &Api<'_>, number: u64, body: &str) -> Result<u64, GithubError> {
    let path = api.repo_path(&format!("/issues/{number}/comments"));
    let answer = api.post(&path, &json!({ "body": body })).await?;
    id_of("POST", &path, &answer, "id")
}

/// The open issue that carries the signature's marker (the oldest, should there be several).
async fn find_issue(api: &Api<'_>, signature: &str) -> Result<Option<u64>, GithubError> {
    let path = api.repo_path("/issues");
    let issues = api
        .get_all(
            &path,
            &[
                ("state", "open"),
                ("labels", render::NAME),
                ("per_page", "100"),
            ],
        )
        .await?;
    let mut found: Vec<u64> = issues
        .iter()
        // The issues endpoint lists pull requests too.
        .filter(|i| i.get("pull_request").is_none())
        .filter(|i| {
            i["body"]
                .as_str()
                .is_some_and(|b| render::has_marker(b, signature))
        })
        .filter_map(|i| i["number"].as_u64())
        .collect();
    found.sort_unstable();
    if found.len() > 1 {
        tracing::warn!(
            "{} open issues carry the marker of {signature:?}; using #{}",
            found.len(),
            found[0]
        );
    }
    Ok(found.first().copied())
}

#[cfg(test)]
pub(crate) mod test_report;

#[cfg(test)]
mod https_tests {
    use super::*;

    #[test]
    fn the_token_never_goes_in_clear_except_to_loopback() {
        let t = || {
            Token::from_env_value("T", Some("ghp_abc123".into()))
                .unwrap()
                .unwrap()
        };
        let e = Config::new("http://api.example.com", "o/r", t()).unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        for ok in [
            "https://api.github.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(Config::new(ok, "o/r", t()).is_ok(), "{ok}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        std::env::set_var("HARNESS_GITHUB_UNIT_CONFIG_TOKEN", "ghp_configSecret42");
        Token::from_env("HARNESS_GITHUB_UNIT_CONFIG_TOKEN")
            .unwrap()
            .unwrap()
    }

    #[test]
    fn config_validates_and_hides_the_token() {
        let c = Config::new("https://api.github.com/", "ceph/ceph-client", token()).unwrap();
        assert_eq!(c.api_url, "https://api.github.com");
        assert!(!format!("{c:?}").contains("ghp_configSecret42"), "{c:?}");
        assert!(Config::new("http://127.0.0.1:1234", "a/b.c_d-e", token()).is_ok());
        assert!(Config::new("https://ghe.example/api/v3", "o/r", token()).is_ok());
        for bad in [
            "ceph", "ceph/", "/x", "a/b/c", "a/..", "-a/b", "a b/c", "a/b?x", "a/b%2F",
        ] {
            let e = Config::new(DEFAULT_API_URL, bad, token()).unwrap_err();
            assert!(matches!(e, GithubError::InvalidRepo { .. }), "{bad}: {e}");
        }
        for bad in [
            "api.github.com",
            "ftp://x",
            "https://",
            "http://h/x?y=1",
            "",
        ] {
            let e = Config::new(bad, "o/r", token()).unwrap_err();
            assert!(matches!(e, GithubError::InvalidApiUrl { .. }), "{bad}: {e}");
        }
    }
}
