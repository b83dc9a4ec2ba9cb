//! mds-failover: `failovers` times: write `files` files, keep a quarter of them open with dirty
//! data and caps, ask the host to fail the MDS (`ceph mds fail 0`), and go on creating files:
//! those block until the restarted MDS has replayed its journal and the client has reconnected
//! its session and caps (send_mds_reconnect, reconnect_caps_cb, wake_up_session_cb). Then every
//! file, written before or after, is verified, after a remount too. The time until the kernel
//! logs `reconnect success` is reported (`reconnect_ms`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use harness_proto::{Action, Msg, WorkloadPlan};

use super::counters;
use crate::ctx::{content, emit, remove_all, Ctx, Kmsg};

const ROOT: &str = "/mnt/h";
/// The shortest time the first mount stays up (two runs of the client's delayed cap work).
const MIN_MOUNTED: Duration = Duration::from_secs(12);

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let failovers = w.param("failovers");
    let files = w.param("files");
    if !ctx.mount(ROOT, "") {
        return BTreeMap::new();
    }
    let mounted = Instant::now();
    let dir = Path::new(ROOT).join("failover");
    ctx.check("mkdir failed", std::fs::create_dir_all(&dir));
    let mut kept = Vec::new();
    let mut reconnect_ms = 0u64;
    let mut rng = ctx.rng(3);
    let mut done = 0;
    for n in 0..failovers {
        if !ctx.step(n + 1) {
            break;
        }
        done = n + 1;
        let mut held = Vec::new();
        for i in 0..files {
            let (tag, len) = (format!("failover {n} before {i}"), rng.usize(512..65_536));
            let p = dir.join(format!("b{n}-{i}"));
            if i % 4 == 0 {
                // Open, dirty, not closed: the client holds Fw/Fb caps across the failover.
                if let Some(mut f) = ctx.check("create failed", std::fs::File::create(&p)) {
                    ctx.check("write failed", f.write_all(&content(ctx.seed, &tag, len)));
                    held.push(f);
                }
                ctx.op(1);
            } else {
                ctx.write_file(&p, &tag, len);
            }
            kept.push((p, tag, len));
        }
        let mut kmsg = Kmsg::open();
        emit(&Msg::Request {
            action: Action::FailMds,
        });
        // Keep creating files (each may wait for the MDS) until the kernel says the session
        // reconnected, for at most two minutes, then the rest.
        let t = Instant::now();
        let mut i = 0;
        let mut reconnected = false;
        while i < files || (!reconnected && t.elapsed() < Duration::from_secs(120)) {
            let (tag, len) = (format!("failover {n} after {i}"), rng.usize(512..65_536));
            let p = dir.join(format!("a{n}-{i}"));
            ctx.write_file(&p, &tag, len);
            kept.push((p, tag, len));
            i += 1;
            if !reconnected && kmsg.saw("reconnect success") {
                reconnected = true;
                reconnect_ms = reconnect_ms.max(t.elapsed().as_millis() as u64);
            }
            if !reconnected {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if !reconnected {
            ctx.finding(
                "mds-failover: the client never reconnected",
                "no \"reconnect success\" in the kernel log within 120 s",
            );
        }
        drop(held);
        for (p, tag, len) in &kept {
            ctx.verify_file(p, tag, *len);
        }
    }
    // The client's delayed work (ceph_check_delayed_caps) first runs 5 s after the mount; every
    // other workload's mounts can be shorter than that, so this one lives long enough for two runs.
    if let Some(rest) = MIN_MOUNTED.checked_sub(mounted.elapsed()) {
        std::thread::sleep(rest);
    }
    ctx.umount(ROOT, false);
    if ctx.mount(ROOT, "") {
        for (p, tag, len) in &kept {
            ctx.verify_file(p, tag, *len);
        }
        remove_all(&dir);
        ctx.umount(ROOT, false);
    }
    counters(&[
        ("failovers", done),
        ("files_verified", kept.len() as u64),
        ("reconnect_ms", reconnect_ms),
    ])
}
