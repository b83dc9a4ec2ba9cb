//! End to end: the host's userland in the guest (`guests.userland: host`: the host's /usr over
//! virtio-9p, with QEMU's seccomp sandbox and -runas) running Debian's load tools on CephFS:
//! jobs/load-tools.yaml (fio, stress-ng, dbench, fsmark) on the good series passes, with each
//! tool's figures in the report. Real module build, real cluster, one real TCG guest.

mod common;
use common::{assert_no_leftovers, repo, shared};

#[test]
fn load_tools_on_the_host_userland_pass_the_good_series_with_figures() {
    let job = repo().join("jobs/load-tools.yaml");
    let ran = common::harness_report(
        &[
            "test".as_ref(),
            "--on-failure".as_ref(),
            "none".as_ref(),
            "--job".as_ref(),
            job.as_os_str(),
        ],
        &[shared("ceph-cap-locking-6.1.mbox")],
    );
    let (code, r, text) = (ran.code, &ran.report, &ran.text);
    assert_eq!(r["verdict"], "pass", "{}; {text}", r["reason"]);
    assert_eq!(code, Some(0), "{text}");
    let tip = &r["prefixes"][6]["test"];
    let workloads = tip["workloads"].as_array().unwrap();
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fio", "stress-ng", "dbench", "fsmark"]);
    let get = |name: &str| workloads.iter().find(|w| w["name"] == name).unwrap();
    for w in workloads {
        assert_eq!(w["ok"], true, "{w}");
        assert!(w["ops_per_s"].as_f64().unwrap() > 0.0, "{w}");
    }
    // fio: both directions moved data, every job verified clean.
    let fio = &get("fio")["counters"];
    for k in ["read_iops", "write_iops", "read_kib_s", "write_kib_s"] {
        assert!(fio[k].as_u64().unwrap() > 0, "fio {k}: {fio}");
    }
    assert_eq!(fio["jobs"], 2, "{fio}");
    assert_eq!(fio["job_errors"], 0, "{fio}");
    // stress-ng: the default stressors each reported their bogo ops.
    let sng = &get("stress-ng")["counters"];
    for s in ["rename", "inode-flags", "flock", "xattr", "mmap"] {
        assert!(
            sng.get(format!("{s}_bogo_ops")).is_some(),
            "stress-ng {s}: {sng}"
        );
        assert!(
            sng.get(format!("{s}_bogo_ops_per_s")).is_some(),
            "stress-ng {s}: {sng}"
        );
    }
    assert!(sng["flock_bogo_ops"].as_u64().unwrap() > 0, "{sng}");
    assert!(
        get("dbench")["counters"]["throughput_kb_s"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(get("fsmark")["counters"]["files"], 400);
    // The guest really ran on the host's /usr, mounted over 9p after the module under test.
    let console = ran.artifact("console-prefix-6.log");
    let under_test = console.find(harness_proto::UNDER_TEST_MARKER).unwrap();
    let userland = console
        .find("HARNESS: host userland up")
        .expect("no host userland");
    assert!(under_test < userland);
    assert!(console.contains("\"t\":\"workload-end\",\"name\":\"fio\",\"ok\":true"));
    drop(ran);
    assert_no_leftovers();
}
