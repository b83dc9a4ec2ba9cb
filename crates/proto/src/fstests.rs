//! fstests (xfstests) on CephFS: the parts host and guest share, all pure. What Ceph's QA excludes
//! for the kernel client, the `local.config` the guest writes (teuthology's
//! `qa/tasks/cephfs/xfstests_dev.py` writes the same one), and the reading of `./check`'s output
//! (the test list of `check -n`, one test's outcome).

use serde::{Deserialize, Serialize};

/// What Ceph's QA excludes when it runs fstests on the kernel client (`xfstests_dev.py`): the
/// test's subject (from its header) and what makes it unfit here. A job's `exclude:` replaces
/// this list (write these out to keep them).
pub const DEFAULT_EXCLUDE: &[(&str, &str)] = &[
    (
        "ceph/001",
        "remote object copy (CEPH_OSD_OP_COPY_FROM) over many object and copy sizes: \
         excluded by Ceph's QA for the kernel client",
    ),
    (
        "generic/003",
        "the noatime/relatime/strictatime mount options: CephFS does not keep atime that \
         way; excluded by Ceph's QA",
    ),
    (
        "generic/075",
        "fsx (non-AIO): long, and excluded by Ceph's QA for the kernel client",
    ),
    (
        "generic/538",
        "non-block-aligned direct AIO writes after a truncate: excluded by Ceph's QA for the \
         kernel client",
    ),
    (
        "generic/531",
        "many unlinked O_TMPFILE files closed at once on every CPU: a stress test, excluded by \
         Ceph's QA (each file is an MDS round trip on CephFS)",
    ),
];

/// Where and how the guest runs fstests on CephFS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config<'a> {
    /// Monitor address (`IP:port`).
    pub mon: &'a str,
    /// client.admin's cephx secret; empty without cephx.
    pub key: &'a str,
    /// The file system to mount (the plan's `fs`).
    pub fs: Option<&'a str>,
    /// The test file system's directory in CephFS (`/<boot>/fstests/test`).
    pub test_path: &'a str,
    /// The scratch file system's directory in CephFS (`/<boot>/fstests/scratch`).
    pub scratch_path: &'a str,
    /// Mount points in the guest.
    pub test_dir: &'a str,
    pub scratch_mnt: &'a str,
    /// Where `./check` writes its results (writable; the tree itself is read-only).
    pub results: &'a str,
}

/// The `local.config` (`HOST_OPTIONS`) for CephFS: `FSTYP=ceph`, the test and scratch "devices"
/// as `mon:/path`, and the mount options with the client's name and secret.
pub fn local_config(c: &Config<'_>) -> String {
    let opts = format!("-o {}", crate::mount_options(c.key, c.fs, ""));
    format!(
        "# written by harness-guest\n\
         export FSTYP=ceph\n\
         export TEST_DEV={mon}:{test}\n\
         export TEST_DIR={test_dir}\n\
         export SCRATCH_DEV={mon}:{scratch}\n\
         export SCRATCH_MNT={scratch_mnt}\n\
         export TEST_FS_MOUNT_OPTS=\"{opts}\"\n\
         export MOUNT_OPTIONS=\"{opts}\"\n\
         export RESULT_BASE={results}\n",
        mon = c.mon,
        test = c.test_path,
        scratch = c.scratch_path,
        test_dir = c.test_dir,
        scratch_mnt = c.scratch_mnt,
        results = c.results,
    )
}

/// A test's outcome, as fstests names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    Notrun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Notrun => "notrun",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The finding title (and so the signature) of a failing fstests test: `fstests generic/013`.
pub fn signature(test: &str) -> String {
    format!("fstests {test}")
}

/// A well-formed test name (`generic/013`, `ceph/002`): a directory of letters, digits, `-`, `_`
/// and a number or name of the same characters. Nothing else reaches `./check` or a file name.
pub fn valid_test(s: &str) -> bool {
    let ok = |p: &str| {
        p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && p.len() <= 32
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match s.split_once('/') {
        Some((dir, name)) => ok(dir) && ok(name),
        None => false,
    }
}

/// A well-formed group name (`quick`, `auto`, `rw`).
pub fn valid_group(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The tests `./check -n ...` would run, in its order (expunged ones left out).
pub fn parse_list(output: &str) -> Vec<String> {
    let mut v = Vec::new();
    for l in output.lines() {
        let mut w = l.split_whitespace();
        let Some(first) = w.next() else { continue };
        if !valid_test(first) || first.contains("--") {
            continue;
        }
        let rest: Vec<&str> = w.collect();
        if rest.iter().any(|r| r.contains("[expunged]")) {
            continue;
        }
        // `check -n` prints the bare name; anything after it is not a listing line.
        if rest.is_empty() && !v.iter().any(|t: &String| t == first) {
            v.push(first.to_string());
        }
    }
    v
}

/// What one `./check TEST` run says about TEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// Why: fstests' not-run reason, or the failure line (`- output mismatch (see ...)`,
    /// `[failed, exit status 1]`, `_check_dmesg: something found ...`).
    pub reason: String,
}

/// Read one test's outcome from `./check`'s output. The summary lines (`Ran:`, `Not run:`,
/// `Failures:`, `Passed all N tests`) decide; the test's own line gives the reason. Output
/// without a summary (check killed, or it refused to start) is a failure with its last lines.
pub fn parse_outcome(output: &str, test: &str) -> Outcome {
    let lines: Vec<&str> = output.lines().collect();
    let listed = |prefix: &str| {
        lines.iter().any(|l| {
            l.strip_prefix(prefix)
                .is_some_and(|r| r.split_whitespace().any(|t| t == test))
        })
    };
    // The test's line: `generic/013 - output mismatch ...`, `ceph/001 [not run] reason`,
    // `generic/001 5s ...  4s`; continuation lines follow (the diff, indented).
    let own_at = lines.iter().position(|l| {
        l.split_whitespace().next() == Some(test)
            && !l.starts_with("Ran:")
            && !l.starts_with("Not run:")
            && !l.starts_with("Failures:")
    });
    let own = own_at.map(|i| lines[i]).unwrap_or("");
    let after_name = own
        .trim_start()
        .strip_prefix(test)
        .unwrap_or("")
        .trim()
        .to_string();
    if listed("Not run:") || after_name.contains("[not run]") {
        let reason = match after_name.split_once("[not run]") {
            Some((_, r)) if !r.trim().is_empty() => r.trim().to_string(),
            // `-T` layout: the reason on the next line, after `TEST -- `.
            _ => own_at
                .and_then(|i| lines.get(i + 1))
                .map(|l| {
                    l.trim()
                        .strip_prefix(&format!("{test} --"))
                        .unwrap_or(l.trim())
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
        };
        return Outcome {
            status: Status::Notrun,
            reason,
        };
    }
    if listed("Failures:") {
        // The failure words: drop the timing (`5s ... `) fstests puts before them.
        let mut reason = after_name.clone();
        if let Some(at) = reason.find(" ... ") {
            reason = reason[at + 5..].trim().to_string();
        }
        // `_check_dmesg` and friends print on lines of their own after the test's line.
        if let Some(i) = own_at {
            for l in &lines[i + 1..] {
                let t = l.trim();
                if t.starts_with("_check_") || t.starts_with("[failed") {
                    if !reason.is_empty() {
                        reason.push_str("; ");
                    }
                    reason.push_str(t);
                }
            }
        }
        return Outcome {
            status: Status::Fail,
            reason: if reason.is_empty() {
                "failed".into()
            } else {
                reason
            },
        };
    }
    if listed("Ran:") && lines.iter().any(|l| l.starts_with("Passed all ")) {
        return Outcome {
            status: Status::Pass,
            reason: String::new(),
        };
    }
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(5)
        .copied()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Outcome {
        status: Status::Fail,
        reason: format!("./check gave no result: {}", tail.join(" | ")),
    }
}

/// The diff of a failed test as fstests prints it (the indented lines after the test's line,
/// without fstests' indentation), for the finding's excerpt.
pub fn printed_diff(output: &str, test: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for l in output.lines() {
        if !inside {
            inside = l.split_whitespace().next() == Some(test) && l.contains("output mismatch");
            continue;
        }
        match l.strip_prefix("    ") {
            Some(d) => out.push(d),
            None => break,
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    // `./check` output in the layout fstests 63a29724 prints it (its `check`: the name padded,
    // then the outcome; the summary lines).
    const PASS: &str = "FSTYP         -- ceph
PLATFORM      -- Linux/x86_64 (none) 6.1.0-56-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)
MKFS_OPTIONS  -- 10.77.0.1:6789:/prefix-0/fstests/scratch
MOUNT_OPTIONS -- -o name=admin,secret=AQB== 10.77.0.1:6789:/prefix-0/fstests/scratch /mnt/fstests/scratch

generic/001        5s
Ran: generic/001
Passed all 1 tests

";
    const NOTRUN: &str = "FSTYP         -- ceph
PLATFORM      -- Linux/x86_64 (none) 6.1.0-56-amd64

ceph/002       [not run] this test requires a valid $SCRATCH_DEV
Ran: ceph/002
Not run: ceph/002
Passed all 1 tests

";
    const FAIL: &str = "FSTYP         -- ceph

generic/013        - output mismatch (see /tmp/fstests/results//generic/013.out.bad)
    --- tests/generic/013.out\t2026-01-01 00:00:00.000000000 +0000
    +++ /tmp/fstests/results//generic/013.out.bad\t2026-12-07 01:30:00.000000000 +0000
    @@ -1,4 +1,5 @@
     QA output created by 013
    +fsstress: size 4096 after truncate to 100
     ...
    (Run 'diff -u /opt/fstests/tests/generic/013.out /tmp/fstests/results//generic/013.out.bad'  to see the entire diff)
Ran: generic/013
Failures: generic/013
Failed 1 of 1 tests

";
    const EXIT: &str =
        "generic/002 1s ... [failed, exit status 1]- output mismatch (see /r/generic/002.out.bad)
    --- tests/generic/002.out
    +++ /r/generic/002.out.bad
Ran: generic/002
Failures: generic/002
Failed 1 of 1 tests
";
    const DMESG: &str = "generic/001 3s ...  3s
_check_dmesg: something found (see /tmp/fstests/results//generic/001.dmesg)
Ran: generic/001
Failures: generic/001
Failed 1 of 1 tests
";

    #[test]
    fn outcomes() {
        assert_eq!(parse_outcome(PASS, "generic/001").status, Status::Pass);
        let n = parse_outcome(NOTRUN, "ceph/002");
        assert_eq!(n.status, Status::Notrun);
        assert_eq!(n.reason, "this test requires a valid $SCRATCH_DEV");
        let f = parse_outcome(FAIL, "generic/013");
        assert_eq!(f.status, Status::Fail);
        assert!(f.reason.starts_with("- output mismatch"), "{}", f.reason);
        let d = printed_diff(FAIL, "generic/013");
        assert!(d.starts_with("--- tests/generic/013.out"), "{d}");
        assert!(d.contains("+fsstress: size 4096"));
        let e = parse_outcome(EXIT, "generic/002");
        assert_eq!(e.status, Status::Fail);
        assert!(
            e.reason.starts_with("[failed, exit status 1]"),
            "{}",
            e.reason
        );
        let m = parse_outcome(DMESG, "generic/001");
        assert_eq!(m.status, Status::Fail);
        assert!(
            m.reason.contains("_check_dmesg: something found"),
            "{}",
            m.reason
        );
        // Killed or refused: no summary.
        let k = parse_outcome("common/rc: could not mount TEST_DEV\n", "generic/001");
        assert_eq!(k.status, Status::Fail);
        assert!(k.reason.contains("could not mount"), "{}", k.reason);
        // Another test's lines do not count.
        assert_eq!(parse_outcome(PASS, "generic/0011").status, Status::Fail);
    }

    #[test]
    fn listing() {
        let out = "FSTYP         -- ceph
PLATFORM      -- Linux/x86_64 (none) 6.1.0-56-amd64

ceph/002
ceph/004
generic/001
generic/003        [expunged]
generic/013
";
        assert_eq!(
            parse_list(out),
            ["ceph/002", "ceph/004", "generic/001", "generic/013"]
        );
    }

    #[test]
    fn config_and_names() {
        let c = Config {
            mon: "10.77.0.1:6789",
            key: "AQB==",
            fs: None,
            test_path: "/p0/fstests/test",
            scratch_path: "/p0/fstests/scratch",
            test_dir: "/mnt/fstests/test",
            scratch_mnt: "/mnt/fstests/scratch",
            results: "/tmp/fstests/results",
        };
        let t = local_config(&c);
        assert!(t.contains("export FSTYP=ceph\n"));
        assert!(t.contains("export TEST_DEV=10.77.0.1:6789:/p0/fstests/test\n"));
        assert!(t.contains("export SCRATCH_DEV=10.77.0.1:6789:/p0/fstests/scratch\n"));
        assert!(t.contains("export TEST_FS_MOUNT_OPTS=\"-o name=admin,secret=AQB==\"\n"));
        let none = local_config(&Config { key: "", ..c });
        assert!(none.contains("MOUNT_OPTIONS=\"-o name=admin\"\n"));
        let second = local_config(&Config {
            fs: Some("cephfs-1"),
            ..c
        });
        assert!(second
            .contains("MOUNT_OPTIONS=\"-o name=admin,secret=AQB==,mds_namespace=cephfs-1\"\n"));
        assert!(valid_test("generic/013") && valid_test("ceph/001"));
        for bad in [
            "generic",
            "generic/",
            "../x",
            "a/b/c",
            "generic/0 1",
            "-g/x",
        ] {
            assert!(!valid_test(bad), "{bad}");
        }
        assert!(valid_group("quick") && !valid_group("a b") && !valid_group(""));
        assert!(!valid_group("-x"));
        assert_eq!(signature("generic/013"), "fstests generic/013");
        for (t, why) in DEFAULT_EXCLUDE {
            assert!(valid_test(t) && !why.is_empty());
        }
    }
}
