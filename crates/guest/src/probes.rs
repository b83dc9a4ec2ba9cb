//! Kprobe events in tracefs.
//!
//! - Coverage: one event per changed function (`hcov/fN`), enabled at the top level with
//!   `tracing_on` = 0: the kprobe still fires and counts its hits (`kprobe_profile`), nothing is
//!   written to the ring buffer.
//! - Evictions: `hhaz/evict` on the evict function, enabled only in the trace instance `hhaz`
//!   (tracing on there) with a `hist:keys=stacktrace` trigger: the kernel counts each distinct
//!   stack, so the report says in which context final iputs ran.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use harness_proto::{Msg, Plan, Probe};

use crate::ctx::{c, emit};

const T: &str = "/sys/kernel/tracing";
const INSTANCE: &str = "hhaz";

pub struct Tracing {
    coverage: Vec<(String, Probe)>,
    evict: bool,
}

fn append(path: &Path, line: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| {
            // tracefs explains a refused probe in error_log ("... trace_kprobe: error: Invalid
            // probed address or symbol": the function was inlined or is not in the module).
            std::fs::read_to_string(format!("{T}/error_log"))
                .ok()
                .and_then(|s| {
                    let l = s.lines().rev().find(|l| l.contains("error:"))?;
                    Some(l.split("error:").nth(1)?.trim().to_string())
                })
                .unwrap_or_else(|| e.to_string())
        })
}

fn set(path: impl AsRef<Path>, v: &str) -> Result<(), String> {
    let p = path.as_ref();
    std::fs::write(p, v).map_err(|e| format!("{}: {e}", p.display()))
}

fn mount_tracefs() -> Result<(), String> {
    if Path::new(T).join("kprobe_events").exists() {
        return Ok(());
    }
    let r = unsafe {
        libc::mount(
            c("nodev").as_ptr(),
            c(T).as_ptr(),
            c("tracefs").as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(format!(
            "mount tracefs: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

impl Tracing {
    /// Set the plan's probes. Probes that cannot be set are reported (an inlined function has
    /// no symbol to probe); `None` when tracefs itself is missing.
    pub fn setup(plan: &Plan) -> Option<Tracing> {
        if plan.coverage.is_empty() && plan.evict_probe.is_none() {
            return None;
        }
        let mut failed = Vec::new();
        if let Err(e) = mount_tracefs() {
            failed.push(("tracefs".to_string(), e));
            emit(&Msg::Probes { set: 0, failed });
            return None;
        }
        let events = Path::new(T).join("kprobe_events");
        let _ = set(Path::new(T).join("tracing_on"), "0");
        let mut coverage = Vec::new();
        for (i, p) in plan.coverage.iter().enumerate() {
            let ev = format!("f{i}");
            let r = append(&events, &format!("p:hcov/{ev} {}", p.target()))
                .and_then(|_| set(format!("{T}/events/hcov/{ev}/enable"), "1"));
            match r {
                Ok(()) => coverage.push((ev, p.clone())),
                Err(e) => failed.push((p.target(), e)),
            }
        }
        let mut evict = false;
        if let Some(p) = &plan.evict_probe {
            let inst = PathBuf::from(T).join("instances").join(INSTANCE);
            let r = append(&events, &format!("p:hhaz/evict {}", p.target()))
                .and_then(|_| std::fs::create_dir_all(&inst).map_err(|e| e.to_string()))
                .and_then(|_| {
                    set(
                        inst.join("events/hhaz/evict/trigger"),
                        "hist:keys=stacktrace:vals=hitcount:size=4096",
                    )
                })
                .and_then(|_| set(inst.join("events/hhaz/evict/enable"), "1"))
                .and_then(|_| set(inst.join("tracing_on"), "1"));
            match r {
                Ok(()) => evict = true,
                Err(e) => failed.push((p.target(), e)),
            }
        }
        emit(&Msg::Probes {
            set: coverage.len() + evict as usize,
            failed,
        });
        Some(Tracing { coverage, evict })
    }

    /// Report hit counts and eviction stacks.
    pub fn report(&self) {
        let profile = std::fs::read_to_string(format!("{T}/kprobe_profile")).unwrap_or_default();
        let counts = parse_profile(&profile);
        let hits: BTreeMap<String, u64> = self
            .coverage
            .iter()
            .map(|(ev, p)| (p.target(), counts.get(ev.as_str()).copied().unwrap_or(0)))
            .collect();
        emit(&Msg::Coverage { hits });
        if self.evict {
            let hist =
                std::fs::read_to_string(format!("{T}/instances/{INSTANCE}/events/hhaz/evict/hist"))
                    .unwrap_or_default();
            let mut stacks = parse_hist(&hist);
            stacks.sort_by_key(|s| std::cmp::Reverse(s.1));
            emit(&Msg::Evictions { stacks });
        }
    }
}

/// `kprobe_profile`: "  hcov/f0    123    0" → {"f0": 123}.
fn parse_profile(text: &str) -> BTreeMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let hits = w.next()?.parse().ok()?;
            Some((name.rsplit('/').next()?, hits))
        })
        .collect()
}

/// A `hist:keys=stacktrace` file → (frames innermost first, without offsets, hits).
fn parse_hist(text: &str) -> Vec<(Vec<String>, u64)> {
    let mut out = Vec::new();
    let mut frames: Option<Vec<String>> = None;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with("{ stacktrace:") {
            frames = Some(Vec::new());
        } else if let Some(rest) = t.strip_prefix("} hitcount:") {
            if let (Some(f), Ok(n)) = (frames.take(), rest.trim().parse()) {
                out.push((f, n));
            }
        } else if let Some(f) = frames.as_mut() {
            if let Some(sym) = t.split_whitespace().next() {
                let name = sym.split('+').next().unwrap_or(sym);
                // The probe's own frames (the ftrace handler, its trampoline) come first.
                if !(f.is_empty() && (name.starts_with("kprobe") || name.starts_with("0x"))) {
                    f.push(name.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_and_hist() {
        let p = parse_profile("  hcov/f0    12    0\n  hhaz/evict   7   0\n");
        assert_eq!(p.get("f0"), Some(&12));
        assert_eq!(p.get("evict"), Some(&7));
        let h = parse_hist(
            "# event histogram\n#\n\n{ stacktrace:\n         kprobe_ftrace_handler+0x10/0x1a0\n         0xffffffffc04b90c8\n         ceph_evict_inode+0x5/0x3a0 [ceph]\n         evict+0xc2/0x1a0\n         ceph_con_workfn+0x2a/0x500 [libceph]\n} hitcount:        300\n\nTotals:\n    Hits: 300\n",
        );
        assert_eq!(
            h,
            vec![(
                vec![
                    "ceph_evict_inode".to_string(),
                    "evict".to_string(),
                    "ceph_con_workfn".to_string()
                ],
                300
            )]
        );
    }
}
