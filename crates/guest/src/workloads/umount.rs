//! umount-stress: `cycles` mount/unmount cycles. In each, `workers` writer threads create `files`
//! files each, unlink every other one right after writing the next and rename every fifth kept one,
//! while reader threads read and list behind them and a dropper drops dentries/inodes every 0.3 s.
//! The cycle then unmounts in one of four ways, in turn:
//!
//! 1. right after dirtying the files (unmount flushes them);
//! 2. with every inode cached (all files listed and read first);
//! 3. with writeback in flight (`sync_file_range(WRITE)` on every file, no wait);
//! 4. lazily (`umount -l`) with files open: a file is written and others read through descriptors
//!    opened before the detach; closing the last one ends the superblock.
//!
//! The next cycle remounts and verifies every file the previous one kept (a difference is a
//! `data mismatch after remount` finding); a last mount verifies the final cycle.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness_proto::WorkloadPlan;

use super::counters;
use crate::ctx::{content, remove_all, Ctx, Dropper};

const ROOT: &str = "/mnt/h";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Dirty,
    Cached,
    Writeback,
    Lazy,
}

const MODES: [Mode; 4] = [Mode::Dirty, Mode::Cached, Mode::Writeback, Mode::Lazy];

pub struct Kept {
    pub path: PathBuf,
    pub tag: String,
    pub len: usize,
}

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let cycles = w.param("cycles");
    let workers = w.param("workers");
    let files = w.param("files");
    let mut prev: Option<(PathBuf, Vec<Kept>)> = None;
    let (mut verified, mut lazy, mut done) = (0u64, 0u64, 0u64);
    for cyc in 1..=cycles {
        if !ctx.step(cyc) {
            break;
        }
        if !ctx.mount(ROOT, "") {
            return counters(&[("cycles", cyc - 1)]);
        }
        if let Some((dir, kept)) = prev.take() {
            verified += verify(ctx, &kept);
            remove_all(&dir);
        }
        let mode = MODES[((cyc - 1) % 4) as usize];
        let dir = Path::new(ROOT).join(format!("u{cyc}"));
        let mut kept = write_phase(ctx, &dir, cyc, workers, files, mode);
        match mode {
            Mode::Dirty => {}
            Mode::Cached => {
                for k in &kept {
                    let _ = std::fs::metadata(&k.path);
                    let _ = std::fs::read(&k.path);
                    ctx.op(1);
                }
            }
            Mode::Writeback => {
                for k in &kept {
                    if let Ok(f) = std::fs::File::open(&k.path) {
                        unsafe {
                            libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                        };
                        ctx.op(1);
                    }
                }
            }
            Mode::Lazy => {
                lazy += 1;
                kept.push(lazy_unmount(ctx, &dir, cyc, &kept));
            }
        }
        if mode != Mode::Lazy {
            ctx.umount(ROOT, false);
        }
        prev = Some((dir, kept));
        done = cyc;
    }
    if let Some((dir, kept)) = prev {
        if ctx.mount(ROOT, "") {
            verified += verify(ctx, &kept);
            remove_all(&dir);
            ctx.umount(ROOT, false);
        }
    }
    counters(&[
        ("cycles", done),
        ("files_verified", verified),
        ("lazy_unmounts", lazy),
    ])
}

fn verify(ctx: &Ctx, kept: &[Kept]) -> u64 {
    kept.iter()
        .filter(|k| ctx.verify_file(&k.path, &k.tag, k.len))
        .count() as u64
}

/// Writers, readers and the dropper; returns the files the cycle keeps.
fn write_phase(ctx: &Ctx, dir: &Path, cyc: u64, workers: u64, files: u64, mode: Mode) -> Vec<Kept> {
    ctx.check("mkdir failed", std::fs::create_dir_all(dir));
    let done = AtomicBool::new(false);
    let _dropper = Dropper::start(ctx.seed ^ cyc, Duration::from_millis(300));
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..workers)
            .map(|wk| s.spawn(move || writer(ctx, dir, cyc, wk, files, mode)))
            .collect();
        for r in 0..workers.div_ceil(2) {
            let done = &done;
            s.spawn(move || reader(ctx, dir, cyc * 100 + r, workers, files, done));
        }
        let kept = writers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        done.store(true, Ordering::Relaxed);
        kept
    })
}

fn writer(ctx: &Ctx, dir: &Path, cyc: u64, wk: u64, files: u64, mode: Mode) -> Vec<Kept> {
    let d = dir.join(format!("w{wk}"));
    if ctx
        .check("mkdir failed", std::fs::create_dir_all(&d))
        .is_none()
    {
        return Vec::new();
    }
    let mut rng = ctx.rng(cyc * 1000 + wk);
    let mut kept = Vec::new();
    for i in 0..files {
        let len = match mode {
            Mode::Writeback => rng.usize(16_384..131_072),
            _ => rng.usize(64..8192),
        };
        let tag = format!("umount c{cyc} w{wk} f{i}");
        let p = d.join(format!("f{i}"));
        ctx.write_file(&p, &tag, len);
        if i % 2 == 1 {
            let prev = d.join(format!("f{}", i - 1));
            ctx.check("unlink failed", std::fs::remove_file(&prev));
            ctx.op(1);
            if i % 10 == 9 {
                let to = d.join(format!("r{i}"));
                ctx.check("rename failed", std::fs::rename(&p, &to));
                ctx.op(1);
                kept.push(Kept { path: to, tag, len });
            } else {
                kept.push(Kept { path: p, tag, len });
            }
        } else if i + 1 == files {
            kept.push(Kept { path: p, tag, len });
        }
    }
    kept
}

/// Reads and lists behind the writers (files come and go: errors are expected and ignored).
fn reader(ctx: &Ctx, dir: &Path, stream: u64, workers: u64, files: u64, done: &AtomicBool) {
    let mut rng = ctx.rng(stream);
    let mut buf = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let d = dir.join(format!("w{}", rng.u64(0..workers)));
        if rng.u8(0..8) == 0 {
            if let Ok(rd) = std::fs::read_dir(&d) {
                let _ = rd.count();
            }
        } else if let Ok(mut f) =
            std::fs::File::open(d.join(format!("f{}", rng.u64(0..files.max(1)))))
        {
            buf.clear();
            let _ = f.read_to_end(&mut buf);
        }
        ctx.op(1);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Open some kept files and a new one, detach the mount, write and read through the descriptors,
/// close them (the last close tears the superblock down). Returns the file written after the detach.
fn lazy_unmount(ctx: &Ctx, dir: &Path, cyc: u64, kept: &[Kept]) -> Kept {
    let held: Vec<(std::fs::File, &Kept)> = kept
        .iter()
        .take(8)
        .filter_map(|k| std::fs::File::open(&k.path).ok().map(|f| (f, k)))
        .collect();
    let path = dir.join("lazy");
    let tag = format!("umount c{cyc} lazy");
    let len = 32_768;
    let out = ctx.check("create failed", std::fs::File::create(&path));
    ctx.umount(ROOT, true);
    if let Some(mut f) = out {
        ctx.check(
            "write after lazy umount failed",
            f.write_all(&content(ctx.seed, &tag, len)),
        );
        ctx.op(1);
    }
    for (mut f, k) in held {
        let mut got = Vec::new();
        ctx.check("read after lazy umount failed", f.read_to_end(&mut got));
        if got != content(ctx.seed, &k.tag, k.len) {
            ctx.finding(
                "data mismatch after lazy umount",
                k.path.to_string_lossy().into_owned(),
            );
        }
        ctx.op(1);
    }
    Kept { path, tag, len }
}
