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

/// An error with the exit code it maps to.
pub(crate) struct Fail(pub(crate) u8, pub(crate) anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(INFRA_ERROR, e.into())
    }
}

pub(crate) fn bad_input(e: impl Into<anyhow::Error>) -> Fail {
    Fail(BAD_INPUT, e.into())
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
