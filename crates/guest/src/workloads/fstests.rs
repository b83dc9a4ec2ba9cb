//! fstests: the host built the tree and exports it read-only (virtio-9p, tag `fstests`); the
//! host's userland (`guests.userland: host`) gives bash, perl, xfs_io. Here: the test and scratch
//! directories in this boot's CephFS workspace, `local.config` (harness_proto::fstests), the list
//! `./check -n` selects (when groups are asked for; named tests select themselves), then each
//! test as `./check TEST` under its own deadline, its outcome read from check's output (harness_proto::fstests::parse_outcome) and reported as a `test-end`
//! message; a failing test is the finding `fstests TEST`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness_proto::fstests::{self as fst, Status};
use harness_proto::{Msg, WorkloadPlan, FSTESTS_TAG};

use super::counters;
use crate::ctx::{c, emit, Ctx};

const TREE: &str = "/opt/fstests";
const WORK: &str = "/tmp/fstests";
const TEST_DIR: &str = "/mnt/fstests/test";
const SCRATCH_MNT: &str = "/mnt/fstests/scratch";
const SETUP: &str = "/mnt/fstests/setup";
/// What a failed test's message carries of its diff and of its `.full` log.
const MAX_ARTIFACT: usize = 16 * 1024;
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let Some(plan) = &w.fstests else {
        ctx.finding("fstests: the plan has no fstests part", String::new());
        return BTreeMap::new();
    };
    if !mount_tree(ctx) || !Path::new("/bin/bash").exists() && !Path::new("/usr/bin/bash").exists()
    {
        if ctx.failed() {
            return BTreeMap::new();
        }
        ctx.finding(
            "fstests: no bash in the guest (the job needs guests.userland: host)",
            String::new(),
        );
        return BTreeMap::new();
    }
    // The test and scratch "devices": directories of this boot's workspace.
    let _ = std::fs::create_dir_all(SETUP);
    let Some(ws) = ctx.workspace_dir(SETUP) else {
        return BTreeMap::new();
    };
    if !ctx.mount(SETUP, "") {
        return BTreeMap::new();
    }
    ctx.check(
        "fstests: mkdir test dir failed",
        std::fs::create_dir_all(Path::new(SETUP).join("fstests/test")),
    );
    ctx.check(
        "fstests: mkdir scratch dir failed",
        std::fs::create_dir_all(Path::new(SETUP).join("fstests/scratch")),
    );
    ctx.umount(SETUP, false);
    let base = ws.trim_end_matches('/');
    let test_path = format!("{base}/fstests/test");
    let scratch_path = format!("{base}/fstests/scratch");
    let results = format!("{WORK}/results");
    for d in [WORK, results.as_str(), TEST_DIR, SCRATCH_MNT] {
        ctx.check("fstests: mkdir failed", std::fs::create_dir_all(d));
    }
    let config = fst::local_config(&fst::Config {
        mon: &ctx.mon,
        key: &ctx.key,
        fs: ctx.fs.as_deref(),
        test_path: &test_path,
        scratch_path: &scratch_path,
        test_dir: TEST_DIR,
        scratch_mnt: SCRATCH_MNT,
        results: &results,
    });
    let config_path = format!("{WORK}/local.config");
    if ctx
        .check(
            "fstests: cannot write local.config",
            std::fs::write(&config_path, config),
        )
        .is_none()
    {
        return BTreeMap::new();
    }

    // What the tests and groups select, in check's order. Named tests alone select themselves:
    // `./check -n` (about 37 s of fstests' set-up under TCG) is needed only to expand groups.
    let selected = if plan.groups.is_empty() {
        plan.tests.clone()
    } else {
        let mut args: Vec<String> = vec!["-n".into()];
        for g in &plan.groups {
            args.push("-g".into());
            args.push(g.clone());
        }
        args.extend(plan.tests.iter().cloned());
        let listing = check(ctx, &config_path, &args, Duration::from_secs(600), "list");
        let selected = fst::parse_list(&listing.output);
        if selected.is_empty() {
            ctx.finding(
                "fstests: ./check -n selected no test",
                tail(&listing.output, 2000),
            );
        }
        selected
    };
    if selected.is_empty() {
        return BTreeMap::new();
    }
    let (mut pass, mut fail, mut notrun) = (0u64, 0u64, 0u64);
    let deadline = Duration::from_secs(plan.test_timeout_s.max(1));
    // A test killed at its deadline can leave the client wedged (its tasks stuck in the kernel
    // keep the superblock, which the next mount of the same file system shares): every later
    // mount then times out. Seen with generic/013 under TCG, followed by generic/014 failing
    // after 6 minutes of mount retries. The tests after a killed one are not run.
    let mut killed: Option<String> = None;
    for test in &selected {
        emit(&Msg::TestStart {
            workload: w.name.clone(),
            test: test.clone(),
        });
        let t0 = Instant::now();
        let end = |status: Status, reason: String, diff: String, full: String| {
            emit(&Msg::TestEnd {
                workload: w.name.clone(),
                test: test.clone(),
                status,
                seconds: t0.elapsed().as_secs_f64(),
                reason,
                diff,
                full,
            })
        };
        if plan.exclude.iter().any(|e| e == test) {
            notrun += 1;
            end(
                Status::Notrun,
                "excluded".into(),
                String::new(),
                String::new(),
            );
            continue;
        }
        if let Some(k) = &killed {
            notrun += 1;
            end(
                Status::Notrun,
                format!("{k} was killed at its deadline: the client may be wedged"),
                String::new(),
                String::new(),
            );
            continue;
        }
        let run = check(ctx, &config_path, &[test.clone()], deadline, test);
        let outcome = if run.timed_out {
            fst::Outcome {
                status: Status::Fail,
                reason: format!("timed out after {}s: killed", deadline.as_secs()),
            }
        } else {
            fst::parse_outcome(&run.output, test)
        };
        match outcome.status {
            Status::Pass => {
                pass += 1;
                end(Status::Pass, String::new(), String::new(), String::new());
            }
            Status::Notrun => {
                notrun += 1;
                end(Status::Notrun, outcome.reason, String::new(), String::new());
            }
            Status::Fail => {
                fail += 1;
                let bad = Path::new(&results).join(format!("{test}.out.bad"));
                let mut diff = if bad.is_file() {
                    diff_u(&Path::new(TREE).join(format!("tests/{test}.out")), &bad)
                } else {
                    String::new()
                };
                if diff.is_empty() {
                    diff = fst::printed_diff(&run.output, test);
                }
                let mut full =
                    std::fs::read_to_string(Path::new(&results).join(format!("{test}.full")))
                        .map(|s| tail(&s, MAX_ARTIFACT))
                        .unwrap_or_default();
                if let Ok(d) =
                    std::fs::read_to_string(Path::new(&results).join(format!("{test}.dmesg")))
                {
                    full.push_str("\n--- dmesg ---\n");
                    full.push_str(&tail(&d, MAX_ARTIFACT / 2));
                }
                let diff = head(&diff, MAX_ARTIFACT);
                // The finding: the signature, the reason and the start of the diff.
                ctx.finding_always(
                    fst::signature(test),
                    format!("{}\n{}", outcome.reason, head(&diff, 2000)),
                );
                end(Status::Fail, outcome.reason, diff, full);
            }
        }
        // A killed test may leave its mounts behind: detach them (and run nothing after it).
        if run.timed_out {
            killed = Some(test.clone());
            for m in [SCRATCH_MNT, TEST_DIR] {
                let t = c(m);
                unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
    for m in [SCRATCH_MNT, TEST_DIR] {
        let t = c(m);
        unsafe { libc::umount2(t.as_ptr(), 0) };
    }
    counters(&[
        ("tests", selected.len() as u64),
        ("passed", pass),
        ("failed", fail),
        ("notrun", notrun),
    ])
}

/// Mount the tree the host exports (read-only 9p).
fn mount_tree(ctx: &Ctx) -> bool {
    if Path::new(TREE).join("check").is_file() {
        return true;
    }
    let _ = std::fs::create_dir_all(TREE);
    let (src, tgt, fs) = (c(FSTESTS_TAG), c(TREE), c("9p"));
    let data = c("trans=virtio,version=9p2000.L,cache=loose");
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fs.as_ptr(),
            libc::MS_RDONLY,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        ctx.finding(
            "fstests: cannot mount the fstests tree (virtio-9p tag fstests)",
            std::io::Error::last_os_error().to_string(),
        );
        return false;
    }
    true
}

struct CheckRun {
    output: String,
    timed_out: bool,
}

/// `./check ARGS` in the tree, its output (stdout and stderr) in a file, killed with its
/// process group past `deadline`. Operations are counted while it runs within its deadline (the
/// watchdog sees progress); a check that does not die when killed stops counting, so the
/// watchdog reports the stall.
fn check(ctx: &Ctx, config: &str, args: &[String], deadline: Duration, what: &str) -> CheckRun {
    let out_path = format!("{WORK}/check-{}.log", what.replace('/', "-"));
    let Some(out) = ctx.check(
        "fstests: cannot create the check log",
        std::fs::File::create(&out_path),
    ) else {
        return CheckRun {
            output: String::new(),
            timed_out: false,
        };
    };
    let err = out.try_clone().ok();
    let mut cmd = Command::new("bash");
    cmd.arg("./check")
        .args(args)
        .current_dir(TREE)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .env("LANG", "C")
        .env("HOST_OPTIONS", config)
        .env("RESULT_BASE", format!("{WORK}/results"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .process_group(0);
    if let Some(e) = err {
        cmd.stderr(Stdio::from(e));
    }
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            ctx.finding("fstests: cannot run ./check", e.to_string());
            return CheckRun {
                output: String::new(),
                timed_out: false,
            };
        }
    };
    let t0 = Instant::now();
    let mut timed_out = false;
    let mut killed_at: Option<Instant> = None;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => {}
        }
        if t0.elapsed() >= deadline && killed_at.is_none() {
            timed_out = true;
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            killed_at = Some(Instant::now());
        }
        if killed_at.is_none() {
            ctx.op(1);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    CheckRun {
        output: std::fs::read_to_string(&out_path).unwrap_or_default(),
        timed_out,
    }
}

/// `diff -u EXPECTED GOT` (the host's diff), bounded.
fn diff_u(expected: &Path, got: &Path) -> String {
    Command::new("diff")
        .arg("-u")
        .arg(expected)
        .arg(got)
        .env_clear()
        .env("PATH", PATH)
        .output()
        .map(|o| head(&String::from_utf8_lossy(&o.stdout), MAX_ARTIFACT))
        .unwrap_or_default()
}

fn head(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[... cut at {max} bytes]", &s[..end])
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {start} bytes before]\n{}", &s[start..])
}
