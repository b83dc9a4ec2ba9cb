//! What can go wrong talking to GitHub. No message ever holds the token: token errors name only
//! where the token came from, and answers from the server are scrubbed of it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("environment variable {var} is not valid unicode")]
    TokenEnvNotUnicode { var: String },
    #[error("environment variable {var} holds characters not allowed in a token")]
    TokenEnvInvalid { var: String },
    #[error("cannot read token file {}", path.display())]
    TokenFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {} is empty", path.display())]
    TokenFileEmpty { path: PathBuf },
    #[error("token file {} holds characters not allowed in a token", path.display())]
    TokenFileInvalid { path: PathBuf },
    #[error("repository {repo:?} is not of the form owner/name")]
    InvalidRepo { repo: String },
    #[error("api url {url:?} is not an http:// or https:// url")]
    InvalidApiUrl { url: String },
    #[error("api url {url:?} is plain http to a host that is not loopback: the token needs https")]
    CleartextApiUrl { url: String },
    #[error("commit {sha:?} is not a full commit id")]
    InvalidSha { sha: String },
    #[error("cannot set up the github client")]
    Client {
        #[source]
        source: Box<octocrab::Error>,
    },
    /// GitHub (or whatever answers at the api url) said no: the status and its own message.
    #[error("{method} {path}: github answered {status}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The request did not get an answer (connection, timeout, unreadable body).
    #[error("{method} {path} failed")]
    Request {
        method: &'static str,
        path: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    /// An answer without what every answer to this call has (e.g. an `id`).
    #[error("{method} {path}: unexpected answer: {what}")]
    Answer {
        method: &'static str,
        path: String,
        what: String,
    },
}
