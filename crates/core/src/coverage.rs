//! Patch coverage: the functions each patch changes, the probes that count their calls, and
//! what the workloads made of them.

use std::collections::BTreeMap;

use harness_proto::Probe;

use crate::probe::{FunctionCoverage, PatchCoverage};
use crate::series::Series;

/// Per patch (1-based): (file, function, probe) for each function it changes; the probe is
/// `None` for code that cannot be probed (headers).
pub type Changed = Vec<(usize, Vec<(String, String, Option<Probe>)>)>;

/// The probes to plant: every probeable changed function once, sorted.
pub fn probes(changed: &Changed) -> Vec<Probe> {
    let mut p: Vec<Probe> = changed
        .iter()
        .flat_map(|(_, fs)| fs.iter().filter_map(|(_, _, p)| p.clone()))
        .collect();
    p.sort();
    p.dedup();
    p
}

/// Per patch, its functions and how often the workloads called them (`hits` by probe target),
/// or why they could not be counted (`failures`: the guest's answer when planting a probe).
pub fn report(
    series: &Series,
    changed: &Changed,
    hits: &BTreeMap<String, u64>,
    failures: &BTreeMap<String, String>,
) -> Vec<PatchCoverage> {
    changed
        .iter()
        .map(|(k, fs)| PatchCoverage {
            index: *k,
            subject: series.patches[k - 1].subject.clone(),
            functions: fs
                .iter()
                .map(|(file, function, probe)| {
                    let target = probe.as_ref().map(|p| p.target()).unwrap_or_default();
                    let (calls, note) = match (hits.get(&target), failures.get(&target)) {
                        (_, Some(why)) if why.contains("Invalid probed address or symbol") => (
                            None,
                            Some("not probeable: inlined, or no symbol of its own".into()),
                        ),
                        (_, Some(why)) => (None, Some(format!("not probeable: {why}"))),
                        (Some(n), None) => (Some(*n), None),
                        (None, None) => {
                            (None, Some("not counted (no guest boot reported it)".into()))
                        }
                    };
                    FunctionCoverage {
                        function: function.clone(),
                        file: file.clone(),
                        calls,
                        note,
                    }
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(f: &str) -> Option<Probe> {
        Some(Probe {
            module: Some("ceph".into()),
            function: f.into(),
        })
    }

    fn series() -> Series {
        let mbox = "From 1 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH 1/2] ceph: one\n\n---\ndiff --git a/fs/ceph/a.c b/fs/ceph/a.c\n--- a/fs/ceph/a.c\n+++ b/fs/ceph/a.c\n@@ -1 +1 @@\n-a\n+b\n\nFrom 2 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH 2/2] ceph: two\n\n---\ndiff --git a/fs/ceph/a.c b/fs/ceph/a.c\n--- a/fs/ceph/a.c\n+++ b/fs/ceph/a.c\n@@ -1 +1 @@\n-b\n+c\n";
        crate::series::parse_mbox(mbox.as_bytes(), "s.mbox").unwrap()
    }

    fn changed() -> Changed {
        vec![
            (
                1,
                vec![
                    ("fs/ceph/a.c".into(), "ceph_b".into(), probe("ceph_b")),
                    ("fs/ceph/a.c".into(), "ceph_a".into(), probe("ceph_a")),
                ],
            ),
            (
                2,
                vec![
                    ("fs/ceph/a.c".into(), "ceph_a".into(), probe("ceph_a")),
                    ("include/linux/ceph/x.h".into(), "inline_x".into(), None),
                    ("fs/ceph/a.c".into(), "ceph_c".into(), probe("ceph_c")),
                    ("fs/ceph/a.c".into(), "ceph_d".into(), probe("ceph_d")),
                ],
            ),
        ]
    }

    #[test]
    fn each_probe_once_sorted() {
        let names: Vec<String> = probes(&changed()).iter().map(|p| p.target()).collect();
        assert_eq!(
            names,
            ["ceph:ceph_a", "ceph:ceph_b", "ceph:ceph_c", "ceph:ceph_d"]
        );
    }

    #[test]
    fn calls_counted_or_why_not() {
        let hits = BTreeMap::from([("ceph:ceph_a".to_string(), 12u64)]);
        let failures = BTreeMap::from([
            (
                "ceph:ceph_c".to_string(),
                "Invalid probed address or symbol".to_string(),
            ),
            ("ceph:ceph_d".to_string(), "busy".to_string()),
        ]);
        let r = report(&series(), &changed(), &hits, &failures);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].index, r[0].subject.as_str()), (1, "ceph: one"));
        assert_eq!(r[1].subject, "ceph: two");
        let f = &r[1].functions;
        assert_eq!((f[0].function.as_str(), f[0].calls), ("ceph_a", Some(12)));
        assert_eq!(f[0].note, None);
        assert_eq!(f[1].calls, None);
        assert_eq!(
            f[1].note.as_deref(),
            Some("not counted (no guest boot reported it)")
        );
        assert_eq!(
            f[2].note.as_deref(),
            Some("not probeable: inlined, or no symbol of its own")
        );
        assert_eq!(f[3].note.as_deref(), Some("not probeable: busy"));
        assert_eq!(
            r[0].functions[0].note.as_deref(),
            Some("not counted (no guest boot reported it)")
        );
    }
}
