//! Wiring of GitHub reporting (harness-github) into the commands: configuration from the
//! command line or a suite, and what is printed. The token is never printed.

use std::path::Path;

use harness_core::report::Report;
use harness_github::{Config, Target, Token};

use crate::args::GithubArgs;
use crate::exit::Fail;

/// A configured GitHub client and the dashboard base URL its links use.
pub struct Client {
    pub cfg: Config,
    pub dashboard: Option<String>,
}

/// `$GITHUB_TOKEN` as the harness started, taken out of the environment at once.
static TAKEN: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();

/// Read `$GITHUB_TOKEN` once and remove it from the process environment, before any thread or
/// child starts: no child (make, git, qemu, ceph) ever inherits it.
pub fn take_token_from_env() {
    let v = std::env::var_os("GITHUB_TOKEN");
    std::env::remove_var("GITHUB_TOKEN");
    let _ = TAKEN.set(v);
}

/// The token from `$env`, else from `file`; a clear error when neither gives one.
pub fn token(env: &str, file: Option<&Path>) -> Result<Token, Fail> {
    let bad = |e: harness_github::GithubError| Fail::BadInput(e.into());
    let value = match (env, TAKEN.get()) {
        ("GITHUB_TOKEN", Some(v)) => v.clone(),
        _ => std::env::var_os(env),
    };
    if let Some(t) = Token::from_env_value(env, value).map_err(bad)? {
        return Ok(t);
    }
    // systemd's LoadCredential= (scripts/systemd): the token as a file only this service reads.
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|d| Path::new(&d).join("github-token"))
        .filter(|p| p.is_file());
    match file.map(Path::to_path_buf).or(credential) {
        Some(f) => Token::from_file(&f).map_err(bad),
        None => Err(Fail::BadInput(anyhow::anyhow!(
            "github: no token: set ${env} or give a token file"
        ))),
    }
}

pub fn client(
    api: &str,
    repo: &str,
    token: Token,
    dashboard: Option<String>,
) -> Result<Client, Fail> {
    let cfg = Config::new(api, repo, token).map_err(|e| Fail::BadInput(e.into()))?;
    Ok(Client { cfg, dashboard })
}

/// What `harness test --github-repo ...` asks for (checked before the run starts).
pub fn for_test(a: &GithubArgs) -> Result<Option<(Client, Target)>, Fail> {
    let Some(repo) = &a.github_repo else {
        return Ok(None);
    };
    let target = match (&a.github_commit, a.github_pr) {
        (Some(sha), _) => Target::Commit { sha: sha.clone() },
        (None, Some(number)) => Target::PullRequest { number },
        (None, None) => {
            return Err(Fail::Usage(anyhow::anyhow!(
                "--github-repo needs --github-commit SHA or --github-pr N"
            )))
        }
    };
    let token = token("GITHUB_TOKEN", a.github_token_file.as_deref())?;
    Ok(Some((
        client(&a.github_api, repo, token, a.dashboard_url.clone())?,
        target,
    )))
}

/// Post a finished run's result. A failure to report is printed; it does not change the
/// run's verdict or exit code.
pub fn post(rt: &tokio::runtime::Runtime, c: &Client, report: &Report, target: &Target) {
    let what = match target {
        Target::Commit { sha } => format!("check run on {sha}"),
        Target::PullRequest { number } => format!("comment on pull request #{number}"),
    };
    match rt.block_on(harness_github::post_result(
        &c.cfg,
        report,
        target,
        c.dashboard.as_deref(),
    )) {
        Ok(p) => println!(
            "github: {} {what} {}",
            c.cfg.repo,
            p.url.unwrap_or_else(|| format!("(id {})", p.id))
        ),
        Err(e) => eprintln!("harness: github: {what}: {}", crate::exit::chain(&e.into())),
    }
}
