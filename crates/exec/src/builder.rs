//! What a run builds and boots, by kernel mode: the tree the series is applied in, how a prefix is
//! built, which kernel image boots, which modules go into the guest, and which objects symbolise
//! its traces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_core::job::{KernelConfig, KernelSpec};
use harness_core::series::Series;

use crate::kernel::{self, BuiltModule};
use crate::ktree::{self, KernelTree};
use crate::proc::Procs;
use crate::tree::{SourceTree, WorkTree};
use crate::{ExecError, Result};

pub enum Kernel {
    Distro {
        release: String,
        /// What QEMU boots: Debian's kernel, unpacked once ([`crate::vmlinux::bootable`]).
        boot: PathBuf,
        tree: SourceTree,
        base: String,
        /// The series touches `net/ceph` or `include/linux/ceph`: rebuild libceph too.
        libceph: bool,
        /// The series' trust domain ([`crate::sandbox::trust_domain`]).
        domain: String,
    },
    Tree {
        tree: KernelTree,
        config: KernelConfig,
        build_dir: PathBuf,
        domain: String,
    },
}

/// One built prefix.
pub struct Built {
    pub ok: bool,
    pub seconds: f64,
    pub error_excerpt: Option<String>,
    /// The kernel image the guest boots.
    pub boot: PathBuf,
    /// Modules under test, in load order (distro-module mode).
    pub modules: Vec<BuiltModule>,
    /// Debug info for the kernel image itself (tree mode).
    pub vmlinux: Option<PathBuf>,
}

impl Built {
    /// A prefix a boot unit does not build (it builds only the one it boots).
    pub fn not_built() -> Built {
        Built {
            ok: false,
            seconds: 0.0,
            error_excerpt: Some("not built: a boot unit builds its own prefix only".into()),
            boot: PathBuf::new(),
            modules: Vec::new(),
            vmlinux: None,
        }
    }
}

impl Kernel {
    /// Open (or create) the tree for `spec` and derive the base. Tree mode needs `spec`'s tree.
    pub async fn open(
        procs: &Procs,
        cache: &Path,
        spec: &KernelSpec,
        series: &Series,
    ) -> Result<Kernel> {
        let mails: Vec<&[u8]> = series.patches.iter().map(|p| p.raw.as_slice()).collect();
        let domain = crate::sandbox::trust_domain(&mails);
        match spec {
            KernelSpec::DistroModule {
                release,
                source,
                base_patches,
            } => {
                let tree = SourceTree::open(procs, cache, source).await?;
                let base = tree.base(base_patches).await?;
                let libceph = harness_core::modules::module_scope(series).libceph;
                let boot = crate::vmlinux::bootable(
                    procs,
                    cache,
                    Path::new(&format!("/boot/vmlinuz-{release}")),
                )
                .await;
                Ok(Kernel::Distro {
                    release: release.clone(),
                    boot,
                    tree,
                    base,
                    libceph,
                    domain,
                })
            }
            KernelSpec::Tree { tree, base, config } => {
                let Some(repo) = tree else {
                    return Err(ExecError::Other(
                        "tree mode needs a kernel git tree: give --tree PATH".into(),
                    ));
                };
                let kt = KernelTree::open(
                    procs,
                    cache,
                    repo,
                    base.as_deref(),
                    series.base_commit.as_deref(),
                )
                .await?;
                let build_dir = ktree::build_dir(cache, &kt.base, config, &domain)?;
                Ok(Kernel::Tree {
                    tree: kt,
                    config: config.clone(),
                    build_dir,
                    domain,
                })
            }
        }
    }

    pub fn work(&self) -> &WorkTree {
        match self {
            Kernel::Distro { tree, .. } => tree,
            Kernel::Tree { tree, .. } => tree,
        }
    }

    /// The ccache of this series' trust domain: its objects never feed another series' build.
    pub fn ccache_dir(&self, cache: &Path) -> PathBuf {
        let (Kernel::Distro { domain, .. } | Kernel::Tree { domain, .. }) = self;
        cache.join("ccache").join(domain)
    }

    /// Where prefix `k` is compiled through, and the shared cache it may use: in distro-module
    /// mode the base (prefix 0: the distribution's source and the job's base patch, no code of
    /// the series) fills the shared `base` cache, and every other prefix writes its series' own
    /// ccache while reading the shared one. Tree mode keeps one cache per series.
    pub fn ccaches(&self, cache: &Path, k: usize) -> (PathBuf, Option<kernel::SharedCcache>) {
        let dir = cache.join("ccache").join("shared-base");
        match self {
            Kernel::Distro { .. } => (
                self.ccache_dir(cache),
                Some(kernel::SharedCcache {
                    dir,
                    writable: k == 0,
                }),
            ),
            Kernel::Tree { .. } => (self.ccache_dir(cache), None),
        }
    }

    pub fn base(&self) -> &str {
        match self {
            Kernel::Distro { base, .. } => base,
            Kernel::Tree { tree, .. } => &tree.base,
        }
    }

    /// One line on what is built, for progress.
    pub fn describe(&self) -> String {
        match self {
            Kernel::Distro {
                release, libceph, ..
            } => format!(
                "{} against {release} headers",
                if *libceph {
                    "libceph + ceph modules"
                } else {
                    "fs/ceph module"
                }
            ),
            Kernel::Tree { build_dir, .. } => {
                format!("bzImage, out of tree in {}", build_dir.display())
            }
        }
    }

    /// Where the series applies, for progress.
    pub fn describe_base(&self) -> String {
        match self {
            Kernel::Distro { tree, .. } => format!("{} at {}", tree.version, tree.dir.display()),
            Kernel::Tree { tree, .. } => format!(
                "{} at {} (worktree {})",
                tree.repo.display(),
                tree.base_note,
                tree.dir.display()
            ),
        }
    }

    /// Prepare the build directory (tree mode: configure once per base and config). Returns
    /// notes worth showing (fragment lines that did not take effect).
    pub async fn prepare(&self, procs: &Procs, log: &Path, ccache: &Path) -> Result<Vec<String>> {
        let Kernel::Tree {
            tree,
            config,
            build_dir,
            ..
        } = self
        else {
            return Ok(Vec::new());
        };
        tree.checkout(&tree.base).await?;
        let mut text = String::new();
        let r = ktree::configure(procs, &tree.dir, build_dir, config, ccache, &mut text).await;
        crate::write(log, &text)?;
        r
    }

    /// Build the checked-out prefix `k`; its outputs go to `out` (scratch) and `keep` (artifacts).
    #[allow(clippy::too_many_arguments)]
    pub async fn build(
        &self,
        procs: &Procs,
        out: &Path,
        keep: &Path,
        log: &Path,
        ccache: &Path,
        shared: Option<&kernel::SharedCcache>,
        timeout: Duration,
        want_debug: bool,
    ) -> Result<Built> {
        match self {
            Kernel::Distro {
                release,
                boot,
                tree,
                libceph,
                ..
            } => {
                let b = kernel::build_modules(
                    procs, release, &tree.dir, *libceph, out, log, ccache, shared, timeout,
                )
                .await?;
                Ok(Built {
                    ok: b.ok,
                    seconds: b.seconds,
                    error_excerpt: b.error_excerpt,
                    boot: boot.clone(),
                    modules: b.modules,
                    vmlinux: None,
                })
            }
            Kernel::Tree {
                tree, build_dir, ..
            } => {
                std::fs::create_dir_all(out).map_err(|e| ExecError::io(out, e))?;
                let vmlinux = out.join("vmlinux");
                let b = ktree::build(
                    procs,
                    &tree.dir,
                    build_dir,
                    keep,
                    want_debug.then_some(vmlinux.as_path()),
                    log,
                    ccache,
                    timeout,
                )
                .await?;
                Ok(Built {
                    ok: b.ok,
                    seconds: b.seconds,
                    error_excerpt: b.error_excerpt,
                    boot: b.bzimage.unwrap_or_default(),
                    modules: Vec::new(),
                    vmlinux: b.vmlinux,
                })
            }
        }
    }

    /// Directory prefixes to strip from symbolised paths (so traces read `fs/ceph/caps.c:123`).
    pub fn source_roots(&self) -> Vec<PathBuf> {
        match self {
            Kernel::Distro { tree, .. } => vec![tree.dir.clone()],
            Kernel::Tree {
                tree, build_dir, ..
            } => vec![tree.dir.clone(), build_dir.clone()],
        }
    }
}
