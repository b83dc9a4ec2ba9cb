//! The hostile-input corpus (tests/fixtures/hostile/, written by scripts/make-hostile-corpus) and
//! inputs that cannot be committed (a FIFO, /dev/zero, an oversized file), through the real
//! `harness` binary. Every case ends with exit 0 (accepted, maybe with warnings) or 3 (bad input,
//! the documented code), within a deadline, without a panic, and a refused input says why on one
//! line. Cases git would apply differently from what the parser saw are refused by
//! `harness test` before anything is recorded (git's own view, in the sandbox).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hostile")
}

/// Run the harness with a deadline (a hang is a failure, not a stuck test).
fn harness(args: &[&std::ffi::OsStr], results: &Path) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--results")
        .arg(results)
        .args(args)
        .env("HARNESS_CACHE_DIR", results.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} did not finish within {DEADLINE:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), t0.elapsed())
}

/// The contract every case keeps; returns (code, stdout, stderr).
fn check(args: &[&std::ffi::OsStr], results: &Path) -> (i32, String, String) {
    let (out, _) = harness(args, results);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        !stderr.contains("panicked") && code != 101,
        "{args:?}: panic: {stderr}"
    );
    assert!(
        code == 0 || code == 3,
        "{args:?}: exit {code}, expected 0 or 3: {stderr}"
    );
    if code == 3 && !stderr.is_empty() {
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line: {stderr:?}"
        );
        assert!(stderr.starts_with("harness: "), "{args:?}: {stderr}");
    }
    if code == 3 && stderr.is_empty() {
        // `series show` prints the diagnostics and exits 3: at least one error names the cause.
        assert!(
            stdout.contains("Error: "),
            "{args:?}: exit 3 without a reason: {stdout}"
        );
    }
    // Nothing a series says reaches the terminal raw.
    for s in [&stdout, &stderr] {
        assert!(
            !s.chars().any(|c| (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)),
            "{args:?}: raw control or bidi character in the output: {s:?}"
        );
    }
    (code, stdout, stderr)
}

fn show(file: &Path, results: &Path) -> (i32, String, String) {
    check(
        &["series".as_ref(), "show".as_ref(), file.as_os_str()],
        results,
    )
}

#[test]
fn every_corpus_case_ends_in_a_documented_way() {
    let results = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mbox"))
        .collect();
    files.sort();
    assert!(files.len() >= 150, "only {} cases", files.len());
    let mut refused = 0;
    for f in &files {
        let (code, _, _) = show(f, results.path());
        refused += usize::from(code == 3);
    }
    eprintln!("{} cases, {refused} refused", files.len());
}

/// Expected outcomes of particular cases: the cause is named.
#[test]
fn refused_cases_name_their_cause() {
    let results = tempfile::tempdir().unwrap();
    let case = |name: &str| corpus().join(format!("{name}.mbox"));
    let both = |name: &str| {
        let (code, out, err) = show(&case(name), results.path());
        assert_eq!(code, 3, "{name}: {out}{err}");
        format!("{out}{err}")
    };
    assert!(both("bom").contains("byte order mark"));
    assert!(both("many-tiny-mails").contains("600 patches is over the limit of 500"));
    assert!(both("version-01").contains("v4294967295 is out of range"));
    let t = both("thread-foreign-reroll");
    assert!(t.contains("m@evil.example") && t.contains("Alice"), "{t}");
    assert!(both("thread-foreign-duplicate").contains("m@evil.example"));
    assert!(both("thread-foreign-v4294967295").contains("out of range"));
    for (name, why) in [
        ("path-05", "`.git*`"),
        ("path-06", "`.git*`"),
        ("path-07", "`.git*`"),
        ("path-10", "`.git*`"),
        ("path-00", "absolute"),
        ("path-01", "`..`"),
        ("symlink-new", "120000"),
    ] {
        let t = both(name);
        assert!(t.contains(why), "{name}: {t}");
    }
    // A reroll by the series' own author is fine.
    let (code, out, _) = show(&case("thread-same-author-reroll"), results.path());
    assert_eq!(code, 0, "{out}");
    // The terminal sees escapes, not the sequences.
    let (_, out, _) = show(&case("subject-ansi"), results.path());
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    let (_, out, _) = show(&case("author-newline"), results.path());
    assert!(!out.lines().any(|l| l.starts_with("verdict")), "{out}");
}

/// Inputs that are not files: refused at once, never read until memory runs out or forever.
#[test]
fn fifos_devices_and_oversized_files_are_refused_at_once() {
    let results = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("series.mbox");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = d.path().join("big.mbox");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((64 << 20) + 1).unwrap();
    let link = d.path().join("zero.mbox");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    for (p, why) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (link.as_path(), "not a regular file"),
        (Path::new("/dev/null"), "not a regular file"),
        (big.as_path(), "over the 64 MiB limit"),
    ] {
        let t0 = Instant::now();
        let (code, _, err) = show(p, results.path());
        assert_eq!(code, 3, "{}: {err}", p.display());
        assert!(err.contains(why), "{}: {err}", p.display());
        assert!(t0.elapsed() < Duration::from_secs(5), "{}", p.display());
    }
}

/// What git would apply is checked against what the parser saw, before anything is recorded:
/// a diff hidden in a MIME part the parser does not read, a symbolic link in such a part.
#[test]
fn git_sees_the_hidden_parts_and_the_series_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the sandbox user is root's to switch to");
        return;
    }
    let results = tempfile::tempdir().unwrap();
    for name in [
        "mime-hidden-00",
        "mime-hidden-01",
        "mime-hidden-02",
        "mime-hidden-04",
        "mime-hidden-05",
        "mime-hidden-09",
        "mime-nested-hidden",
    ] {
        let f = corpus().join(format!("{name}.mbox"));
        let (code, out, err) = check(&["test".as_ref(), f.as_os_str()], results.path());
        assert_eq!(code, 3, "{name}: {out}{err}");
        assert!(
            err.contains("patch 1") && (err.contains("kernel/hidden.c") || err.contains("120000")),
            "{name}: {err}"
        );
    }
    // Nothing was recorded.
    assert!(
        !results.path().join("runs").exists()
            || std::fs::read_dir(results.path().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );
}
