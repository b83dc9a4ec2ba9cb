//! `harness`: tells a CephFS developer whether a kernel patch series is safe.
//!
//! Thin layer: `main` parses the arguments (args) and dispatches to a command (cmd/); series,
//! job and overrides become a prepared run in one place (prepare); what is printed is in render/;
//! errors map to the exit codes documented in the README (exit).

mod args;
mod boot_units;
mod cmd;
mod exit;
mod export;
mod github;
mod nightly;
mod prepare;
mod render;
mod reporter;
mod slurm;
mod unit;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Cmd, SeriesCmd};
use crate::cmd::run::{resume, test};
use crate::cmd::show::{export, list, series_show, show};
use crate::cmd::web::{report_html, serve};
use crate::exit::{chain, Fail};

fn main() -> ExitCode {
    github::take_token_from_env();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARNESS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // One line, whatever the input put into the message.
            eprintln!("harness: {}", harness_core::text::line(&chain(f.error())));
            ExitCode::from(f.process_exit_code())
        }
    }
}

fn real_main(cli: Cli) -> Result<u8, Fail> {
    if !matches!(
        cli.cmd,
        Cmd::Test(_)
            | Cmd::Bench(_)
            | Cmd::Bisect(_)
            | Cmd::Resume { .. }
            | Cmd::Nightly { .. }
            | Cmd::Unit { .. }
    ) {
        // Read-only commands end quietly when their reader goes away (`harness show last | head`).
        // Not for a run: it must always reach its teardown.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    match cli.cmd {
        Cmd::Test(args) => test(&cli.results, args, false),
        Cmd::Bisect(mut args) => {
            args.on_failure.get_or_insert_with(|| "revert".into());
            test(&cli.results, args, false)
        }
        Cmd::Bench(args) => test(&cli.results, args, true),
        Cmd::Resume { run, .. } if run.starts_with("nightly-") => {
            nightly::resume(&cli.results, &run)
        }
        Cmd::Resume { run, github, json } => resume(&cli.results, &run, &github, json),
        Cmd::Export {
            run,
            format,
            output,
        } => export(&cli.results, &run, &format, output.as_deref()),
        Cmd::Serve { addr, allow_hosts } => serve(&cli.results, addr, allow_hosts),
        Cmd::Report { run, html } => report_html(&cli.results, &run, &html),
        Cmd::Nightly {
            suite,
            cache,
            executor,
        } => nightly::run(&cli.results, &suite, cache, executor.as_deref()),
        Cmd::Unit { out } => unit::run(&out),
        Cmd::Show { run, json } => show(&cli.results, &run, json),
        Cmd::List { limit, nightlies } => list(&cli.results, limit, nightlies),
        Cmd::Series {
            cmd: SeriesCmd::Show(args),
        } => series_show(&args),
    }
}

/// Run one future on a throw-away runtime (series input needs git or HTTP before the run starts).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Fail> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}
