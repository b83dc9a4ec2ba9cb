//! The dashboard in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver), served by `harness_web::serve_listener` and loaded from a static export through
//! `file://`. Hostile strings from patches, mail headers and consoles must show as text and run
//! nothing; the matrix, the highlighted console excerpt and the screenshots are checked.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/install-deps` installs Debian's
//! `chromium` and `chromium-driver`); `CHROMIUM` / `CHROMEDRIVER` override the paths.
//! Screenshots go to `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use harness_core::finding::Finding;
use harness_store::Store;
use serde_json::{json, Value};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
/// The fail colour of the pages (`--fail` in style.css): the verdict banner, fail cells.
const FAIL_RGB: [u8; 3] = [0xc6, 0x28, 0x28];

fn tool(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        p.is_file(),
        "{} not found ({var} unset or wrong): the browser test needs Debian's chromium and \
         chromium-driver packages; run scripts/install-deps",
        p.display()
    );
    p
}

/// chromedriver (and the Chromium it starts), in their own process group: killed on drop, also
/// when the test panics.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(chromedriver: &Path, log: &Path) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", chromedriver.display()));
        let d = Driver { child, port };
        // Ready when it accepts connections (chromedriver prints its banner first).
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen on port {port} within 30 s; its log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--no-sandbox", "--headless=new", "--disable-gpu",
                     format!("--window-size={WIDTH},{HEIGHT}"), "--hide-scrollbars"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session with headless Chromium")
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Nothing from the data became markup or ran.
async fn assert_inert(c: &Client, what: &str) {
    let v = js(
        c,
        r#"return {
            xss: typeof window.__xss,
            scripts: document.scripts.length,
            imgs: document.querySelectorAll('img').length,
            handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
            injected: document.querySelectorAll('b, textarea, iframe, object, embed, svg[onload]').length,
            // (A text/plain document has no title.)
            titles: document.contentType === 'text/html' ? document.querySelectorAll('head title').length : 1,
            type: document.contentType,
        };"#,
        vec![],
    )
    .await;
    assert_eq!(v["xss"], "undefined", "{what}: injected script ran: {v}");
    assert_eq!(v["scripts"], 0, "{what}: a script element exists: {v}");
    assert_eq!(v["imgs"], 0, "{what}: an img element exists: {v}");
    assert_eq!(
        v["handlers"], 0,
        "{what}: an event handler attribute exists: {v}"
    );
    assert_eq!(v["injected"], 0, "{what}: markup from the data: {v}");
    assert_eq!(v["titles"], 1, "{what}: the title was broken out of: {v}");
    assert_eq!(
        c.find_all(Locator::Css(r#"img[src="x"]"#))
            .await
            .unwrap()
            .len(),
        0,
        "{what}"
    );
}

/// The page's text holds `s` literally.
async fn assert_text(c: &Client, what: &str, s: &str) {
    let found = js(
        c,
        "return document.body.textContent.includes(arguments[0]);",
        vec![json!(s)],
    )
    .await;
    assert_eq!(found, json!(true), "{what}: the text `{s}` is not shown");
}

async fn visit(c: &Client, url: &str) {
    c.goto(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let title = c.title().await.unwrap();
    assert!(title.contains("cephfs-harness"), "{url}: title {title:?}");
}

/// Decoded screenshot: (width, height, RGB pixels).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let mut d = png::Decoder::new(std::io::Cursor::new(png_bytes));
    d.set_transformations(png::Transformations::normalize_to_color8());
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let n = info.color_type.samples();
    assert!(n >= 3, "colour screenshot, got {:?}", info.color_type);
    let px = buf[..info.buffer_size()]
        .chunks(n)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, px)
}

/// Take a screenshot, keep it, check it: the window's size, not blank, and at least `fail_pixels`
/// pixels of the fail colour.
async fn screenshot(c: &Client, dir: &Path, name: &str, fail_pixels: usize) -> PathBuf {
    let bytes = c.screenshot().await.unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &bytes).unwrap();
    let (w, h, px) = decode(&bytes);
    // The window is WIDTH × HEIGHT; its viewport (what a screenshot shows) is as wide, and less
    // tall by what headless Chromium reserves for its (invisible) window frame.
    let inner = js(
        c,
        "return [window.innerWidth, window.innerHeight, window.devicePixelRatio];",
        vec![],
    )
    .await;
    let viewport: (u32, u32) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    assert_eq!(inner[2], json!(1), "{name}: device pixel ratio");
    assert_eq!(
        (w, h),
        viewport,
        "{name}: screenshot size is the viewport's"
    );
    assert_eq!(w, WIDTH, "{name}: screenshot width");
    assert!(
        h <= HEIGHT && h > HEIGHT / 2,
        "{name}: screenshot height {h}"
    );
    let colours: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
    assert!(
        colours.len() > 20,
        "{name}: blank screenshot ({} colours)",
        colours.len()
    );
    let white = px.iter().filter(|p| **p == [255, 255, 255]).count();
    assert!(white < px.len(), "{name}: all white");
    let red = px.iter().filter(|p| **p == FAIL_RGB).count();
    assert!(
        red >= fail_pixels,
        "{name}: the fail colour covers {red} pixels, expected {fail_pixels}"
    );
    path
}

/// Scroll an element to the top of the window.
async fn scroll_to(c: &Client, css: &str) {
    js(
        c,
        "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); return true;",
        vec![json!(css)],
    )
    .await;
}

/// Every page kind, at `base` (http://... or file://...).
/// `warn`: the run's WARNING finding.
async fn check_site(c: &Client, base: &str, shots: &Path, tag: &str, served: bool, warn: &Finding) {
    // Index: runs over time, the strip, the nightly history.
    visit(c, &format!("{base}/index.html")).await;
    assert_inert(c, "index").await;
    for s in [
        HOSTILE_SERIES,
        HOSTILE_SUBJECT,
        HOSTILE_TITLE,
        FAIL_RUN,
        NIGHTLY_2,
    ] {
        assert_text(c, "index", s).await;
    }
    let marks = c.find_all(Locator::Css(".strip rect")).await.unwrap();
    assert_eq!(marks.len(), 5, "one strip mark per run");
    screenshot(c, shots, &format!("{tag}-index"), 300).await;

    // The run: verdict banner, matrix, findings, bisection, revert.
    visit(c, &format!("{base}/runs/{FAIL_RUN}.html")).await;
    assert_inert(c, "run page").await;
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(h1.contains(HOSTILE_SERIES), "h1: {h1}");
    for s in [HOSTILE_SUBJECT, HOSTILE_TITLE, SIGNATURE] {
        assert_text(c, "run page", s).await;
    }
    let banner = js(
        c,
        "return getComputedStyle(document.querySelector('.banner')).backgroundColor;",
        vec![],
    )
    .await;
    assert_eq!(banner, json!("rgb(198, 40, 40)"), "the stylesheet applies");
    let cell = c
        .find(Locator::Css(&format!(
            "td.cell[data-prefix=\"{CULPRIT}\"][data-workload=\"{WORKLOAD}\"]"
        )))
        .await
        .unwrap();
    let class = cell.attr("class").await.unwrap().unwrap_or_default();
    let text = cell.text().await.unwrap();
    assert!(class.split(' ').any(|c| c == "fail"), "cell class {class}");
    assert!(
        text.starts_with("fail") && text.contains(SIGNATURE),
        "cell text {text:?}"
    );
    let base_cell = c
        .find(Locator::Css("td.cell[data-prefix=\"0\"]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(base_cell.trim(), "pass");
    let subject = c
        .find(Locator::Css(&format!("#prefix-{CULPRIT} td.subject")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        subject.contains(HOSTILE_SUBJECT),
        "matrix subject {subject:?}"
    );
    assert_eq!(
        c.find_all(Locator::Css("#bisection ~ figure circle"))
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        c.find_all(Locator::Css("table.bisection tbody tr"))
            .await
            .unwrap()
            .len(),
        5
    );
    screenshot(c, shots, &format!("{tag}-run"), 20_000).await;
    scroll_to(c, "#findings").await;
    screenshot(c, shots, &format!("{tag}-run-findings"), 0).await;
    scroll_to(c, "#bisection").await;
    screenshot(c, shots, &format!("{tag}-run-bisection"), 50).await;

    // The matrix cell links to the console at the finding; the excerpt is highlighted there.
    let href = c
        .find(Locator::Css(&format!(
            "td.cell[data-prefix=\"{CULPRIT}\"] a"
        )))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.ends_with(&format!("console-prefix-{CULPRIT}.log.html#L{}", warn.line)),
        "{href}"
    );
    c.find(Locator::Css(&format!(
        "td.cell[data-prefix=\"{CULPRIT}\"] a"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let url = c.current_url().await.unwrap();
    assert!(url.as_str().ends_with(&format!("#L{}", warn.line)), "{url}");
    assert_inert(c, "console").await;
    assert_text(c, "console", HOSTILE_CONSOLE).await;
    assert_text(c, "console", HOSTILE_TITLE).await;
    let hl = js(
        c,
        r#"const hl = [...document.querySelectorAll('.ln.hl')];
           return { n: hl.length, warning: hl.some(e => e.textContent.includes('WARNING')),
                    ids: hl.map(e => e.id),
                    target: document.querySelector(':target') && document.querySelector(':target').id,
                    colour: getComputedStyle(document.querySelector('.ln.hl:not(:target)')).backgroundColor,
                    plain: getComputedStyle(document.querySelector('#L1')).backgroundColor,
                    hostile: hl.some(e => e.textContent.includes(arguments[0])) };"#,
        vec![json!(HOSTILE_CONSOLE)],
    )
    .await;
    assert_eq!(
        hl["warning"],
        json!(true),
        "a highlighted line holds the WARNING: {hl}"
    );
    assert_eq!(
        hl["hostile"],
        json!(true),
        "the markup line of the excerpt is highlighted, as text"
    );
    assert_eq!(hl["target"], json!(format!("L{}", warn.line)));
    assert_eq!(
        hl["colour"],
        json!("rgb(255, 243, 176)"),
        "highlighted lines are yellow"
    );
    assert_ne!(hl["plain"], hl["colour"]);
    let ids: Vec<String> = serde_json::from_value(hl["ids"].clone()).unwrap();
    let end = warn.line + warn.excerpt.lines().count() - 1;
    for l in [warn.line, end] {
        assert!(ids.contains(&format!("L{l}")), "line {l} highlighted");
    }
    assert!(!ids.contains(&"L1".to_string()));
    let findings = c.find_all(Locator::Css("ul.findings li")).await.unwrap();
    assert!(
        findings.len() >= 3,
        "the console's findings listed at the top"
    );
    screenshot(c, shots, &format!("{tag}-console"), 0).await;

    // The patch as mailed: its headers hold markup.
    visit(
        c,
        &format!("{base}/runs/{FAIL_RUN}/input/0007-warn-with-markup.patch.html"),
    )
    .await;
    assert_inert(c, "patch").await;
    assert_text(c, "patch", "Subject: [PATCH] ceph: warn <script>window.__xss=1</script> on unlink & <img src=x onerror=window.__xss=2>").await;
    assert_text(
        c,
        "patch",
        "From: \"<b>cephfs-harness</b> fixtures\" <harness@localhost>",
    )
    .await;
    screenshot(c, shots, &format!("{tag}-patch"), 0).await;

    visit(c, &format!("{base}/signatures.html")).await;
    assert_inert(c, "signatures").await;
    assert_text(c, "signatures", HOSTILE_TITLE).await;
    assert_text(c, "signatures", SIGNATURE).await;
    screenshot(c, shots, &format!("{tag}-signatures"), 0).await;

    visit(c, &format!("{base}/phases.html")).await;
    assert_inert(c, "phases").await;
    let lines = c
        .find_all(Locator::Css("figure.plot polyline"))
        .await
        .unwrap();
    assert_eq!(lines.len(), 6, "one line per phase");
    let legend = c
        .find(Locator::Css("figure.plot figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for p in ["apply", "build", "cluster", "image", "guest", "teardown"] {
        assert!(legend.contains(p), "legend {legend:?}");
    }
    // Seconds on the y axis: 0 to 400 s in steps of 100 s (the longest phase is a 330 s build).
    let ticks = js(
        c,
        "return [...document.querySelectorAll('figure.plot svg text')].map(t => t.textContent);",
        vec![],
    )
    .await;
    for t in ["0 s", "100 s", "400 s", "seconds", "nightly run"] {
        assert!(
            ticks.as_array().unwrap().contains(&json!(t)),
            "axis text {t}: {ticks}"
        );
    }
    screenshot(c, shots, &format!("{tag}-phases"), 0).await;

    if served {
        visit(c, &format!("{base}/runs/{INTERRUPTED_RUN}.html")).await;
        assert_inert(c, "interrupted").await;
        assert_text(c, "interrupted", "This run is interrupted").await;
        screenshot(c, shots, &format!("{tag}-interrupted"), 0).await;
        visit(c, &format!("{base}/runs/{BUILD_FAIL_RUN}.html")).await;
        assert_inert(c, "build failed").await;
        assert_eq!(
            c.find_all(Locator::Css("td.cell.not-built"))
                .await
                .unwrap()
                .len(),
            1,
            "the prefix that does not build"
        );
        screenshot(c, shots, &format!("{tag}-build-failed"), 0).await;
        // The raw console is text/plain: the browser shows the markup as text.
        c.goto(&format!(
            "{base}/raw/{FAIL_RUN}/console-prefix-{CULPRIT}.log"
        ))
        .await
        .unwrap();
        assert_inert(c, "raw console").await;
        let t = js(c, "return document.contentType;", vec![]).await;
        assert_eq!(t, json!("text/plain"), "the raw console is shown as text");
        assert_text(c, "raw console", HOSTILE_CONSOLE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_headless_chromium() {
    let t0 = Instant::now();
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let d = tempfile::tempdir().unwrap();
    let results = d.path().join("results");
    build(&results);
    let export = d.path().join("export");
    let (written, warn) = {
        let s = Store::open(&results).unwrap();
        let report = s.report(FAIL_RUN).unwrap();
        let warn = report
            .findings
            .into_iter()
            .find(|f| f.title == SIGNATURE)
            .unwrap();
        (
            harness_web::write_static(&s, FAIL_RUN, &export).unwrap(),
            warn,
        )
    };
    assert!(written.len() > 10);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(harness_web::serve_listener(results.clone(), listener));

    let driver = Driver::start(&chromedriver, &d.path().join("chromedriver.log"));
    let c = browser(&driver, &chromium).await;
    check_site(&c, &format!("http://{addr}"), &shots, "served", true, &warn).await;
    check_site(
        &c,
        &format!("file://{}", export.display()),
        &shots,
        "static",
        false,
        &warn,
    )
    .await;
    c.close().await.unwrap();
    drop(driver);
    server.abort();

    let n = std::fs::read_dir(&shots).unwrap().count();
    eprintln!(
        "browser test: {} s, {n} screenshots in {}",
        t0.elapsed().as_secs(),
        shots.display()
    );
}
