//! iput-stress: `rounds` rounds of `processes` short-lived processes, each in a cgroup v2 with a
//! small `memory.max` (`memory_mib`), that create and write `files` files (4-256 KiB), truncate,
//! rename, hard-link and unlink some, read a shared 4 MiB file sequentially (readahead), and exit
//! without waiting for writeback. Meanwhile dentries and inodes are dropped every 0.2 s, so the
//! last reference to an inode is often dropped by CephFS itself (cap release, writeback
//! completion) rather than by the process: the conditions of the 2025 deadlock report on this
//! code. After each round a sample of the kept files is verified; after the last, everything is
//! verified again after a remount.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness_proto::WorkloadPlan;

use super::counters;
use crate::ctx::{content, remove_all, Ctx, Dropper};

const ROOT: &str = "/mnt/h";
const CGROUP: &str = "/sys/fs/cgroup/harness-iput";
const SHARED_LEN: usize = 4 << 20;

/// File `i` of process `proc_` in `round`: its name, the length written, and what is left of it
/// afterwards (name, tag, length), `None` when it is unlinked. The same function drives the child
/// and the parent's verification.
struct Outcome {
    name: String,
    tag: String,
    len: usize,
    kept: Option<(String, usize)>,
}

fn outcome(seed: u64, round: u64, proc_: u64, i: u64) -> Outcome {
    let mut r = fastrand::Rng::with_seed(crate::ctx::mix(seed, (round << 40) | (proc_ << 20) | i));
    let len = r.usize(4096..262_144);
    let name = format!("p{proc_}-f{i}");
    let kept = match i % 5 {
        0 => Some((name.clone(), len / 2)),         // truncated to half
        1 => Some((format!("p{proc_}-r{i}"), len)), // renamed
        2 => Some((format!("p{proc_}-l{i}"), len)), // hard-linked, original unlinked
        3 => None,                                  // unlinked at once
        _ => Some((name.clone(), len)),
    };
    Outcome {
        name,
        tag: format!("iput r{round} p{proc_} f{i}"),
        len,
        kept,
    }
}

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let rounds = w.param("rounds");
    let processes = w.param("processes");
    let files = w.param("files");
    let memory_mib = w.param("memory_mib");
    let cgroup = setup_cgroup(ctx, memory_mib);
    if !ctx.mount(ROOT, "") {
        return BTreeMap::new();
    }
    let dir = Path::new(ROOT).join("iput");
    ctx.check("mkdir failed", std::fs::create_dir_all(&dir));
    ctx.write_file(&dir.join("shared"), "iput shared", SHARED_LEN);
    let mut failed_children = 0;
    let mut verified = 0;
    let mut done = 0;
    {
        let _dropper = Dropper::start(ctx.seed, Duration::from_millis(200));
        for round in 0..rounds {
            if !ctx.step(round + 1) {
                break;
            }
            let children: Vec<_> = (0..processes)
                .filter_map(|p| {
                    let c = Command::new("/proc/self/exe")
                        .arg("iput-child")
                        .arg(&dir)
                        .args([
                            ctx.seed.to_string(),
                            round.to_string(),
                            p.to_string(),
                            files.to_string(),
                            cgroup.clone().unwrap_or_default(),
                        ])
                        .stderr(Stdio::piped())
                        .spawn();
                    ctx.check("spawn failed", c)
                })
                .collect();
            for c in children {
                match c.wait_with_output() {
                    Ok(o) if o.status.success() => ctx.op(files),
                    Ok(o) => {
                        failed_children += 1;
                        ctx.finding(
                            "iput-stress child failed",
                            format!(
                                "{}: {}",
                                o.status,
                                String::from_utf8_lossy(&o.stderr).trim()
                            ),
                        );
                    }
                    Err(e) => ctx.finding("iput-stress child lost", e.to_string()),
                }
            }
            // A sample now, with the caches dropped under it.
            verified += verify(ctx, &dir, round, processes.min(2), files);
            done = round + 1;
        }
    }
    ctx.umount(ROOT, false);
    if ctx.mount(ROOT, "") {
        for round in 0..done {
            verified += verify(ctx, &dir, round, processes, files);
        }
        remove_all(&dir);
        ctx.umount(ROOT, false);
    }
    if cgroup.is_some() {
        let _ = std::fs::remove_dir(CGROUP);
    }
    counters(&[
        ("processes", done * processes),
        ("failed_processes", failed_children),
        ("files_verified", verified),
        ("memory_max_mib", memory_mib),
    ])
}

fn verify(ctx: &Ctx, dir: &Path, round: u64, processes: u64, files: u64) -> u64 {
    let mut n = 0;
    for p in 0..processes {
        for i in 0..files {
            let o = outcome(ctx.seed, round, p, i);
            if let Some((name, len)) = o.kept {
                let path = dir.join(format!("r{round}")).join(name);
                n += ctx.verify_file(&path, &o.tag, len) as u64;
            }
        }
    }
    n
}

/// A cgroup v2 with `memory.max`; `None` (reported) when the kernel has no memory controller.
fn setup_cgroup(ctx: &Ctx, memory_mib: u64) -> Option<String> {
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        let _ = std::fs::create_dir_all(root);
        let r = unsafe {
            libc::mount(
                crate::ctx::c("cgroup2").as_ptr(),
                crate::ctx::c("/sys/fs/cgroup").as_ptr(),
                crate::ctx::c("cgroup2").as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            ctx.finding(
                "guest: cannot mount cgroup2",
                std::io::Error::last_os_error().to_string(),
            );
            return None;
        }
    }
    let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory");
    let _ = std::fs::create_dir_all(CGROUP);
    let max = Path::new(CGROUP).join("memory.max");
    ctx.check(
        "guest: cannot set memory.max",
        std::fs::write(&max, format!("{}", memory_mib << 20)),
    )?;
    Some(CGROUP.to_string())
}

/// One short-lived process: joins the cgroup, does its files, exits without syncing.
/// Args: DIR SEED ROUND PROC FILES CGROUP.
pub fn child(args: &[String]) -> i32 {
    let num = |i: usize| args[i].parse::<u64>().unwrap_or(0);
    let (dir, seed, round, proc_, files, cgroup) =
        (&args[0], num(1), num(2), num(3), num(4), &args[5]);
    if !cgroup.is_empty() {
        // "0" moves the writing process itself.
        let _ = std::fs::write(Path::new(cgroup).join("cgroup.procs"), "0");
    }
    let d = PathBuf::from(dir).join(format!("r{round}"));
    let _ = std::fs::create_dir_all(&d);
    let mut errors = Vec::new();
    let mut note = |what: &str, r: std::io::Result<()>| {
        if let Err(e) = r {
            errors.push(format!("{what}: {e}"));
        }
    };
    let mut buf = vec![0u8; 65_536];
    for i in 0..files {
        let o = outcome(seed, round, proc_, i);
        let (len, p) = (o.len, d.join(&o.name));
        note("write", std::fs::write(&p, content(seed, &o.tag, len)));
        match (i % 5, o.kept) {
            (0, _) => note(
                "truncate",
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_len((len / 2) as u64)),
            ),
            (1, Some((to, _))) => note("rename", std::fs::rename(&p, d.join(to))),
            (2, Some((to, _))) => {
                note("link", std::fs::hard_link(&p, d.join(to)));
                note("unlink", std::fs::remove_file(&p));
            }
            (3, _) => note("unlink", std::fs::remove_file(&p)),
            _ => {}
        }
        if i % 4 == 0 {
            // Readahead-heavy: a sequential read of the shared file.
            if let Ok(mut f) = std::fs::File::open(PathBuf::from(dir).join("shared")) {
                unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
                while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
            }
        }
    }
    if errors.is_empty() {
        0
    } else {
        for e in errors.iter().take(3) {
            eprintln!("{e}");
        }
        1
    }
}
