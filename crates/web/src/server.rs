//! `harness serve`: the pages over HTTP (axum). Read-only; every request renders from the store.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode, Uri};
use axum::Router;
use harness_store::Store;
use tokio::net::TcpListener;

use crate::{Page, WebError, CSP};

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
            None => Store::open(&self.root)?,
        };
        let out = f(&store);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_STORES {
            idle.push(store);
        }
        Ok(out)
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

/// [`serve_listener`] until `shutdown` completes (then in-flight requests finish).
pub async fn serve_with_shutdown(
    results: PathBuf,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    // A store that cannot be opened is an error now, not on every page.
    let first = Store::open(&results)?;
    let stores = Arc::new(Stores {
        root: results,
        idle: Mutex::new(vec![first]),
    });
    let app = Router::new().fallback(move |method: Method, uri: Uri| {
        let stores = stores.clone();
        async move { handle(stores, method, uri).await }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(WebError::Serve)
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
        HeaderValue::from_static(CSP)
    } else {
        HeaderValue::from_static("default-src 'none'; sandbox")
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
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
