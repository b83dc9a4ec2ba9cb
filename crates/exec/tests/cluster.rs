//! What a guest slot's CephFS costs (`guests.parallel`): the run's cluster started with one file
//! system, then with two (a second file system and its own MDS), timed to ready, with the resident
//! memory of every daemon. A second whole cluster would cost what the first does. Also checks the
//! per-file-system session commands (`ceph tell mds.<fs>:0 ...`) against the real daemons.
//! A measurement (docs/bisection.md, "Guests at once on one machine"), opt-in: needs root and
//! Ceph, starts real daemons; run it under the guest lock with nothing else running
//! (`flock /tmp/harness-guest.lock cargo test -p harness-exec --test cluster -- --ignored --nocapture`).
//! The parallel-guest e2e test (crates/cli/tests/parallel.rs) covers the same commands in CI.

use std::time::{Duration, Instant};

use harness_core::job::{Auth, ClusterSpec};
use harness_exec::cluster::{fs_name, Cluster};
use harness_exec::netns::Netns;
use harness_exec::proc::Procs;

/// Resident memory (MiB) of every process in namespace `ns`, by command and id.
fn rss(ns: &str) -> Vec<(String, f64)> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .unwrap();
    let mut v = Vec::new();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let name = cmd.split_whitespace().next().unwrap_or("").to_string();
        let id = cmd.rsplit_once("-i ").map(|(_, i)| i.trim()).unwrap_or("");
        v.push((format!("{name}.{id}"), kb / 1024.0));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
#[ignore = "a measurement: starts two clusters (about a minute); run with --ignored"]
fn a_second_file_system_costs_an_mds_not_a_cluster() {
    if !nix::unistd::Uid::effective().is_root() || which("ceph-mon").is_none() {
        eprintln!("skipped: needs root and ceph");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = ClusterSpec {
        osds: 1,
        mds: 1,
        auth: Auth::Cephx,
        memstore_bytes: 1024 * 1024 * 1024,
    };
    for filesystems in [1, 2] {
        let ns = Netns::create(&format!("cost{filesystems}"), 0).unwrap();
        let dir = tempfile::Builder::new()
            .prefix(&format!("harness-{}-cost-", std::process::id()))
            .tempdir()
            .unwrap();
        let procs = Procs::new();
        let t0 = Instant::now();
        let cluster = rt
            .block_on(Cluster::start(
                &procs,
                &ns.name,
                dir.path(),
                &spec,
                filesystems,
                Duration::from_secs(300),
                &|m: &str| eprintln!("  {m}"),
            ))
            .unwrap();
        let ready = t0.elapsed().as_secs_f64();
        // Settled memory, a few seconds after ready.
        std::thread::sleep(Duration::from_secs(5));
        let mem = rss(&ns.name);
        let total: f64 = mem.iter().map(|(_, m)| m).sum();
        eprintln!(
            "{filesystems} file system(s): ready in {ready:.1}s, RSS {total:.0} MiB: {mem:?}"
        );
        // The per-file-system session commands answer (`mds.*` for one, `mds.<fs>:0` for
        // several). Before any guest the only sessions are the mgr's (its libcephfs clients, from
        // the host's address): a guest's eviction leaves them alone.
        for i in 0..filesystems {
            let fs = fs_name(i);
            let n = rt.block_on(cluster.client_sessions(&fs)).unwrap();
            let ip = harness_exec::netns::Netns::guest_ip(i);
            assert!(rt
                .block_on(cluster.guest_sessions(&fs, &ip))
                .unwrap()
                .is_empty());
            assert_eq!(
                rt.block_on(cluster.evict_clients(&fs, &ip, false)).unwrap(),
                0,
                "{fs}"
            );
            eprintln!("{fs}: {n} session(s) of the mgr, none of a guest");
        }
        if filesystems == 2 {
            let ls = rt.block_on(cluster.ceph(&["fs", "ls"])).unwrap();
            assert!(
                ls.contains("name: cephfs,") && ls.contains("name: cephfs-1,"),
                "{ls}"
            );
            // Each file system's rank 0 is its own daemon (`mds_join_fs`).
            for (fs, daemon) in [("cephfs", "a"), ("cephfs-1", "s1a")] {
                let out = rt
                    .block_on(cluster.ceph(&["fs", "get", fs, "--format", "json"]))
                    .unwrap();
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                let names: Vec<&str> = v["mdsmap"]["info"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|i| i["name"].as_str())
                    .collect();
                assert_eq!(names, [daemon], "{fs}: {out}");
            }
        }
        procs.stop_all();
        drop(procs);
        drop(ns);
    }
}

fn which(p: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(p))
        .find(|p| p.is_file())
}
