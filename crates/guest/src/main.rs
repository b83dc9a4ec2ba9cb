//! harness-guest: the program the harness runs inside its QEMU guest (after `/init` has loaded the
//! modules and brought the network up).
//!
//!     harness-guest run /etc/harness.json     the plan: probes, workloads in order, report, exit
//!     harness-guest iput-child DIR SEED ROUND PROC FILES CGROUP
//!                                              one short-lived process of iput-stress
//!
//! It speaks harness-proto on stdout (the serial console): one `HARNESS/1 {json}` line per message.
//! It ends the guest itself: one byte to the isa-debug-exit port (0 = ok, 1 = failed), then power off.

mod ctx;
mod probes;
mod workloads;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use harness_proto::{Msg, Plan, VERSION};

use crate::ctx::{emit, uptime, Ctx, Shared};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("run") if args.len() == 3 => run(&args[2]),
        Some("iput-child") if args.len() == 8 => workloads::iput::child(&args[2..]),
        _ => {
            eprintln!(
                "usage: harness-guest run PLAN.json | iput-child DIR SEED ROUND PROC FILES CGROUP"
            );
            2
        }
    };
    std::process::exit(code);
}

fn run(plan_path: &str) -> i32 {
    emit(&Msg::Hello {
        version: VERSION,
        guest: format!("harness-guest {}", env!("CARGO_PKG_VERSION")),
    });
    let plan: Plan = match std::fs::read_to_string(plan_path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            emit(&Msg::Finding {
                workload: String::new(),
                title: format!("guest: cannot read the plan {plan_path}"),
                detail: e,
            });
            return finish(1);
        }
    };
    if plan.version != VERSION {
        emit(&Msg::Finding {
            workload: String::new(),
            title: format!("guest: plan version {} is not {VERSION}", plan.version),
            detail: String::new(),
        });
        return finish(1);
    }
    setup(&plan);
    let tracing = probes::Tracing::setup(&plan);
    let shared = Arc::new(Shared::default());
    watchdog(&plan, shared.clone());

    let mut rc = 0;
    for w in &plan.workloads {
        emit(&Msg::WorkloadStart {
            name: w.name.clone(),
            seed: w.seed,
        });
        *shared.workload.lock().unwrap() = w.name.clone();
        let ctx = Ctx::new(&plan, w, shared.clone());
        let t0 = uptime();
        let counters = workloads::run(&ctx, w);
        let ok = !ctx.failed();
        emit(&Msg::WorkloadEnd {
            name: w.name.clone(),
            ok,
            stats: harness_proto::WorkloadStats {
                seconds: uptime() - t0,
                ops: ctx.ops(),
                counters,
            },
        });
        if !ok {
            rc = 1;
            break;
        }
    }
    shared.workload.lock().unwrap().clear();
    if let Some(t) = tracing {
        t.report();
    }
    finish(rc)
}

/// Kernel knobs the workloads rely on.
fn setup(plan: &Plan) {
    let set = |path: &str, v: &str| {
        if let Err(e) = std::fs::write(path, v) {
            emit(&Msg::Finding {
                workload: String::new(),
                title: format!("guest: cannot write {path}"),
                detail: e.to_string(),
            });
        }
    };
    set(
        "/proc/sys/kernel/hung_task_timeout_secs",
        &plan.hung_task_timeout_s.to_string(),
    );
    set("/proc/sys/kernel/sysrq", "1");
    // Bit 4: no "drop_caches: N" line on every write (the workloads drop caches in a loop).
    set("/proc/sys/vm/drop_caches", "4");
    let _ = std::fs::create_dir_all("/mnt");
}

/// Heartbeats while workloads run; a workload whose operation count stops moving for `stall_s`
/// gets its blocked tasks dumped (sysrq w) and a `stall` message, once.
fn watchdog(plan: &Plan, shared: Arc<Shared>) {
    let every = Duration::from_secs(plan.heartbeat_s.max(1) as u64);
    let stall = plan.stall_s as f64;
    std::thread::spawn(move || {
        let mut last_ops = 0;
        let mut last_change = uptime();
        let mut reported = String::new();
        loop {
            std::thread::sleep(every);
            let ops = shared.ops.load(Ordering::Relaxed);
            let now = uptime();
            emit(&Msg::Heartbeat { uptime: now, ops });
            let workload = shared.workload.lock().unwrap().clone();
            if ops != last_ops || workload.is_empty() {
                last_ops = ops;
                last_change = now;
                continue;
            }
            if now - last_change >= stall && reported != workload {
                // The message first: the host's excerpt starts there and takes the dump in.
                emit(&Msg::Stall {
                    workload: workload.clone(),
                    seconds: (now - last_change) as u64,
                });
                // The kernel prints straight to the UART, our line waits in the tty buffer:
                // let it out first so the dump follows it on the console.
                unsafe { libc::tcdrain(1) };
                let _ = std::fs::write("/proc/sysrq-trigger", "w");
                reported = workload;
            }
        }
    });
}

fn finish(rc: i32) -> i32 {
    emit(&Msg::Result { rc });
    unsafe {
        libc::sync();
        // The console is a UART: wait until everything written has gone out before QEMU exits.
        libc::tcdrain(1);
    }
    // isa-debug-exit at port 0xf4: QEMU exits with (byte << 1) | 1.
    if let Ok(mut port) = std::fs::OpenOptions::new().write(true).open("/dev/port") {
        use std::io::{Seek, SeekFrom};
        let _ = port.seek(SeekFrom::Start(0xf4));
        let _ = port.write_all(&[if rc == 0 { 0 } else { 1 }]);
    }
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    rc
}
