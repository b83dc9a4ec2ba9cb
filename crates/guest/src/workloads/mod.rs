//! The workloads, by name (their names, parameters and defaults are harness-proto's catalog,
//! `workloads::WORKLOADS`; docs/workloads.md describes what each does and which code it reaches).

pub mod cap_revoke;
pub mod dbench;
pub mod fio;
pub mod fsmark;
pub mod fstests;
pub mod iput;
pub mod mds_failover;
pub mod session_loss;
pub mod snap;
pub mod stress_ng;
pub mod tools;
pub mod umount;

use std::collections::BTreeMap;

use harness_proto::WorkloadPlan;

use crate::ctx::Ctx;

type Workload = fn(&Ctx, &WorkloadPlan) -> BTreeMap<String, u64>;

/// Every workload, in the catalog's order.
const TABLE: &[(&str, Workload)] = &[
    ("umount-stress", umount::run),
    ("iput-stress", iput::run),
    ("snap-stress", snap::run),
    ("cap-revoke", cap_revoke::run),
    ("mds-failover", mds_failover::run),
    ("session-loss", session_loss::run),
    ("fio", fio::run),
    ("stress-ng", stress_ng::run),
    ("dbench", dbench::run),
    ("fsmark", fsmark::run),
    ("fstests", fstests::run),
];

/// Run one workload; its named counters.
pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> BTreeMap<String, u64> {
    match TABLE.iter().find(|(n, _)| *n == w.name) {
        Some((_, f)) => f(ctx, w),
        None => {
            ctx.finding(format!("guest: unknown workload {}", w.name), String::new());
            BTreeMap::new()
        }
    }
}

/// Counters as the protocol carries them.
pub fn counters(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_protocol_workload_is_in_the_table() {
        let names: Vec<&str> = super::TABLE.iter().map(|(n, _)| *n).collect();
        let catalog: Vec<&str> = harness_proto::workloads::WORKLOADS
            .iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, catalog);
    }
}
