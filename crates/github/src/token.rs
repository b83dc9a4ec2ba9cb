//! The GitHub token: read from the environment or a file, handed only to octocrab.

use std::fmt;
use std::path::Path;

use crate::GithubError;

/// A GitHub token. `Debug` and `Display` print `Token(***)`: the secret never reaches a log, an
/// error or the terminal.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token in environment variable `var`; `None` when it is unset or empty.
    pub fn from_env(var: &str) -> Result<Option<Token>, GithubError> {
        Self::from_env_value(var, std::env::var_os(var))
    }

    /// The token a caller took out of environment variable `var` (so children never see it).
    pub fn from_env_value(
        var: &str,
        raw: Option<std::ffi::OsString>,
    ) -> Result<Option<Token>, GithubError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let raw = raw
            .into_string()
            .map_err(|_| GithubError::TokenEnvNotUnicode { var: var.into() })?;
        let token = raw.trim();
        if token.is_empty() {
            return Ok(None);
        }
        if !valid(token) {
            return Err(GithubError::TokenEnvInvalid { var: var.into() });
        }
        Ok(Some(Token(token.to_string())))
    }

    /// The token in a file (surrounding whitespace, e.g. the final newline, is dropped).
    pub fn from_file(path: &Path) -> Result<Token, GithubError> {
        let raw = std::fs::read(path).map_err(|source| GithubError::TokenFileRead {
            path: path.to_path_buf(),
            source,
        })?;
        // Not `String::from_utf8(..)?`: its error would carry the bytes.
        let Ok(raw) = String::from_utf8(raw) else {
            return Err(GithubError::TokenFileInvalid {
                path: path.to_path_buf(),
            });
        };
        let token = raw.trim();
        if token.is_empty() {
            return Err(GithubError::TokenFileEmpty {
                path: path.to_path_buf(),
            });
        }
        if !valid(token) {
            return Err(GithubError::TokenFileInvalid {
                path: path.to_path_buf(),
            });
        }
        warn_if_readable_by_others(path);
        Ok(Token(token.to_string()))
    }

    /// The secret, for the Authorization header and for scrubbing answers.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// Visible ASCII only: octocrab builds the Authorization header with `parse().unwrap()`, so a
/// token with a space or a control character would panic there.
fn valid(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "token file {} is readable by group or others (chmod 600 it)",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "ghp_unitTestSecret0123456789";

    #[test]
    fn debug_and_display_hide_the_secret() {
        let t = Token(SECRET.into());
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert_eq!(format!("{t}"), "Token(***)");
        assert_eq!(format!("{:?}", Some(t)), "Some(Token(***))");
    }

    #[test]
    fn from_file_trims_and_errors_name_the_file_not_the_content() {
        let dir = std::env::temp_dir().join(format!("harness-github-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let good = dir.join("good");
        std::fs::write(&good, format!("  {SECRET}\n\n")).unwrap();
        assert_eq!(Token::from_file(&good).unwrap().expose(), SECRET);

        let empty = dir.join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let e = Token::from_file(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty") && e.contains(&empty.display().to_string()),
            "{e}"
        );

        let bad = dir.join("bad");
        std::fs::write(&bad, format!("{SECRET} second-word\n")).unwrap();
        let e = Token::from_file(&bad).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(SECRET), "{e:?}");
        assert!(matches!(e, GithubError::TokenFileInvalid { .. }));

        let missing = dir.join("missing");
        let e = Token::from_file(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read token file") && e.contains("missing"),
            "{e}"
        );

        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn from_env_empty_is_none() {
        // Variable names unique to this test: tests run in parallel threads of one process.
        let var = "HARNESS_GITHUB_UNIT_TOKEN_FROM_ENV";
        assert!(Token::from_env(var).unwrap().is_none());
        std::env::set_var(var, "  ");
        assert!(Token::from_env(var).unwrap().is_none());
        std::env::set_var(var, format!("{SECRET}\n"));
        assert_eq!(Token::from_env(var).unwrap().unwrap().expose(), SECRET);
        std::env::set_var(var, "two words");
        let e = Token::from_env(var).unwrap_err().to_string();
        assert!(e.contains(var) && !e.contains("two words"), "{e}");
        std::env::remove_var(var);
    }
}
