//! The plan the guest program is handed (harness-proto): what to run, what to probe, how to
//! reach the cluster.

use std::time::Duration;

use harness_proto::{Plan, Probe, WorkloadPlan};

use crate::job::{Auth, Job};

/// Seconds between the guest program's heartbeats.
pub const HEARTBEAT_S: u32 = 5;

/// The cluster as the guest mounts it.
#[derive(Debug, Clone, Copy)]
pub struct Mount<'a> {
    /// Monitor address (`IP:port`).
    pub mon: &'a str,
    /// client.admin's cephx secret (sent only when the job uses cephx).
    pub admin_key: &'a str,
}

/// The plan for `job`'s guests. `stall`: the (accelerator-scaled) progress deadline;
/// `coverage`: the functions to count; `modular`: CephFS is built as modules (probes name them).
pub fn build(
    job: &Job,
    mount: Mount<'_>,
    stall: Duration,
    coverage: Vec<Probe>,
    modular: bool,
) -> Plan {
    Plan {
        version: harness_proto::VERSION,
        mon: mount.mon.to_string(),
        key: if job.cluster.auth == Auth::Cephx {
            mount.admin_key.to_string()
        } else {
            String::new()
        },
        hung_task_timeout_s: job.guests.hung_task_timeout_s,
        heartbeat_s: HEARTBEAT_S,
        stall_s: stall.as_secs() as u32,
        workloads: job
            .workloads
            .iter()
            .map(|w| WorkloadPlan {
                name: w.name.clone(),
                seed: w.seed,
                params: w.params.clone(),
                fstests: w.fstests.as_ref().map(|f| harness_proto::FstestsPlan {
                    tests: f.tests.clone(),
                    groups: f.groups.clone(),
                    exclude: f.exclude.clone(),
                    test_timeout_s: w.params.get("test_timeout_s").copied().unwrap_or(600),
                }),
                through_step: None,
            })
            .collect(),
        coverage,
        fs: None,
        evict_probe: job.probes.hazards.then(|| Probe {
            module: modular.then(|| "ceph".to_string()),
            function: "ceph_evict_inode".into(),
        }),
    }
}

/// Per-test deadlines under an accelerator `factor` times slower (TCG: the job's `tcg_factor`).
pub fn scale_test_timeouts(plan: &mut Plan, factor: u32) {
    for w in &mut plan.workloads {
        if let Some(f) = &mut w.fstests {
            f.test_timeout_s *= factor.max(1) as u64;
        }
    }
}

/// The longest per-test deadline of the plan (none: no test-suite workload).
pub fn longest_test_timeout(plan: &Plan) -> Option<Duration> {
    plan.workloads
        .iter()
        .filter_map(|w| w.fstests.as_ref())
        .map(|f| Duration::from_secs(f.test_timeout_s))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> Job {
        let kernel = "kernel:\n  mode: distro-module\n  release: r\n  source: s\n";
        Job::from_yaml(
            &format!("{kernel}{yaml}"),
            "jobs/t.yaml",
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    const MOUNT: Mount<'static> = Mount {
        mon: "10.77.0.1:6789",
        admin_key: "AQB==",
    };

    #[test]
    fn the_plan_carries_the_jobs_workloads_and_limits() {
        let j = job("name: t\nworkloads:\n  - name: iput-stress\n    seed: 7\n");
        let p = build(&j, MOUNT, Duration::from_secs(90), Vec::new(), true);
        assert_eq!(p.version, harness_proto::VERSION);
        assert_eq!(p.mon, "10.77.0.1:6789");
        assert_eq!(p.stall_s, 90);
        assert_eq!(p.heartbeat_s, HEARTBEAT_S);
        assert_eq!(p.hung_task_timeout_s, j.guests.hung_task_timeout_s);
        assert_eq!(p.workloads.len(), 1);
        assert_eq!(p.workloads[0].name, "iput-stress");
        assert_eq!(p.workloads[0].seed, 7);
        assert_eq!(p.workloads[0].params, j.workloads[0].params);
    }

    #[test]
    fn fstests_goes_into_the_plan_with_its_deadline_scaled() {
        let j = job("name: t\nguests:\n  userland: host\nworkloads:\n  - name: fstests\n    params: {path: /x, tests: [generic/001], test_timeout_s: 100}\n");
        let mut p = build(&j, MOUNT, Duration::from_secs(90), Vec::new(), true);
        let f = p.workloads[0].fstests.clone().unwrap();
        assert_eq!(f.tests, ["generic/001"]);
        assert_eq!(f.test_timeout_s, 100);
        assert_eq!(f.exclude.len(), 5);
        scale_test_timeouts(&mut p, 3);
        assert_eq!(longest_test_timeout(&p), Some(Duration::from_secs(300)));
        let j = job("name: t\nworkloads:\n  - name: iput-stress\n");
        let p = build(&j, MOUNT, Duration::from_secs(90), Vec::new(), true);
        assert_eq!(longest_test_timeout(&p), None);
    }

    #[test]
    fn the_key_goes_only_with_cephx_and_the_evict_probe_only_with_hazards() {
        let cephx = job("name: t\ncluster:\n  auth: cephx\nprobes:\n  hazards: true\nworkloads:\n  - name: umount-stress\n");
        let p = build(&cephx, MOUNT, Duration::from_secs(1), Vec::new(), true);
        assert_eq!(p.key, "AQB==");
        let e = p.evict_probe.unwrap();
        assert_eq!(
            (e.module.as_deref(), e.function.as_str()),
            (Some("ceph"), "ceph_evict_inode")
        );
        // A tree kernel has CephFS built in: the probe names no module.
        let p = build(&cephx, MOUNT, Duration::from_secs(1), Vec::new(), false);
        assert_eq!(p.evict_probe.unwrap().module, None);

        let none = job("name: t\ncluster:\n  auth: none\nprobes:\n  hazards: false\nworkloads:\n  - name: umount-stress\n");
        let p = build(&none, MOUNT, Duration::from_secs(1), Vec::new(), true);
        assert_eq!(p.key, "");
        assert_eq!(p.evict_probe, None);
    }

    #[test]
    fn the_load_tools_reach_the_plan_with_their_seeds_and_defaults() {
        let j = job("name: t\nguests:\n  userland: host\nworkloads:\n  - name: fio\n    seed: 5\n    params:\n      size_mib: 3\n  - name: stress-ng\n");
        let p = build(&j, MOUNT, Duration::from_secs(1), Vec::new(), true);
        let names: Vec<&str> = p.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["fio", "stress-ng"]);
        assert_eq!(p.workloads[0].seed, 5);
        assert_eq!(p.workloads[0].param("size_mib"), 3);
        assert_eq!(p.workloads[0].param("jobs"), 2);
        assert_eq!(p.workloads[1].seed, 1);
        assert_eq!(p.workloads[1].param("stressors"), 244);
    }
}
