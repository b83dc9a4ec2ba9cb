//! The pages as HTML text: escaping of hostile strings, refused paths, the static export, the
//! HTTP server. (The browser test checks what a browser makes of them.)

mod common;

use std::path::{Path, PathBuf};

use common::*;
use harness_store::Store;
use harness_web::{render, write_static, Page};

/// What the template engine's HTML escaping makes of a string.
fn escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// No markup from the data made it into the page as markup.
fn assert_inert(path: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for raw in [
        "<script",
        "<img",
        "<svg onload",
        "<b>",
        "</textarea>",
        "'\"><",
        "window.__xss=1</",
    ] {
        if let Some(i) = lower.find(raw) {
            panic!(
                "{path}: raw `{raw}` in the page: …{}…",
                &html[i.saturating_sub(200)..(i + 200).min(html.len())]
            );
        }
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

fn page(store: &Store, path: &str) -> String {
    let p = render(store, path)
        .unwrap()
        .unwrap_or_else(|| panic!("{path}: no page"));
    assert_eq!(p.content_type, Page::HTML, "{path}");
    let html = p.text();
    assert_inert(path, &html);
    html
}

#[test]
fn hostile_strings_are_escaped_on_every_page() {
    let (_d, s) = store();
    let index = page(&s, "/");
    assert!(
        index.contains(&escaped(HOSTILE_SERIES)),
        "series on the index"
    );
    assert!(
        index.contains(&escaped(HOSTILE_SUBJECT)),
        "culprit on the index"
    );
    assert!(
        index.contains(&escaped(HOSTILE_TITLE)),
        "nightly's new signature"
    );
    assert!(index.contains("&lt;script&gt;"));

    let run = page(&s, &format!("runs/{FAIL_RUN}.html"));
    for h in [HOSTILE_SUBJECT, HOSTILE_SERIES, HOSTILE_TITLE] {
        assert!(run.contains(&escaped(h)), "run page lacks {h}");
    }
    assert!(run.contains("ceph: warn &lt;script&gt;window.__xss=1&lt;&#x2f;script&gt; on unlink &amp; &lt;img src=x onerror=window.__xss=2&gt;"));

    let console = page(
        &s,
        &format!("runs/{FAIL_RUN}/console-prefix-{CULPRIT}.log.html"),
    );
    assert!(console.contains(&escaped(HOSTILE_CONSOLE)));
    assert!(console.contains(&escaped(HOSTILE_TITLE)));

    let patch = page(
        &s,
        &format!("runs/{FAIL_RUN}/input/0007-warn-with-markup.patch.html"),
    );
    assert!(patch.contains("Subject: [PATCH] ceph: warn &lt;script&gt;"));
    assert!(patch.contains("From: &quot;&lt;b&gt;cephfs-harness&lt;&#x2f;b&gt; fixtures&quot;"));

    let sigs = page(&s, "signatures.html");
    assert!(sigs.contains(&escaped(HOSTILE_TITLE)));
    assert!(sigs.contains(SIGNATURE));
    page(&s, "phases.html");
    for name in [
        "bisect-report.txt",
        "revert-culprit.patch",
        "without-culprit.mbox",
        "report.json",
    ] {
        page(&s, &format!("runs/{FAIL_RUN}/{name}.html"));
    }
}

#[test]
fn the_run_page_tells_the_story() {
    let (_d, s) = store();
    let run = page(&s, &format!("runs/{FAIL_RUN}.html"));
    // The matrix cell of the culprit's prefix fails with the signature and links to the console.
    let row = run
        .split(&format!("<tr id=\"prefix-{CULPRIT}\""))
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(row.contains("class=\"cell fail\""), "{row}");
    assert!(row.contains(SIGNATURE), "{row}");
    assert!(
        row.contains(&format!("console-prefix-{CULPRIT}.log.html#L")),
        "{row}"
    );
    let row6 = run
        .split("<tr id=\"prefix-6\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(row6.contains("class=\"cell pass\""), "{row6}");
    // The bisection: five runs, the confidence plot with a point per run, the culprit, the revert.
    assert_eq!(run.matches("<circle class=\"s0 o-").count(), 5);
    assert!(run.contains("99.5%") && run.contains("verify"));
    assert!(run.contains("culprit: patch 7"));
    assert!(run.contains("without the culprit") && run.contains("without-culprit.mbox.html"));
    // Phases and artifacts; a binary artifact is listed without a viewer.
    assert!(run.contains("teardown"));
    assert!(
        run.contains(">ceph.ko<"),
        "binary artifact listed as text only"
    );
    assert!(render(&s, &format!("runs/{FAIL_RUN}/ceph.ko.html"))
        .unwrap()
        .is_none());

    let build = page(&s, &format!("runs/{BUILD_FAIL_RUN}.html"));
    assert!(build.contains("build-failed"));
    assert!(build.contains("class=\"cell not-built\"") || build.contains("row-not-built"));
    assert!(build.contains("implicit declaration of function &#x27;ceph_get_snap_realm_ref&#x27;"));

    let interrupted = page(&s, &format!("runs/{INTERRUPTED_RUN}.html"));
    assert!(interrupted.contains("This run is interrupted: it has no report"));
    assert!(
        interrupted.contains("console-prefix-0.log.html"),
        "boots so far are listed"
    );
    let running = page(&s, &format!("runs/{RUNNING_RUN}.html"));
    assert!(running.contains("This run is running: it has no report yet"));
}

#[test]
fn the_console_viewer_highlights_the_findings() {
    let (_d, s) = store();
    let report = s.report(FAIL_RUN).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.title == SIGNATURE)
        .unwrap();
    let html = page(
        &s,
        &format!("runs/{FAIL_RUN}/console-prefix-{CULPRIT}.log.html"),
    );
    let first = format!("<span class=\"ln hl\" id=\"L{}\">", f.line);
    assert!(
        html.contains(&first),
        "first line of the excerpt highlighted"
    );
    let last = f.line + f.excerpt.lines().count() - 1;
    assert!(html.contains(&format!("<span class=\"ln hl\" id=\"L{last}\">")));
    assert!(
        html.contains("<span class=\"ln\" id=\"L1\">"),
        "line 1 not highlighted"
    );
    assert!(html.contains(&format!("href=\"#L{}\"", f.line)));
}

#[test]
fn paths_outside_the_store_are_refused() {
    let (d, s) = store();
    std::fs::write(
        d.path()
            .join("runs")
            .join(FAIL_RUN)
            .join("not-recorded.log"),
        "x",
    )
    .unwrap();
    std::fs::write(d.path().join("secret.txt"), "secret").unwrap();
    for bad in [
        format!("runs/{FAIL_RUN}/../../harness.db.html"),
        format!("runs/{FAIL_RUN}/..%2F..%2Fsecret.txt.html"),
        format!("runs/{FAIL_RUN}/%2e%2e/%2e%2e/secret.txt.html"),
        format!("raw/{FAIL_RUN}/../../secret.txt"),
        format!("raw/{FAIL_RUN}/%2Fetc%2Fpasswd"),
        format!("runs/{FAIL_RUN}/not-recorded.log.html"),
        format!("runs/{FAIL_RUN}/report.json/../../../secret.txt.html"),
        "runs/..%2Fsecret.txt.html".into(),
        "runs/no-such-run.html".into(),
        "harness.db".into(),
        "secret.txt".into(),
        "runs/".into(),
        "style.css".into(),
    ] {
        assert!(render(&s, &bad).unwrap().is_none(), "{bad}");
    }
    let raw = render(&s, &format!("raw/{FAIL_RUN}/console-prefix-{CULPRIT}.log"))
        .unwrap()
        .unwrap();
    assert_eq!(raw.content_type, Page::TEXT);
    assert!(
        raw.text().contains(HOSTILE_CONSOLE),
        "raw is the file as it is"
    );
    let bin = render(&s, &format!("raw/{FAIL_RUN}/ceph.ko"))
        .unwrap()
        .unwrap();
    assert_eq!(bin.content_type, Page::BINARY);
    assert!(matches!(
        write_static(&s, "../x", d.path()),
        Err(harness_web::WebError::BadRunId(_))
    ));
    assert!(write_static(&s, "no-such-run", d.path()).is_err());
}

/// The relative links of a page that do not lead to a written file.
fn dangling(dir: &Path, page: &Path) -> Vec<String> {
    let html = std::fs::read_to_string(page).unwrap();
    let mut out = Vec::new();
    for part in html.split("href=\"").skip(1) {
        let href = part
            .split('"')
            .next()
            .unwrap()
            .replace("&#x2f;", "/")
            .replace("&amp;", "&");
        let target = href.split('#').next().unwrap();
        if target.is_empty() {
            continue;
        }
        assert!(
            !target.contains("://") && !target.starts_with('/'),
            "{href}"
        );
        let mut p = page.parent().unwrap().to_path_buf();
        for seg in target.split('/') {
            match seg {
                ".." => {
                    p.pop();
                }
                s => p.push(percent_decode(s)),
            }
        }
        if !p.starts_with(dir) || !p.is_file() {
            out.push(href);
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_static_export_is_self_contained() {
    let (_d, s) = store();
    let out = tempfile::tempdir().unwrap();
    let written = write_static(&s, FAIL_RUN, out.path()).unwrap();
    let rel: Vec<PathBuf> = written
        .iter()
        .map(|p| p.strip_prefix(out.path()).unwrap().to_path_buf())
        .collect();
    for want in [
        "index.html".to_string(),
        "signatures.html".into(),
        "phases.html".into(),
        format!("runs/{FAIL_RUN}.html"),
        format!("runs/{FAIL_RUN}/console-prefix-{CULPRIT}.log.html"),
        format!("runs/{FAIL_RUN}/bisect-report.txt.html"),
        format!("runs/{FAIL_RUN}/input/0007-warn-with-markup.patch.html"),
    ] {
        assert!(
            rel.contains(&PathBuf::from(&want)),
            "{want} not written: {rel:?}"
        );
    }
    assert!(!out
        .path()
        .join(format!("runs/{FAIL_RUN}/ceph.ko.html"))
        .exists());
    assert!(!out.path().join(format!("runs/{PASS_RUN}.html")).exists());
    for p in &written {
        let html = std::fs::read_to_string(p).unwrap();
        assert_inert(&p.display().to_string(), &html);
        assert!(
            !html.contains("href=\"raw/") && !html.contains("/raw/"),
            "{}",
            p.display()
        );
        let bad = dangling(out.path(), p);
        assert!(bad.is_empty(), "{}: dangling links {bad:?}", p.display());
    }
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    // (The engine escapes `/` in attributes too: harmless, the browser decodes it.)
    assert!(index.contains(&format!("href=\"runs&#x2f;{FAIL_RUN}.html\"")));
    assert!(index.contains(PASS_RUN), "other runs are listed");
    assert!(
        !index.contains(&format!("runs&#x2f;{PASS_RUN}.html")),
        "but not linked"
    );
}

/// One HTTP/1.0 request: (status line, headers, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (
        status.to_string(),
        headers.to_string(),
        buf[split + 4..].to_vec(),
    )
}

#[tokio::test]
async fn the_server_serves_pages_and_refuses_the_rest() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(harness_web::serve_with_shutdown(
        d.path().to_path_buf(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let (status, headers, body) = get(addr, "/").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("content-type: text/html; charset=utf-8"));
    assert!(headers.contains("content-security-policy: default-src 'none'"));
    assert!(headers.contains("x-content-type-options: nosniff"));
    assert!(String::from_utf8(body).unwrap().contains(FAIL_RUN));
    let (status, _, _) = get(
        addr,
        &format!("/runs/{FAIL_RUN}/console-prefix-{CULPRIT}.log.html"),
    )
    .await;
    assert!(status.contains(" 200 "), "{status}");
    let (status, headers, body) = get(
        addr,
        &format!("/raw/{FAIL_RUN}/console-prefix-{CULPRIT}.log"),
    )
    .await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("content-type: text/plain; charset=utf-8"));
    assert!(headers.contains("x-content-type-options: nosniff"));
    assert!(headers.contains("sandbox"));
    assert!(String::from_utf8(body).unwrap().contains(HOSTILE_CONSOLE));
    for bad in [
        format!("/runs/{FAIL_RUN}/../../harness.db.html"),
        format!("/raw/{FAIL_RUN}/..%2F..%2Fharness.db"),
        "/harness.db".to_string(),
        "/runs/nope.html".to_string(),
    ] {
        let (status, _, _) = get(addr, &bad).await;
        assert!(status.contains(" 404 "), "{bad}: {status}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// The static export moves into place whole: into a new directory, into an existing report
/// (pages replaced), and nothing but the report is left beside it.
#[test]
fn the_static_export_lands_whole() {
    let (_d, s) = store();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("report");
    let first = write_static(&s, FAIL_RUN, &out).unwrap();
    assert!(first.iter().all(|p| p.is_file()));
    let index = out.join("index.html");
    std::fs::write(&index, "stale").unwrap();
    let mine = out.join("mine.txt");
    std::fs::write(&mine, "kept").unwrap();
    let again = write_static(&s, FAIL_RUN, &out).unwrap();
    assert_eq!(first, again);
    assert!(std::fs::read_to_string(&index).unwrap().contains("</html>"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "kept");
    // A bad run writes nothing at all.
    let other = parent.path().join("other");
    assert!(write_static(&s, "no-such-run", &other).is_err());
    assert!(!other.exists());
    let names: Vec<String> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["report"], "temp dirs left: {names:?}");
}

/// A raw HTTP/1.1 exchange with a given Host header: the status line.
async fn status_with_host(addr: std::net::SocketAddr, host: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    c.write_all(format!("GET / HTTP/1.1\r\n{host}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// DNS rebinding (a page of a hostile site reading the dashboard through its own name), slow
/// clients, too many clients, framing, big artifacts.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_answers_only_its_own_names_and_bounds_its_clients() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    // A 20 MiB console: streamed, and its length announced.
    let big = d
        .path()
        .join("runs")
        .join(FAIL_RUN)
        .join(format!("console-prefix-{CULPRIT}.log"));
    std::fs::write(&big, vec![b'x'; 20 << 20]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = harness_web::ServeOptions {
        allow_hosts: vec!["dash.example.org".into()],
        header_read_timeout: Duration::from_secs(1),
        max_connections: 2,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(harness_web::serve_with_options(
        d.path().to_path_buf(),
        listener,
        opts,
        async move {
            let _ = stopped.await;
        },
    ));
    let port = addr.port();
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "dash.example.org".to_string(),
    ] {
        let s = status_with_host(addr, Some(&ok)).await;
        assert!(s.contains(" 200 "), "{ok}: {s}");
    }
    for bad in [
        Some(format!("evil.example:{port}")),
        Some("attacker.test".to_string()),
        Some(format!("127.0.0.1:{}", port.wrapping_add(1))),
        None,
    ] {
        let s = status_with_host(addr, bad.as_deref()).await;
        assert!(s.contains(" 421 ") || s.contains(" 400 "), "{bad:?}: {s}");
    }
    // Framing is refused in the header (a <meta> policy cannot say it).
    let (_, headers, _) = get(addr, "/").await;
    assert!(headers.contains("frame-ancestors 'none'"), "{headers}");
    assert!(headers.contains("x-frame-options: deny"), "{headers}");

    // Slow clients: two connections that never send their headers hold both slots; a third
    // client waits for them and is served once the header-read timeout has closed them.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: loc").await.unwrap();
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let (status, _, _) = get(addr, "/").await;
    let waited = t0.elapsed();
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "the third client waited {waited:?}"
    );
    // The slow ones were cut off.
    for mut c in idle {
        let mut buf = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf)).await;
        assert!(
            r.is_ok(),
            "a client that sends no headers keeps its connection"
        );
    }

    // The big artifact arrives whole, with its length.
    let (status, headers, body) = get(
        addr,
        &format!("/raw/{FAIL_RUN}/console-prefix-{CULPRIT}.log"),
    )
    .await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers.contains(&format!("content-length: {}", 20 << 20)),
        "{headers}"
    );
    assert_eq!(body.len(), 20 << 20);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
