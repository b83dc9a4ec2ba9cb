//! stress-ng (Debian's): its file-system stressors at once in the boot's workspace, seeded
//! (`--seed`), with `--verify` (stressors that can check their results do), for `seconds`.
//! A `fail:` line is a finding per stressor; a non-zero exit other than "no resources" (3) or
//! "not implemented here" (4) is one too. The figures are each stressor's bogo ops and bogo
//! ops/s (real time) from its YAML report.

use harness_proto::WorkloadPlan;

use super::tools::{self, round, Counters};
use crate::ctx::Ctx;

const STRESS_NG: &str = "/usr/bin/stress-ng";
const REPORT: &str = "/tmp/stress-ng.yaml";

/// The stressors, in the order of the `stressors` bit mask (bit 0 = dentry).
pub const STRESSORS: &[&str] = &[
    "dentry",
    "dir",
    "rename",
    "link",
    "inode-flags",
    "flock",
    "xattr",
    "mmap",
    "iomix",
];

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> Counters {
    let Some(dir) = tools::workspace(ctx, "stress-ng") else {
        return Counters::new();
    };
    let _ = std::fs::remove_file(REPORT);
    let mut counters = Counters::new();
    if let Some(out) = tools::run(ctx, STRESS_NG, &args(w, &dir.to_string_lossy()), &dir) {
        let text = format!("{}{}", out.stdout, out.stderr);
        for (stressor, lines) in failures(&text) {
            ctx.finding(format!("stress-ng: {stressor} failed"), lines);
        }
        if !ctx.failed() {
            // 2: a stressor failed (its fail: lines said which); 3: no resources; 4: not
            // implemented on this system (e.g. a file-system feature CephFS lacks).
            tools::check_exit(ctx, "stress-ng", &out, &[0, 3, 4]);
        }
        let metrics = parse_yaml(&std::fs::read_to_string(REPORT).unwrap_or_default());
        if metrics.is_empty() && !ctx.failed() {
            ctx.finding("stress-ng: no metrics", tools::tail(&text, 20));
        }
        for m in &metrics {
            ctx.op(m.bogo_ops);
            counters.insert(format!("{}_bogo_ops", m.stressor), m.bogo_ops);
            counters.insert(format!("{}_bogo_ops_per_s", m.stressor), round(m.per_s));
        }
    }
    tools::done(ctx, &dir);
    counters
}

/// The stressors a mask selects.
pub fn selected(mask: u64) -> Vec<&'static str> {
    STRESSORS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect()
}

pub fn args(w: &WorkloadPlan, dir: &str) -> Vec<String> {
    let n = w.param("instances");
    let mut a: Vec<String> = vec![
        "--temp-path".into(),
        dir.into(),
        "--timeout".into(),
        format!("{}s", w.param("seconds")),
        "--seed".into(),
        w.seed.to_string(),
        "--verify".into(),
        "--metrics-brief".into(),
        "--yaml".into(),
        REPORT.into(),
    ];
    for s in selected(w.param("stressors")) {
        a.push(format!("--{s}"));
        a.push(n.to_string());
        // Small enough for a 1 GiB guest under emulation; on the file system, not in memory.
        match s {
            "mmap" => a.extend(["--mmap-file".into(), "--mmap-bytes".into(), "16M".into()]),
            "iomix" => a.extend(["--iomix-bytes".into(), "8M".into()]),
            _ => {}
        }
    }
    a
}

/// `stress-ng: fail:  [123] dentry: ...` lines, grouped by stressor (in first-seen order).
pub fn failures(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().filter(|l| l.contains(" fail:")) {
        let rest = line.split(" fail:").nth(1).unwrap_or("");
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']').map(|x| x.1).unwrap_or(r).trim_start(),
            None => rest,
        };
        // "dentry: ..." or, in some messages, "dentry open ... failed".
        let stressor = rest
            .split_whitespace()
            .next()
            .map(|w| w.trim_end_matches(':'))
            .filter(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
            .unwrap_or("stress-ng")
            .to_string();
        match out.iter_mut().find(|(s, _)| *s == stressor) {
            Some((_, lines)) if lines.lines().count() < 20 => {
                lines.push('\n');
                lines.push_str(line);
            }
            Some(_) => {}
            None => out.push((stressor, line.to_string())),
        }
    }
    out
}

#[derive(Debug, PartialEq)]
pub struct Metric {
    pub stressor: String,
    pub bogo_ops: u64,
    pub per_s: f64,
}

/// The `metrics:` list of stress-ng's `--yaml` report (a line-based reading of its fixed layout).
pub fn parse_yaml(text: &str) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(s) = l.strip_prefix("- stressor:") {
            out.push(Metric {
                stressor: s.trim().to_string(),
                bogo_ops: 0,
                per_s: 0.0,
            });
        } else if let (Some(m), Some((k, v))) = (out.last_mut(), l.split_once(':')) {
            match k.trim() {
                "bogo-ops" => m.bogo_ops = v.trim().parse().unwrap_or(0),
                "bogo-ops-per-second-real-time" => m.per_s = v.trim().parse().unwrap_or(0.0),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // From `stress-ng --dentry 1 --dir 1 ... --yaml` of Debian's stress-ng 0.15.06 (shortened).
    const YAML: &str = "---\nsystem-info:\n      stress-ng-version: 0.15.06\n      cpus: 2\n\n\
metrics:\n    - stressor: dentry\n      bogo-ops: 24576\n      bogo-ops-per-second-usr-sys-time: 23502.230111\n      \
bogo-ops-per-second-real-time: 11997.197735\n      wall-clock-time: 2.048478\n\n    - stressor: inode-flags\n      \
bogo-ops: 0\n      bogo-ops-per-second-real-time: 0.000000\n\n    - stressor: rename\n      bogo-ops: 6918\n      \
bogo-ops-per-second-real-time: 3430.342279\n...\n";

    #[test]
    fn metrics_per_stressor() {
        let m = parse_yaml(YAML);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].stressor, "dentry");
        assert_eq!(m[0].bogo_ops, 24576);
        assert_eq!(round(m[0].per_s), 11997);
        assert_eq!(m[1].stressor, "inode-flags");
        assert_eq!(m[2].bogo_ops, 6918);
        assert!(parse_yaml("").is_empty());
    }

    #[test]
    fn fail_lines_name_their_stressor() {
        let text = "stress-ng: info:  [12739] dispatching hogs: 1 dentry\n\
stress-ng: fail:  [12741] rename: rename of /mnt/h/x to /mnt/h/y failed, errno=2 (No such file or directory)\n\
stress-ng: fail:  [12741] rename: another\n\
stress-ng: fail:  [12750] xattr: fgetxattr failed, errno=61\n\
stress-ng: fail:  [148] dentry open /mnt/h/stress-ng/x/stress-ng-dentry-148-0-802 failed, errno=2 (No such file or directory)\n\
stress-ng: fail:  [1] Odd message\n\
stress-ng: info:  [12739] unsuccessful run completed in 5.59s\n";
        let f = failures(text);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].0, "rename");
        assert_eq!(f[0].1.lines().count(), 2);
        assert_eq!(f[1].0, "xattr");
        assert_eq!(f[2].0, "dentry");
        assert_eq!(f[3].0, "stress-ng");
        assert!(failures("stress-ng: info: fine\n").is_empty());
    }

    #[test]
    fn the_mask_picks_stressors() {
        assert_eq!(selected(511).len(), STRESSORS.len());
        assert_eq!(
            selected(244),
            vec!["rename", "inode-flags", "flock", "xattr", "mmap"]
        );
        assert_eq!(selected(0b101), vec!["dentry", "rename"]);
        let w = WorkloadPlan {
            name: "stress-ng".into(),
            seed: 9,
            params: [("stressors".to_string(), 1u64 << 7)].into_iter().collect(),
            fstests: None,
            through_step: None,
        };
        let a = args(&w, "/mnt/h/stress-ng").join(" ");
        assert!(a.contains("--seed 9 --verify"), "{a}");
        assert!(a.contains("--mmap 1 --mmap-file"), "{a}");
        assert!(!a.contains("--dentry"), "{a}");
    }
}
