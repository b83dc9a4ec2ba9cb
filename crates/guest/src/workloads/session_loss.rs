//! session-loss: the trigger of the 2025 iput deadlock ("writeback waits for itself", deadlock A
//! of "ceph: fix deadlock bugs by making iput() calls asynchronous"). Each of `rounds` rounds,
//! with periodic writeback held off: `files` files get `file_mib` MiB written and fsynced (the MDS
//! knows that size) and as much again appended and closed without fsync (dirty folios, each
//! holding a write-buffer cap reference, which holds an inode reference). Then, in variant 1 (the
//! one that deadlocks Debian's 6.12.118):
//! 1. the host evicts the client's MDS session (`ceph tell mds.* client evict`, blocklisting it
//!    only with `blocklist: 1`): the client drops its caps and their dirty state ("dropping dirty Fw
//!    state"), its folios stay dirty;
//! 2. a second client (a `noshare` mount, its own session) truncates the files to `truncate_kib`
//!    KiB: a real truncate at the MDS (a new truncate_seq);
//! 3. the first client reads the files again: the open's reply brings the new size, and since the
//!    client held no caps and the file was not yet open, no truncation of its page cache is queued:
//!    dirty folios now lie beyond EOF;
//! 4. dentries and inodes are dropped (`drop_caches` 2, three times): the write-buffer reference is
//!    the inode's last;
//! 5. `sync`: writeback (`wb_workfn` → `ceph_writepages_start`) invalidates the folios beyond EOF
//!    (`ceph_invalidate_folio` → `ceph_put_wrbuffer_cap_refs` → `iput` → `evict`) and evict waits
//!    for the writeback it is running in (`inode_wait_for_writeback`): the sync never returns, the
//!    hung-task detector and the watchdog report it.
//! Variants 2-4 (`variant`; 0: each in turn) are the near misses tried on the way: 2 the first
//! client truncates its own files (its page cache is truncated with them), 3 the first client
//! dirties the files again under its new session, 4 no eviction (the client holds caps, so the
//! truncation of its page cache is queued). Each step is noted in the kernel log (`harness:
//! session-loss: ...`, with `Dirty:`/`Writeback:` from /proc/meminfo).
//!
//! Verified: the second client sees every truncated size, the control file survives the session
//! loss and a remount byte for byte. Counters: `evictions`, `sessions_closed`, `sync_ms` (the
//! longest `sync`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use harness_proto::{Action, Msg, WorkloadPlan};

use super::counters;
use crate::ctx::{c, content, emit, remove_all, Ctx, Kmsg};

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
    let variant = w.param("variant");
    let mut closed = 0;
    let mut sync_ms = 0u64;
    trace_points();
    let mut done = 0;
    for n in 0..rounds {
        if !ctx.step(n + 1) {
            break;
        }
        done = n + 1;
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
            // The first half is on the OSDs and its size known to the MDS (so a truncate by
            // another client is a real one, with a new truncate_seq); the second half is
            // appended and closed without fsync: dirty folios with write-buffer cap references,
            // beyond the size the MDS knows.
            ctx.write_file(p, &format!("session-loss {n} clean {i}"), len);
            if let Ok(f) = std::fs::File::open(p) {
                ctx.check("fsync failed", f.sync_all());
            }
            append(
                ctx,
                p,
                &content(ctx.seed, &format!("session-loss {n} dirty {i}"), len),
            );
        }
        let v = match variant {
            0 => n % VARIANTS + 1,
            v => v,
        };
        note(&format!(
            "session-loss: round {n}, variant {v}: {}",
            dirty()
        ));
        if v != 4 {
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
        }
        if v == 3 {
            // Dirty again under the new session: the caps that hold the new dirty data come
            // from it.
            for (i, p) in names.iter().enumerate() {
                ctx.write_file(p, &format!("session-loss {n} again {i}"), len);
            }
        }
        if v == 2 {
            // The first client shrinks its own dirty files.
            for p in &names {
                truncate(ctx, p, truncate_kib << 10);
            }
        }
        // A second client with its own session shrinks the files the first still has dirty.
        if ctx.mount(SECOND, "noshare") {
            if v != 2 {
                for p in &names {
                    truncate(ctx, &second(p), truncate_kib << 10);
                }
            }
            // The first client reads the files again: it learns the smaller size (the session
            // reopens) while its folios beyond it are still dirty, and no truncation of its page
            // cache is queued (it held no caps when the size changed). What it sees is not checked: after a
            // session loss its cached size is its own business; the MDS's answer is checked below.
            let mut seen = Vec::new();
            for p in &names {
                // An open always gets caps from the MDS, so its reply carries the new size; a
                // stat after the session loss is answered from what the client still had.
                let read = std::fs::read(p).map(|d| d.len() as u64);
                seen.push(read.unwrap_or(u64::MAX));
                ctx.op(1);
            }
            note(&format!(
                "session-loss: round {n}, variant {v}: first client sees sizes {seen:?}"
            ));
            for _ in 0..3 {
                let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
                ctx.op(1);
            }
            note(&format!(
                "session-loss: round {n}, variant {v}: sync ({})",
                dirty()
            ));
            let t = Instant::now();
            unsafe { libc::sync() };
            sync_ms = sync_ms.max(t.elapsed().as_millis() as u64);
            ctx.op(1);
            note(&format!(
                "session-loss: round {n}, variant {v}: synced ({})",
                dirty()
            ));
            for p in &names {
                check_len(ctx, &second(p), truncate_kib << 10);
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
        ("evictions", done),
        ("sessions_closed", closed),
        ("sync_ms", sync_ms),
    ])
}

/// How a round loses the session and shrinks the files (`variant`; 0: each in turn):
/// 1 evicted, then the second client truncates; 2 evicted, then the first client truncates its own
/// files; 3 evicted, the first client dirties the files again, then the second truncates;
/// 4 no eviction, the second client truncates while the first holds dirty data and caps.
const VARIANTS: u64 = 4;

/// The same file seen through the second client's mount.
fn second(p: &Path) -> std::path::PathBuf {
    Path::new(SECOND).join(p.strip_prefix(ROOT).expect("under ROOT"))
}

/// Evidence on the console: the kernel client's own debug lines (dynamic debug) for the steps
/// of the deadlock: a size learned from the MDS, a folio found beyond EOF in writeback.
fn trace_points() {
    let dd = "/sys/kernel/debug/dynamic_debug/control";
    if !Path::new(dd).exists() {
        let _ = std::fs::create_dir_all("/sys/kernel/debug");
        unsafe {
            libc::mount(
                c("debugfs").as_ptr(),
                c("/sys/kernel/debug").as_ptr(),
                c("debugfs").as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    for q in [
        "module ceph format \"beyond eof\" +p",
        "module ceph format \"truncate_seq %u -> %u\" +p",
        "module ceph format \"size %lld -> %llu\" +p",
    ] {
        let _ = std::fs::write(dd, q);
    }
}

fn append(ctx: &Ctx, p: &Path, data: &[u8]) {
    use std::io::Write;
    let r = std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(data));
    ctx.check("append failed", r);
    ctx.op(1);
}

/// Dirty and writeback page cache (`/proc/meminfo`), for the notes.
fn dirty() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("Dirty:") || l.starts_with("Writeback:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A line in the kernel log (and so on the console), next to what the kernel says.
fn note(s: &str) {
    let _ = std::fs::write("/dev/kmsg", format!("harness: {s}\n"));
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
