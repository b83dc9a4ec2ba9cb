//! A network namespace owned by one run: a bridge with the host-side address and a tap for each
//! guest, all inside the namespace. Test traffic never leaves it. Removed on drop.

use std::time::Duration;

use crate::proc::{Output, Procs};
use crate::{ExecError, Result};

/// `ip` answers at once; a hung one is killed.
const IP_TIMEOUT: Duration = Duration::from_secs(30);

/// Names are `harness-<pid>-<n>`, so a namespace left behind by a killed harness can be recognised
/// and removed by the next run ([`sweep_stale`]).
pub const PREFIX: &str = "harness-";
pub const BRIDGE: &str = "hbr0";
/// Host (cluster) address inside the namespace; guests get .2, .3, ...
pub const HOST_IP: &str = "10.77.0.1";
pub const PREFIX_LEN: u8 = 24;

pub struct Netns {
    pub name: String,
    taps: Vec<String>,
}

/// `ip ARGS` (through the process module, as every process).
fn ip_out(args: &[&str]) -> Result<Output> {
    Procs::run_sync("ip", args, IP_TIMEOUT)
}

fn ip(args: &[&str]) -> Result<()> {
    let out = ip_out(args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ExecError::Failed {
            what: format!("ip {}", args.join(" ")),
            status: out.status.to_string(),
            message: out.stderr.trim().to_string(),
        })
    }
}

impl Netns {
    /// Create the namespace, its loopback, the bridge (no STP, no forward delay) and `taps` tap devices.
    pub fn create(tag: &str, taps: usize) -> Result<Netns> {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on, Drop removes it whatever fails next.
        let mut ns = Netns {
            name,
            taps: Vec::new(),
        };
        let n = ns.name.clone();
        let inns = |args: &[&str]| -> Result<()> {
            let mut a = vec!["netns", "exec", &n, "ip"];
            a.extend_from_slice(args);
            ip(&a)
        };
        inns(&["link", "set", "lo", "up"])?;
        inns(&[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        let cidr = format!("{HOST_IP}/{PREFIX_LEN}");
        inns(&["addr", "add", &cidr, "dev", BRIDGE])?;
        inns(&["link", "set", BRIDGE, "up"])?;
        for i in 0..taps {
            let tap = tap_name(i);
            inns(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
            inns(&["link", "set", &tap, "master", BRIDGE])?;
            inns(&["link", "set", &tap, "up"])?;
            ns.taps.push(tap);
        }
        Ok(ns)
    }

    pub fn tap(&self, i: usize) -> &str {
        &self.taps[i]
    }

    /// Address of guest `i` inside the namespace (guest slot `i`: `tap_name(i)`).
    pub fn guest_ip(i: usize) -> String {
        format!("10.77.0.{}", i + 2)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Links inside go with the namespace. Processes inside must be gone first (the run's
        // process registry is dropped before this).
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            tracing::warn!("removing network namespace {}: {e}", self.name);
        }
    }
}

/// The tap of guest slot `i`.
pub fn tap_name(i: usize) -> String {
    format!("htap{i}")
}

/// The pid of the harness that owns a resource named `harness-<pid>-...`, if that harness is gone.
pub(crate) fn dead_owner(name: &str) -> Option<i32> {
    let pid = name
        .strip_prefix(PREFIX)?
        .split('-')
        .next()?
        .parse::<i32>()
        .ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    (!alive && pid != std::process::id() as i32).then_some(pid)
}

/// Remove what harness processes that no longer exist (killed with SIGKILL, or by a signal they
/// could not handle) left behind: the processes still running in their namespaces, the namespaces,
/// and their temp dirs. Returns one line per thing removed.
pub fn sweep_stale(temp_root: &std::path::Path) -> Vec<String> {
    let mut swept = Vec::new();
    if let Ok(out) = ip_out(&["netns", "list"]) {
        for line in out.stdout.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let Some(owner) = dead_owner(name) else {
                continue;
            };
            let pids: Vec<i32> = ip_out(&["netns", "pids", name])
                .map(|p| {
                    p.stdout
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            for pid in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            for pid in &pids {
                let t = std::time::Instant::now();
                while nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), None).is_ok()
                    && t.elapsed().as_secs() < 5
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            if ip(&["netns", "del", name]).is_ok() {
                swept.push(format!(
                    "namespace {name} of gone harness {owner} ({} processes killed)",
                    pids.len()
                ));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(temp_root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(owner) = dead_owner(&name) {
                if e.path().is_dir() && std::fs::remove_dir_all(e.path()).is_ok() {
                    swept.push(format!(
                        "temp dir {} of gone harness {owner}",
                        e.path().display()
                    ));
                }
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_made_with_its_bridge_and_taps_and_removed_on_drop() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let ns = Netns::create("unit", 1).unwrap();
        let name = ns.name.clone();
        assert!(ip_out(&["netns", "list"]).unwrap().stdout.contains(&name));
        let links = ip_out(&["netns", "exec", &name, "ip", "-o", "link"]).unwrap();
        assert!(links.stdout.contains(BRIDGE) && links.stdout.contains(ns.tap(0)));
        drop(ns);
        assert!(!ip_out(&["netns", "list"]).unwrap().stdout.contains(&name));
        // A failing `ip` names the command and carries its message.
        let e = ip(&["netns", "del", &name]).unwrap_err().to_string();
        assert!(e.contains("ip netns del"), "{e}");
    }
}
