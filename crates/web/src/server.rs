//! `harness serve`: the pages over HTTP (axum). Read-only; every request renders from the store.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use axum::Router;
use harness_store::Store;
use tokio::net::TcpListener;

use crate::{Page, WebError, CSP_HEADER};

/// Idle store connections kept for the next requests.
const IDLE_STORES: usize = 4;

/// Store connections for the request threads: a `rusqlite::Connection` is `Send` but not `Sync`,
/// so each request borrows one of its own.
struct Stores {
    root: PathBuf,
    idle: Mutex<Vec<Store>>,
}

impl Stores {
    fn with<T>(&self, f: impl FnOnce(&Store) -> T) -> Result<T, WebError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let store = match idle {
            Some(s) => s,
            None => Store::open_read_only(&self.root)?,
        };
        let out = f(&store);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_STORES {
            idle.push(store);
        }
        Ok(out)
    }
}

/// How the dashboard serves: who may ask (the `Host` names), how long a client may take to send
/// its request headers, how many connections at once.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Host names accepted besides the loopback names and the bound address (`--allow-host`).
    pub allow_hosts: Vec<String>,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            allow_hosts: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

/// The `Host` values a request may carry: a page fetched through any other name is a DNS
/// rebinding attempt (a browser on a hostile site reading the dashboard) and gets 421.
#[derive(Debug, Clone)]
pub(crate) struct HostAllow {
    names: Vec<String>,
    port: u16,
}

impl HostAllow {
    pub(crate) fn new(bound: SocketAddr, extra: &[String]) -> HostAllow {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !bound.ip().is_unspecified() {
            names.push(bound.ip().to_string());
        }
        names.extend(extra.iter().map(|h| h.trim().to_ascii_lowercase()));
        HostAllow {
            names,
            port: bound.port(),
        }
    }

    /// `Host: name[:port]`: the name must be allowed and the port, if given, the bound one.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = if let Some(rest) = host.strip_prefix('[') {
            match rest.split_once(']') {
                Some((n, p)) => (n.to_string(), p.strip_prefix(':')),
                None => return false,
            }
        } else {
            match host.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') => (n.to_string(), Some(p)),
                _ => (host.clone(), None),
            }
        };
        let name = name.trim_end_matches('.');
        let port_ok = match port {
            None => true,
            Some(p) => p.parse::<u16>() == Ok(self.port),
        };
        port_ok && self.names.iter().any(|n| n == name)
    }
}

/// Serve the dashboard of the results store at `results` on `addr` until the process ends.
/// (`harness serve` binds 127.0.0.1 unless told otherwise: the pages show everything the store
/// holds.)
pub async fn serve(results: PathBuf, addr: SocketAddr) -> Result<(), WebError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| WebError::Bind { addr, source: e })?;
    serve_listener(results, listener).await
}

/// [`serve`] on a listener bound by the caller (port 0: the caller learns the port from it).
pub async fn serve_listener(results: PathBuf, listener: TcpListener) -> Result<(), WebError> {
    serve_with_shutdown(results, listener, std::future::pending()).await
}

/// [`serve_listener`] until `shutdown` completes.
pub async fn serve_with_shutdown(
    results: PathBuf,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    serve_with_options(results, listener, ServeOptions::default(), shutdown).await
}

/// The dashboard with explicit [`ServeOptions`], until `shutdown` completes.
pub async fn serve_with_options(
    results: PathBuf,
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    // A store that cannot be opened is an error now, not on every page.
    let first = Store::open_read_only(&results)?;
    let stores = Arc::new(Stores {
        root: results,
        idle: Mutex::new(vec![first]),
    });
    let bound = listener.local_addr().map_err(WebError::Serve)?;
    let allow = Arc::new(HostAllow::new(bound, &opts.allow_hosts));
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let stores = stores.clone();
        let allow = allow.clone();
        async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if !allow.allows(host) {
                return response(
                    StatusCode::MISDIRECTED_REQUEST,
                    Page::TEXT,
                    b"this dashboard answers only to its own host names (see --allow-host)\n"
                        .to_vec(),
                );
            }
            handle(stores, method, uri).await
        }
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // At most `max_connections` at once: the next one waits in the kernel's backlog.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing_like_log(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let timeout = opts.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            let _ = conn.await;
        });
    }
    Ok(())
}

fn tracing_like_log(e: &std::io::Error) {
    eprintln!("harness serve: accept: {e}");
}

fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Raw artifacts are never a document that may do anything.
    let csp = if content_type == Page::HTML {
        HeaderValue::from_static(CSP_HEADER)
    } else {
        HeaderValue::from_static("default-src 'none'; sandbox; frame-ancestors 'none'")
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(e) = src {
        s.push_str(": ");
        s.push_str(&e.to_string());
        src = e.source();
    }
    s
}

async fn handle(stores: Arc<Stores>, method: Method, uri: Uri) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = response(
            StatusCode::METHOD_NOT_ALLOWED,
            Page::TEXT,
            b"method not allowed\n".to_vec(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = uri.path().to_string();
    // A raw artifact is streamed from its file (a 64 MiB console is not read into memory).
    let raw = {
        let stores = stores.clone();
        let path = path.clone();
        tokio::task::spawn_blocking(move || stores.with(|s| crate::raw_file(s, &path))).await
    };
    match raw {
        Ok(Ok(Ok(Some((content_type, file))))) => {
            return match tokio::fs::File::open(&file).await {
                Ok(f) => {
                    let mut r = response(StatusCode::OK, content_type, Vec::new());
                    if let Ok(m) = f.metadata().await {
                        r.headers_mut()
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(m.len()));
                    }
                    if method == Method::HEAD {
                        return r;
                    }
                    *r.body_mut() = Body::from_stream(tokio_util::io::ReaderStream::new(f));
                    r
                }
                Err(e) => response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Page::TEXT,
                    format!("{}: {e}\n", file.display()).into_bytes(),
                ),
            };
        }
        Ok(Ok(Ok(None))) => {}
        Ok(Ok(Err(e)) | Err(e)) => {
            return response(
                StatusCode::INTERNAL_SERVER_ERROR,
                Page::TEXT,
                format!("{}\n", chain(&e)).into_bytes(),
            )
        }
        Err(e) => {
            return response(
                StatusCode::INTERNAL_SERVER_ERROR,
                Page::TEXT,
                format!("render task: {e}\n").into_bytes(),
            )
        }
    }
    let rendered =
        tokio::task::spawn_blocking(move || stores.with(|s| crate::render(s, &path))).await;
    match rendered {
        Ok(Ok(Ok(Some(page)))) => response(StatusCode::OK, page.content_type, page.body),
        Ok(Ok(Ok(None))) => response(StatusCode::NOT_FOUND, Page::TEXT, b"not found\n".to_vec()),
        Ok(Ok(Err(e)) | Err(e)) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            Page::TEXT,
            format!("{}\n", chain(&e)).into_bytes(),
        ),
        Err(e) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            Page::TEXT,
            format!("render task: {e}\n").into_bytes(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_the_bound_address_and_allowed_hosts_pass() {
        let a = HostAllow::new("127.0.0.1:8080".parse().unwrap(), &["dash.lan".into()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "localhost",
            "[::1]:8080",
            "dash.lan:8080",
            "localhost.:8080",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example:8080",
            "evil.example",
            "127.0.0.1:8081",
            "localhost.evil.example:8080",
            "127.0.0.1.nip.io:8080",
            "[::1",
            "localhost:8080:8080",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
        let b = HostAllow::new("192.168.1.5:80".parse().unwrap(), &[]);
        assert!(b.allows("192.168.1.5") && b.allows("192.168.1.5:80"));
        let c = HostAllow::new("0.0.0.0:80".parse().unwrap(), &[]);
        assert!(!c.allows("0.0.0.0") && c.allows("localhost"));
    }
}
