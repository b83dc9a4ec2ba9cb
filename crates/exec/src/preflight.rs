//! Checks before a run: privileges, tools and the files the job names.

use std::path::Path;

use harness_core::job::{Job, KernelSpec};

use crate::kernel::{headers_dir, which};
use crate::{ExecError, Result};

/// (program, Debian package that provides it)
const TOOLS: &[(&str, &str)] = &[
    ("git", "git"),
    ("make", "make"),
    ("tar", "tar"),
    ("xz", "xz-utils"),
    ("cpio", "cpio"),
    ("strip", "binutils"),
    ("modinfo", "kmod"),
    ("modprobe", "kmod"),
    ("ip", "iproute2"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("ceph", "ceph-common"),
    ("ceph-authtool", "ceph-common"),
    ("monmaptool", "ceph-common"),
    ("ceph-mon", "ceph-mon"),
    ("ceph-mgr", "ceph-mgr"),
    ("ceph-osd", "ceph-osd"),
    ("ceph-mds", "ceph-mds"),
    ("bwrap", "bubblewrap"),
    ("prlimit", "util-linux"),
];

/// What a whole kernel build needs beyond the module build.
const TREE_TOOLS: &[(&str, &str)] = &[
    ("gcc", "gcc"),
    ("bc", "bc"),
    ("bison", "bison"),
    ("flex", "flex"),
    ("perl", "perl"),
];
const TREE_HEADERS: &[(&str, &str)] = &[
    ("/usr/include/gelf.h", "libelf-dev"),
    ("/usr/include/openssl/ssl.h", "libssl-dev"),
];

pub fn check(job: &Job) -> Result<()> {
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|(t, _)| !which(t))
        .map(|(t, p)| format!("{t} ({p})"))
        .collect();
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (busybox-static)".into());
    }
    match &job.kernel {
        KernelSpec::DistroModule {
            release, source, ..
        } => {
            let kernel = format!("/boot/vmlinuz-{release}");
            if !Path::new(&kernel).exists() {
                missing.push(format!("{kernel} (linux-image-{release})"));
            }
            if !headers_dir(release).join("Makefile").exists() {
                missing.push(format!(
                    "{} (linux-headers-{release})",
                    headers_dir(release).display()
                ));
            } else {
                let cc = crate::kernel::kernel_compiler(release);
                if !which(&cc) {
                    missing.push(format!("{cc} (the kernel's compiler)"));
                }
            }
            if !source.exists() {
                missing.push(format!("{} (linux-source package)", source.display()));
            }
        }
        KernelSpec::Tree { .. } => {
            missing.extend(
                TREE_TOOLS
                    .iter()
                    .filter(|(t, _)| !which(t))
                    .map(|(t, p)| format!("{t} ({p})")),
            );
            for (header, package) in TREE_HEADERS {
                if !Path::new(header).exists() {
                    missing.push(format!("{header} ({package})"));
                }
            }
        }
    }
    if nix::unistd::geteuid().is_root() {
        if let Err(ExecError::Missing(m)) = crate::sandbox::identity() {
            missing.push(m);
        }
    }
    if !missing.is_empty() {
        return Err(ExecError::Missing(missing.join(", ")));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(ExecError::NotRoot);
    }
    Ok(())
}
