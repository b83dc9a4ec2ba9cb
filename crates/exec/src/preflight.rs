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
    let mut install = "scripts/install-deps".to_string();
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|(t, _)| !which(t))
        .map(|(t, p)| format!("{t} ({p})"))
        .collect();
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (busybox-static)".into());
    }
    // Debian's load tools run in the guest from the host's /usr: a missing one is ours to
    // install, not a finding against the kernel.
    for w in &job.workloads {
        if let Some(info) = harness_core::job::WorkloadInfo::get(&w.name) {
            for (path, package) in info.host_tools {
                let m = format!("{path} ({package})");
                if !Path::new(path).exists() && !missing.contains(&m) {
                    missing.push(m);
                }
            }
        }
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
            let source_package = source_package(source);
            if !source.exists() {
                missing.push(format!(
                    "{} ({})",
                    source.display(),
                    source_package
                        .as_deref()
                        .unwrap_or("a linux-source package")
                ));
            }
            if missing.is_empty() {
                check_versions(release, source_package.as_deref())?;
            }
            install = format!("scripts/install-deps {release}");
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
        if let Err(ExecError::Missing { what, .. }) = crate::sandbox::identity() {
            missing.push(what);
        }
    }
    if !missing.is_empty() {
        return Err(ExecError::Missing {
            what: missing.join(", "),
            install,
        });
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(ExecError::NotRoot);
    }
    Ok(())
}

/// The Debian package of a `linux-source` tarball (`/usr/src/linux-source-6.12.tar.xz` →
/// `linux-source-6.12`).
fn source_package(source: &Path) -> Option<String> {
    let name = source.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".tar.xz")
        .or(name.strip_suffix(".tar.bz2"))?;
    stem.starts_with("linux-source-").then(|| stem.to_string())
}

const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// The image and the source must be the same Debian version (`linux-image-6.12.118+deb12-amd64`
/// and `linux-source-6.12`, both 6.12.118-1~deb12u1). Packages dpkg does not know (a source
/// tarball put there by hand) are not checked.
fn check_versions(release: &str, source_package: Option<&str>) -> Result<()> {
    let Some(source_package) = source_package else {
        return Ok(());
    };
    let Ok(status) = std::fs::read_to_string(DPKG_STATUS) else {
        return Ok(());
    };
    let image = format!("linux-image-{release}");
    let (Some(iv), Some(sv)) = (
        installed_version(&status, &image),
        installed_version(&status, source_package),
    ) else {
        return Ok(());
    };
    if upstream(iv) == upstream(sv) {
        return Ok(());
    }
    Err(ExecError::VersionMismatch {
        image: format!("{image} {iv}"),
        source_package: format!("{source_package} {sv}"),
    })
}

/// A package's version in dpkg's status file, if it is installed.
fn installed_version<'a>(status: &'a str, package: &str) -> Option<&'a str> {
    status.split("\n\n").find_map(|stanza| {
        let mut name = None;
        let mut version = None;
        let mut installed = false;
        for l in stanza.lines() {
            if let Some(v) = l.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = l.strip_prefix("Version: ") {
                version = Some(v.trim());
            } else if let Some(v) = l.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        (name == Some(package) && installed)
            .then_some(version)
            .flatten()
    })
}

/// The upstream part of a Debian version (`6.12.118-1~deb12u1` → `6.12.118`).
fn upstream(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, r)| r);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: linux-image-6.12.118+deb12-amd64
Status: install ok installed
Version: 6.12.118-1~deb12u1

Package: linux-source-6.12
Status: install ok installed
Version: 6.12.118-1~deb12u1

Package: linux-source-6.1
Status: install ok installed
Version: 6.1.158-1

Package: linux-image-6.1.0-56-amd64
Status: deinstall ok config-files
Version: 6.1.158-1
";

    #[test]
    fn versions_come_from_dpkg_status() {
        assert_eq!(
            installed_version(STATUS, "linux-source-6.12"),
            Some("6.12.118-1~deb12u1")
        );
        assert_eq!(
            installed_version(STATUS, "linux-image-6.1.0-56-amd64"),
            None
        );
        assert_eq!(installed_version(STATUS, "nope"), None);
        assert_eq!(upstream("6.12.118-1~deb12u1"), "6.12.118");
        assert_eq!(upstream("1:2.3-4"), "2.3");
        assert_eq!(
            source_package(Path::new("/usr/src/linux-source-6.12.tar.xz")).as_deref(),
            Some("linux-source-6.12")
        );
        assert_eq!(source_package(Path::new("/tmp/mine.tar.xz")), None);
    }
}
