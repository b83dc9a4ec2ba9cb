//! snap-stress: `writers` threads rewrite (write aside, fsync now and then, rename over) `files` files in one directory while
//! the main thread takes `snapshots` CephFS snapshots of it (`mkdir .snap/NAME`), checks that each
//! file in a new snapshot is one whole version the writers wrote, and removes older snapshots
//! (keeping the last two). Dirty data at snapshot time makes the client queue and flush cap snaps
//! (`ceph_queue_cap_snap`, `ceph_flush_snaps`, `flush_snaps`). Afterwards every live file must hold
//! its last version, after a remount too. The directory carries a quota (far above what is
//! written), so quota updates flow too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use harness_proto::WorkloadPlan;

use super::counters;
use crate::ctx::{content, remove_all, Ctx};

const ROOT: &str = "/mnt/h";

fn tag(f: u64, v: u64) -> String {
    format!("snap f{f} v{v}")
}

fn len_of(seed: u64, f: u64, v: u64) -> usize {
    fastrand::Rng::with_seed(crate::ctx::mix(seed, (f << 32) | v)).usize(1024..32_768)
}

/// Is `data` exactly one version of file `f` (as written by [`writer`])? Its version.
fn version_of(seed: u64, f: u64, data: &[u8]) -> Option<u64> {
    let head = std::str::from_utf8(&data[..data.len().min(80)]).ok()?;
    let first = head.lines().next()?;
    let v: u64 = first.rsplit(" v").next()?.trim().parse().ok()?;
    (data == content(seed, &tag(f, v), len_of(seed, f, v)).as_slice()).then_some(v)
}

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let snapshots = w.param("snapshots");
    let writers = w.param("writers");
    let files = w.param("files");
    if !ctx.mount(ROOT, "") {
        return BTreeMap::new();
    }
    let dir = Path::new(ROOT).join("snap");
    ctx.check("mkdir failed", std::fs::create_dir_all(&dir));
    // A quota realm (far above what is written): the MDS broadcasts quota updates to the client
    // (ceph_handle_quota) and writes check it (check_quota_exceeded).
    ctx.set_quota(&dir, 1 << 40);
    // Last version written per file (file f belongs to writer f % writers).
    let last: Vec<Mutex<Option<u64>>> = (0..files).map(|_| Mutex::new(None)).collect();
    let stop = AtomicBool::new(false);
    let (mut taken, mut checked) = (0u64, 0u64);
    let mut live: Vec<PathBuf> = Vec::new();
    std::thread::scope(|s| {
        for wk in 0..writers {
            let (dir, last, stop) = (&dir, &last, &stop);
            s.spawn(move || writer(ctx, dir, wk, writers, files, last, stop));
        }
        let mut rng = ctx.rng(7);
        for n in 1..=snapshots {
            if !ctx.step(n) {
                break;
            }
            std::thread::sleep(Duration::from_millis(rng.u64(200..700)));
            let snap = dir.join(".snap").join(format!("s{n}"));
            if ctx
                .check("snapshot mkdir failed", std::fs::create_dir(&snap))
                .is_none()
            {
                break;
            }
            ctx.op(1);
            taken += 1;
            checked += check_snapshot(ctx, &snap, files);
            live.push(snap);
            if live.len() > 2 {
                let old = live.remove(0);
                ctx.check("snapshot rmdir failed", std::fs::remove_dir(&old));
                ctx.op(1);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    for snap in live.drain(..) {
        ctx.check("snapshot rmdir failed", std::fs::remove_dir(&snap));
    }
    verify_live(ctx, &dir, &last);
    ctx.umount(ROOT, false);
    if ctx.mount(ROOT, "") {
        verify_live(ctx, &dir, &last);
        remove_all(&dir);
        ctx.umount(ROOT, false);
    }
    counters(&[("snapshots", taken), ("snapshot_files_checked", checked)])
}

fn writer(
    ctx: &Ctx,
    dir: &Path,
    wk: u64,
    writers: u64,
    files: u64,
    last: &[Mutex<Option<u64>>],
    stop: &AtomicBool,
) {
    let mut rng = ctx.rng(100 + wk);
    let mine: Vec<u64> = (0..files).filter(|f| f % writers == wk).collect();
    if mine.is_empty() {
        return;
    }
    let mut v = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let f = mine[rng.usize(0..mine.len())];
        v += 1;
        let version = v * writers + wk;
        let data = content(ctx.seed, &tag(f, version), len_of(ctx.seed, f, version));
        // Written aside and renamed over the file: the name always holds a whole version.
        let tmp = dir.join(format!("t{f}"));
        let r = std::fs::File::create(&tmp)
            .and_then(|mut h| {
                h.write_all(&data)?;
                // Now and then wait for the data and caps to be flushed (try_flush_caps).
                if rng.u8(0..4) == 0 {
                    h.sync_all()?;
                }
                Ok(())
            })
            .and_then(|_| std::fs::rename(&tmp, dir.join(format!("f{f}"))));
        if ctx.check("snapshot writer failed", r).is_some() {
            *last[f as usize].lock().unwrap() = Some(version);
        }
        ctx.op(1);
        std::thread::sleep(Duration::from_millis(rng.u64(5..30)));
    }
}

/// Every file present in a snapshot must be one whole version.
fn check_snapshot(ctx: &Ctx, snap: &Path, files: u64) -> u64 {
    let mut n = 0;
    for f in 0..files {
        let p = snap.join(format!("f{f}"));
        let Ok(data) = std::fs::read(&p) else {
            continue; // not created yet when the snapshot was taken
        };
        ctx.op(1);
        n += 1;
        if version_of(ctx.seed, f, &data).is_none() {
            ctx.finding(
                "snapshot holds a torn file",
                format!("{}: {} bytes", p.display(), data.len()),
            );
        }
    }
    n
}

fn verify_live(ctx: &Ctx, dir: &Path, last: &[Mutex<Option<u64>>]) {
    for (f, v) in last.iter().enumerate() {
        if let Some(v) = *v.lock().unwrap() {
            let f = f as u64;
            ctx.verify_file(
                &dir.join(format!("f{f}")),
                &tag(f, v),
                len_of(ctx.seed, f, v),
            );
        }
    }
}
