//! A throw-away mini Ceph cluster (mon, mgr, one memstore OSD, one MDS, one CephFS) started from
//! nothing inside the run's network namespace. Ready means: every file system's MDS up:active,
//! every PG active+clean, HEALTH_OK. Daemons are registered with the run's [`Procs`] and killed at
//! teardown.
//!
//! Guests booted at once (`guests.parallel`) get a file system each, with MDS daemons of its own
//! (`mds_join_fs`) and its own pools: a client hung on one holds caps only on its own MDS, and the
//! eviction after a boot evicts the sessions of that file system only ([`Cluster::evict_clients`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness_core::job::{Auth, ClusterSpec};

use crate::netns::{HOST_IP, PREFIX_LEN};
use crate::proc::{command, Procs};
use crate::{write, ExecError, Result};

pub struct Cluster {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub admin_key: String,
    pub mon_addr: String,
    /// File systems, one per guest slot: `filesystems[i]` is [`fs_name`]`(i)`.
    pub filesystems: usize,
    netns: String,
    procs: Procs,
    /// What `mds_session_blocklist_on_evict` was last set to (0: not set by us, 1: false,
    /// 2: true), so an eviction after each killed guest does not set it again.
    blocklist_on_evict: std::sync::atomic::AtomicU8,
}

/// The CephFS of guest slot `i`: `cephfs` (the only one of a one-guest run), then `cephfs-1`, ...
pub fn fs_name(i: usize) -> String {
    if i == 0 {
        "cephfs".into()
    } else {
        format!("cephfs-{i}")
    }
}

/// MDS daemon names of file system `fs` (slot `i`, `mds` daemons: one active, the rest standby):
/// `mds.a`, `mds.b`, ... for the first; `mds.s1a`, ... for the others.
fn mds_names(i: usize, mds: u32) -> Vec<String> {
    (0..mds)
        .map(|m| {
            let letter = (b'a' + m as u8) as char;
            if i == 0 {
                format!("mds.{letter}")
            } else {
                format!("mds.s{i}{letter}")
            }
        })
        .collect()
}

/// Who `ceph tell` asks about file system `fs`'s sessions: every MDS when the cluster has one file
/// system (as it always had), its rank 0 (`mds.<fs>:0`, `max_mds` is 1) when it has several.
fn tell_target(fs: &str, filesystems: usize) -> String {
    if filesystems <= 1 {
        "mds.*".into()
    } else {
        format!("mds.{fs}:0")
    }
}

/// The MDS role `ceph mds fail` takes for file system `fs`'s rank 0.
fn rank0_role(fs: &str, filesystems: usize) -> String {
    if filesystems <= 1 {
        "0".into()
    } else {
        format!("{fs}:0")
    }
}

/// Status the readiness loop and the health watcher read from `ceph status --format json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub status: String,
    pub mds_active: bool,
    /// Ranks up:active over every file system.
    pub active_ranks: usize,
    pub pgs_total: u64,
    pub pgs_clean: u64,
    pub checks: Vec<String>,
}

impl Health {
    /// Parse `ceph status --format json` (Pacific).
    pub fn from_status_json(v: &serde_json::Value) -> Health {
        let status = v["health"]["status"].as_str().unwrap_or("").to_string();
        let checks = v["health"]["checks"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let active_ranks = v["fsmap"]["by_rank"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| r["status"].as_str() == Some("up:active"))
                    .count()
            })
            .unwrap_or(0);
        let mds_active = active_ranks > 0;
        let pgs_total = v["pgmap"]["num_pgs"].as_u64().unwrap_or(0);
        let pgs_clean = v["pgmap"]["pgs_by_state"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["state_name"].as_str() == Some("active+clean"))
                    .filter_map(|s| s["count"].as_u64())
                    .sum()
            })
            .unwrap_or(0);
        Health {
            status,
            mds_active,
            active_ranks,
            pgs_total,
            pgs_clean,
            checks,
        }
    }

    /// The mgr creates `device_health_metrics` (1 PG) late, so insist on all expected PGs; every
    /// one of `filesystems` needs its rank 0 active.
    pub fn ready(&self, expect_pgs: u64, filesystems: usize) -> bool {
        self.active_ranks >= filesystems.max(1)
            && self.pgs_total >= expect_pgs
            && self.pgs_clean == self.pgs_total
            && self.status == "HEALTH_OK"
    }
}

/// Two pools of 8 PGs per CephFS + the mgr's device_health_metrics.
fn expect_pgs(filesystems: usize) -> u64 {
    1 + 16 * filesystems.max(1) as u64
}

fn conf_text(dir: &Path, fsid: &str, spec: &ClusterSpec) -> String {
    let d = dir.display();
    let auth = match spec.auth {
        Auth::Cephx => "cephx",
        Auth::None => "none",
    };
    let net = HOST_IP
        .rsplit_once('.')
        .map(|(a, _)| a)
        .unwrap_or("10.77.0");
    format!(
        r#"[global]
fsid = {fsid}
mon host = [v2:{HOST_IP}:3300,v1:{HOST_IP}:6789]
public network = {net}.0/{PREFIX_LEN}
ms bind ipv6 = false
auth cluster required = {auth}
auth service required = {auth}
auth client required = {auth}
keyring = {d}/keyring
log file = {d}/log/$name.log
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
run dir = {d}/run
crash dir = {d}/crash
log to stderr = false
err to stderr = true
# single-OSD, no-redundancy cluster that still reports HEALTH_OK
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mgr initial modules = iostat
# fast convergence for a throw-away cluster
paxos propose interval = 0.1
mgr stats period = 1
mds beacon interval = 1

[mon]
mon data = {d}/$name
mon cluster log file = {d}/log/cluster.log

[mgr]
mgr data = {d}/$name

[osd]
osd data = {d}/$name
osd objectstore = memstore
memstore device bytes = {mem}
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2

[mds]
mds data = {d}/$name
mds cache memory limit = 134217728
"#,
        mem = spec.memstore_bytes
    )
}

fn uuid() -> Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .map_err(|e| ExecError::io(Path::new("/proc/sys/kernel/random/uuid"), e))
}

const SHORT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Start the cluster in `dir` inside `netns` with `filesystems` CephFS (one per guest booted
    /// at once, each with `spec.mds` daemons of its own) and wait until it is ready (or
    /// `deadline` passes).
    pub async fn start(
        procs: &Procs,
        netns: &str,
        dir: &Path,
        spec: &ClusterSpec,
        filesystems: usize,
        deadline: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Cluster> {
        let t0 = Instant::now();
        let filesystems = filesystems.max(1);
        let osds: Vec<String> = (0..spec.osds).map(|i| format!("osd.{i}")).collect();
        // (file system, its MDS daemons)
        let per_fs: Vec<(String, Vec<String>)> = (0..filesystems)
            .map(|i| (fs_name(i), mds_names(i, spec.mds)))
            .collect();
        let mdss: Vec<String> = per_fs.iter().flat_map(|(_, m)| m.clone()).collect();
        for sub in ["log", "run", "crash", "mon.a", "mgr.x"]
            .into_iter()
            .chain(osds.iter().map(String::as_str))
            .chain(mdss.iter().map(String::as_str))
        {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| ExecError::io(dir, e))?;
        }
        let conf = dir.join("ceph.conf");
        let fsid = uuid()?;
        write(&conf, conf_text(dir, &fsid, spec))?;
        let kr = dir.join("keyring");
        let krs = kr.to_string_lossy().to_string();
        // Every key goes into one keyring before mon mkfs: the mon imports them all, no auth round trips.
        let osd_caps: &[&str] = &[
            "--cap",
            "mon",
            "allow profile osd",
            "--cap",
            "mgr",
            "allow profile osd",
            "--cap",
            "osd",
            "allow *",
        ];
        let mds_caps: &[&str] = &[
            "--cap",
            "mon",
            "allow profile mds",
            "--cap",
            "mgr",
            "allow profile mds",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mds",
            "allow",
        ];
        let mut keys: Vec<(&str, &[&str])> = vec![
            ("mon.", &["--cap", "mon", "allow *"]),
            (
                "client.admin",
                &[
                    "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mds",
                    "allow *", "--cap", "mgr", "allow *",
                ],
            ),
            (
                "mgr.x",
                &[
                    "--cap",
                    "mon",
                    "allow profile mgr",
                    "--cap",
                    "osd",
                    "allow *",
                    "--cap",
                    "mds",
                    "allow *",
                ],
            ),
        ];
        keys.extend(osds.iter().map(|n| (n.as_str(), osd_caps)));
        keys.extend(mdss.iter().map(|n| (n.as_str(), mds_caps)));
        for (i, (name, caps)) in keys.iter().enumerate() {
            let mut c = command("ceph-authtool", None);
            c.arg(&krs);
            if i == 0 {
                c.arg("--create-keyring");
            }
            c.args(["--gen-key", "-n", name]).args(*caps);
            procs.check("ceph-authtool", c, SHORT).await?;
        }
        let mut c = command("ceph-authtool", None);
        c.args([&krs, "-p", "-n", "client.admin"]);
        let admin_key = procs
            .check("ceph-authtool", c, SHORT)
            .await?
            .stdout
            .trim()
            .to_string();
        let monmap = dir.join("monmap");
        let mut c = command("monmaptool", None);
        c.args(["--create", "--clobber", "--fsid", &fsid, "--addv", "a"])
            .arg(format!("[v2:{HOST_IP}:3300,v1:{HOST_IP}:6789]"))
            .arg(&monmap);
        procs.check("monmaptool", c, SHORT).await?;
        let mut c = command("ceph-mon", Some(netns));
        c.arg("-c")
            .arg(&conf)
            .args(["-i", "a", "--mkfs", "--monmap"])
            .arg(&monmap)
            .arg("--keyring")
            .arg(&kr);
        procs.check("ceph-mon --mkfs", c, SHORT).await?;
        progress("mon store created");

        let cluster = Cluster {
            dir: dir.to_path_buf(),
            conf: conf.clone(),
            admin_key,
            mon_addr: format!("{HOST_IP}:6789"),
            filesystems,
            netns: netns.to_string(),
            procs: procs.clone(),
            blocklist_on_evict: Default::default(),
        };
        cluster.daemon("mon.a", "ceph-mon", "a")?;
        cluster.ceph(&["mon", "stat"]).await?;
        progress("mon up");
        cluster.daemon("mgr.x", "ceph-mgr", "x")?;
        for name in &osds {
            let osd_uuid = uuid()?;
            let id = cluster
                .ceph(&["osd", "new", &osd_uuid])
                .await?
                .trim()
                .to_string();
            let mut c = command("ceph-osd", Some(netns));
            c.arg("-c")
                .arg(&conf)
                .args(["-i", &id, "--mkfs", "--osd-uuid", &osd_uuid]);
            procs.check("ceph-osd --mkfs", c, SHORT).await?;
            cluster.daemon(name, "ceph-osd", &id)?;
        }
        if filesystems > 1 {
            // Each file system's daemons serve it alone: the mons hand a file system only the
            // standbys that want to join it.
            for (fs, names) in &per_fs {
                for name in names {
                    cluster
                        .ceph(&["config", "set", name, "mds_join_fs", fs])
                        .await?;
                }
            }
            cluster
                .ceph(&[
                    "fs",
                    "flag",
                    "set",
                    "enable_multiple",
                    "true",
                    "--yes-i-really-mean-it",
                ])
                .await?;
        }
        // The first MDS to register takes rank 0; the others stand by.
        for name in &mdss {
            cluster.daemon(name, "ceph-mds", name.trim_start_matches("mds."))?;
        }
        for (fs, _) in &per_fs {
            let (meta, data) = (format!("{fs}_metadata"), format!("{fs}_data"));
            cluster
                .ceph(&["osd", "pool", "create", &meta, "8", "8"])
                .await?;
            cluster
                .ceph(&["osd", "pool", "create", &data, "8", "8"])
                .await?;
            cluster.ceph(&["fs", "new", fs, &meta, &data]).await?;
            cluster
                .ceph(&["fs", "set", fs, "standby_count_wanted", "0"])
                .await?;
        }
        progress(&if filesystems == 1 {
            "filesystem created".to_string()
        } else {
            format!("{filesystems} filesystems created, one per guest slot")
        });

        let mut last = Health::default();
        loop {
            if let Ok(h) = cluster.health().await {
                if h.ready(expect_pgs(filesystems), filesystems) {
                    progress(&format!(
                        "ready: {} active, {} PGs active+clean, HEALTH_OK (in {:.1}s)",
                        if filesystems == 1 {
                            "MDS".to_string()
                        } else {
                            format!("{} MDS ranks", h.active_ranks)
                        },
                        h.pgs_total,
                        t0.elapsed().as_secs_f64()
                    ));
                    return Ok(cluster);
                }
                last = h;
            }
            if t0.elapsed() > deadline {
                return Err(ExecError::ClusterNotReady {
                    after: deadline,
                    detail: format!(
                        "health {} {:?}, mds active: {}, pgs {}/{} active+clean (logs in {})",
                        last.status,
                        last.checks,
                        last.mds_active,
                        last.pgs_clean,
                        last.pgs_total,
                        dir.join("log").display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    fn daemon(&self, name: &str, program: &str, id: &str) -> Result<()> {
        let mut c = command(program, Some(&self.netns));
        c.args(["-f", "-c"]).arg(&self.conf).args(["-i", id]);
        // A throw-away memstore cluster holds nothing worth a polite stop (SIGTERM costs ~10 s).
        let log = self.dir.join("log").join(format!("{name}.stdout"));
        self.procs.spawn_logged(name, c, &log, true)?;
        Ok(())
    }

    /// Run the `ceph` CLI inside the namespace; returns stdout.
    pub async fn ceph(&self, args: &[&str]) -> Result<String> {
        self.ceph_within(args, SHORT).await
    }

    /// [`Cluster::ceph`] with its own deadline.
    async fn ceph_within(&self, args: &[&str], deadline: Duration) -> Result<String> {
        let mut c = command("ceph", Some(&self.netns));
        c.arg("-c")
            .arg(&self.conf)
            .args(["--connect-timeout", "20"])
            .args(args);
        Ok(self.procs.check("ceph", c, deadline).await?.stdout)
    }

    pub async fn health(&self) -> Result<Health> {
        let out = self.ceph(&["status", "--format", "json"]).await?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| ExecError::Other(format!("ceph status: unparsable json: {e}")))?;
        Ok(Health::from_status_json(&v))
    }

    /// One health sample (`ceph health detail --format json`), stamped `time`; `None` when the
    /// CLI does not answer.
    pub async fn health_sample(&self, time: f64) -> Option<harness_core::health::Health> {
        let out = self
            .ceph(&["health", "detail", "--format", "json"])
            .await
            .ok()?;
        harness_core::health::Health::parse(&out, time)
    }

    /// Fail rank 0 of file system `fs` (`ceph mds fail`): a standby takes over.
    pub async fn fail_mds(&self, fs: &str) -> Result<()> {
        self.ceph(&["mds", "fail", &rank0_role(fs, self.filesystems)])
            .await?;
        Ok(())
    }

    /// Evict every client session of file system `fs`'s active MDS (`ceph tell mds.* client
    /// evict`, or `mds.<fs>:0` when the cluster has several), blocklisting the clients
    /// (`mds_session_blocklist_on_evict`) or not. Other file systems' clients keep theirs.
    pub async fn evict_sessions(&self, fs: &str, blocklist: bool) -> Result<()> {
        self.set_blocklist_on_evict(blocklist).await?;
        self.ceph(&[
            "tell",
            &tell_target(fs, self.filesystems),
            "client",
            "evict",
        ])
        .await?;
        Ok(())
    }

    /// `ceph config set mds mds_session_blocklist_on_evict`, unless it was last set to that.
    async fn set_blocklist_on_evict(&self, on: bool) -> Result<()> {
        use std::sync::atomic::Ordering;
        let want = if on { 2 } else { 1 };
        if self.blocklist_on_evict.load(Ordering::Relaxed) == want {
            return Ok(());
        }
        self.ceph(&[
            "config",
            "set",
            "mds",
            "mds_session_blocklist_on_evict",
            if on { "true" } else { "false" },
        ])
        .await?;
        self.blocklist_on_evict.store(want, Ordering::Relaxed);
        Ok(())
    }

    /// `ceph tell ... session ls --format json` of file system `fs`'s MDS daemons.
    async fn session_ls(&self, fs: &str) -> Result<String> {
        let target = tell_target(fs, self.filesystems);
        self.ceph(&["tell", &target, "session", "ls", "--format", "json"])
            .await
    }

    /// Client sessions file system `fs`'s MDS daemons hold.
    pub async fn client_sessions(&self, fs: &str) -> Result<usize> {
        Ok(count_sessions(&self.session_ls(fs).await?))
    }

    /// Client sessions from `ip` (a guest's address) that file system `fs`'s MDS holds: their ids.
    /// The mgr's own (libcephfs, from the host's address) are not a guest's.
    pub async fn guest_sessions(&self, fs: &str, ip: &str) -> Result<Vec<u64>> {
        Ok(sessions_from(&self.session_ls(fs).await?, ip))
    }

    /// After a guest boot: evict and blocklist the sessions the guest at `ip` left on its file
    /// system `fs` (a crashed, hung or killed guest's caps would otherwise hold up the next boot
    /// for the session timeout), then check that none is left. Other guests' sessions and the
    /// mgr's are not touched. Returns how many it evicted; an error names what did not work.
    ///
    /// `blocked`: the cluster's last health sample had a blocking check (full storage, MDS down,
    /// ...). An MDS that cannot write its journal does not finish an eviction, so each command
    /// then gets 10 s instead of a minute: the run is an infra-error anyway.
    pub async fn evict_clients(&self, fs: &str, ip: &str, blocked: bool) -> Result<u32> {
        let deadline = if blocked {
            Duration::from_secs(10)
        } else {
            SHORT
        };
        let ids = self.guest_sessions(fs, ip).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.set_blocklist_on_evict(true).await?;
        let target = tell_target(fs, self.filesystems);
        for id in &ids {
            let id = format!("id={id}");
            self.ceph_within(&["tell", &target, "client", "evict", &id], deadline)
                .await?;
        }
        for _ in 0..20 {
            if self.guest_sessions(fs, ip).await?.is_empty() {
                return Ok(ids.len() as u32);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(ExecError::Other(format!(
            "the MDS of {fs} still holds a session of {ip} after `ceph tell {target} client evict`"
        )))
    }

    /// `ceph health detail` for evidence in reports.
    pub async fn health_detail(&self) -> String {
        self.ceph(&["health", "detail"])
            .await
            .unwrap_or_else(|e| format!("(ceph health detail failed: {e})"))
    }
}

/// The ids of the sessions from address `ip` in `ceph tell ... session ls --format json` output
/// (one JSON array per daemon that answered, possibly prefixed by the daemon's name).
fn sessions_from(out: &str, ip: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| {
            let json = l.find('[').map(|i| &l[i..])?;
            serde_json::from_str::<Vec<serde_json::Value>>(json).ok()
        })
        .flatten()
        .filter(|s| {
            // "10.77.0.2:0" (the address without the nonce).
            s["entity"]["addr"]["addr"]
                .as_str()
                .and_then(|a| a.rsplit_once(':'))
                .is_some_and(|(host, _)| host == ip)
        })
        .filter_map(|s| s["id"].as_u64())
        .collect()
}

/// Sessions in `ceph tell mds.* session ls --format json` output: one JSON array per daemon that
/// answered, possibly prefixed by the daemon's name (`mds.a: [...]`).
fn count_sessions(out: &str) -> usize {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let json = l.find('[').map(|i| &l[i..])?;
            serde_json::from_str::<Vec<serde_json::Value>>(json).ok()
        })
        .map(|v| v.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_counted_per_daemon() {
        assert_eq!(count_sessions("[]"), 0);
        assert_eq!(count_sessions(r#"[{"id":4242,"state":"open"}]"#), 1);
        assert_eq!(
            count_sessions("mds.a: [{\"id\":1},{\"id\":2}]\nmds.b: []\n"),
            2
        );
        assert_eq!(count_sessions("Error ENOSYS"), 0);
    }

    #[test]
    fn a_guests_sessions_are_told_by_its_address_not_the_mgrs() {
        // As Pacific prints them: the mgr's libcephfs clients (from the host) and a guest's.
        let out = concat!(
            r#"mds.a: [{"id":4129,"entity":{"name":{"type":"client","num":4129},"addr":{"type":"any","addr":"10.77.0.1:0","nonce":26}}},"#,
            r#"{"id":4150,"entity":{"name":{"type":"client","num":4150},"addr":{"type":"v1","addr":"10.77.0.2:0","nonce":7}}}]"#,
            "
",
            r#"[{"id":4151,"entity":{"addr":{"type":"v1","addr":"10.77.0.3:0","nonce":8}}}]"#
        );
        assert_eq!(sessions_from(out, "10.77.0.2"), [4150]);
        assert_eq!(sessions_from(out, "10.77.0.3"), [4151]);
        assert!(sessions_from(out, "10.77.0.4").is_empty());
        assert!(sessions_from("Error ENOSYS", "10.77.0.2").is_empty());
    }

    #[test]
    fn readiness_needs_mds_all_pgs_and_health_ok() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"health":{"status":"HEALTH_OK","checks":{}},
                "pgmap":{"num_pgs":17,"pgs_by_state":[{"state_name":"active+clean","count":17}]},
                "fsmap":{"by_rank":[{"rank":0,"status":"up:active"}]}}"#,
        )
        .unwrap();
        let h = Health::from_status_json(&v);
        assert!(h.ready(17, 1));
        assert!(!h.ready(18, 1));
        // Two file systems: both rank 0s must be active.
        assert!(!h.ready(17, 2));
        let v: serde_json::Value = serde_json::from_str(
            r#"{"health":{"status":"HEALTH_OK","checks":{}},
                "pgmap":{"num_pgs":33,"pgs_by_state":[{"state_name":"active+clean","count":33}]},
                "fsmap":{"by_rank":[{"filesystem_id":1,"rank":0,"status":"up:active"},
                                    {"filesystem_id":2,"rank":0,"status":"up:active"}]}}"#,
        )
        .unwrap();
        let h = Health::from_status_json(&v);
        assert_eq!(h.active_ranks, 2);
        assert!(h.ready(expect_pgs(2), 2));
        let v: serde_json::Value = serde_json::from_str(
            r#"{"health":{"status":"HEALTH_WARN","checks":{"MDS_SLOW_METADATA_IO":{}}},
                "pgmap":{"num_pgs":16,"pgs_by_state":[{"state_name":"active+clean","count":15},{"state_name":"creating","count":1}]},
                "fsmap":{"by_rank":[{"rank":0,"status":"up:creating"}]}}"#,
        )
        .unwrap();
        let h = Health::from_status_json(&v);
        assert_eq!(h.checks, vec!["MDS_SLOW_METADATA_IO".to_string()]);
        assert_eq!((h.pgs_clean, h.pgs_total, h.mds_active), (15, 16, false));
        assert!(!h.ready(16, 1));
    }

    #[test]
    fn each_guest_slot_has_its_file_system_and_daemons() {
        assert_eq!(fs_name(0), "cephfs");
        assert_eq!(fs_name(2), "cephfs-2");
        assert_eq!(mds_names(0, 2), ["mds.a", "mds.b"]);
        assert_eq!(mds_names(1, 1), ["mds.s1a"]);
        assert_eq!(expect_pgs(1), 17);
        assert_eq!(expect_pgs(2), 33);
        // One file system: every MDS, as before; several: that file system's rank 0 only.
        assert_eq!(tell_target("cephfs", 1), "mds.*");
        assert_eq!(tell_target("cephfs-1", 2), "mds.cephfs-1:0");
        assert_eq!(rank0_role("cephfs", 1), "0");
        assert_eq!(rank0_role("cephfs", 2), "cephfs:0");
    }
}
