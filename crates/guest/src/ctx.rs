//! What every workload uses: protocol output, the operation counter the watchdog reads, findings,
//! CephFS mounts, deterministic file contents and their verification, a cache dropper.

use std::ffi::CString;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use harness_proto::{Msg, Plan, WorkloadPlan};

static OUT: Mutex<()> = Mutex::new(());
/// This boot's workspace (from the kernel command line), and whether it exists yet.
static WORKSPACE: OnceLock<Option<String>> = OnceLock::new();
static WORKSPACE_MADE: AtomicBool = AtomicBool::new(false);

/// The boot's name the host put on the kernel command line (`harness.boot=NAME`): every boot works
/// in a directory of its own, so nothing an earlier (crashed, hung) boot left is in its way.
fn boot_name() -> Option<String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
    harness_proto::boot_name(&cmdline).map(str::to_string)
}

/// One protocol line on the console, in one write.
pub fn emit(m: &Msg) {
    let mut line = harness_proto::encode(m);
    line.push('\n');
    let _g = OUT.lock();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

pub fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// State the watchdog shares with the workloads.
#[derive(Default)]
pub struct Shared {
    pub ops: AtomicU64,
    pub workload: Mutex<String>,
}

pub struct Ctx {
    pub mon: String,
    pub key: String,
    /// The file system to mount (the plan's `fs`).
    pub fs: Option<String>,
    pub seed: u64,
    pub name: String,
    /// Steps past this one are not run (`WorkloadPlan::through_step`).
    through_step: Option<u64>,
    shared: Arc<Shared>,
    ops: AtomicU64,
    failed: AtomicBool,
    findings: AtomicU64,
}

/// Findings per workload beyond this are counted, not printed.
const MAX_FINDINGS: u64 = 20;

impl Ctx {
    pub fn new(plan: &Plan, w: &WorkloadPlan, shared: Arc<Shared>) -> Ctx {
        Ctx {
            mon: plan.mon.clone(),
            key: plan.key.clone(),
            fs: plan.fs.clone(),
            seed: w.seed,
            name: w.name.clone(),
            through_step: w.through_step,
            shared,
            ops: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            findings: AtomicU64::new(0),
        }
    }

    /// A stepped workload is about to begin its step `n` (1-based: a cycle, a round): `false`
    /// when the plan ends the workload before it (a bisection boot cut after the step its
    /// signature showed in), else the host is told, so that what the console shows from now on
    /// is this step's.
    pub fn step(&self, n: u64) -> bool {
        if self.through_step.is_some_and(|last| n > last) {
            return false;
        }
        emit(&Msg::Step {
            workload: self.name.clone(),
            step: n,
        });
        true
    }

    /// Count `n` operations done (the watchdog sees progress).
    pub fn op(&self, n: u64) {
        self.ops.fetch_add(n, Ordering::Relaxed);
        self.shared.ops.fetch_add(n, Ordering::Relaxed);
    }

    /// Progress the watchdog sees without counting as an operation (a tool's output lines).
    pub fn progress(&self) {
        self.shared.ops.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Workload trouble: reported at once, fails the workload.
    pub fn finding(&self, title: impl Into<String>, detail: impl Into<String>) {
        self.failed.store(true, Ordering::Relaxed);
        if self.findings.fetch_add(1, Ordering::Relaxed) < MAX_FINDINGS {
            emit(&Msg::Finding {
                workload: self.name.clone(),
                title: title.into(),
                detail: detail.into(),
            });
        }
    }

    /// Trouble that is a result of its own and must never be counted away (a failing fstests
    /// test: each is a signature): reported however many came before, fails the workload.
    pub fn finding_always(&self, title: impl Into<String>, detail: impl Into<String>) {
        self.failed.store(true, Ordering::Relaxed);
        emit(&Msg::Finding {
            workload: self.name.clone(),
            title: title.into(),
            detail: detail.into(),
        });
    }

    /// `Err` results become findings titled `what` (the error is the detail); the value, if any.
    pub fn check<T>(&self, what: &str, r: std::io::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.finding(what.to_string(), e.to_string());
                None
            }
        }
    }

    fn mount_opts(&self, extra: &str) -> String {
        harness_proto::mount_options(&self.key, self.fs.as_deref(), extra)
    }

    /// Mount the file system at `target`, retrying for a minute (the first mount can race the
    /// MDS becoming active). `extra` mount options, e.g. `noshare` for a second client.
    pub fn mount(&self, target: &str, extra: &str) -> bool {
        let _ = std::fs::create_dir_all(target);
        let Some(ws) = self.workspace(target) else {
            return false;
        };
        self.mount_path(target, extra, &ws)
    }

    /// This boot's directory in the file system (`/` when the host named none), created on the
    /// first call with a mount of the root at `target`.
    pub fn workspace_dir(&self, target: &str) -> Option<String> {
        self.workspace(target)
    }

    fn workspace(&self, target: &str) -> Option<String> {
        let Some(name) = WORKSPACE.get_or_init(boot_name) else {
            return Some("/".into());
        };
        let dir = format!("/{name}");
        if !WORKSPACE_MADE.load(Ordering::Relaxed) {
            if !self.mount_path(target, "", "/") {
                return None;
            }
            let made = std::fs::create_dir_all(Path::new(target).join(name));
            self.umount(target, false);
            self.check(&format!("mkdir {dir} failed"), made)?;
            WORKSPACE_MADE.store(true, Ordering::Relaxed);
        }
        Some(dir)
    }

    fn mount_path(&self, target: &str, extra: &str, path: &str) -> bool {
        let src = c(&format!("{}:{path}", self.mon));
        let tgt = c(target);
        let fstype = c("ceph");
        let data = c(&self.mount_opts(extra));
        let mut last = String::new();
        for _ in 0..60 {
            let r = unsafe {
                libc::mount(
                    src.as_ptr(),
                    tgt.as_ptr(),
                    fstype.as_ptr(),
                    0,
                    data.as_ptr().cast(),
                )
            };
            if r == 0 {
                self.op(1);
                return true;
            }
            last = std::io::Error::last_os_error().to_string();
            std::thread::sleep(Duration::from_secs(1));
        }
        self.finding(format!("mount failed: {last}"), target.to_string());
        false
    }

    /// Unmount; with `lazy`, detach (`umount -l`). A plain unmount that fails is a finding, and
    /// the mount is then detached so the workload can go on.
    pub fn umount(&self, target: &str, lazy: bool) -> bool {
        let t = c(target);
        let flags = if lazy { libc::MNT_DETACH } else { 0 };
        let r = unsafe { libc::umount2(t.as_ptr(), flags) };
        self.op(1);
        if r == 0 {
            return true;
        }
        let e = std::io::Error::last_os_error();
        self.finding(format!("umount failed: {e}"), target.to_string());
        unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
        false
    }

    /// `ceph.quota.max_bytes` on a directory (a quota realm).
    pub fn set_quota(&self, dir: &Path, bytes: u64) {
        let path = c(&dir.to_string_lossy());
        let name = c("ceph.quota.max_bytes");
        let value = bytes.to_string();
        let r = unsafe {
            libc::setxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if r != 0 {
            self.finding(
                "setting a quota failed",
                std::io::Error::last_os_error().to_string(),
            );
        }
        self.op(1);
    }

    /// A generator for this workload's seed and `stream` (reproducible from the seed).
    pub fn rng(&self, stream: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(mix(self.seed, stream))
    }

    /// Write `content(seed, tag, len)` to `path` (created or truncated).
    pub fn write_file(&self, path: &Path, tag: &str, len: usize) -> bool {
        let data = content(self.seed, tag, len);
        let ok = self
            .check(
                &format!("write {} failed", short(path)),
                std::fs::write(path, &data),
            )
            .is_some();
        self.op(1);
        ok
    }

    /// Compare `path` with `content(seed, tag, len)`; a difference is a finding.
    pub fn verify_file(&self, path: &Path, tag: &str, len: usize) -> bool {
        let want = content(self.seed, tag, len);
        self.op(1);
        match std::fs::read(path) {
            Ok(got) if got == want => true,
            Ok(got) => {
                let at = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                self.finding(
                    "data mismatch after remount",
                    format!(
                        "{}: {} bytes, want {}; first difference at byte {at}",
                        short(path),
                        got.len(),
                        want.len()
                    ),
                );
                false
            }
            Err(e) => {
                self.finding(
                    "data missing after remount",
                    format!("{}: {e}", short(path)),
                );
                false
            }
        }
    }
}

/// Deterministic contents: a header naming the seed and tag, then pseudo-random text.
pub fn content(seed: u64, tag: &str, len: usize) -> Vec<u8> {
    let mut v = format!("seed {seed} {tag}\n").into_bytes();
    let mut r = fastrand::Rng::with_seed(mix(seed, hash(tag)));
    while v.len() < len {
        v.push(r.u8(b'a'..=b'z'));
    }
    v.truncate(len.max(1));
    v
}

pub fn hash(s: &str) -> u64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn short(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in paths and options")
}

/// Drops dentries and inodes (2) or everything (3) every `period` until stopped.
pub struct Dropper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dropper {
    pub fn start(ctx_seed: u64, period: Duration) -> Dropper {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut r = fastrand::Rng::with_seed(ctx_seed);
            while !s.load(Ordering::Relaxed) {
                let _ =
                    std::fs::write("/proc/sys/vm/drop_caches", if r.bool() { "2" } else { "3" });
                std::thread::sleep(period);
            }
        });
        Dropper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Dropper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `rm -rf`, counting nothing and reporting nothing (clean-up between phases).
pub fn remove_all(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}

/// The kernel log from now on (`/dev/kmsg`, non-blocking).
pub struct Kmsg {
    file: Option<std::fs::File>,
}

impl Kmsg {
    pub fn open() -> Kmsg {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok();
        if let Some(f) = &file {
            use std::os::fd::AsRawFd;
            unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END) };
        }
        Kmsg { file }
    }

    /// Has a record containing `text` arrived since the last call?
    pub fn saw(&mut self, text: &str) -> bool {
        let Some(f) = self.file.as_mut() else {
            return false;
        };
        let mut buf = vec![0u8; 8192];
        let mut found = false;
        // One record per read; EAGAIN when none is left.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            found |= String::from_utf8_lossy(&buf[..n]).contains(text);
        }
        found
    }
}
