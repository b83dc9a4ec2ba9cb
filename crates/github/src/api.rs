//! The few REST calls the harness makes, through octocrab's generic methods: answers are read as
//! JSON values (only the fields used here), so a model change in octocrab or a lean test server
//! does not break them. Every error is scrubbed of the token.

use std::time::Duration;

use octocrab::{Octocrab, Page};
use serde_json::Value;

use crate::{Config, GithubError};

/// Pages of open issues read at most (100 each), so a misbehaving server cannot loop us.
const MAX_PAGES: usize = 50;
/// Longest message of an error answer kept (an HTML error page can be long).
const MAX_MESSAGE: usize = 400;

pub(crate) struct Api<'a> {
    cfg: &'a Config,
    crab: Octocrab,
}

impl<'a> Api<'a> {
    pub(crate) fn new(cfg: &'a Config) -> Result<Api<'a>, GithubError> {
        // The fields are public: a hand-built Config gets the same check as `Config::new`.
        if !crate::valid_repo(&cfg.repo) {
            return Err(GithubError::InvalidRepo {
                repo: cfg.repo.clone(),
            });
        }
        let crab = Octocrab::builder()
            .base_uri(cfg.api_url.as_str())
            .map_err(|e| GithubError::Client {
                source: Box::new(e),
            })?
            .personal_token(cfg.token.expose().to_string())
            .set_connect_timeout(Some(Duration::from_secs(15)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .set_write_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|e| GithubError::Client {
                source: Box::new(e),
            })?;
        Ok(Api { cfg, crab })
    }

    /// `/repos/{owner}/{repo}{rest}`; owner and name were validated to be URL-safe.
    pub(crate) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.cfg.repo)
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, GithubError> {
        let r = self.crab.post::<_, Value>(path, Some(body)).await;
        self.answer("POST", path, r)
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Value, GithubError> {
        let r = self.crab.patch::<Value, _, _>(path, Some(body)).await;
        self.answer("PATCH", path, r)
    }

    /// Every item of a paginated list, following the `Link: rel="next"` headers, but only to the
    /// API's own host: the Authorization header goes with every request.
    pub(crate) async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, GithubError> {
        let r = self.crab.get::<Page<Value>, _, _>(path, Some(query)).await;
        let mut page = self.answer("GET", path, r)?;
        let mut items = page.take_items();
        for _ in 1..MAX_PAGES {
            let Some(next) = page.next.take() else {
                return Ok(items);
            };
            let next_path = next
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            if !self.same_origin(&next) {
                tracing::warn!("not following a next-page link to another host: {next_path}");
                return Ok(items);
            }
            let r = self.crab.get_page::<Value>(&Some(next)).await;
            match self.answer("GET", &next_path, r)? {
                Some(mut p) => {
                    items.append(&mut p.take_items());
                    page = p;
                }
                None => return Ok(items),
            }
        }
        tracing::warn!("stopped after {MAX_PAGES} pages of {path}");
        Ok(items)
    }

    fn same_origin(&self, uri: &http::Uri) -> bool {
        let base: Result<http::Uri, _> = self.cfg.api_url.parse();
        match (base, uri.authority()) {
            (Ok(base), Some(a)) => base.authority() == Some(a) && base.scheme() == uri.scheme(),
            // A relative link stays on the API's host.
            (_, None) => true,
            _ => false,
        }
    }

    fn answer<T>(
        &self,
        method: &'static str,
        path: &str,
        r: octocrab::Result<T>,
    ) -> Result<T, GithubError> {
        let path = self.scrub(path);
        r.map_err(|e| match e {
            octocrab::Error::GitHub { source, .. } => {
                let mut message = source.message.clone();
                if let Some(errors) = source.errors.as_ref().filter(|e| !e.is_empty()) {
                    message.push_str(&format!(" ({})", Value::from(errors.clone())));
                }
                if message.chars().count() > MAX_MESSAGE {
                    message = message.chars().take(MAX_MESSAGE).collect::<String>() + "…";
                }
                GithubError::Status {
                    method,
                    status: source.status_code.as_u16(),
                    message: self.scrub(&message),
                    path,
                }
            }
            e => GithubError::Request {
                method,
                path,
                source: Box::new(e),
            },
        })
    }

    /// The text with the token, should a server have echoed it, replaced by `***`.
    fn scrub(&self, s: &str) -> String {
        s.replace(self.cfg.token.expose(), "***")
    }
}

/// A field an answer must have.
pub(crate) fn id_of(
    method: &'static str,
    path: &str,
    v: &Value,
    field: &str,
) -> Result<u64, GithubError> {
    v.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| GithubError::Answer {
            method,
            path: path.to_string(),
            what: format!("no numeric {field:?}"),
        })
}
