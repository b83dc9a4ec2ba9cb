//! Exit codes (documented in the README) and the error that carries one.

use harness_core::report::Verdict;

pub const PASS: u8 = 0;
pub const FAIL: u8 = 1;
pub const USAGE: u8 = 2;
pub const BAD_INPUT: u8 = 3;
pub const APPLY_FAILED: u8 = 4;
pub const BUILD_FAILED: u8 = 5;
pub const INFRA_ERROR: u8 = 6;
pub const MISSING_DEPS: u8 = 7;
pub const NOT_ROOT: u8 = 8;
pub const INTERRUPTED: u8 = 130;

/// The errors the harness expects, each with its exit code (one table:
/// [`Fail::process_exit_code`]). Call sites say what went wrong, never which code it is.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The command line asks for something inconsistent.
    Usage(anyhow::Error),
    /// A series, job, run id or file the user gave cannot be used.
    BadInput(anyhow::Error),
    /// A tool, package or kernel file the run needs is missing (preflight).
    MissingDeps(anyhow::Error),
    /// The run needs root (preflight).
    NotRoot(anyhow::Error),
    /// The harness's own trouble: the store, the executor, I/O.
    Infra(anyhow::Error),
}

impl Fail {
    pub(crate) fn process_exit_code(&self) -> u8 {
        match self {
            Fail::Usage(_) => USAGE,
            Fail::BadInput(_) => BAD_INPUT,
            Fail::MissingDeps(_) => MISSING_DEPS,
            Fail::NotRoot(_) => NOT_ROOT,
            Fail::Infra(_) => INFRA_ERROR,
        }
    }

    pub(crate) fn error(&self) -> &anyhow::Error {
        match self {
            Fail::Usage(e)
            | Fail::BadInput(e)
            | Fail::MissingDeps(e)
            | Fail::NotRoot(e)
            | Fail::Infra(e) => e,
        }
    }

    /// What preflight found missing.
    pub(crate) fn preflight(e: harness_exec::ExecError) -> Fail {
        match e {
            harness_exec::ExecError::NotRoot => Fail::NotRoot(e.into()),
            _ => Fail::MissingDeps(e.into()),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Infra(e.into())
    }
}

pub(crate) fn bad_input(e: impl Into<anyhow::Error>) -> Fail {
    Fail::BadInput(e.into())
}

pub(crate) fn chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

pub(crate) fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => PASS,
        Verdict::Fail => FAIL,
        Verdict::ApplyFailed => APPLY_FAILED,
        Verdict::BuildFailed => BUILD_FAILED,
        Verdict::InfraError => INFRA_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_from_error_to_exit_code() {
        let e = || anyhow::anyhow!("x");
        assert_eq!(Fail::Usage(e()).process_exit_code(), 2);
        assert_eq!(bad_input(e()).process_exit_code(), 3);
        assert_eq!(
            Fail::from(std::io::Error::other("disk")).process_exit_code(),
            6
        );
        assert_eq!(Fail::MissingDeps(e()).process_exit_code(), 7);
        assert_eq!(
            Fail::preflight(harness_exec::ExecError::NotRoot).process_exit_code(),
            8
        );
        assert_eq!(
            Fail::preflight(harness_exec::ExecError::Other("no qemu".into())).process_exit_code(),
            7
        );
        assert_eq!(verdict_code(Verdict::Pass), PASS);
        assert_eq!(verdict_code(Verdict::ApplyFailed), APPLY_FAILED);
        assert_eq!(verdict_code(Verdict::BuildFailed), BUILD_FAILED);
        assert_eq!(verdict_code(Verdict::InfraError), INFRA_ERROR);
        assert_eq!(verdict_code(Verdict::Fail), FAIL);
    }
}
