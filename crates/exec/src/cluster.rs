//! A throw-away mini Ceph cluster (mon, mgr, one memstore OSD, one MDS, one CephFS) started from
//! nothing inside the run's network namespace. Ready means: MDS up:active, every PG active+clean,
//! HEALTH_OK. Daemons are registered with the run's [`Procs`] and killed at teardown.

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
    netns: String,
    procs: Procs,
}

/// Status the readiness loop and the health watcher read from `ceph status --format json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub status: String,
    pub mds_active: bool,
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
        let mds_active = v["fsmap"]["by_rank"]
            .as_array()
            .map(|a| a.iter().any(|r| r["status"].as_str() == Some("up:active")))
            .unwrap_or(false);
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
            pgs_total,
            pgs_clean,
            checks,
        }
    }

    /// The mgr creates `device_health_metrics` (1 PG) late, so insist on all expected PGs.
    pub fn ready(&self, expect_pgs: u64) -> bool {
        self.mds_active
            && self.pgs_total >= expect_pgs
            && self.pgs_clean == self.pgs_total
            && self.status == "HEALTH_OK"
    }
}

/// Two pools of 8 PGs for CephFS + the mgr's device_health_metrics.
const EXPECT_PGS: u64 = 17;

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
    /// Start the cluster in `dir` inside `netns` and wait until it is ready (or `deadline` passes).
    pub async fn start(
        procs: &Procs,
        netns: &str,
        dir: &Path,
        spec: &ClusterSpec,
        deadline: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Cluster> {
        let t0 = Instant::now();
        let osds: Vec<String> = (0..spec.osds).map(|i| format!("osd.{i}")).collect();
        let mdss: Vec<String> = (0..spec.mds)
            .map(|i| format!("mds.{}", (b'a' + i as u8) as char))
            .collect();
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
            netns: netns.to_string(),
            procs: procs.clone(),
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
        // The first MDS to register takes rank 0; the others stand by.
        for name in &mdss {
            cluster.daemon(name, "ceph-mds", name.trim_start_matches("mds."))?;
        }
        cluster
            .ceph(&["osd", "pool", "create", "cephfs_metadata", "8", "8"])
            .await?;
        cluster
            .ceph(&["osd", "pool", "create", "cephfs_data", "8", "8"])
            .await?;
        cluster
            .ceph(&["fs", "new", "cephfs", "cephfs_metadata", "cephfs_data"])
            .await?;
        cluster
            .ceph(&["fs", "set", "cephfs", "standby_count_wanted", "0"])
            .await?;
        progress("filesystem created");

        let mut last = Health::default();
        loop {
            if let Ok(h) = cluster.health().await {
                if h.ready(EXPECT_PGS) {
                    progress(&format!(
                        "ready: MDS active, {} PGs active+clean, HEALTH_OK",
                        h.pgs_total
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
        let mut c = command("ceph", Some(&self.netns));
        c.arg("-c")
            .arg(&self.conf)
            .args(["--connect-timeout", "20"])
            .args(args);
        Ok(self.procs.check("ceph", c, SHORT).await?.stdout)
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

    /// Evict every client session of the active MDS (`ceph tell mds.* client evict`), blocklisting
    /// the clients (`mds_session_blocklist_on_evict`) or not.
    pub async fn evict_sessions(&self, blocklist: bool) -> Result<()> {
        let on = if blocklist { "true" } else { "false" };
        self.ceph(&["config", "set", "mds", "mds_session_blocklist_on_evict", on])
            .await?;
        self.ceph(&["tell", "mds.*", "client", "evict"]).await?;
        Ok(())
    }

    /// Client sessions the MDS daemons hold (`ceph tell mds.* session ls`).
    pub async fn client_sessions(&self) -> Result<usize> {
        let out = self
            .ceph(&["tell", "mds.*", "session", "ls", "--format", "json"])
            .await?;
        Ok(count_sessions(&out))
    }

    /// After a guest boot: evict and blocklist whatever session it left (a crashed, hung or killed
    /// guest's caps would otherwise hold up the next boot for the session timeout), then check
    /// that none is left. Returns how many sessions it evicted; an error names what did not work.
    pub async fn evict_clients(&self) -> Result<u32> {
        let n = self.client_sessions().await? as u32;
        if n == 0 {
            return Ok(0);
        }
        self.evict_sessions(true).await?;
        for _ in 0..20 {
            if self.client_sessions().await? == 0 {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(ExecError::Other(
            "the MDS still holds a client session after `ceph tell mds.* client evict`".into(),
        ))
    }

    /// `ceph health detail` for evidence in reports.
    pub async fn health_detail(&self) -> String {
        self.ceph(&["health", "detail"])
            .await
            .unwrap_or_else(|e| format!("(ceph health detail failed: {e})"))
    }
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
    fn readiness_needs_mds_all_pgs_and_health_ok() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"health":{"status":"HEALTH_OK","checks":{}},
                "pgmap":{"num_pgs":17,"pgs_by_state":[{"state_name":"active+clean","count":17}]},
                "fsmap":{"by_rank":[{"rank":0,"status":"up:active"}]}}"#,
        )
        .unwrap();
        let h = Health::from_status_json(&v);
        assert!(h.ready(17));
        assert!(!h.ready(18));
        let v: serde_json::Value = serde_json::from_str(
            r#"{"health":{"status":"HEALTH_WARN","checks":{"MDS_SLOW_METADATA_IO":{}}},
                "pgmap":{"num_pgs":16,"pgs_by_state":[{"state_name":"active+clean","count":15},{"state_name":"creating","count":1}]},
                "fsmap":{"by_rank":[{"rank":0,"status":"up:creating"}]}}"#,
        )
        .unwrap();
        let h = Health::from_status_json(&v);
        assert_eq!(h.checks, vec!["MDS_SLOW_METADATA_IO".to_string()]);
        assert_eq!((h.pgs_clean, h.pgs_total, h.mds_active), (15, 16, false));
        assert!(!h.ready(16));
    }
}
