//! Which CephFS code distro-module mode rebuilds: the directories, the modules built from them,
//! and what of a series falls inside or outside them. One place for these facts.

/// Directories distro-module mode rebuilds (and the distro source tree keeps); a series touching
/// code elsewhere needs tree mode.
pub const MODULE_DIRS: &[&str] = &["fs/ceph/", "net/ceph/", "include/linux/ceph/"];
/// The modules built from those directories: (directory, module).
pub const MODULES: &[(&str, &str)] = &[("fs/ceph/", "ceph"), ("net/ceph/", "libceph")];
/// Directories whose change means libceph is rebuilt too.
pub const LIBCEPH_DIRS: &[&str] = &["net/ceph/", "include/linux/ceph/"];

/// Which parts of the kernel a series touches, as distro-module mode sees them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleScope {
    /// Some patch touches `net/ceph` or `include/linux/ceph`: libceph is rebuilt too.
    pub libceph: bool,
    /// (patch number 1-based, path) of code outside [`MODULE_DIRS`]: needs tree mode.
    pub outside: Vec<(usize, String)>,
    /// (patch number, path) of files that are not built (documentation): applied, not built.
    pub unbuilt: Vec<(usize, String)>,
}

/// Files a kernel build never reads: they may change anywhere.
fn is_unbuilt(path: &str) -> bool {
    path.starts_with("Documentation/")
        || path.starts_with("tools/")
        || matches!(path, "MAINTAINERS" | "CREDITS" | ".mailmap")
}

pub fn module_scope(series: &crate::series::Series) -> ModuleScope {
    let mut scope = ModuleScope::default();
    for (i, p) in series.patches.iter().enumerate() {
        for f in &p.files {
            for path in std::iter::once(&f.path).chain(f.old_path.iter()) {
                if LIBCEPH_DIRS.iter().any(|d| path.starts_with(d)) {
                    scope.libceph = true;
                } else if MODULE_DIRS.iter().any(|d| path.starts_with(d)) {
                } else if is_unbuilt(path) {
                    scope.unbuilt.push((i + 1, path.clone()));
                } else {
                    scope.outside.push((i + 1, path.clone()));
                }
            }
        }
    }
    scope
}

/// The source directories whose code a run tests: the CephFS client's (`fs/ceph/`, `net/ceph/`)
/// and every directory the series touches. A crash with no frame there (and none in a rebuilt
/// module) happened outside the code under test.
pub fn under_test_dirs(series: &crate::series::Series) -> Vec<String> {
    let mut dirs: Vec<String> = MODULE_DIRS.iter().map(|d| d.to_string()).collect();
    for f in series.patches.iter().flat_map(|p| p.files.iter()) {
        if let Some((dir, _)) = f.path.rsplit_once('/') {
            let d = format!("{dir}/");
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}
