//! Data-driven check of the scanner against real captured guest consoles.
//!
//! For every `tests/fixtures/NAME.log`, `scan_text` must produce exactly the findings listed in
//! `tests/fixtures/NAME.expected`, one `kind<TAB>title` line each, in console order. See
//! `tests/fixtures/README.md` for the format and for what may go into a fixture.
//!
//! Runs with `cargo test -p harness-scan --test fixtures`. Setting
//! `HARNESS_SCAN_BLESS=1` (re)writes the `.expected` files from the scanner's current output,
//! keeping their `#` note lines; every blessed line must then be reviewed by hand.

use std::fs;
use std::path::{Path, PathBuf};

use harness_scan::scan_text;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The `.log` files of the fixtures directory, sorted for a stable report.
fn logs(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log") && p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    logs.sort();
    logs
}

/// What the scanner finds in a console, as `kind<TAB>title` lines.
fn findings(console: &str) -> Vec<String> {
    scan_text(console)
        .iter()
        .map(|f| format!("{}\t{}", f.kind, f.title))
        .collect()
}

/// The finding lines of an `.expected` file: blank lines and `#` note lines are not findings.
fn expected_findings(expected: &str) -> Vec<String> {
    expected
        .lines()
        .map(|l| l.trim_end_matches(['\r', ' ']))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The `#` note lines of an `.expected` file (how the log was produced).
fn notes(expected: &str) -> Vec<&str> {
    expected.lines().filter(|l| l.starts_with('#')).collect()
}

const TODO_NOTE: &str =
    "# TODO: say how this log was produced (kernel build, QEMU/harness command, workload, date, trimming)";

/// A short line-by-line comparison for the failure message.
fn diff(want: &[String], got: &[String]) -> String {
    let mut out = String::new();
    for w in want.iter().filter(|w| !got.contains(w)) {
        out.push_str(&format!("  - {w}\n"));
    }
    for g in got.iter().filter(|g| !want.contains(g)) {
        out.push_str(&format!("  + {g}\n"));
    }
    if out.is_empty() {
        out.push_str("  (same lines, different order or count)\n");
    }
    out.push_str("  expected:\n");
    want.iter()
        .for_each(|w| out.push_str(&format!("    {w}\n")));
    out.push_str("  got:\n");
    got.iter().for_each(|g| out.push_str(&format!("    {g}\n")));
    out
}

#[test]
fn captured_consoles_match_expected_findings() {
    let dir = fixtures_dir();
    let logs = logs(&dir);
    assert!(
        !logs.is_empty(),
        "no .log files in {}: add real captured guest consoles (see README.md there)",
        dir.display()
    );
    let bless = std::env::var_os("HARNESS_SCAN_BLESS").is_some();
    let mut failures = Vec::new();
    for log in &logs {
        let bytes = fs::read(log).unwrap_or_else(|e| panic!("read {}: {e}", log.display()));
        // Consoles can carry stray non-UTF-8 bytes (line noise, binary output): keep going.
        let got = findings(&String::from_utf8_lossy(&bytes));
        let expected_path = log.with_extension("expected");
        let expected = fs::read_to_string(&expected_path).ok();

        if bless {
            let existing = expected.as_deref().map(notes).unwrap_or_default();
            let mut text: Vec<String> = if existing.is_empty() {
                vec![TODO_NOTE.to_string()]
            } else {
                existing.iter().map(|s| s.to_string()).collect()
            };
            text.extend(got.iter().cloned());
            fs::write(&expected_path, text.join("\n") + "\n")
                .unwrap_or_else(|e| panic!("write {}: {e}", expected_path.display()));
            continue;
        }

        let name = log.file_name().unwrap().to_string_lossy().into_owned();
        let Some(expected) = expected else {
            failures.push(format!(
                "{name}: no {} (HARNESS_SCAN_BLESS=1 writes one); the scanner finds:\n{}",
                expected_path.file_name().unwrap().to_string_lossy(),
                got.iter().map(|g| format!("    {g}\n")).collect::<String>()
            ));
            continue;
        };
        let note = notes(&expected);
        if note.is_empty() || note.iter().any(|n| n.contains("TODO")) {
            failures.push(format!(
                "{name}: its .expected needs a `#` note saying how the log was produced"
            ));
        }
        let want = expected_findings(&expected);
        if want != got {
            failures.push(format!("{name}: findings differ\n{}", diff(&want, &got)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        logs.len(),
        failures.join("\n")
    );
}

/// The runner's own plumbing, checked without fixtures so it is known to work before the first
/// capture is added.
#[test]
fn runner_parses_expected_files_and_renders_findings() {
    let expected = "# produced by: harness run ... (example)\n\nwarning\tWARNING in ceph_unlink\r\n# more notes\nworkload\tumount failed: Device or resource busy\n";
    assert_eq!(
        expected_findings(expected),
        vec![
            "warning\tWARNING in ceph_unlink",
            "workload\tumount failed: Device or resource busy"
        ]
    );
    assert_eq!(notes(expected).len(), 2);
    let console = "[+    1.000] [    0.990000] WARNING: CPU: 1 PID: 312 at fs/ceph/dir.c:1203 ceph_unlink+0x4a/0x1f0 [ceph]\n\
                   [+    1.001] [    0.990001] ---[ end trace 0000000000000000 ]---\n\
                   [+    2.000] HARNESS-FINDING: umount failed: Device or resource busy\n";
    assert_eq!(findings(console), expected_findings(expected));
    // The fixtures directory and its README exist (captured logs are added there later).
    assert!(fixtures_dir().join("README.md").is_file());
}
