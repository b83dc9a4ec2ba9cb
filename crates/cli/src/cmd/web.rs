//! `serve` and `report --html`: the dashboard.

use std::path::Path;

use anyhow::Context;
use harness_store::Store;

use crate::exit::{bad_input, Fail};

pub(crate) fn serve(
    results: &Path,
    addr: std::net::SocketAddr,
    allow_hosts: Vec<String>,
) -> Result<u8, Fail> {
    // A store that cannot be read is an error now, not on the first page.
    drop(Store::open_read_only(results)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        let local = listener.local_addr()?;
        println!(
            "harness: dashboard of {} at http://{local}/",
            results.display()
        );
        tokio::select! {
            r = harness_web::serve_with_options(
                results.to_path_buf(),
                listener,
                harness_web::ServeOptions { allow_hosts, ..Default::default() },
                std::future::pending(),
            ) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(0)
}

pub(crate) fn report_html(results: &Path, run: &str, dir: &Path) -> Result<u8, Fail> {
    let store = Store::open_read_only(results)?;
    let id = store.resolve(run).map_err(bad_input)?;
    let files = harness_web::write_static(&store, &id, dir)?;
    println!(
        "harness: {} pages of run {id} in {} (open {})",
        files.len(),
        dir.display(),
        dir.join("index.html").display()
    );
    Ok(0)
}
