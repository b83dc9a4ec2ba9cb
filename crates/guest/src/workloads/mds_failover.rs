//! mds-failover: `failovers` times: write `files` files, keep a quarter of them open with dirty
//! data and caps, ask the host to fail the MDS (`ceph mds fail 0`), and go on creating files:
//! those block until the restarted MDS has replayed its journal and the client has reconnected
//! its session and caps (send_mds_reconnect, reconnect_caps_cb, wake_up_session_cb). Then every
//! file, written before or after, is verified, after a remount too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use harness_proto::{Action, Msg, WorkloadPlan};

use super::counters;
use crate::ctx::{content, emit, remove_all, Ctx};

const ROOT: &str = "/mnt/h";

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    let failovers = w.param("failovers", 1);
    let files = w.param("files", 40);
    if !ctx.mount(ROOT, "") {
        return BTreeMap::new();
    }
    let dir = Path::new(ROOT).join("failover");
    ctx.check("mkdir failed", std::fs::create_dir_all(&dir));
    let mut kept = Vec::new();
    let mut longest_ms = 0u64;
    let mut rng = ctx.rng(3);
    for n in 0..failovers {
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
        emit(&Msg::Request {
            action: Action::FailMds,
        });
        std::thread::sleep(Duration::from_secs(2));
        let t = Instant::now();
        for i in 0..files {
            let (tag, len) = (format!("failover {n} after {i}"), rng.usize(512..65_536));
            let p = dir.join(format!("a{n}-{i}"));
            ctx.write_file(&p, &tag, len);
            kept.push((p, tag, len));
            if i == 0 {
                // The first create waits for the MDS to be back.
                longest_ms = longest_ms.max(t.elapsed().as_millis() as u64);
            }
        }
        drop(held);
        for (p, tag, len) in &kept {
            ctx.verify_file(p, tag, *len);
        }
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
        ("failovers", failovers),
        ("files_verified", kept.len() as u64),
        ("longest_wait_ms", longest_ms),
    ])
}
