//! What a check run, a pull-request comment and a regression issue say. Pure: no I/O.
//!
//! Everything that comes from a patch mail or a guest console is hostile text as far as markdown
//! is concerned: subjects are escaped (no HTML, no links, no @mentions), signatures go into code
//! spans and console excerpts into fenced blocks whose fence is longer than any backtick run in
//! them, so nothing can break out.

use std::fmt::Write;

use harness_core::finding::Finding;
use harness_core::report::{Culprit, Report, Verdict};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Change, Regression};

/// The check run's name, and the label of regression issues.
pub const NAME: &str = "cephfs-harness";
/// GitHub's limit on a check run's `output.summary` and `output.text`, and on an issue or comment
/// body, in characters (65536; one less for safety).
const MAX_BODY: usize = 65_535;
/// An excerpt longer than this is cut (the full console is on the dashboard).
const MAX_EXCERPT: usize = 20_000;
/// Rows of the prefix table and findings listed in a check run.
const MAX_ROWS: usize = 100;
const MAX_FINDINGS: usize = 10;
/// GitHub refuses issue titles longer than 256 characters.
const MAX_TITLE: usize = 256;

/// The check-run conclusion of a verdict. `infra-error` is `cancelled`: the harness could not
/// test the series, which says nothing against the kernel (so not `failure`), and unlike
/// `neutral` or `skipped`, which GitHub counts as passing a required check, it does not let an
/// untested series through branch protection.
pub fn conclusion(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "success",
        Verdict::Fail | Verdict::ApplyFailed | Verdict::BuildFailed => "failure",
        Verdict::InfraError => "cancelled",
    }
}

/// The dashboard's page of a run: `{dashboard}/runs/{run_id}.html`.
pub fn run_url(dashboard: &str, run_id: &str) -> String {
    let mut url = String::new();
    for c in dashboard.trim().trim_end_matches('/').chars() {
        // Characters that would end a markdown link destination or a URL in prose.
        match c {
            ' ' | '(' | ')' | '<' | '>' | '"' | '`' | '\\' => {
                let _ = write!(url, "%{:02X}", c as u32);
            }
            c if c.is_control() => {}
            c => url.push(c),
        }
    }
    url.push_str("/runs/");
    for b in run_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url.push_str(".html");
    url
}

/// The hex SHA-256 of a signature: what the issue marker carries.
pub fn signature_digest(signature: &str) -> String {
    Sha256::digest(signature.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The hidden line that ties an issue to its signature.
pub fn marker(signature: &str) -> String {
    format!(
        "<!-- cephfs-harness-signature: {} -->",
        signature_digest(signature)
    )
}

/// Whether an issue body carries the marker of `signature`: a line of its own, outside fenced
/// code (a console excerpt that happens to contain a marker line does not count).
pub fn has_marker(body: &str, signature: &str) -> bool {
    let marker = marker(signature);
    let mut fence: Option<(u8, usize)> = None;
    for line in body.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let run = |ch: u8| rest.bytes().take_while(|&b| b == ch).count();
        match fence {
            Some((ch, len)) => {
                if indent <= 3
                    && run(ch) >= len
                    && rest.trim_start_matches(ch as char).trim().is_empty()
                {
                    fence = None;
                }
            }
            None => {
                if indent <= 3 {
                    for ch in [b'`', b'~'] {
                        if run(ch) >= 3 {
                            fence = Some((ch, run(ch)));
                        }
                    }
                }
                if fence.is_none() && line.trim() == marker {
                    return true;
                }
            }
        }
    }
    false
}

/// The JSON of `POST /repos/{owner}/{repo}/check-runs`, less `head_sha` (the caller's).
/// The check run's name: `cephfs-harness / <job>`.
pub fn check_name(job: &str) -> String {
    truncate(&single_line(&format!("{NAME} / {job}")), 100)
}

pub fn check_run_body(report: &Report, dashboard: Option<&str>) -> Value {
    let url = dashboard.map(|d| run_url(d, &report.run_id));
    let mut summary = String::new();
    summary_md(&mut summary, report, url.as_deref());
    let mut text = String::new();
    for f in report.findings.iter().take(MAX_FINDINGS) {
        finding_md(&mut text, f);
    }
    if report.findings.len() > MAX_FINDINGS {
        let _ = writeln!(
            text,
            "{} more findings: see the dashboard.",
            report.findings.len() - MAX_FINDINGS
        );
    }
    let mut body = json!({
        // One check per job: two jobs on one commit (a nightly's) must not hide each other.
        "name": check_name(&report.job),
        "status": "completed",
        "conclusion": conclusion(report.verdict),
        "external_id": report.run_id,
        "output": {
            // Plain text, not markdown.
            "title": truncate(&single_line(&format!("{}: {}", report.verdict, report.reason)), 200),
            "summary": truncate(&summary, MAX_BODY),
            "text": truncate(&text, MAX_BODY),
        },
    });
    if let Some(url) = url {
        body["details_url"] = Value::String(url);
    }
    body
}

/// The comment on a pull request: the summary and the first finding.
pub fn pr_comment(report: &Report, dashboard: Option<&str>) -> String {
    let url = dashboard.map(|d| run_url(d, &report.run_id));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!-- cephfs-harness-run: {} -->",
        run_id_token(&report.run_id)
    );
    let _ = writeln!(s, "### {NAME}: {}\n", report.verdict);
    summary_md(&mut s, report, url.as_deref());
    if let Some(f) = report.findings.first() {
        let _ = writeln!(s);
        finding_md(&mut s, f);
        if report.findings.len() > 1 {
            let _ = writeln!(
                s,
                "and {} more findings{}.",
                report.findings.len() - 1,
                if url.is_some() {
                    " on the dashboard"
                } else {
                    ""
                }
            );
        }
    }
    truncate(&s, MAX_BODY)
}

/// The title of the regression issue of a signature.
pub fn issue_title(signature: &str) -> String {
    truncate(&single_line(&format!("{NAME}: {signature}")), MAX_TITLE)
}

/// The body of a new regression issue: the marker first, then what was seen.
pub fn issue_body(r: &Regression) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", marker(r.signature));
    let lead = match r.change {
        Change::New => "A new regression in the nightly run",
        Change::StillFailing => "A regression that is still failing in the nightly run",
        Change::Fixed => "A regression no longer seen in the nightly run",
    };
    let _ = writeln!(s, "{lead}: {}.\n", code_span(r.signature));
    regression_md(&mut s, r);
    let _ = writeln!(
        s,
        "<sub>Opened by {NAME}; it comments here while the signature keeps failing and closes \
         the issue when a nightly run no longer shows it. Keep the first line of this description.</sub>"
    );
    truncate(&s, MAX_BODY)
}

/// A comment on an existing regression issue.
pub fn issue_comment(r: &Regression) -> String {
    let mut s = String::new();
    let run = run_ref(r.report, r.dashboard);
    match r.change {
        Change::New | Change::StillFailing => {
            let _ = writeln!(s, "Still failing in run {run}.\n");
            regression_md(&mut s, r);
        }
        Change::Fixed => {
            let _ = writeln!(
                s,
                "Fixed in run {run} (suite {}, job {}): {} was not seen. Closing.",
                md_escape(r.suite),
                md_escape(r.job),
                code_span(r.signature)
            );
        }
    }
    truncate(&s, MAX_BODY)
}

fn regression_md(s: &mut String, r: &Regression) {
    let report = r.report;
    let _ = writeln!(s, "- **Suite:** {}", md_escape(r.suite));
    let _ = writeln!(s, "- **Job:** {}", md_escape(r.job));
    let _ = writeln!(s, "- **Run:** {}", run_ref(report, r.dashboard));
    let _ = writeln!(s, "- **Signature:** {}", code_span(r.signature));
    let _ = writeln!(
        s,
        "- **Culprit:** {}",
        culprit_md(report.culprit.as_ref(), Some(r.signature))
    );
    let _ = writeln!(s, "- **Kernel:** {}", md_escape(&report.kernel));
    let _ = writeln!(
        s,
        "- **Series:** {} ({} patches)",
        md_escape(&report.series.subject),
        report.series.patch_count
    );
    let _ = writeln!(s);
    match report.findings.iter().find(|f| f.title == r.signature) {
        Some(f) => finding_md(s, f),
        None => {
            let _ = writeln!(
                s,
                "No finding of run {} has this signature.\n",
                md_escape(&report.run_id)
            );
        }
    }
}

/// Verdict, reason, series, culprit and the prefix table.
fn summary_md(s: &mut String, report: &Report, url: Option<&str>) {
    let _ = writeln!(
        s,
        "**Verdict: {}**: {}\n",
        report.verdict,
        md_escape(&report.reason)
    );
    let _ = writeln!(
        s,
        "- **Series:** {} ({} patches)",
        md_escape(&report.series.subject),
        report.series.patch_count
    );
    let _ = writeln!(s, "- **Job:** {}", md_escape(&report.job));
    let _ = writeln!(
        s,
        "- **Kernel:** {}{}",
        md_escape(&report.kernel),
        report
            .accel
            .as_deref()
            .map(|a| format!(" ({})", md_escape(a)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "- **Run:** {}",
        match url {
            Some(u) => format!("[{}]({u})", md_escape(&report.run_id)),
            None => md_escape(&report.run_id),
        }
    );
    if report.culprit.is_some() {
        let _ = writeln!(
            s,
            "- **Culprit:** {}",
            culprit_md(report.culprit.as_ref(), None)
        );
    }
    for f in &report.fixes {
        let _ = writeln!(
            s,
            "- **Fixes:** {}",
            md_escape(&harness_core::fix::describe_fix(f))
        );
    }
    for p in &report.pre_existing {
        let _ = writeln!(
            s,
            "- **Pre-existing:** {}",
            md_escape(&harness_core::fix::describe_pre_existing(p))
        );
    }
    if report.prefixes.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n| prefix | patch | applied | built | guest |");
    let _ = writeln!(s, "|---:|---|---|---|---|");
    for p in report.prefixes.iter().take(MAX_ROWS) {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            p.index,
            md_escape(&p.subject),
            yes_no(p.applied),
            p.built.map(yes_no).unwrap_or("-"),
            p.test.as_ref().map(|t| t.verdict.as_str()).unwrap_or("-"),
        );
    }
    if report.prefixes.len() > MAX_ROWS {
        let _ = writeln!(s, "\n{} more prefixes.", report.prefixes.len() - MAX_ROWS);
    }
}

/// A finding: kind, prefix, console line and its excerpt, fenced.
fn finding_md(s: &mut String, f: &Finding) {
    let _ = writeln!(
        s,
        "**{}** {}{}, console line {}:\n",
        f.kind,
        code_span(&f.title),
        f.prefix
            .map(|p| format!(" in prefix {p}"))
            .unwrap_or_default(),
        f.line
    );
    if let Some(func) = &f.outside {
        let _ = writeln!(
            s,
            "Outside the code under test (in {}): likely not the series' doing.\n",
            code_span(func)
        );
    }
    let excerpt = truncate(&f.excerpt, MAX_EXCERPT);
    s.push_str(&fenced(&excerpt));
    s.push('\n');
}

fn culprit_md(c: Option<&Culprit>, signature: Option<&str>) -> String {
    let Some(c) = c else {
        return "no bisection".into();
    };
    let mut s = if c.index == 0 {
        "none in the series: the base fails too".to_string()
    } else {
        format!("patch {} \"{}\"", c.index, md_escape(&c.subject))
    };
    let others: Vec<String> = c
        .candidates
        .iter()
        .filter(|&&k| k != c.index)
        .map(|k| k.to_string())
        .collect();
    if !others.is_empty() {
        let _ = write!(
            s,
            ", not told apart from patches {} (prefixes that do not build)",
            others.join(", ")
        );
    }
    let _ = write!(
        s,
        " (confidence {:.1}%{}, {})",
        c.confidence * 100.0,
        if c.confident { "" } else { ", a best guess" },
        if c.verified {
            "verified"
        } else {
            "not verified"
        }
    );
    if signature.is_some_and(|sig| sig != c.signature) {
        let _ = write!(s, "; bisected for {}", code_span(&c.signature));
    }
    s
}

fn run_ref(report: &Report, dashboard: Option<&str>) -> String {
    match dashboard {
        Some(d) => format!(
            "[{}]({})",
            md_escape(&report.run_id),
            run_url(d, &report.run_id)
        ),
        None => md_escape(&report.run_id),
    }
}

/// A run id that cannot end an HTML comment.
fn run_id_token(run_id: &str) -> String {
    run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._:".contains(*c))
        .collect()
}

/// Text from a mail header or the harness's own words, made inert for GitHub markdown: no HTML, no
/// emphasis, no links or images, no table breaks, no @mentions; one line.
pub(crate) fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // A zero-width space after the @ keeps GitHub from notifying anyone.
            '@' => out.push_str("@&#8203;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '~' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An inline code span that holds `s` verbatim (on one line), whatever backticks it contains.
pub(crate) fn code_span(s: &str) -> String {
    let s = single_line(s);
    let ticks = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || (s.starts_with(' ') && s.ends_with(' '))
    {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// A fenced code block that holds `s` verbatim: the fence is longer than any backtick run in it.
pub(crate) fn fenced(s: &str) -> String {
    let fence = "`".repeat(longest_run(s, '`').max(2) + 1);
    let body = s.trim_end_matches(['\n', '\r']);
    format!("{fence}text\n{body}\n{fence}\n")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        cur = if c == ch { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `max` characters; a cut text says so.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let note = "\n… (cut)";
    let keep = max.saturating_sub(note.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_report::{report, HOSTILE_SUBJECT};

    #[test]
    fn conclusions_per_verdict() {
        assert_eq!(conclusion(Verdict::Pass), "success");
        assert_eq!(conclusion(Verdict::Fail), "failure");
        assert_eq!(conclusion(Verdict::ApplyFailed), "failure");
        assert_eq!(conclusion(Verdict::BuildFailed), "failure");
        assert_eq!(conclusion(Verdict::InfraError), "cancelled");
    }

    #[test]
    fn fixes_pre_existing_and_outside_findings_are_said_distinctly() {
        let mut r = crate::test_report::report(Verdict::Pass);
        r.fixes = vec![harness_core::report::Fix {
            signature: "WARNING in ceph_unlink".into(),
            base_failures: 1,
            base_boots: 1,
            tip_passes: 4,
            tip_boots: 4,
            confidence: 0.996,
            confident: true,
            from_prefix: None,
        }];
        r.pre_existing = vec![harness_core::report::PreExisting {
            signature: "kernel BUG in iput".into(),
            base_failures: 1,
            base_boots: 1,
            tip_failures: 1,
            tip_boots: 1,
        }];
        r.findings[0].outside = Some("net_rx_action".into());
        let body = check_run_body(&r, None);
        let summary = body["output"]["summary"].as_str().unwrap();
        assert!(
            summary.contains("- **Fixes:** fixes \"WARNING in ceph\\_unlink\" \\(base failed 1/1"),
            "{summary}"
        );
        assert!(
            summary.contains("- **Pre-existing:** pre-existing \"kernel BUG in iput\""),
            "{summary}"
        );
        let text = body["output"]["text"].as_str().unwrap();
        assert!(
            text.contains("Outside the code under test (in `net_rx_action`)"),
            "{text}"
        );
    }

    #[test]
    fn escaping_neutralises_html_links_and_mentions() {
        let e = md_escape(HOSTILE_SUBJECT);
        assert!(!e.contains('<') && !e.contains('>'), "{e}");
        assert!(
            e.contains("&lt;script&gt;alert\\(1\\)&lt;/script&gt;"),
            "{e}"
        );
        assert!(e.contains("@&#8203;someone"), "{e}");
        assert!(!e.contains("@someone"), "{e}");
        assert_eq!(md_escape("[x](javascript:y)"), "\\[x\\]\\(javascript:y\\)");
        assert_eq!(
            md_escape("a|b\nc & *d* _e_"),
            "a\\|b c &amp; \\*d\\* \\_e\\_"
        );
    }

    #[test]
    fn code_spans_and_fences_hold_backticks() {
        assert_eq!(
            code_span("WARNING in ceph_unlink"),
            "`WARNING in ceph_unlink`"
        );
        assert_eq!(code_span("a `b` c"), "``a `b` c``");
        assert_eq!(code_span("`x"), "`` `x ``");
        let excerpt = "line 1\n```\n<!-- cephfs-harness-signature: x -->\n`````\nend\n";
        let f = fenced(excerpt);
        assert!(f.starts_with("``````text\n"), "{f}");
        assert!(f.ends_with("\nend\n``````\n"), "{f}");
        assert_eq!(fenced("plain"), "```text\nplain\n```\n");
    }

    #[test]
    fn markers_count_only_outside_fences() {
        let sig = "WARNING in ceph_unlink";
        let m = marker(sig);
        assert_eq!(m.len(), "<!-- cephfs-harness-signature:  -->".len() + 64);
        assert!(has_marker(&format!("{m}\nrest"), sig));
        assert!(has_marker(&format!("intro\r\n  {m}  \r\nrest"), sig));
        assert!(!has_marker(&format!("{m}\n"), "WARNING in ceph_link"));
        assert!(!has_marker(&format!("see {m}"), sig));
        assert!(!has_marker(&format!("````text\n{m}\n```\n````\n"), sig));
        assert!(has_marker(&format!("~~~\nx\n~~~\n{m}\n"), sig));
        assert!(!has_marker("cephfs-harness: WARNING in ceph_unlink", sig));
    }

    #[test]
    fn run_urls_join_and_encode() {
        assert_eq!(
            run_url("https://dash.example/ceph/", "2024-01-02T03:04:05Z-ab"),
            "https://dash.example/ceph/runs/2024-01-02T03%3A04%3A05Z-ab.html"
        );
        assert_eq!(
            run_url("http://h/a b)", "r/../x"),
            "http://h/a%20b%29/runs/r%2F..%2Fx.html"
        );
    }

    #[test]
    fn check_run_body_has_conclusion_link_and_escaped_output() {
        let r = report(Verdict::Fail);
        let b = check_run_body(&r, Some("https://dash.example"));
        assert_eq!(b["name"], format!("cephfs-harness / {}", r.job));
        assert_eq!(b["status"], "completed");
        assert_eq!(b["conclusion"], "failure");
        assert_eq!(b["external_id"], r.run_id);
        assert_eq!(b["details_url"], "https://dash.example/runs/run-1.html");
        assert!(b.get("head_sha").is_none());
        let summary = b["output"]["summary"].as_str().unwrap();
        assert!(
            !summary.contains("<script>") && !summary.contains("@someone"),
            "{summary}"
        );
        assert!(summary.contains("| 2 | "), "{summary}");
        assert!(summary.contains("patch 2 \""), "{summary}");
        let text = b["output"]["text"].as_str().unwrap();
        assert!(text.contains("````text\n"), "{text}");
        assert!(b["output"]["title"].as_str().unwrap().starts_with("fail: "));

        let b = check_run_body(&report(Verdict::InfraError), None);
        assert_eq!(b["conclusion"], "cancelled");
        assert!(b.get("details_url").is_none());
        assert_eq!(
            check_run_body(&report(Verdict::Pass), None)["conclusion"],
            "success"
        );
    }

    #[test]
    fn pr_comment_is_escaped_and_fenced() {
        let c = pr_comment(&report(Verdict::Fail), Some("https://dash.example/"));
        assert!(
            c.starts_with("<!-- cephfs-harness-run: run-1 -->\n### cephfs-harness: fail\n"),
            "{c}"
        );
        assert!(!c.contains("<script>") && !c.contains("@someone"), "{c}");
        assert!(
            c.contains("[run-1](https://dash.example/runs/run-1.html)"),
            "{c}"
        );
        // The excerpt's own ``` cannot close the block: the fence is four backticks.
        assert!(c.contains("````text\n[  12.5] WARNING"), "{c}");
    }

    #[test]
    fn issue_title_and_body() {
        assert_eq!(
            issue_title("WARNING in ceph_unlink"),
            "cephfs-harness: WARNING in ceph_unlink"
        );
        assert!(issue_title(&"x".repeat(400)).chars().count() <= 256);

        let r = report(Verdict::Fail);
        let reg = Regression {
            suite: "nightly",
            job: "default@cluster",
            signature: "WARNING in ceph_unlink",
            change: Change::New,
            report: &r,
            dashboard: Some("https://dash.example"),
        };
        let b = issue_body(&reg);
        assert!(
            b.starts_with(&format!("{}\n", marker("WARNING in ceph_unlink"))),
            "{b}"
        );
        assert!(has_marker(&b, "WARNING in ceph_unlink"));
        assert!(b.contains("- **Suite:** nightly\n"), "{b}");
        assert!(b.contains("- **Job:** default@&#8203;cluster\n"), "{b}");
        assert!(
            b.contains("- **Signature:** `WARNING in ceph_unlink`\n"),
            "{b}"
        );
        assert!(
            b.contains("[run-1](https://dash.example/runs/run-1.html)"),
            "{b}"
        );
        assert!(
            b.contains("- **Culprit:** patch 2 \"fs/ceph: &lt;script&gt;alert\\(1\\)&lt;/script&gt; for @&#8203;someone\" (confidence 99.5%, verified)"),
            "{b}"
        );
        assert!(
            b.contains("**warning** `WARNING in ceph_unlink` in prefix 2, console line 40:"),
            "{b}"
        );
        assert!(b.contains("````text\n[  12.5] WARNING: CPU: 0 PID: 1 at fs/ceph/dir.c:1 ceph_unlink\n```\nnot the end\n````\n"), "{b}");
        assert!(!b.contains("<script>") && !b.contains("@someone"), "{b}");

        // No bisection, and a signature the report has no finding for.
        let mut r2 = report(Verdict::Fail);
        r2.culprit = None;
        let reg = Regression {
            signature: "BUG in elsewhere",
            report: &r2,
            dashboard: None,
            ..reg
        };
        let b = issue_body(&reg);
        assert!(b.contains("- **Culprit:** no bisection\n"), "{b}");
        assert!(
            b.contains("No finding of run run-1 has this signature."),
            "{b}"
        );
        assert!(b.contains("- **Run:** run-1\n"), "{b}");
    }

    #[test]
    fn comments_say_what_changed() {
        let r = report(Verdict::Fail);
        let mut reg = Regression {
            suite: "nightly",
            job: "default",
            signature: "WARNING in ceph_unlink",
            change: Change::StillFailing,
            report: &r,
            dashboard: None,
        };
        let c = issue_comment(&reg);
        assert!(c.starts_with("Still failing in run run-1.\n"), "{c}");
        assert!(!c.contains("cephfs-harness-signature"), "{c}");
        reg.change = Change::Fixed;
        let c = issue_comment(&reg);
        assert!(
            c.starts_with("Fixed in run run-1 (suite nightly, job default)"),
            "{c}"
        );
    }

    #[test]
    fn long_excerpts_are_cut_and_stay_fenced() {
        let mut r = report(Verdict::Fail);
        r.findings[0].excerpt = "x".repeat(100_000);
        let c = pr_comment(&r, None);
        assert!(c.chars().count() <= MAX_BODY);
        assert!(c.contains("… (cut)\n```\n"), "{}", &c[c.len() - 200..]);
    }
}
