//! `lore::fetch_thread` against an in-process public-inbox stand-in on 127.0.0.1, serving a thread
//! built from the real series in shared/series: the RFC posting, a review reply, and a v2 of the
//! series posted in the same thread. No internet.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harness_core::series::{parse_mbox, Severity};
use harness_exec::lore::{encode_msgid, fetch_thread, LoreError};

const RFC_COVER: &str = "20210615145730.21952-1-jlayton@kernel.org";
const TIMEOUT: Duration = Duration::from_secs(10);

fn series_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/series")
}

fn read_series(name: &str) -> Vec<u8> {
    let path = series_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (shared/series must sit beside the repository)",
            path.display()
        )
    })
}

/// Split an mbox into messages at its `From_` lines (each message keeps its own).
fn split_mbox(text: &str) -> Vec<String> {
    let mut msgs: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let sep = line.starts_with("From ") && line.contains(" Mon Sep 17 00:00:00 2001");
        if sep || msgs.is_empty() {
            msgs.push(String::new());
        }
        msgs.last_mut().unwrap().push_str(line);
    }
    msgs
}

/// Quote body lines the mboxrd way, as public-inbox writes t.mbox.gz.
fn mboxrd_body(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|l| {
            if l.trim_start_matches('>').starts_with("From ") {
                format!(">{l}")
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// One v2 message from a `git format-patch` message: mboxrd `From_` line, `[PATCH v2 k/6]`,
/// Message-Id and In-Reply-To/References pointing at the RFC cover letter.
fn v2_message(formatpatch: &str, k: usize) -> String {
    let (headers, body) = formatpatch.split_once("\n\n").expect("headers and body");
    let mut out = String::from("From mboxrd@z Thu Jan  1 00:00:00 1970\n");
    let mut subject_done = false;
    for line in headers.lines().skip(1) {
        if let Some(rest) = line.strip_prefix("Subject: [PATCH ") {
            assert!(!subject_done);
            out.push_str(&format!("Subject: [PATCH v2 {rest}\n"));
            subject_done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(subject_done, "no Subject in message {k}");
    out.push_str(&format!(
        "Message-Id: <20210701120000.4242-{}-jlayton@kernel.org>\nIn-Reply-To: <{RFC_COVER}>\nReferences: <{RFC_COVER}>\n\n",
        k + 1
    ));
    out.push_str(&mboxrd_body(body));
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out
}

/// A review of RFC patch 3/6 quoting the start of its diff.
fn review_reply(rfc: &[String]) -> String {
    let patch3 = rfc
        .iter()
        .find(|m| m.contains("Subject: [RFC PATCH 3/6]"))
        .expect("RFC 3/6");
    let subject = patch3
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap();
    let diff_at = patch3.find("diff --git").expect("a diff in 3/6");
    let quoted: String = patch3[diff_at..]
        .lines()
        .take(24)
        .map(|l| format!("> {l}\n"))
        .collect();
    format!(
        "From mboxrd@z Thu Jan  1 00:00:00 1970\n\
From: Xiubo Li <xiubli@redhat.com>\n\
To: Jeff Layton <jlayton@kernel.org>, ceph-devel@vger.kernel.org\n\
Subject: Re: {subject}\n\
Date: Wed, 16 Jun 2021 09:12:00 +0800\n\
Message-ID: <0b1c2d3e-review@redhat.com>\n\
In-Reply-To: <20210615145730.21952-4-jlayton@kernel.org>\n\
References: <{RFC_COVER}>\n <20210615145730.21952-4-jlayton@kernel.org>\n\
MIME-Version: 1.0\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
On 6/15/21 10:57 PM, Jeff Layton wrote:\n\
> These locks appear to be completely unnecessary.\n\
{quoted}\
\n\
This one looks right to me, but please double check the snap_rwsem\n\
handling in the caller.\n\
\n\
Reviewed-by: Xiubo Li <xiubli@redhat.com>\n\
\n"
    )
}

/// RFC posting as-is, the review reply, then v2 (cover + 6), as one thread mbox.
fn thread_mbox() -> Vec<u8> {
    let rfc_raw = String::from_utf8(read_series("ceph-cap-locking-rfc.mbox")).unwrap();
    let v2_src = String::from_utf8(read_series("ceph-cap-locking-6.1.mbox")).unwrap();
    let rfc = split_mbox(&rfc_raw);
    assert_eq!(rfc.len(), 7, "RFC posting: cover + 6");
    let v2 = split_mbox(&v2_src);
    assert_eq!(v2.len(), 7, "6.1 mbox: cover + 6");

    let mut out = rfc_raw.clone();
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(&review_reply(&rfc));
    for (k, m) in v2.iter().enumerate() {
        out.push_str(&v2_message(m, k));
    }
    out.into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[derive(Clone, Default)]
struct Inbox {
    /// Raw request path → body served (gzip).
    threads: Arc<HashMap<String, Vec<u8>>>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

async fn serve(State(inbox): State<Inbox>, headers: axum::http::HeaderMap, uri: Uri) -> Response {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    inbox
        .requests
        .lock()
        .unwrap()
        .push((uri.path().to_string(), ua));
    match inbox.threads.get(uri.path()) {
        Some(gz) => (
            [(header::CONTENT_TYPE, "application/gzip")],
            Body::from(gz.clone()),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
            "<html><body>404 Not Found</body></html>",
        )
            .into_response(),
    }
}

/// Start the stand-in archive; returns its base URL (`http://127.0.0.1:port/all`).
async fn start(threads: HashMap<String, Vec<u8>>) -> (String, Inbox) {
    let inbox = Inbox {
        threads: Arc::new(threads),
        ..Inbox::default()
    };
    let app = axum::Router::new()
        .fallback(serve)
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/all"), inbox)
}

fn path_for(msgid: &str) -> String {
    format!("/all/{}/t.mbox.gz", encode_msgid(msgid))
}

async fn thread_server() -> (String, Inbox) {
    let gz = gzip(&thread_mbox());
    start(HashMap::from([(path_for(RFC_COVER), gz)])).await
}

#[tokio::test]
async fn fetch_by_msgid_selects_newest_revision() {
    let (base, inbox) = thread_server().await;
    let mbox = fetch_thread(&base, &format!("<{RFC_COVER}>"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(mbox, thread_mbox(), "gunzipped body is the thread");
    {
        let reqs = inbox.requests.lock().unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].0, path_for(RFC_COVER));
        assert_eq!(
            reqs[0].1,
            format!("cephfs-harness/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    let series = parse_mbox(&mbox, "lore").unwrap();
    let expected = parse_mbox(&read_series("ceph-cap-locking-6.1.mbox"), "6.1").unwrap();
    assert_eq!(series.patches.len(), 6, "{:#?}", series.diagnostics);
    for (i, (got, want)) in series.patches.iter().zip(&expected.patches).enumerate() {
        assert_eq!(got.version, Some(2), "patch {}", i + 1);
        assert_eq!(got.number, Some((i as u32 + 1, 6)));
        assert_eq!(got.subject, want.subject);
        assert_eq!(
            got.raw_subject,
            want.raw_subject.replacen("[PATCH ", "[PATCH v2 ", 1)
        );
        assert_eq!(got.files, want.files, "patch {}", i + 1);
        assert_eq!(
            got.message_id.as_deref(),
            Some(format!("20210701120000.4242-{}-jlayton@kernel.org", i + 2).as_str())
        );
    }
    let cover = series.cover.as_ref().expect("v2 cover letter");
    assert!(
        cover.raw_subject.starts_with("[PATCH v2 0/6]"),
        "{}",
        cover.raw_subject
    );
    assert_eq!(cover.subject, expected.cover.as_ref().unwrap().subject);

    // The reply quotes a diff with "> ": ignored without a word; the RFC (v1) is dropped with one.
    assert!(!series.has_errors(), "{:#?}", series.diagnostics);
    let older: Vec<_> = series
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("using v2") && d.message.contains("v1"))
        .collect();
    assert_eq!(older.len(), 1, "{:#?}", series.diagnostics);
    assert_eq!(older[0].severity, Severity::Warning);
    assert!(
        older[0].message.contains("ignoring 7 message(s)"),
        "{}",
        older[0].message
    );
    assert!(
        !series.diagnostics.iter().any(|d| d.message.contains("Re:")),
        "{:#?}",
        series.diagnostics
    );
}

#[tokio::test]
async fn fetch_by_lore_url() {
    let (base, inbox) = thread_server().await;
    for url in [
        format!("https://lore.kernel.org/ceph-devel/{RFC_COVER}/"),
        format!("https://lore.kernel.org/all/{RFC_COVER}/T/#u"),
    ] {
        let mbox = fetch_thread(&base, &url, TIMEOUT).await.unwrap();
        assert_eq!(parse_mbox(&mbox, "lore").unwrap().patches.len(), 6);
    }
    let reqs = inbox.requests.lock().unwrap();
    assert!(
        reqs.iter().all(|(p, _)| *p == path_for(RFC_COVER)),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn unknown_msgid_is_not_found() {
    let (base, _inbox) = thread_server().await;
    let err = fetch_thread(&base, "<nosuch@example.org>", TIMEOUT)
        .await
        .unwrap_err();
    let url = format!("{base}/nosuch@example.org/t.mbox.gz");
    assert!(
        matches!(&err, LoreError::NotFound { url: u } if *u == url),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("message-id not found at {url}"));
}

#[tokio::test]
async fn silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock); // never answer, never close
        }
    });
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = fetch_thread(&format!("http://{addr}/all"), RFC_COVER, timeout)
        .await
        .unwrap_err();
    let took = started.elapsed();
    server.abort();
    assert!(
        matches!(&err, LoreError::Timeout { after, .. } if *after == timeout),
        "{err:?}"
    );
    assert!(took >= timeout && took < Duration::from_secs(5), "{took:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn slash_in_msgid_is_encoded() {
    let msgid = "a/b+c@example.org";
    let gz = gzip(&thread_mbox());
    let (base, inbox) = start(HashMap::from([(path_for(msgid), gz)])).await;
    let mbox = fetch_thread(&base, &format!("<{msgid}>"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(parse_mbox(&mbox, "lore").unwrap().patches.len(), 6);
    // The same id as it appears in a lore URL (already encoded) arrives the same way.
    fetch_thread(
        &base,
        "https://lore.kernel.org/all/a%2Fb%2Bc@example.org/",
        TIMEOUT,
    )
    .await
    .unwrap();
    let reqs = inbox.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2);
    for (path, _) in reqs.iter() {
        assert_eq!(path, "/all/a%2Fb%2Bc@example.org/t.mbox.gz");
    }
}

#[tokio::test]
async fn plain_body_and_garbage() {
    let mbox = thread_mbox();
    let (base, _inbox) = start(HashMap::from([
        (path_for("plain@x"), mbox.clone()),
        (
            path_for("html@x"),
            b"<!DOCTYPE html><html>hi</html>".to_vec(),
        ),
        (path_for("badgz@x"), vec![0x1f, 0x8b, 8, 0, 1, 2, 3]),
    ]))
    .await;
    assert_eq!(fetch_thread(&base, "plain@x", TIMEOUT).await.unwrap(), mbox);
    let err = fetch_thread(&base, "html@x", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, LoreError::NotMbox { .. }), "{err:?}");
    assert!(err.to_string().contains("HTML"), "{err}");
    let err = fetch_thread(&base, "badgz@x", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, LoreError::Gzip { .. }), "{err:?}");
}

#[tokio::test]
async fn oversized_thread_is_refused() {
    // A gzip bomb: a little over 64 MiB of mbox once gunzipped.
    let mut big = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n".to_vec();
    big.resize(harness_exec::lore::MAX_BYTES + 1, b'x');
    let (base, _inbox) = start(HashMap::from([(path_for("big@x"), gzip(&big))])).await;
    let err = fetch_thread(&base, "big@x", TIMEOUT).await.unwrap_err();
    assert!(
        matches!(
            err,
            LoreError::TooLarge {
                what: "decompressed mbox",
                ..
            }
        ),
        "{err:?}"
    );
}
