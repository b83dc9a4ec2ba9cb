//! Cluster health during a guest run: is a client that stops making progress the kernel's fault,
//! or the cluster's? Parsed from `ceph health detail --format json`, judged without I/O.

use serde::Deserialize;

/// One sample of `ceph health detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Seconds since the guest started.
    pub time: f64,
    /// `HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`.
    pub status: String,
    /// (check code, summary message)
    pub checks: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct RawHealth {
    status: String,
    #[serde(default)]
    checks: std::collections::BTreeMap<String, RawCheck>,
}

#[derive(Deserialize)]
struct RawCheck {
    summary: RawSummary,
}

#[derive(Deserialize)]
struct RawSummary {
    message: String,
}

impl Health {
    pub fn parse(json: &str, time: f64) -> Option<Health> {
        let raw: RawHealth = serde_json::from_str(json).ok()?;
        Some(Health {
            time,
            status: raw.status,
            checks: raw
                .checks
                .into_iter()
                .map(|(k, v)| (k, v.summary.message))
                .collect(),
        })
    }

    /// Checks that stall clients through no fault of theirs: full or slow storage, daemons down,
    /// data unavailable. Client-caused ones (`MDS_CLIENT_LATE_RELEASE`, `MDS_SLOW_REQUEST`
    /// waiting on a client) are not among them: those are what the harness is looking for.
    pub fn blocking(&self) -> Vec<&(String, String)> {
        self.checks
            .iter()
            .filter(|(code, _)| BLOCKING.iter().any(|b| code.starts_with(b)))
            .collect()
    }
}

const BLOCKING: &[&str] = &[
    "OSD_FULL",
    "OSD_NEARFULL",
    "OSD_BACKFILLFULL",
    "POOL_FULL",
    "POOL_NEAR_FULL",
    "OSD_DOWN",
    "OSD_HOST_DOWN",
    "OSD_SLOW_PING_TIME",
    "SLOW_OPS",
    "MDS_SLOW_METADATA_IO",
    "MDS_ALL_DOWN",
    "MDS_DAMAGE",
    "MDS_UP_LESS_THAN_MAX",
    "FS_DEGRADED",
    "FS_WITH_FAILED_MDS",
    "PG_AVAILABILITY",
    "MON_DOWN",
    "MON_DISK_CRIT",
];

/// When the cluster was blocked as a guest run hung (its last sample, so a deliberate MDS
/// failover the cluster recovered from does not excuse a client that stays stuck): the evidence,
/// for an `infra-error` verdict instead of `fail`.
pub fn infra_evidence(samples: &[Health]) -> Option<String> {
    let bad: Vec<String> = samples
        .last()
        .into_iter()
        .filter_map(|h| {
            let b = h.blocking();
            (!b.is_empty()).then(|| {
                format!(
                    "at +{:.0}s {}: {}",
                    h.time,
                    h.status,
                    b.iter()
                        .map(|(c, m)| format!("{c} ({m})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "cluster unhealthy while the guest hung: {}",
            bad.last().expect("not empty")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_metadata_io_is_infra_late_release_is_not() {
        let ok = Health::parse(r#"{"status":"HEALTH_OK","checks":{},"mutes":[]}"#, 1.0).unwrap();
        assert!(ok.blocking().is_empty());
        let slow = Health::parse(
            r#"{"status":"HEALTH_WARN","checks":{"MDS_SLOW_METADATA_IO":{"severity":"HEALTH_WARN","summary":{"message":"1 MDSs report slow metadata IOs","count":1},"detail":[],"muted":false}},"mutes":[]}"#,
            42.0,
        )
        .unwrap();
        assert_eq!(slow.blocking().len(), 1);
        let late = Health::parse(
            r#"{"status":"HEALTH_WARN","checks":{"MDS_CLIENT_LATE_RELEASE":{"severity":"HEALTH_WARN","summary":{"message":"1 clients failing to respond to capability release","count":1},"detail":[],"muted":false}}}"#,
            50.0,
        )
        .unwrap();
        assert!(late.blocking().is_empty());
        assert_eq!(infra_evidence(&[ok.clone(), late]), None);
        // Recovered by the end: the hang is the client's.
        assert_eq!(infra_evidence(&[slow.clone(), ok.clone()]), None);
        assert_eq!(
            infra_evidence(&[ok, slow]).unwrap(),
            "cluster unhealthy while the guest hung: at +42s HEALTH_WARN: MDS_SLOW_METADATA_IO (1 MDSs report slow metadata IOs)"
        );
        assert!(Health::parse("not json", 0.0).is_none());
    }
}
