//! The guest image: an uncompressed newc initramfs made of a cached base (static busybox, the
//! distribution modules the guest needs, `/init`, the workloads) and a small per-run cpio appended
//! to it (the configuration and the modules under test). The kernel unpacks both.
//!
//! The recipe's guest-side files are embedded in the binary: `/init` from `vm-images/initramfs/`,
//! and the guest program (crates/guest, built statically by this crate's build script).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_core::job::Userland;

use crate::proc::{command, Procs};
use crate::{write, ExecError, Result};

pub const INIT: &str = include_str!("../../../vm-images/initramfs/init");
/// The guest program (`/bin/harness-guest`): runs the workloads and probes, speaks harness-proto.
pub const GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/harness-guest"));

/// Drivers for the guest's virtual hardware (the NIC). Their dependencies, and those of the
/// module under test, are resolved from `modinfo`.
pub const HARDWARE_MODULES: &[&str] = &["virtio_pci", "virtio_net"];

/// The host's userland over virtio-9p (`guests.userland: host`): the file system and its
/// transport; their dependencies (9pnet, netfs, ...) come from `modinfo`, built-in ones are skipped.
pub const HOST_USERLAND_MODULES: &[&str] = &["9pnet_virtio", "9p"];

/// The writable `/etc` of a guest on the host's userland: what bash, perl, fio and friends look
/// up (users and groups by name, localhost, the name service order). Our own, not the host's:
/// the host's `/etc` holds secrets and is never shown to the guest.
const HOST_USERLAND_ETC: &[(&str, &str)] = &[
    (
        "passwd",
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
         bin:x:2:2:bin:/bin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    ),
    (
        "group",
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\ntty:x:5:\ndisk:x:6:\nusers:x:100:\nnogroup:x:65534:\n",
    ),
    ("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    (
        "nsswitch.conf",
        "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n\
         protocols: files\nservices: files\n",
    ),
    ("hostname", "harness-guest\n"),
    ("shells", "/bin/sh\n/bin/bash\n/usr/bin/bash\n"),
];

/// Files of the host's `/etc` the host's `/usr` cannot work without, copied into the image:
/// the dynamic linker's cache and the alternatives (`/usr/bin/awk` → `/etc/alternatives/awk` →
/// `/usr/bin/mawk`: symbolic links only). Neither holds a secret.
const HOST_ETC_COPIED: &[&str] = &["/etc/ld.so.cache", "/etc/alternatives"];

const T: Duration = Duration::from_secs(120);
/// What `modinfo -n` answers for a module built into the kernel.
const BUILTIN: &str = "(builtin)";

async fn modinfo(procs: &Procs, release: &str, args: &[&str]) -> Result<String> {
    let mut c = command("modinfo", None);
    c.args(["-k", release]).args(args);
    Ok(procs
        .check("modinfo", c, T)
        .await?
        .stdout
        .trim()
        .to_string())
}

/// Resolve a softdep/alias (e.g. `crc32c`) to a module. A `*_generic` implementation is preferred:
/// it works on any (emulated) CPU.
async fn resolve_alias(procs: &Procs, release: &str, alias: &str) -> Result<Option<String>> {
    let mut c = command("modprobe", None);
    c.args(["-S", release, "-R", alias]);
    let out = procs.run("modprobe", c, T).await?;
    let names: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.trim().replace('-', "_"))
        .filter(|l| !l.is_empty())
        .collect();
    Ok(names
        .iter()
        .find(|n| n.ends_with("_generic"))
        .or(names.first())
        .cloned())
}

/// Modules to load, dependencies first, for `roots` (names, or `(name, file)` overrides for modules
/// under test, which are not part of the result themselves).
pub async fn resolve_modules(
    procs: &Procs,
    release: &str,
    roots: &[&str],
    under_test: &[(&str, &Path)],
) -> Result<Vec<(String, PathBuf)>> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    let skip: BTreeSet<String> = under_test.iter().map(|(n, _)| n.to_string()).collect();
    // Iterative depth-first walk with an explicit stack: (name, file override, deps expanded?)
    let mut stack: Vec<(String, Option<PathBuf>, bool)> = Vec::new();
    for (n, f) in under_test.iter().rev() {
        stack.push((n.to_string(), Some(f.to_path_buf()), false));
    }
    for r in roots.iter().rev() {
        stack.push((r.replace('-', "_"), None, false));
    }
    while let Some((name, file, expanded)) = stack.pop() {
        if expanded {
            if !skip.contains(&name) {
                let path = match file {
                    Some(f) => f,
                    None => match modinfo(procs, release, &["-n", &name]).await {
                        // Built into this kernel (6.12's virtio_pci): nothing to load.
                        Ok(p) if p == BUILTIN => continue,
                        Ok(p) => PathBuf::from(p),
                        Err(e) => {
                            return Err(ExecError::Other(format!(
                                "module {name} of kernel {release}: {e}"
                            )))
                        }
                    },
                };
                order.push((name, path));
            }
            continue;
        }
        if !seen.insert(name.clone()) {
            continue;
        }
        let target = match &file {
            Some(f) => f.to_string_lossy().to_string(),
            None => name.clone(),
        };
        let deps = modinfo(procs, release, &["-F", "depends", &target]).await?;
        let soft = modinfo(procs, release, &["-F", "softdep", &target])
            .await
            .unwrap_or_default();
        stack.push((name.clone(), file, true));
        for d in deps.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            stack.push((d.replace('-', "_"), None, false));
        }
        // "pre: crc32c" softdeps are what modprobe would have loaded first.
        for pre in soft
            .split_whitespace()
            .skip_while(|w| *w != "pre:")
            .skip(1)
            .take_while(|w| !w.ends_with(':'))
        {
            if let Some(m) = resolve_alias(procs, release, pre).await? {
                stack.push((m, None, false));
            }
        }
    }
    Ok(order)
}

/// Copy a module into `dst`, decompressing `.ko.xz` / `.ko.zst` / `.ko.gz`.
async fn install_module(procs: &Procs, src: &Path, dst: &Path) -> Result<()> {
    let s = src.to_string_lossy();
    let tool = if s.ends_with(".xz") {
        Some("xz")
    } else if s.ends_with(".zst") {
        Some("zstd")
    } else if s.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    match tool {
        None => std::fs::copy(src, dst)
            .map(|_| ())
            .map_err(|e| ExecError::io(dst, e)),
        Some(t) => {
            let f = std::fs::File::create(dst).map_err(|e| ExecError::io(dst, e))?;
            let mut c = command(t, None);
            c.args(["-dc"]).arg(src).stdout(f);
            if procs.status(t, c, T).await?.success() {
                Ok(())
            } else {
                Err(ExecError::Other(format!("{t} -dc {s} failed")))
            }
        }
    }
}

/// Pack a directory as an uncompressed newc cpio (written to a temp name, then renamed).
async fn pack(procs: &Procs, dir: &Path, out: &Path) -> Result<()> {
    let tmp = out.with_extension("tmp");
    let f = std::fs::File::create(&tmp).map_err(|e| ExecError::io(&tmp, e))?;
    let mut c = command("sh", None);
    c.arg("-c")
        .arg("find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet")
        .current_dir(dir)
        .stdout(f);
    if !procs.status("cpio", c, T).await?.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(ExecError::Other(format!(
            "cpio of {} failed",
            dir.display()
        )));
    }
    std::fs::rename(&tmp, out).map_err(|e| ExecError::io(out, e))
}

fn fnv(data: &[u8], mut h: u64) -> u64 {
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The cached base image for these modules; built on first use.
pub async fn base_image(
    procs: &Procs,
    cache: &Path,
    release: &str,
    modules: &[(String, PathBuf)],
    userland: Userland,
) -> Result<PathBuf> {
    let busybox = Path::new("/bin/busybox");
    let bb = std::fs::metadata(busybox).map_err(|e| ExecError::io(busybox, e))?;
    let mut h = fnv(release.as_bytes(), 0xcbf29ce484222325);
    h = fnv(INIT.as_bytes(), h);
    h = fnv(GUEST, h);
    for (n, p) in modules {
        h = fnv(n.as_bytes(), fnv(p.to_string_lossy().as_bytes(), h));
    }
    h = fnv(&bb.len().to_le_bytes(), h);
    if userland == Userland::Host {
        h = fnv(b"host userland", h);
        for (n, text) in HOST_USERLAND_ETC {
            h = fnv(text.as_bytes(), fnv(n.as_bytes(), h));
        }
        // The linker cache changes when the host's libraries do.
        if let Ok(m) = std::fs::metadata("/etc/ld.so.cache") {
            h = fnv(&m.len().to_le_bytes(), h);
            if let Ok(t) = m.modified() {
                h = fnv(format!("{t:?}").as_bytes(), h);
            }
        }
    }
    let out = cache
        .join("images")
        .join(format!("base-{release}-{h:016x}.cpio"));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(out.parent().unwrap()).map_err(|e| ExecError::io(&out, e))?;
    let st = tempfile::Builder::new()
        .prefix(".image-")
        .tempdir_in(out.parent().unwrap())
        .map_err(|e| ExecError::io(&out, e))?;
    let r = st.path();
    for d in [
        "bin",
        "sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "mnt",
        "tmp",
        "root",
        "lib/modules/run",
    ] {
        std::fs::create_dir_all(r.join(d)).map_err(|e| ExecError::io(r, e))?;
    }
    std::fs::copy(busybox, r.join("bin/busybox")).map_err(|e| ExecError::io(busybox, e))?;
    write(&r.join("init"), INIT)?;
    set_exec(&r.join("init"))?;
    write(&r.join("bin/harness-guest"), GUEST)?;
    set_exec(&r.join("bin/harness-guest"))?;
    let mut load = String::new();
    for (n, p) in modules {
        install_module(procs, p, &r.join(format!("lib/modules/{n}.ko"))).await?;
        load.push_str(n);
        load.push('\n');
    }
    write(&r.join("etc/modules.load"), load)?;
    if userland == Userland::Host {
        for (n, text) in HOST_USERLAND_ETC {
            write(&r.join("etc").join(n), text)?;
        }
        for p in HOST_ETC_COPIED {
            copy_tree(Path::new(p), &r.join("etc"))?;
        }
    }
    pack(procs, r, &out).await?;
    Ok(out)
}

/// Copy a file, a symbolic link (as a link) or a directory of them into `into` (absent: skipped).
fn copy_tree(src: &Path, into: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(src) else {
        return Ok(());
    };
    let dst = into.join(src.file_name().unwrap_or_default());
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src).map_err(|e| ExecError::io(src, e))?;
        std::os::unix::fs::symlink(target, &dst).map_err(|e| ExecError::io(&dst, e))
    } else if meta.is_dir() {
        std::fs::create_dir_all(&dst).map_err(|e| ExecError::io(&dst, e))?;
        for e in std::fs::read_dir(src).map_err(|e| ExecError::io(src, e))? {
            let e = e.map_err(|e| ExecError::io(src, e))?;
            copy_tree(&e.path(), &dst)?;
        }
        Ok(())
    } else {
        std::fs::copy(src, &dst)
            .map(|_| ())
            .map_err(|e| ExecError::io(&dst, e))
    }
}

fn set_exec(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ExecError::io(p, e))
}

/// The per-run image: base + a cpio with `/etc/harness.conf` (for `/init`), `/etc/harness.json`
/// (the guest program's plan) and the modules under test.
pub async fn run_image(
    procs: &Procs,
    base: &Path,
    scratch: &Path,
    conf: &str,
    plan: &harness_proto::Plan,
    run_modules: &[(&str, &Path)],
    out: &Path,
) -> Result<()> {
    let dir = scratch.join("overlay");
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir.join("etc/harness.conf"), conf)?;
    write(
        &dir.join("etc/harness.json"),
        serde_json::to_string_pretty(plan).expect("a plan serialises"),
    )?;
    let mut list = String::new();
    for (n, p) in run_modules {
        let dst = dir.join(format!("lib/modules/run/{n}.ko"));
        write(&dst, [])?;
        std::fs::copy(p, &dst).map_err(|e| ExecError::io(&dst, e))?;
        list.push_str(n);
        list.push('\n');
    }
    write(&dir.join("etc/modules.run"), list)?;
    let overlay = scratch.join("overlay.cpio");
    pack(procs, &dir, &overlay).await?;
    let mut data = std::fs::read(base).map_err(|e| ExecError::io(base, e))?;
    data.extend(std::fs::read(&overlay).map_err(|e| ExecError::io(&overlay, e))?);
    write(out, data)?;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&overlay);
    Ok(())
}

/// `/etc/harness.conf`: shell variable assignments, values single-quoted.
pub fn guest_conf(vars: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (k, v) in vars {
        s.push_str(&format!("{k}='{}'\n", v.replace('\'', "'\\''")));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_guest_program_runs_every_workload_jobs_can_name() {
        // Jobs name the catalog's workloads (harness-proto); the guest program's table (its
        // own workspace, tested there against the catalog) must hold each.
        let table = include_str!("../../guest/src/workloads/mod.rs");
        for w in harness_core::job::WORKLOADS {
            assert!(
                table.contains(&format!("(\"{}\", ", w.name)),
                "the guest program has no workload {}",
                w.name
            );
        }
    }

    #[test]
    fn the_guest_program_is_static() {
        // A dynamic executable has a PT_INTERP program header (its loader); the initramfs has none.
        let g = super::GUEST;
        assert!(g.starts_with(b"\x7fELF\x02"), "not a 64-bit ELF");
        let u = |at: usize, n: usize| {
            g[at..at + n]
                .iter()
                .rev()
                .fold(0usize, |v, b| (v << 8) | *b as usize)
        };
        let (phoff, phentsize, phnum) = (u(0x20, 8), u(0x36, 2), u(0x38, 2));
        assert!(phnum > 0);
        const PT_INTERP: usize = 3;
        assert!((0..phnum).all(|i| u(phoff + i * phentsize, 4) != PT_INTERP));
    }

    #[test]
    fn init_says_when_the_modules_under_test_load() {
        let at = super::INIT.find(harness_proto::UNDER_TEST_MARKER).unwrap();
        assert!(at < super::INIT.find("insmod /lib/modules/run/").unwrap());
    }

    #[test]
    fn conf_quotes_values() {
        let c = super::guest_conf(&[("A", "x y".into()), ("B", "it's".into())]);
        assert_eq!(c, "A='x y'\nB='it'\\''s'\n");
    }
}
