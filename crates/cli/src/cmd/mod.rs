//! One module per command family; `main` dispatches to them.

pub(crate) mod run;
pub(crate) mod show;
pub(crate) mod web;
