//! session-loss: the trigger conditions of the 2025 iput deadlock ("writeback waits for itself").
//! Each of `rounds` rounds: with periodic writeback held off, write `files` files of `file_mib`
//! MiB and close them (the pages stay dirty, each holding a write-buffer cap reference), write
//! and fsync a control file, then ask the host to evict this client's MDS session (`ceph tell
//! mds.* client evict`, blocklisting it only with `blocklist: 1`): the MDS drops the session and
//! with it the caps that held inode references. A second client (a `noshare` mount, its own
//! session) then truncates the dirty files to `truncate_kib` KiB, and the first client, looking
//! at them again, learns the smaller size while its folios beyond the new EOF are still dirty;
//! dentries and inodes are
//! dropped (`drop_caches` 2, three times) so the write-buffer reference is the inode's last one;
//! then `sync` starts writeback, which invalidates those folios from inside `ceph_writepages_start`
//! (`ceph_invalidate_folio` → `ceph_put_wrbuffer_cap_refs` → `iput` → `evict` →
//! `inode_wait_for_writeback` on the inode writeback itself holds). On a kernel with the bug that
//! `sync` never returns: the watchdog and the hung-task detector report it.
//!
//! Verified: the second client sees every truncated size, the control file survives the session
//! loss and a remount byte for byte. Counters: `evictions`, `reconnected` (rounds whose first
//! client logged a session close), `sync_ms` (the longest `sync`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use harness_proto::{Action, Msg, WorkloadPlan};

use super::counters;
use crate::ctx::{c, emit, remove_all, Ctx, Kmsg};

const ROOT: &str = "/mnt/h";
const SECOND: &str = "/mnt/h2";
/// The writeback knobs held off during a round, and restored after it.
const HOLD: &[(&str, &str)] = &[
    ("/proc/sys/vm/dirty_writeback_centisecs", "0"),
    ("/proc/sys/vm/dirty_expire_centisecs", "360000"),
    ("/proc/sys/vm/dirty_background_ratio", "90"),
    ("/proc/sys/vm/dirty_ratio", "95"),
];

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let rounds = w.param("rounds");
    let files = w.param("files");
    let file_mib = w.param("file_mib");
    let truncate_kib = w.param("truncate_kib");
    let blocklist = w.param("blocklist") != 0;
    let mut closed = 0;
    let mut sync_ms = 0u64;
    for n in 0..rounds {
        if !ctx.mount(ROOT, "") {
            break;
        }
        let dir = Path::new(ROOT).join(format!("session-loss-{n}"));
        remove_all(&dir);
        ctx.check("mkdir failed", std::fs::create_dir_all(&dir));
        let control = dir.join("control");
        let control_tag = format!("session-loss {n} control");
        ctx.write_file(&control, &control_tag, 65_536);
        if let Ok(f) = std::fs::File::open(&control) {
            ctx.check("fsync failed", f.sync_all());
        }
        let saved = hold_writeback();
        let len = (file_mib << 20) as usize;
        let names: Vec<_> = (0..files).map(|i| dir.join(format!("dirty-{i}"))).collect();
        for (i, p) in names.iter().enumerate() {
            // Written and closed without fsync: dirty folios with write-buffer cap references.
            ctx.write_file(p, &format!("session-loss {n} dirty {i}"), len);
        }
        let mut kmsg = Kmsg::open();
        emit(&Msg::Request {
            action: Action::EvictSession { blocklist },
        });
        if wait_for(
            ctx,
            &mut kmsg,
            "closed our session",
            Duration::from_secs(30),
        ) {
            closed += 1;
        }
        // A second client with its own session shrinks the files the first still has dirty.
        if ctx.mount(SECOND, "noshare") {
            for p in &names {
                let other = Path::new(SECOND).join(p.strip_prefix(ROOT).expect("under ROOT"));
                truncate(ctx, &other, truncate_kib << 10);
            }
            // The first client learns the new sizes (its session reopens, the MDS grants caps
            // with the truncated size) while its folios beyond them are still dirty.
            for p in &names {
                check_len(ctx, p, truncate_kib << 10);
            }
            for _ in 0..3 {
                let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
                ctx.op(1);
            }
            let t = Instant::now();
            unsafe { libc::sync() };
            sync_ms = sync_ms.max(t.elapsed().as_millis() as u64);
            ctx.op(1);
            for p in &names {
                let other = Path::new(SECOND).join(p.strip_prefix(ROOT).expect("under ROOT"));
                check_len(ctx, &other, truncate_kib << 10);
            }
            ctx.umount(SECOND, false);
        }
        restore(&saved);
        // The evicted client may have lost its mount's usefulness (blocklisted): detach it.
        ctx.umount(ROOT, blocklist);
        if ctx.mount(ROOT, "") {
            ctx.verify_file(&control, &control_tag, 65_536);
            remove_all(&dir);
            ctx.umount(ROOT, false);
        }
    }
    counters(&[
        ("evictions", rounds),
        ("sessions_closed", closed),
        ("sync_ms", sync_ms),
    ])
}

/// Set [`HOLD`]; the previous values.
fn hold_writeback() -> Vec<(&'static str, String)> {
    HOLD.iter()
        .filter_map(|(k, v)| {
            let old = std::fs::read_to_string(k).ok()?;
            std::fs::write(k, v).ok()?;
            Some((*k, old.trim().to_string()))
        })
        .collect()
}

fn restore(saved: &[(&'static str, String)]) {
    for (k, v) in saved {
        let _ = std::fs::write(k, v);
    }
}

/// Poll the kernel log for `text` (the watchdog sees progress meanwhile).
fn wait_for(ctx: &Ctx, kmsg: &mut Kmsg, text: &str, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if kmsg.saw(text) {
            return true;
        }
        ctx.op(1);
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn truncate(ctx: &Ctx, p: &Path, len: u64) {
    let path = c(&p.to_string_lossy());
    if unsafe { libc::truncate(path.as_ptr(), len as libc::off_t) } != 0 {
        ctx.finding(
            "truncate failed",
            format!("{}: {}", p.display(), std::io::Error::last_os_error()),
        );
    }
    ctx.op(1);
}

fn check_len(ctx: &Ctx, p: &Path, want: u64) {
    match std::fs::metadata(p) {
        Ok(m) if m.len() == want => {}
        Ok(m) => ctx.finding(
            "wrong size after truncate",
            format!("{}: {} bytes, want {want}", p.display(), m.len()),
        ),
        Err(e) => ctx.finding("stat failed", format!("{}: {e}", p.display())),
    }
    ctx.op(1);
}
