//! The host/guest protocol, version [`VERSION`].
//!
//! - Host → guest: a [`Plan`] as JSON in `/etc/harness.json` (the cluster to mount, the workloads in
//!   order with their seeds and parameters, the functions to probe, the watchdog's limits).
//! - Guest → host: one [`Msg`] per console line, `HARNESS/1 {json}` ([`encode`]), written with a
//!   single `write(2)` so a kernel message cannot split it in practice; [`decode`] finds the marker
//!   anywhere in a line and ignores what does not parse (a line the kernel garbled is not an error).
//!
//! A change that an older peer would misread bumps [`VERSION`]; adding an optional field does not.

pub mod fstests;
pub mod workloads;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;
/// Every protocol line carries this marker, then one JSON object.
pub const MARKER: &str = "HARNESS/1 ";

/// What `/init` prints just before it loads the modules under test: a guest that fails before this
/// line ran none of their code (distro-module mode), so its failure is the machine's, not the series'.
pub const UNDER_TEST_MARKER: &str = "HARNESS: loading the modules under test";

/// The kernel command-line parameter that names a guest boot (`harness.boot=p6-1`): the guest
/// works in a CephFS directory of that name, one no other boot touched.
pub const BOOT_ARG: &str = "harness.boot=";

/// The CephFS mount options of the guest: client.admin, its secret (with cephx), the file system
/// (`mds_namespace=`, understood by every kernel the harness tests; `fs=` only from 5.17), then
/// `extra` (e.g. `noshare`).
pub fn mount_options(key: &str, fs: Option<&str>, extra: &str) -> String {
    let mut o = String::from("name=admin");
    if !key.is_empty() {
        o.push_str(",secret=");
        o.push_str(key);
    }
    if let Some(fs) = fs {
        o.push_str(",mds_namespace=");
        o.push_str(fs);
    }
    if !extra.is_empty() {
        o.push(',');
        o.push_str(extra);
    }
    o
}

/// The boot name in a kernel command line, if it carries a well-formed one (ASCII letters,
/// digits, `.`, `_`, `-`; not starting with `.`).
pub fn boot_name(cmdline: &str) -> Option<&str> {
    let name = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(BOOT_ARG))?;
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(name)
}

/// A boot name made of `s` (characters outside the allowed set become `-`).
pub fn sanitize_boot_name(s: &str) -> String {
    let mut n: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if n.is_empty() || n.starts_with('.') {
        n.insert(0, 'b');
        n.truncate(64);
    }
    n
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// Monitor address (`IP:port`).
    pub mon: String,
    /// cephx secret of client.admin; empty with `auth: none`.
    pub key: String,
    /// The CephFS this guest mounts (`mds_namespace=`), when the cluster has several (one per
    /// guest booted at once); absent: the cluster's only (first) one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<String>,
    pub hung_task_timeout_s: u32,
    /// Seconds between heartbeats.
    pub heartbeat_s: u32,
    /// No workload progress for this long: the guest dumps blocked tasks (sysrq w) and says so.
    pub stall_s: u32,
    pub workloads: Vec<WorkloadPlan>,
    /// Kprobes counting calls to the functions the series changes.
    pub coverage: Vec<Probe>,
    /// Where final iputs (evictions) of CephFS inodes run: a probe whose stacks are counted.
    pub evict_probe: Option<Probe>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadPlan {
    pub name: String,
    pub seed: u64,
    pub params: BTreeMap<String, u64>,
    /// fstests only: what to run, and the 9p tag of the built tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fstests: Option<FstestsPlan>,
    /// Run steps 1..=N only (a bisection boot cut after the step its signature showed in): a
    /// stepped workload ends as if its step count were N ([`Msg::Step`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_step: Option<u64>,
}

/// The fstests workload's plan: the host built the tree and exports it read-only (virtio-9p,
/// mount tag [`FSTESTS_TAG`]); the guest writes `local.config` and results on its tmpfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FstestsPlan {
    /// Tests to run (`generic/013`), in order.
    pub tests: Vec<String>,
    /// Groups to run (`quick`); expanded by `./check -n` in the guest.
    pub groups: Vec<String>,
    /// Tests never run (reported as not run, `excluded`).
    pub exclude: Vec<String>,
    /// Deadline of one test (already multiplied by the TCG factor): past it the test's
    /// process group is killed and the test fails.
    pub test_timeout_s: u64,
}

/// The virtio-9p mount tag of the built fstests tree.
pub const FSTESTS_TAG: &str = "fstests";

impl WorkloadPlan {
    /// A parameter; the host validated and defaulted every one, so a missing one is answered
    /// with the catalog's default (0 for a name the catalog does not know).
    pub fn param(&self, name: &str) -> u64 {
        self.params.get(name).copied().unwrap_or_else(|| {
            workloads::WorkloadInfo::get(&self.name)
                .and_then(|w| w.default_of(name))
                .unwrap_or(0)
        })
    }
}

/// A kprobe target: `module:function` (module `None` for built-in code).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Probe {
    pub module: Option<String>,
    pub function: String,
}

impl Probe {
    /// The probe point in `kprobe_events` syntax.
    pub fn target(&self) -> String {
        match &self.module {
            Some(m) => format!("{m}:{}", self.function),
            None => self.function.clone(),
        }
    }
}

/// Cluster actions a workload may ask the host for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `ceph mds fail 0`: the MDS restarts, replays its journal and the clients reconnect.
    FailMds,
    /// Evict every client session of the MDS (`ceph tell mds.* client evict`), with or without
    /// blocklisting the clients (`mds_session_blocklist_on_evict`): the client loses its caps and
    /// the inode references they held, as on a network partition.
    EvictSession { blocklist: bool },
}

/// What a workload measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStats {
    pub seconds: f64,
    /// Operations (creates, writes, unlinks, renames, mounts, snapshots, ...) done.
    pub ops: u64,
    /// Named counters (e.g. `mounts`, `snapshots`, `verified`).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Msg {
    Hello {
        version: u32,
        guest: String,
    },
    /// Probes that could be set (and why the others could not: inlined, not in the module, ...).
    Probes {
        set: usize,
        failed: Vec<(String, String)>,
    },
    WorkloadStart {
        name: String,
        seed: u64,
    },
    Heartbeat {
        uptime: f64,
        ops: u64,
    },
    /// A stepped workload begins its step `step` (1-based: a cycle of umount-stress, a round of
    /// cap-revoke): console findings until the next one are that step's.
    Step {
        workload: String,
        step: u64,
    },
    /// Trouble a workload saw itself: a failed syscall, a data mismatch.
    Finding {
        workload: String,
        title: String,
        detail: String,
    },
    WorkloadEnd {
        name: String,
        ok: bool,
        stats: WorkloadStats,
    },
    /// The guest asks the host to act on the cluster (see [`Action`]); no answer comes back: the
    /// workload sees the effect (an MDS failover stalls metadata operations until it is over).
    Request {
        action: Action,
    },
    /// No progress for `seconds`: blocked tasks were dumped with sysrq w.
    Stall {
        workload: String,
        seconds: u64,
    },
    /// Calls per probed function (`module:function`).
    Coverage {
        hits: BTreeMap<String, u64>,
    },
    /// Stacks of the evict probe, with how often each was seen (innermost frame first).
    Evictions {
        stacks: Vec<(Vec<String>, u64)>,
    },
    Result {
        rc: i32,
    },
    /// A test of a test suite (fstests) starts: console findings until its end name it.
    TestStart {
        workload: String,
        test: String,
    },
    /// A test of a test suite ended. `diff` (the `.out.bad` diff) and `full` (the end of the
    /// `.full` log) are bounded; empty unless it failed.
    TestEnd {
        workload: String,
        test: String,
        status: fstests::Status,
        seconds: f64,
        #[serde(default)]
        reason: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        diff: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        full: String,
    },
}

impl Msg {
    /// One line for a person watching; `None` for bulk data (coverage, stacks).
    pub fn summary(&self) -> Option<String> {
        Some(match self {
            Msg::Hello { guest, .. } => format!("{guest} started"),
            Msg::Probes { set, failed } => {
                let mut s = format!("{set} probes set");
                if !failed.is_empty() {
                    s.push_str(&format!(", {} not probeable", failed.len()));
                }
                s
            }
            Msg::WorkloadStart { name, seed } => format!("workload {name} (seed {seed})"),
            Msg::Heartbeat { uptime, ops } => format!("uptime {uptime:.0}s, {ops} ops"),
            Msg::Step { workload, step } => format!("{workload} step {step}"),
            Msg::Finding {
                workload, title, ..
            } => format!("{workload}: {title}"),
            Msg::WorkloadEnd { name, ok, stats } => format!(
                "workload {name} {} in {:.1}s, {} ops ({:.0}/s)",
                if *ok { "ok" } else { "FAILED" },
                stats.seconds,
                stats.ops,
                stats.ops as f64 / stats.seconds.max(0.001)
            ),
            Msg::Stall { workload, seconds } => {
                format!("{workload}: no progress for {seconds}s, blocked tasks dumped")
            }
            Msg::Result { rc } => format!("guest program done, rc={rc}"),
            Msg::Request { action } => format!("asks the host: {action:?}"),
            Msg::TestStart { workload, test } => format!("{workload} {test}"),
            Msg::TestEnd {
                workload,
                test,
                status,
                seconds,
                reason,
                ..
            } => {
                let mut s = format!("{workload} {test}: {status} ({seconds:.0}s)");
                if !reason.is_empty() {
                    s.push_str(&format!(": {reason}"));
                }
                s
            }
            Msg::Coverage { .. } | Msg::Evictions { .. } => return None,
        })
    }

    /// Worth a line of its own even on a terminal with progress bars.
    pub fn notable(&self) -> bool {
        matches!(
            self,
            Msg::WorkloadEnd { .. }
                | Msg::Finding { .. }
                | Msg::Stall { .. }
                | Msg::Probes { .. }
                | Msg::TestEnd { .. }
        )
    }
}

/// One protocol line, without the newline.
pub fn encode(m: &Msg) -> String {
    format!(
        "{MARKER}{}",
        serde_json::to_string(m).expect("a Msg always serialises")
    )
}

/// The message in a console line, if it carries one that parses.
pub fn decode(line: &str) -> Option<Msg> {
    let at = line.find(MARKER)?;
    let rest = line[at + MARKER.len()..].trim_end();
    // Trailing bytes a kernel message may have appended: parse the first JSON value only.
    let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Msg>();
    it.next()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tolerance() {
        let m = Msg::WorkloadEnd {
            name: "umount-stress".into(),
            ok: true,
            stats: WorkloadStats {
                seconds: 1.5,
                ops: 10,
                counters: [("mounts".to_string(), 4)].into(),
            },
        };
        let line = encode(&m);
        assert!(line.starts_with("HARNESS/1 {\"t\":\"workload-end\""));
        assert_eq!(decode(&line), Some(m.clone()));
        // With a host timestamp before it and a kernel message glued after it.
        let glued = format!("[+  1.000] {line}[  12.3] ceph: loaded");
        assert_eq!(decode(&glued), Some(m));
        assert_eq!(decode("HARNESS/1 {\"t\":\"workload-e"), None);
        assert_eq!(decode("HARNESS/1 {\"t\":\"no-such\"}"), None);
        assert_eq!(decode("ceph: loaded"), None);
    }

    #[test]
    fn mount_options_name_the_guests_file_system() {
        assert_eq!(mount_options("", None, ""), "name=admin");
        assert_eq!(
            mount_options("K==", Some("cephfs-1"), "noshare"),
            "name=admin,secret=K==,mds_namespace=cephfs-1,noshare"
        );
    }

    #[test]
    fn boot_names() {
        let c = "console=ttyS0 harness.boot=p6-1 panic=-1";
        assert_eq!(boot_name(c), Some("p6-1"));
        assert_eq!(boot_name("console=ttyS0"), None);
        assert_eq!(boot_name("harness.boot=../x"), None);
        assert_eq!(boot_name("harness.boot=a/b"), None);
        assert_eq!(boot_name("harness.boot="), None);
        assert_eq!(sanitize_boot_name("console-p6 r1.log"), "console-p6-r1.log");
        assert_eq!(sanitize_boot_name("../x"), "b..-x");
        for s in ["console-p6 r1.log", "../x", "", "é/ü", ".hidden"] {
            let n = sanitize_boot_name(s);
            assert_eq!(
                boot_name(&format!("{BOOT_ARG}{n}")),
                Some(n.as_str()),
                "{s}"
            );
        }
    }

    #[test]
    fn requests() {
        let line = encode(&Msg::Request {
            action: Action::FailMds,
        });
        assert_eq!(line, r#"HARNESS/1 {"t":"request","action":"fail-mds"}"#);
        let line = encode(&Msg::Request {
            action: Action::EvictSession { blocklist: false },
        });
        assert_eq!(
            line,
            r#"HARNESS/1 {"t":"request","action":{"evict-session":{"blocklist":false}}}"#
        );
        assert!(decode(&line).is_some());
    }

    #[test]
    fn test_messages() {
        let m = Msg::TestEnd {
            workload: "fstests".into(),
            test: "generic/013".into(),
            status: fstests::Status::Fail,
            seconds: 3.0,
            reason: "- output mismatch".into(),
            diff: "-a\n+b".into(),
            full: String::new(),
        };
        let line = encode(&m);
        assert!(line.contains(r#""status":"fail""#), "{line}");
        assert!(!line.contains("full"), "{line}");
        assert_eq!(decode(&line), Some(m.clone()));
        assert_eq!(
            m.summary().unwrap(),
            "fstests generic/013: fail (3s): - output mismatch"
        );
        // A plan without fstests reads as before.
        let w: WorkloadPlan =
            serde_json::from_str(r#"{"name":"iput-stress","seed":1,"params":{}}"#).unwrap();
        assert_eq!(w.fstests, None);
    }

    #[test]
    fn probe_targets() {
        let p = Probe {
            module: Some("ceph".into()),
            function: "ceph_check_caps".into(),
        };
        assert_eq!(p.target(), "ceph:ceph_check_caps");
        let p = Probe {
            module: None,
            function: "iput".into(),
        };
        assert_eq!(p.target(), "iput");
    }
}
