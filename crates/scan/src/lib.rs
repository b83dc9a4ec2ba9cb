//! Streaming console scanner: turns a guest's serial console into [`Finding`]s.
//!
//! The crate is pure: no files, no processes, no clock. The executor hands it console lines one at a
//! time ([`Scanner::feed`]) or a whole captured console ([`scan_text`]) and gets back findings, each
//! with a normalised, syzbot-style title that is stable across runs (no addresses, pids, CPU numbers,
//! timestamps, offsets, process names or durations), so that the same bug groups together.
//!
//! # Console format
//!
//! The host writes each console line as `[+%9.3f] <guest line>` ([`strip_host_prefix`]). A guest line
//! printed by the kernel starts with the printk timestamp `[    3.987654] ` (CONFIG_PRINTK_TIME=y);
//! lines written by user space have none. Matching always looks at the text after the printk
//! timestamp (the *body*); excerpts keep the guest lines as fed.
//!
//! # How a report is followed
//!
//! A *header* line (`WARNING: CPU: ...`, `BUG: ...`, `INFO: task ... blocked`, ...) opens a finding.
//! The lines after it are collected into the excerpt until the report ends:
//!
//! * at its end marker: `---[ end trace ... ]---` (WARN, BUG, Oops, GPF), `---[ end Kernel panic`
//!   (panic), the closing `=====` line (KASAN, UBSAN), or `</TASK>` (hung task, soft lockup, RCU
//!   stall, lockdep and other dump_stack() reports);
//! * at a line that is clearly not part of it, for reports that have no end marker (or whose end
//!   marker is overdue: after the trace's `</TASK>`): user-space output, a blank line, known noise,
//!   or a kernel line that does not look like report output;
//! * at the next header: a new report ends the previous one (except where the kernel really prints
//!   two header lines for one report, e.g. `BUG: kernel NULL pointer dereference` + `Oops: ...`, or
//!   `refcount_t: underflow` + `WARNING: ...`, which are merged);
//! * at a line limit ([`MAX_EXCERPT_LINES`]).
//!
//! While a report that has an end marker is being collected, user-space lines and known noise are
//! skipped (left out of the excerpt) rather than ending it: several CPUs and user space share one
//! console, and an interleaved line must not cost the report its title. Interleaved kernel lines
//! from other CPUs are kept in the excerpt (they cannot be told apart reliably); the line limit
//! bounds the damage.
//!
//! Single-line findings (`VFS: Busy inodes ...`, `HARNESS-FINDING: ...`) are reported at once and do
//! not disturb a report being collected.

pub mod frames;

use std::sync::LazyLock;

use harness_core::{Finding, FindingKind};
use regex::{Regex, RegexSet};

/// Most lines kept in one excerpt (header included). KASAN and lockdep reports are longer than
/// the others, so they get [`MAX_EXCERPT_LINES_LONG`].
pub const MAX_EXCERPT_LINES: usize = 60;
/// Line limit for KASAN and lockdep reports, whose title-relevant part still fits but which are
/// routinely 70-120 lines long.
pub const MAX_EXCERPT_LINES_LONG: usize = 100;
/// How many lines a bare `------------[ cut here ]------------` waits for its WARNING / BUG line
/// (a WARN() message may sit in between) before it is dropped.
const MAX_PRELUDE_LINES: usize = 10;
/// Skipped (user-space, noise) lines count too, but more loosely: a report whose end never comes
/// is closed after this many times its line limit of console lines.
const SEEN_FACTOR: usize = 4;
/// Frames remembered per finding; titles only ever need the first interesting one.
const MAX_FRAMES: usize = 64;

/// The guest protocol: a workload that detects a failure prints this prefix and a one-line title.
pub const WORKLOAD_PREFIX: &str = "HARNESS-FINDING: ";

// ---------------------------------------------------------------------------------------------
// Noise
// ---------------------------------------------------------------------------------------------

/// Known harmless console noise of TCG guests and of the test setup. Regexes, matched against the
/// line body (printk timestamp removed, so `^` anchors at the message). A noise line never opens a
/// finding and is left out of an excerpt being collected.
pub const NOISE_PATTERNS: &[&str] = &[
    // TCG vCPUs do not get identical MTRR setups from SeaBIOS; the kernel just reports it at boot.
    r"mtrr: your CPUs had inconsistent",
    // i440FX has no PCIe MMCONFIG (ECAM); the kernel falls back to type-1 config space access.
    r"fail to add MMCONFIG",
    // TCG's TSC is not stable, so ftrace switches its trace clock at boot.
    r"Unstable clock detected",
    // The clocksource watchdog sees large TSC/HPET skew under TCG (emulation is slow and bursty);
    // it switches clocksource and prints several `clocksource:` lines.
    r"^clocksource: ",
    r"^tsc: Marking TSC unstable",
    // TCG is slow: timing complaints from hrtimer/perf/RT throttling/workqueue are not kernel bugs.
    r"^hrtimer: interrupt took \d+ ns",
    r"^perf: interrupt took too long",
    r"^sched: RT throttling activated",
    r"^workqueue: .* hogged CPU for",
    // Mitigation notice on emulated CPU models; it contains "WARNING:" but is informational.
    r"^RETBleed: WARNING:",
    // libceph connection chatter while the test cluster is still starting (or restarting a daemon
    // on purpose): the client retries; real trouble shows up as a hang or a workload failure.
    r"^libceph: .*\bsocket (?:error|closed)\b",
    r"^libceph: .*\bconnect\b.*\berror\b",
    // The ceph/libceph modules under test are built out of tree and unsigned, which taints the
    // kernel (and changes the Tainted: flags in later reports) but is expected.
    r"^\w+: loading out-of-tree module taints kernel",
    r"module verification failed: signature and/or required key missing",
];

static NOISE_SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(NOISE_PATTERNS).expect("noise patterns compile"));

/// Is this console line known harmless noise (see [`NOISE_PATTERNS`])? Accepts the line with or
/// without its printk timestamp.
pub fn is_noise(line: &str) -> bool {
    let (_, body) = strip_printk_time(line);
    NOISE_SET.is_match(body)
}

// ---------------------------------------------------------------------------------------------
// Prefix and timestamp handling
// ---------------------------------------------------------------------------------------------

/// Split the host's `[+%9.3f] ` prefix off a console line: `"[+   12.345] rest"` →
/// `(Some(12.345), "rest")`. A line without the prefix is returned whole with `None`.
pub fn strip_host_prefix(line: &str) -> (Option<f64>, &str) {
    let Some(rest) = line.strip_prefix("[+") else {
        return (None, line);
    };
    let Some(close) = rest.find(']') else {
        return (None, line);
    };
    match rest[..close].trim().parse::<f64>() {
        Ok(t) => {
            let after = &rest[close + 1..];
            (Some(t), after.strip_prefix(' ').unwrap_or(after))
        }
        Err(_) => (None, line),
    }
}

/// Split the kernel's printk timestamp (`[    3.987654] `, optionally followed by a
/// CONFIG_PRINTK_CALLER tag `[T123] `) off a guest line. Returns whether there was one, and the
/// body. Exactly one space after the `]` is removed, so trace frames keep their indentation.
/// Hand-written rather than a regex: it runs on every console line.
pub fn strip_printk_time(line: &str) -> (bool, &str) {
    /// If `s` starts with `[inner]` and `accept(inner)`, the text after `] ` (one space removed).
    fn bracket(s: &str, accept: fn(&[u8]) -> bool) -> Option<&str> {
        let rest = s.strip_prefix('[')?;
        let close = rest.find(']')?;
        if !accept(&rest.as_bytes()[..close]) {
            return None;
        }
        let after = &rest[close + 1..];
        Some(after.strip_prefix(' ').unwrap_or(after))
    }
    /// `    3.987654`: optional leading spaces, digits, a dot, digits.
    fn is_time(inner: &[u8]) -> bool {
        let start = inner.iter().position(|c| *c != b' ').unwrap_or(inner.len());
        let t = &inner[start..];
        match t.iter().position(|c| *c == b'.') {
            Some(d) => {
                d > 0
                    && d + 1 < t.len()
                    && t[..d].iter().all(u8::is_ascii_digit)
                    && t[d + 1..].iter().all(u8::is_ascii_digit)
            }
            None => false,
        }
    }
    /// `T123` / `C1`, possibly space-padded.
    fn is_caller(inner: &[u8]) -> bool {
        let start = inner.iter().position(|c| *c != b' ').unwrap_or(inner.len());
        let t = &inner[start..];
        t.len() >= 2 && matches!(t[0], b'T' | b'C') && t[1..].iter().all(u8::is_ascii_digit)
    }
    match bracket(line, is_time) {
        Some(body) => (true, bracket(body, is_caller).unwrap_or(body)),
        None => (false, line),
    }
}

// ---------------------------------------------------------------------------------------------
// Function names
// ---------------------------------------------------------------------------------------------

/// A symbol as the kernel prints it (`name+0xoff/0xsize [module]`), captured up to the `+`.
const SYM: &str = r"([A-Za-z_$.][\w.$]*)\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+";

static SUFFIX_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.(?:isra|constprop|part|cold|llvm|lto_priv|localalias)(?:\.\d+)?$").unwrap()
});

/// Normalise a kernel symbol for a title: drop `+0x../0x..`, the `[module]` tag and compiler clone
/// suffixes (`.isra.0`, `.constprop.0`, `.part.0`, `.cold`, ...), which vary between builds.
/// `ceph_unlink+0x4a/0x1f0 [ceph]` → `ceph_unlink`.
pub fn normalize_function(sym: &str) -> String {
    let sym = sym.trim();
    let end = sym
        .find(|c: char| c == '+' || c.is_whitespace())
        .unwrap_or(sym.len());
    let mut name = &sym[..end];
    while let Some(m) = SUFFIX_RE.find(name) {
        if m.start() == 0 {
            break;
        }
        name = &name[..m.start()];
    }
    name.to_string()
}

/// Frames that say nothing about *which* code is in trouble: reporting machinery, scheduler,
/// sleeping/locking/wait primitives, interrupt and syscall plumbing, sanitizer and checker
/// internals. A title names the first frame not matched by these (anchored regexes, on the
/// normalised name).
pub const UNINTERESTING_FRAMES: &[&str] = &[
    // scheduler and sleeping
    r"__schedule|schedule|schedule_timeout.*|schedule_preempt_disabled|schedule_hrtimeout.*|io_schedule.*",
    // sleep helpers: the caller is the one that chose to sleep
    r"msleep|msleep_interruptible|ssleep|usleep_range.*|fsleep|__udelay|__const_udelay|delay_tsc|delay_halt.*",
    r"preempt_schedule.*|_?_cond_resched|__might_resched|__might_sleep|___might_sleep|__might_fault|might_fault|__schedule_bug",
    // sleeping locks
    r"__mutex_lock.*|mutex_lock.*|__mutex_.*|__ww_mutex_lock.*|ww_mutex_lock.*",
    r"rwsem_down_.*|down_read.*|down_write.*|__down.*|down|down_interruptible|down_killable|down_timeout",
    r"percpu_rwsem_wait|__percpu_down_read|percpu_down_write|__percpu_rwsem_.*",
    // waiting
    r"_?_?wait_for_completion.*|__wait_.*|wait_on_.*|out_of_line_wait_on_bit.*|bit_wait.*|wait_woken|wait_var_event.*|prepare_to_wait.*|finish_wait",
    r"__flush_work|flush_work|__flush_workqueue|flush_workqueue|drain_workqueue",
    r"__folio_lock.*|folio_wait_bit.*|folio_wait_.*|__lock_page.*|wait_on_page_bit.*",
    // spinlocks
    r"_raw_spin_lock.*|_raw_read_lock.*|_raw_write_lock.*|do_raw_spin_lock|do_raw_read_lock|do_raw_write_lock",
    r"native_queued_spin_lock_slowpath|queued_spin_lock_slowpath|__pv_queued_spin_lock_slowpath|queued_read_lock_slowpath|queued_write_lock_slowpath",
    // lockdep
    r"lock_acquire|lock_release|__lock_acquire|lock_acquired|lock_contended|lockdep_.*|check_noncircular|check_prev_add|check_prevs_add|validate_chain|mark_lock.*|print_circular_bug.*|print_usage_bug.*|debug_check_no_locks.*",
    // stack dumping and the WARN/BUG/oops machinery
    r"dump_stack.*|show_stack|show_regs|__show_regs|show_trace_log_lvl|show_stack_regs|__warn|warn_slowpath.*|__warn_printk|report_bug|handle_bug|exc_invalid_op|asm_exc_.*|exc_page_fault|do_user_addr_fault|handle_page_fault|page_fault_oops|kernelmode_fixup_or_oops|__bad_area.*|bad_area.*|no_context|die|die_addr|__die.*|oops_.*|panic|do_trap|do_error_trap|exc_general_protection|fixup_exception",
    // sanitizers and checkers
    r"kasan_.*|__kasan_.*|__asan_.*|check_memory_region.*|print_report|print_address_description.*|report_.*_free|ubsan_.*|__ubsan_handle_.*",
    r"refcount_.*|__refcount_.*|__list_add_valid.*|__list_del_entry_valid.*|__list_add|__list_del_entry|lockdep_rcu_suspicious",
    // string/memory helpers a sanitizer report may start in
    r"memcpy|memset|memmove|__memcpy|__memset|__memmove|memcmp|strlen|strnlen|strcmp|strncmp|strcpy|strscpy|copy_user_.*|_copy_to_user|_copy_from_user|copy_to_user.*|copy_from_user.*|kfree|kmem_cache_free|__kmem_cache_free|slab_free.*|kmalloc.*|__kmalloc.*",
    // stall/lockup reporting and the timer interrupt that drives it
    r"nmi_.*|arch_trigger_cpumask_backtrace|trigger_.*backtrace|rcu_dump_cpu_stacks|rcu_sched_clock_irq|print_cpu_stall.*|print_other_cpu_stall.*|check_cpu_stall|rcu_pending|watchdog_timer_fn|update_process_times|tick_.*|hrtimer_.*|__hrtimer_.*|__sysvec_.*|sysvec_.*|asm_sysvec_.*|asm_common_interrupt|common_interrupt|irq_exit.*|__irq_exit.*|__do_softirq|do_softirq.*|__softirqentry_text_start|run_timer_softirq|call_timer_fn|__run_timers",
    // entry points and thread plumbing (never the culprit; they only appear at a trace's bottom)
    r"entry_SYSCALL_64.*|do_syscall_64|syscall_exit_.*|exit_to_user_mode.*|ret_from_fork.*|kthread|worker_thread|process_one_work|smpboot_thread_fn|rescuer_thread",
];

/// Waits that a final `iput()` in the wrong context turns into a self-deadlock (the 2025 CephFS
/// reports): `evict()` waiting for writeback the calling worker itself is doing, or for I/O whose
/// completion the calling messenger worker itself must receive; and the other side, a lookup
/// waiting for an inode being freed.
pub const DEADLOCK_WAITS: &[&str] = &[
    "inode_wait_for_writeback",
    "netfs_wait_for_outstanding_io",
    "wait_on_freeing_inode",
];

/// CephFS helpers between a wait and the code that chose to wait: not the caller a title names.
const DEADLOCK_HELPERS: &[&str] = &["ceph_find_inode", "ceph_get_inode", "ceph_evict_inode"];

/// A precise, stable title for a task blocked in one of [`DEADLOCK_WAITS`]: the wait (leading
/// underscores dropped) and the CephFS function it was reached from (after `evict`, for the
/// evict waits), e.g. `INFO: task hung in inode_wait_for_writeback (from
/// ceph_put_wrbuffer_cap_refs)`. `frames`: the reliable call-trace frames, innermost first.
pub fn deadlock_title(frames: &[String]) -> Option<String> {
    let (at, wait) = frames.iter().enumerate().find_map(|(i, f)| {
        let bare = f.trim_start_matches('_');
        DEADLOCK_WAITS.iter().find(|w| bare == **w).map(|w| (i, *w))
    })?;
    let from = if wait == "wait_on_freeing_inode" {
        at
    } else {
        at + frames[at..].iter().position(|f| f == "evict")?
    };
    let caller = frames[from + 1..].iter().find(|f| {
        (f.starts_with("ceph_") || f.starts_with("netfs_"))
            && !DEADLOCK_HELPERS.contains(&f.as_str())
    });
    Some(match caller {
        Some(c) => format!("INFO: task hung in {wait} (from {c})"),
        None => format!("INFO: task hung in {wait}"),
    })
}

static UNINTERESTING_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alts: Vec<String> = UNINTERESTING_FRAMES
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect();
    Regex::new(&format!("^(?:{})$", alts.join("|"))).unwrap()
});

/// Is `func` (a normalised name) a frame titles skip? See [`UNINTERESTING_FRAMES`].
pub fn is_uninteresting_frame(func: &str) -> bool {
    UNINTERESTING_RE.is_match(func)
}

// ---------------------------------------------------------------------------------------------
// Header classification
// ---------------------------------------------------------------------------------------------

static WARNING_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^WARNING: CPU: \d+ PID: \d+ at (?:(\S+?):\d+ )?(?:{SYM})?"
    ))
    .unwrap()
});
static KERNEL_BUG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^kernel BUG at (\S+?)(?::\d+)?!").unwrap());
static KERNEL_BUG_SYM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^Kernel BUG at {SYM}")).unwrap());
/// x86 `__die_header()`: `Oops: 0000 [#1] ...`, `invalid opcode: 0000 [#1] ...`, `divide error: ...`
static DIE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z][\w ()-]*?): [0-9a-f]{4} \[#\d+\]").unwrap());
static HUNG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^INFO: task .* blocked for more than \d+ seconds").unwrap());
static SOFT_LOCKUP_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^watchdog: BUG: soft lockup\b").unwrap());
static RCU_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stall").unwrap()
});
static KASAN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^BUG: KASAN: ([\w-]+(?: or [\w-]+)?)(?: in (?:{SYM})?)?"
    ))
    .unwrap()
});
static UBSAN_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^UBSAN: ([\w-]+)(?: in (\S+?)(?::\d+)*)?\s*$").unwrap());
static BUSY_INODES_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^VFS: Busy inodes after unmount of ([^\s(]+)").unwrap());
static LIST_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^list_(?:add|del)(?: double add| corruption)").unwrap());

// Continuation lines the scanner reads for titles.
static RIP_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^RIP: [0-9a-f]{{4}}:{SYM}")).unwrap());
static FRAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^\s+(\?\s+)?{SYM}(?:\s+\[[^\]]*\])?\s*$")).unwrap());
static AT_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"\bat: {SYM}")).unwrap());

/// Which lines a lockdep-style report takes its title function from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FuncSource {
    /// The first `..., at: func+0x..` (the lock being taken / held), as syzbot does.
    At,
    /// The first interesting frame of the call trace.
    Trace,
}

/// A lockdep (or lockdep-like debug) report: its header, title prefix, where the title function
/// comes from, and whether it ends with a stack trace (`</TASK>`).
struct LockdepSpec {
    header: &'static str,
    title: &'static str,
    func: FuncSource,
    trace: bool,
}

const LOCKDEP: &[LockdepSpec] = &[
    LockdepSpec {
        header: "WARNING: possible circular locking dependency detected",
        title: "possible deadlock",
        func: FuncSource::At,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: possible recursive locking detected",
        title: "possible deadlock",
        func: FuncSource::At,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: possible irq lock inversion dependency detected",
        title: "possible deadlock",
        func: FuncSource::At,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: inconsistent lock state",
        title: "inconsistent lock state",
        func: FuncSource::At,
        trace: true,
    },
    LockdepSpec {
        header: "BUG: sleeping function called from invalid context",
        title: "BUG: sleeping function called from invalid context",
        func: FuncSource::Trace,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: suspicious RCU usage",
        title: "WARNING: suspicious RCU usage",
        func: FuncSource::Trace,
        trace: true,
    },
    LockdepSpec {
        header: "BUG: scheduling while atomic",
        title: "BUG: scheduling while atomic",
        func: FuncSource::Trace,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: lock held when returning to user space!",
        title: "WARNING: lock held when returning to user space",
        func: FuncSource::At,
        trace: false,
    },
    LockdepSpec {
        header: "WARNING: bad unlock balance detected!",
        title: "WARNING: bad unlock balance",
        func: FuncSource::Trace,
        trace: true,
    },
    LockdepSpec {
        header: "WARNING: held lock freed!",
        title: "WARNING: held lock freed",
        func: FuncSource::Trace,
        trace: true,
    },
];

/// `WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected`: one spec for all irq classes.
const LOCKDEP_IRQ_ORDER: LockdepSpec = LockdepSpec {
    header: "",
    title: "possible deadlock",
    func: FuncSource::At,
    trace: true,
};

/// What a header line announces.
#[derive(Debug, Clone)]
enum Header {
    /// `------------[ cut here ]------------`: a WARN/BUG follows (possibly after a WARN message).
    CutHere,
    /// `refcount_t: underflow; use-after-free.` (a WARNING block follows).
    Refcount,
    /// `list_add corruption. ...` / `list_del corruption. ...` (a WARNING or kernel BUG follows).
    ListCorruption,
    Warning {
        func: Option<String>,
        file: Option<String>,
    },
    KernelBug {
        file: Option<String>,
        func: Option<String>,
    },
    /// `BUG: kernel NULL pointer dereference` / `BUG: unable to handle page fault` / `... paging request`
    PageFault {
        what: &'static str,
    },
    /// x86 die header (`Oops: 0000 [#1]`, `invalid opcode: ...`); `what` is its lower-case name.
    Die {
        what: String,
    },
    Gpf,
    HungTask,
    SoftLockup,
    RcuStall,
    Panic {
        reason: String,
    },
    BusyInodes {
        fs: String,
    },
    Kasan {
        what: String,
        func: Option<String>,
    },
    Lockdep(&'static LockdepSpec),
    Ubsan {
        what: String,
        file: Option<String>,
    },
    Workload {
        title: String,
    },
    /// Any other `BUG: ...` line, title text already normalised.
    GenericBug {
        text: String,
    },
}

impl std::fmt::Debug for LockdepSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title)
    }
}

impl Header {
    /// Headers that a later WARNING/BUG line may still join (they carry no trace of their own yet).
    fn is_weak(&self) -> bool {
        matches!(
            self,
            Header::Refcount | Header::ListCorruption | Header::GenericBug { .. }
        )
    }
    /// Headers that make a report end with `---[ end trace ... ]---`.
    fn ends_with_end_trace(&self) -> bool {
        matches!(
            self,
            Header::Warning { .. }
                | Header::KernelBug { .. }
                | Header::PageFault { .. }
                | Header::Die { .. }
                | Header::Gpf
        )
    }
}

/// Classify a line body as a header, or `None`. Cheap `starts_with` checks guard every regex:
/// this runs on every console line.
fn classify(body: &str) -> Option<Header> {
    let first = *body.as_bytes().first()?;
    let cap_func = |c: Option<regex::Match>| c.map(|m| normalize_function(m.as_str()));
    match first {
        b'-' if body.starts_with("------------[ cut here ]") => return Some(Header::CutHere),
        b'W' if body.starts_with("WARNING: ") => {
            if let Some(c) = WARNING_RE.captures(body) {
                return Some(Header::Warning {
                    file: c.get(1).map(|m| m.as_str().to_string()),
                    func: cap_func(c.get(2)),
                });
            }
            if let Some(spec) = LOCKDEP.iter().find(|s| body.starts_with(s.header)) {
                return Some(Header::Lockdep(spec));
            }
            if body.contains("-safe -> ") && body.trim_end().ends_with("lock order detected") {
                return Some(Header::Lockdep(&LOCKDEP_IRQ_ORDER));
            }
        }
        b'k' if body.starts_with("kernel BUG at ") => {
            let file = KERNEL_BUG_RE.captures(body).map(|c| c[1].to_string());
            return Some(Header::KernelBug { file, func: None });
        }
        b'K' if body.starts_with("Kernel panic - not syncing:") => {
            let reason = body["Kernel panic - not syncing:".len()..].trim();
            return Some(Header::Panic {
                reason: normalize_panic_reason(reason),
            });
        }
        b'K' if body.starts_with("Kernel BUG at ") => {
            let func = KERNEL_BUG_SYM_RE
                .captures(body)
                .map(|c| normalize_function(&c[1]));
            return Some(Header::KernelBug { file: None, func });
        }
        b'B' if body.starts_with("BUG: ") => {
            if let Some(c) = KASAN_RE.captures(body) {
                return Some(Header::Kasan {
                    what: c[1].to_string(),
                    func: cap_func(c.get(2)),
                });
            }
            if body.starts_with("BUG: kernel NULL pointer dereference")
                || body.starts_with("BUG: unable to handle kernel NULL pointer dereference")
            {
                return Some(Header::PageFault {
                    what: "kernel NULL pointer dereference",
                });
            }
            if body.starts_with("BUG: unable to handle page fault") {
                return Some(Header::PageFault { what: "page fault" });
            }
            if body.starts_with("BUG: unable to handle kernel paging request") {
                return Some(Header::PageFault {
                    what: "kernel paging request",
                });
            }
            if let Some(spec) = LOCKDEP.iter().find(|s| body.starts_with(s.header)) {
                return Some(Header::Lockdep(spec));
            }
            return Some(Header::GenericBug {
                text: normalize_bug_text(&body[5..]),
            });
        }
        b'g' if body.starts_with("general protection fault") => return Some(Header::Gpf),
        b'I' if body.starts_with("INFO: ") => {
            if HUNG_RE.is_match(body) {
                return Some(Header::HungTask);
            }
            if RCU_RE.is_match(body) {
                return Some(Header::RcuStall);
            }
        }
        b'r' if body.starts_with("rcu: INFO: ") && RCU_RE.is_match(body) => {
            return Some(Header::RcuStall)
        }
        b'r' if body.starts_with("refcount_t: ") => return Some(Header::Refcount),
        b'w' if SOFT_LOCKUP_RE.is_match(body) => return Some(Header::SoftLockup),
        b'V' => {
            if let Some(c) = BUSY_INODES_RE.captures(body) {
                let fs = c[1].trim_end_matches(['.', ',', ';']).to_string();
                return Some(Header::BusyInodes { fs });
            }
        }
        b'l' if LIST_RE.is_match(body) => return Some(Header::ListCorruption),
        b'U' if body.starts_with("UBSAN: ") => {
            if let Some(c) = UBSAN_RE.captures(body) {
                return Some(Header::Ubsan {
                    what: c[1].to_string(),
                    file: c.get(2).map(|m| m.as_str().to_string()),
                });
            }
            let text = normalize_free_text(&body[7..]);
            return Some(Header::Ubsan {
                what: text,
                file: None,
            });
        }
        b'H' if body.starts_with(WORKLOAD_PREFIX) => {
            let title = body[WORKLOAD_PREFIX.len()..]
                .split_whitespace()
                .collect::<Vec<_>>();
            let title = if title.is_empty() {
                "workload finding".to_string()
            } else {
                title.join(" ")
            };
            return Some(Header::Workload { title });
        }
        _ => {}
    }
    // Die headers can start with any word; the ` [#N]` die counter is the cheap tell.
    if body.contains(" [#") {
        if let Some(c) = DIE_RE.captures(body) {
            return Some(Header::Die {
                what: c[1].trim().to_string(),
            });
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Free-text normalisation
// ---------------------------------------------------------------------------------------------

static FT_SYM_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(SYM).unwrap());
static FT_FILE_LINE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\.[A-Za-z]+)(?::\d+)+").unwrap());
static FT_ADDR_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{8,})\b").unwrap());

static FT_CPU_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b(cpu)\s?#?\d+\b").unwrap());
static FT_NUM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:\.\d+)*(?:s|ms|us|ns|jiffies)?\b").unwrap());

/// Normalise free text for a title (syzbot's approach): symbols lose their offsets, file:line loses
/// the line, addresses become `ADDR`, CPU numbers go, and other numbers become `NUM`.
pub fn normalize_free_text(s: &str) -> String {
    let s = FT_SYM_RE.replace_all(s, |c: &regex::Captures| normalize_function(&c[1]));
    let s = FT_FILE_LINE_RE.replace_all(&s, "$1");
    // Long hex runs are addresses only if they carry a digit (`deadbeefed` could be a word).
    let s = FT_ADDR_RE.replace_all(&s, |c: &regex::Captures| {
        let m = &c[0];
        if m.starts_with("0x") || m.bytes().any(|b| b.is_ascii_digit()) {
            "ADDR".to_string()
        } else {
            m.to_string()
        }
    });
    let s = FT_CPU_RE.replace_all(&s, "$1");
    let s = FT_NUM_RE.replace_all(&s, "NUM");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Kernel panic - not syncing: <reason>` → the title's reason. The exit code of a dying init and
/// a trailing full stop are dropped; the rest goes through [`normalize_free_text`].
fn normalize_panic_reason(reason: &str) -> String {
    let reason = reason.split(" exitcode=").next().unwrap_or(reason);
    let mut reason = normalize_free_text(reason);
    if reason.ends_with('.') && !reason.ends_with("...") {
        reason.pop();
    }
    if reason.is_empty() {
        "unknown".to_string()
    } else {
        reason
    }
}

/// The text of a `BUG: <text>` line without a dedicated rule: cut at the first `: `, ` - ` or
/// ` in process ` (what follows is instance detail: a process, pid, counters), then drop every word
/// that carries a number, `=` or `:` (pointers, counts, key=value detail).
/// `Dentry 00000000a1b2c3d4{i=1,n=x}  still in use (1) [unmount of ceph ceph]` →
/// `Dentry still in use [unmount of ceph ceph]`.
fn normalize_bug_text(text: &str) -> String {
    let mut cut = text.len();
    for sep in [": ", " - ", " in process "] {
        if let Some(i) = text.find(sep) {
            cut = cut.min(i);
        }
    }
    let words: Vec<&str> = text[..cut]
        .split_whitespace()
        .filter(|w| {
            !w.chars()
                .any(|c| c.is_ascii_digit() || c == '=' || c == ':')
        })
        .collect();
    let out = words.join(" ");
    let out = out.trim_end_matches(['.', ',', ';', ':', '-', '!', ' ']);
    if out.is_empty() {
        "unknown".to_string()
    } else {
        out.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Line shapes
// ---------------------------------------------------------------------------------------------

fn is_separator(body: &str) -> bool {
    let t = body.trim_end();
    t.len() >= 10 && t.bytes().all(|b| b == b'=')
}

static REPORT_LINE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:\s+\S",
        r"|Modules linked in:|CPU: \d|Hardware name:|Workqueue:|RIP:|Code:|RSP:|R[A-Z0-9]{1,2}:|FS:|CS:|CR2:|DR\d:|PKRU:",
        r"|Call Trace:|</?(?:TASK|IRQ|NMI|SOFTIRQ)>|Tainted:|Not tainted|task:|Kernel Offset:|---",
        r"|irq event stamp:|hardirqs last|softirqs last|stack backtrace:|other info that might help",
        r"|\d+ locks? held by|no locks held by|Preemption disabled at:|in_atomic\(\)|preempt_count:|RCU nest depth",
        r"|page|flags:|raw:|head:|\[<[0-9a-f]+>\]|#\d+:|-> #|\S+/\d+ is |\d+\.\d+\.\d+\S* #\d+",
        r"|#PF:|PGD |P4D |PUD |PMD |PTE |\*\*\*|\(t=|NMI backtrace|Sending NMI|rcu: |Read of size|Write of size",
        r")"
    ))
    .unwrap()
});

/// Does this kernel line look like part of an oops/lockdep/dump_stack report? Only consulted for
/// reports without an end marker, to decide whether the report is over.
fn is_report_line(body: &str) -> bool {
    REPORT_LINE_RE.is_match(body)
}

// ---------------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------------

/// How the report being collected ends (besides a new header and the line limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndRule {
    /// `---[ end trace ... ]---` (WARN, BUG, Oops, GPF).
    EndTrace,
    /// The closing `=====` line (KASAN, UBSAN).
    Separator,
    /// The trace's `</TASK>`.
    TaskEnd,
    /// `---[ end Kernel panic ... ]---`.
    PanicEnd,
    /// No marker: the first unrelated line ends it.
    Loose,
}

/// A finding being collected.
#[derive(Debug)]
struct Open {
    line: usize,
    time: Option<f64>,
    excerpt: Vec<String>,
    /// Console lines seen since the start, appended or not (bounds the wait for an end marker).
    seen: usize,
    /// The first line had a printk timestamp, so lines without one are user space.
    kernel_ts: bool,
    cut_here: bool,
    /// Merged headers, in order; the first is the primary (it names the finding) unless a
    /// refcount/list message is among them.
    heads: Vec<Header>,
    die_seen: bool,
    trace_seen: bool,
    task_end_seen: bool,
    rip_func: Option<String>,
    /// `frames.len()` when the first RIP was seen: frames after it belong to the interrupted code.
    rip_frame_idx: usize,
    /// Reliable (non-`?`) call trace frames, normalised.
    frames: Vec<String>,
    at_func: Option<String>,
    access: Option<&'static str>,
}

impl Open {
    fn new(line_no: usize, time: Option<f64>, raw: &str, kernel_ts: bool, head: Header) -> Open {
        let mut open = Open {
            line: line_no,
            time,
            excerpt: vec![raw.to_string()],
            seen: 1,
            kernel_ts,
            cut_here: false,
            heads: Vec::new(),
            die_seen: false,
            trace_seen: false,
            task_end_seen: false,
            rip_func: None,
            rip_frame_idx: 0,
            frames: Vec::new(),
            at_func: None,
            access: None,
        };
        open.add_head(head);
        open
    }

    fn add_head(&mut self, head: Header) {
        match head {
            Header::CutHere => self.cut_here = true,
            Header::Die { .. } | Header::Gpf => {
                self.die_seen = true;
                self.heads.push(head);
            }
            _ => self.heads.push(head),
        }
    }

    /// Only a `cut here` so far: not a finding on its own.
    fn is_prelude(&self) -> bool {
        self.heads.is_empty()
    }

    /// May `head` join this report instead of starting a new one? Only where the kernel itself
    /// prints two header-like lines for one event.
    fn can_absorb(&self, head: &Header) -> bool {
        let weak_only = !self.trace_seen && self.heads.iter().all(Header::is_weak);
        match head {
            // WARN(): `cut here` comes first; BUG_ON_DATA_CORRUPTION: the message comes first.
            Header::CutHere => weak_only && !self.cut_here,
            // WARN(1, "refcount_t: ...") / CHECK_DATA_CORRUPTION(): cut here, message, WARNING.
            Header::Refcount | Header::ListCorruption => self.heads.is_empty(),
            // A WARN(1, "BUG: ...") message after `cut here`.
            Header::GenericBug { .. } => self.heads.is_empty() && self.cut_here,
            Header::Warning { .. } | Header::KernelBug { .. } => weak_only,
            // `BUG: kernel NULL pointer dereference` → `Oops: ...`; `kernel BUG at` → `invalid opcode: ...`
            Header::Die { .. } => {
                weak_only
                    || (!self.die_seen
                        && self.heads.iter().any(|h| {
                            matches!(h, Header::PageFault { .. } | Header::KernelBug { .. })
                        }))
            }
            _ => false,
        }
    }

    fn primary(&self) -> Option<&Header> {
        self.heads.first()
    }

    fn end_rule(&self) -> EndRule {
        if self.heads.iter().any(Header::ends_with_end_trace) {
            return EndRule::EndTrace;
        }
        match self.primary() {
            Some(Header::Kasan { .. } | Header::Ubsan { .. }) => EndRule::Separator,
            Some(Header::HungTask | Header::SoftLockup | Header::RcuStall) => EndRule::TaskEnd,
            Some(Header::Lockdep(spec)) if spec.trace => EndRule::TaskEnd,
            Some(Header::GenericBug { .. } | Header::Refcount | Header::ListCorruption)
                if self.trace_seen =>
            {
                EndRule::TaskEnd
            }
            Some(Header::Panic { .. }) => EndRule::PanicEnd,
            _ => EndRule::Loose,
        }
    }

    /// Does an unrelated line end this report? True for reports without an end marker, and for
    /// oops-like reports whose trace is over (only `Modules linked in:` and the marker are left).
    fn is_loose(&self) -> bool {
        match self.end_rule() {
            EndRule::Loose => true,
            EndRule::EndTrace => self.task_end_seen,
            _ => false,
        }
    }

    fn limit(&self) -> usize {
        if self.is_prelude() {
            return MAX_PRELUDE_LINES;
        }
        match self.primary() {
            Some(Header::Kasan { .. } | Header::Lockdep(_)) => MAX_EXCERPT_LINES_LONG,
            _ => MAX_EXCERPT_LINES,
        }
    }

    fn push(&mut self, raw: &str, body: &str) {
        self.excerpt.push(raw.to_string());
        self.observe(body);
    }

    /// Pick up what titles need from a report line.
    fn observe(&mut self, body: &str) {
        let first = body.as_bytes().first().copied().unwrap_or(b' ');
        if first == b' ' || first == b'\t' {
            let t = body.trim();
            if t == "</TASK>" {
                self.task_end_seen = true;
            } else if self.trace_seen && self.frames.len() < MAX_FRAMES && t.contains("+0x") {
                if let Some(c) = FRAME_RE.captures(body) {
                    if c.get(1).is_none() {
                        self.frames.push(normalize_function(&c[2]));
                    }
                }
            }
        } else if body.starts_with("Call Trace:") {
            self.trace_seen = true;
        } else if body.starts_with("</TASK>") {
            self.task_end_seen = true;
        } else if body.starts_with("RIP: ") && self.rip_func.is_none() {
            if let Some(c) = RIP_RE.captures(body) {
                self.rip_func = Some(normalize_function(&c[1]));
                self.rip_frame_idx = self.frames.len();
            }
        } else if self.access.is_none() && body.starts_with("Read of size") {
            self.access = Some("Read");
        } else if self.access.is_none() && body.starts_with("Write of size") {
            self.access = Some("Write");
        }
        if self.at_func.is_none() && body.contains("at: ") {
            if let Some(c) = AT_RE.captures(body) {
                self.at_func = Some(normalize_function(&c[1]));
            }
        }
    }

    /// First interesting frame, from the frames after the first RIP if `after_rip`.
    fn frame_func(&self, after_rip: bool) -> Option<String> {
        let start = if after_rip {
            self.rip_frame_idx.min(self.frames.len())
        } else {
            0
        };
        self.frames[start..]
            .iter()
            .find(|f| !is_uninteresting_frame(f))
            .cloned()
    }

    /// The faulting function: the RIP's, unless that is a primitive (spinlock, memcpy, ...), in
    /// which case the first interesting frame of the interrupted code.
    fn rip_based_func(&self) -> Option<String> {
        match &self.rip_func {
            Some(rip) if !is_uninteresting_frame(rip) => Some(rip.clone()),
            Some(rip) => self
                .frame_func(true)
                .or_else(|| self.frame_func(false))
                .or_else(|| Some(rip.clone())),
            None => self.frame_func(false),
        }
    }

    fn warning_func(&self) -> Option<&str> {
        self.heads.iter().find_map(|h| match h {
            Header::Warning { func, .. } => func.as_deref(),
            _ => None,
        })
    }

    /// Turn the collected report into a finding; `None` for a bare `cut here`.
    fn into_finding(self) -> Option<Finding> {
        let primary = self.primary()?;
        let with = |prefix: &str, func: Option<String>| match func {
            Some(f) => format!("{prefix} in {f}"),
            None => prefix.to_string(),
        };
        let corruption = self
            .heads
            .iter()
            .find(|h| matches!(h, Header::Refcount | Header::ListCorruption));
        let (kind, title) = if let Some(c) = corruption {
            // Report the caller, not the refcount/list checker the WARN fired in.
            let func = self
                .warning_func()
                .filter(|f| !is_uninteresting_frame(f))
                .map(str::to_string)
                .or_else(|| self.rip_based_func())
                .filter(|f| !is_uninteresting_frame(f));
            let prefix = if matches!(c, Header::Refcount) {
                "refcount bug"
            } else {
                "list corruption"
            };
            (FindingKind::Corruption, with(prefix, func))
        } else {
            match primary {
                Header::Warning { func, file } => {
                    let title = match (func, file) {
                        (Some(f), _) => format!("WARNING in {f}"),
                        (None, _) if self.rip_func.is_some() => {
                            with("WARNING", self.rip_func.clone())
                        }
                        (None, Some(file)) => format!("WARNING at {file}"),
                        (None, None) => "WARNING".to_string(),
                    };
                    (FindingKind::Warning, title)
                }
                Header::KernelBug { file, func } => {
                    let title = match (self.rip_based_func().or_else(|| func.clone()), file) {
                        (Some(f), _) => format!("kernel BUG in {f}"),
                        (None, Some(file)) => format!("kernel BUG at {file}"),
                        (None, None) => "kernel BUG".to_string(),
                    };
                    (FindingKind::Bug, title)
                }
                Header::PageFault { what } => (
                    FindingKind::Oops,
                    with(
                        &format!("BUG: unable to handle {what}"),
                        self.rip_based_func(),
                    ),
                ),
                Header::Die { what } => (FindingKind::Oops, with(what, self.rip_based_func())),
                Header::Gpf => (
                    FindingKind::GeneralProtectionFault,
                    with("general protection fault", self.rip_based_func()),
                ),
                Header::HungTask => match deadlock_title(&self.frames) {
                    Some(t) => (FindingKind::Deadlock, t),
                    None => (
                        FindingKind::HungTask,
                        with("INFO: task hung", self.frame_func(false)),
                    ),
                },
                Header::SoftLockup => (
                    FindingKind::SoftLockup,
                    with("BUG: soft lockup", self.rip_based_func()),
                ),
                Header::RcuStall => (
                    FindingKind::RcuStall,
                    with("INFO: rcu detected stall", self.rip_based_func()),
                ),
                Header::Panic { reason } => (FindingKind::Panic, format!("kernel panic: {reason}")),
                Header::BusyInodes { fs } => (
                    FindingKind::BusyInodes,
                    format!("VFS: Busy inodes after unmount of {fs}"),
                ),
                Header::Kasan { what, func } => {
                    let func = match func {
                        Some(f) if !is_uninteresting_frame(f) => Some(f.clone()),
                        f => self.frame_func(false).or_else(|| f.clone()),
                    };
                    let prefix = match self.access {
                        Some(a) => format!("KASAN: {what} {a}"),
                        None => format!("KASAN: {what}"),
                    };
                    (FindingKind::Kasan, with(&prefix, func))
                }
                Header::Lockdep(spec) => {
                    let func = match spec.func {
                        FuncSource::At => self.at_func.clone().or_else(|| self.frame_func(false)),
                        FuncSource::Trace => {
                            self.frame_func(false).or_else(|| self.at_func.clone())
                        }
                    };
                    (FindingKind::Lockdep, with(spec.title, func))
                }
                Header::Ubsan { what, file } => {
                    let title = match file {
                        Some(file) => format!("UBSAN: {what} in {file}"),
                        None => format!("UBSAN: {what}"),
                    };
                    (FindingKind::Corruption, title)
                }
                Header::Workload { title } => (FindingKind::Workload, title.clone()),
                Header::GenericBug { text } => (FindingKind::Bug, format!("BUG: {text}")),
                Header::CutHere | Header::Refcount | Header::ListCorruption => unreachable!(),
            }
        };
        Some(Finding {
            console: None,
            during: None,
            kind,
            title,
            excerpt: self.excerpt.join("\n"),
            line: self.line,
            time: self.time,
            prefix: None,
            outside: None,
            step: None,
        })
    }
}

/// A console line held back because it may belong to the next report (the `=====` line before a
/// KASAN/UBSAN/lockdep header).
#[derive(Debug)]
struct Held {
    raw: String,
    has_ts: bool,
}

/// Streaming console scanner. Feed it lines in order; it returns findings as their reports end.
#[derive(Debug, Default)]
pub struct Scanner {
    open: Option<Open>,
    held: Option<Held>,
}

impl Scanner {
    pub fn new() -> Self {
        Scanner::default()
    }

    /// Feed one console line (without trailing newline). `line_no` is the 1-based line number in the
    /// console artifact; `time` is the host timestamp in seconds since guest start. Returns the
    /// findings completed by this line (a finding is completed when its excerpt ends: end-of-trace
    /// marker, a blank/unrelated line after the trace, or a line limit).
    pub fn feed(&mut self, line_no: usize, time: Option<f64>, line: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        // Serial consoles end lines with CR LF; the CR is transport, not text.
        let raw = line.trim_end_matches(['\r', '\n']);
        let (has_ts, body) = strip_printk_time(raw);

        if is_separator(body) {
            self.on_separator(raw, has_ts, &mut out);
            return out;
        }

        // Noise is checked only for would-be headers: the noise regexes need not run on every line.
        let header = classify(body).filter(|_| !is_noise(body));
        if let Some(held) = self.held.take() {
            // A held separator followed by a header belongs to that header's report: the excerpt
            // starts at the header itself, so it is dropped. Otherwise it was an ordinary line.
            if header.is_none() {
                let (_, held_body) = strip_printk_time(&held.raw);
                self.continue_report(&held.raw, held.has_ts, held_body, &mut out);
            }
        }
        match header {
            Some(h) => self.on_header(line_no, time, raw, has_ts, h, &mut out),
            None => self.continue_report(raw, has_ts, body, &mut out),
        }
        out
    }

    /// End of console: flush any finding still collecting.
    pub fn finish(&mut self) -> Vec<Finding> {
        self.held = None;
        self.open
            .take()
            .and_then(Open::into_finding)
            .into_iter()
            .collect()
    }

    fn close(&mut self, out: &mut Vec<Finding>) {
        if let Some(f) = self.open.take().and_then(Open::into_finding) {
            out.push(f);
        }
    }

    fn on_separator(&mut self, raw: &str, has_ts: bool, out: &mut Vec<Finding>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if !open.is_prelude() && open.end_rule() == EndRule::Separator {
            // The closing line of a KASAN/UBSAN report.
            open.excerpt.push(raw.to_string());
            self.close(out);
            return;
        }
        if let Some(prev) = self.held.take() {
            let (_, prev_body) = strip_printk_time(&prev.raw);
            self.continue_report(&prev.raw, prev.has_ts, prev_body, out);
        }
        if self.open.is_some() {
            self.held = Some(Held {
                raw: raw.to_string(),
                has_ts,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_header(
        &mut self,
        line_no: usize,
        time: Option<f64>,
        raw: &str,
        has_ts: bool,
        head: Header,
        out: &mut Vec<Finding>,
    ) {
        // One-line findings are complete at once. To a report being collected they are just an
        // interleaved line: left out of its excerpt, and ending it only if it has no end marker.
        if matches!(head, Header::BusyInodes { .. } | Header::Workload { .. }) {
            if let Some(open) = self.open.as_mut() {
                open.seen += 1;
                if !open.is_prelude() && open.is_loose() {
                    self.close(out);
                }
            }
            out.extend(Open::new(line_no, time, raw, has_ts, head).into_finding());
            return;
        }
        if let Some(open) = self.open.as_mut() {
            if open.can_absorb(&head) {
                open.excerpt.push(raw.to_string());
                open.seen += 1;
                open.add_head(head);
                return;
            }
        }
        self.close(out);
        self.open = Some(Open::new(line_no, time, raw, has_ts, head));
    }

    /// A non-header line while a report may be open.
    fn continue_report(&mut self, raw: &str, has_ts: bool, body: &str, out: &mut Vec<Finding>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.seen += 1;
        let user_space = open.kernel_ts && !has_ts;
        let noise = !user_space && is_noise(body);

        if open.is_prelude() {
            // Waiting for the WARNING/BUG line after `cut here`; a WARN() message may come first.
            if !user_space && !noise {
                open.push(raw, body);
            }
            if open.excerpt.len() >= MAX_PRELUDE_LINES
                || open.seen >= SEEN_FACTOR * MAX_PRELUDE_LINES
            {
                self.open = None; // a `cut here` alone is not a finding
            }
            return;
        }

        if open.is_loose() {
            if user_space || noise || body.trim().is_empty() || !is_report_line(body) {
                // Unrelated: the report is over. The line itself belongs to nobody.
                self.close(out);
                return;
            }
            open.push(raw, body);
        } else if !user_space && !noise {
            open.push(raw, body);
        }

        let t = body.trim();
        let ended =
            t.starts_with("---[ end ") || (t == "</TASK>" && open.end_rule() == EndRule::TaskEnd);
        if ended || open.excerpt.len() >= open.limit() || open.seen >= SEEN_FACTOR * open.limit() {
            self.close(out);
        }
    }
}

/// Scan a whole console text (lines may carry the host prefix, see [`strip_host_prefix`]). Findings
/// come back in console order (by their first line).
pub fn scan_text(text: &str) -> Vec<Finding> {
    let mut scanner = Scanner::new();
    let mut findings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (time, guest) = strip_host_prefix(line);
        findings.extend(scanner.feed(i + 1, time, guest));
    }
    findings.extend(scanner.finish());
    // One-line findings are reported as soon as they are seen, possibly before a report that
    // started earlier; a stable sort restores console order.
    findings.sort_by_key(|f| f.line);
    findings
}

#[cfg(test)]
mod tests {
    //! Console excerpts below are written in the exact shape Linux 6.1 x86_64 prints them (printk
    //! timestamps, `Modules linked in:`, taint line, register dump, `Call Trace:`/`<TASK>`).

    use super::*;

    const MODULES: &str = "ceph(OE) libceph(OE) fscache netfs dns_resolver virtio_net net_failover failover virtio_blk ata_piix libata crc32c_generic";

    /// Scan and return `(kind, title)` pairs.
    fn titles(text: &str) -> Vec<(FindingKind, String)> {
        scan_text(text)
            .into_iter()
            .map(|f| (f.kind, f.title))
            .collect()
    }

    fn one(text: &str) -> Finding {
        let mut found = scan_text(text);
        assert_eq!(found.len(), 1, "expected one finding, got {found:#?}");
        found.remove(0)
    }

    /// Fill in the `{MODULES}` placeholder the samples use to keep lines short.
    fn console(sample: &str) -> String {
        sample.replace("{MODULES}", MODULES)
    }

    /// The same console from another run: other timestamps, pids, CPU numbers, addresses, offsets,
    /// process names and durations. Titles must not change.
    fn perturb(text: &str) -> String {
        let ts = Regex::new(r"\[\s*(\d+)\.(\d+)\]").unwrap();
        let text = ts.replace_all(text, |c: &regex::Captures| {
            let secs: u64 = c[1].parse().unwrap();
            format!("[{:5}.{}]", secs + 1234, &c[2])
        });
        // Hex digits of addresses and offsets (0x.. and bare 16-digit words) are rotated.
        let rot = |s: &str| -> String {
            s.chars()
                .map(|ch| match ch.to_digit(16) {
                    Some(d) => std::char::from_digit((d + 7) % 16, 16).unwrap(),
                    None => ch,
                })
                .collect()
        };
        let hex = Regex::new(r"\b0x([0-9a-f]+)\b|\b([0-9a-f]{16})\b").unwrap();
        let text = hex.replace_all(&text, |c: &regex::Captures| match (c.get(1), c.get(2)) {
            (Some(h), _) => format!("0x{}", rot(h.as_str())),
            (_, Some(w)) => rot(w.as_str()),
            _ => unreachable!(),
        });
        let subs: &[(&str, &str)] = &[
            (r"PID: \d+", "PID: 4711"),
            (r"pid: ?\d+", "pid:4711"),
            (r"CPU: \d+", "CPU: 3"),
            (r"CPU#\d+", "CPU#3"),
            (r"Comm: \S+", "Comm: xfs_io"),
            (
                r"task \S+ blocked for more than \d+ seconds",
                "task fsstress:4711 blocked for more than 245 seconds",
            ),
            (r"stuck for \d+s", "stuck for 48s"),
            (r"by task \S+", "by task xfs_io/4711"),
            (r"\[kworker/\d+:\d+:\d+\]", "[fsstress:4711]"),
        ];
        let mut text = text.into_owned();
        for (re, to) in subs {
            text = Regex::new(re).unwrap().replace_all(&text, *to).into_owned();
        }
        text
    }

    /// Every sample: expected findings, and the same titles for a perturbed copy.
    fn check(sample: &str, expected: &[(FindingKind, &str)]) -> Vec<Finding> {
        let text = console(sample);
        let found = scan_text(&text);
        let got: Vec<(FindingKind, String)> =
            found.iter().map(|f| (f.kind, f.title.clone())).collect();
        let want: Vec<(FindingKind, String)> =
            expected.iter().map(|(k, t)| (*k, t.to_string())).collect();
        assert_eq!(got, want, "findings of:\n{text}");
        assert_eq!(
            titles(&perturb(&text)),
            want,
            "findings of perturbed:\n{}",
            perturb(&text)
        );
        found
    }

    // ----------------------------------------------------------------------------------------
    // Samples
    // ----------------------------------------------------------------------------------------

    const WARN_UNLINK: &str = "\
[   52.103412] ------------[ cut here ]------------
[   52.103418] WARNING: CPU: 1 PID: 312 at fs/ceph/dir.c:1203 ceph_unlink+0x4a/0x1f0 [ceph]
[   52.103470] Modules linked in: {MODULES}
[   52.103502] CPU: 1 PID: 312 Comm: rm Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   52.103510] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   52.103514] RIP: 0010:ceph_unlink+0x4a/0x1f0 [ceph]
[   52.103561] Code: 48 8b 47 28 48 8b 58 40 48 85 db 74 6d 48 89 fd 49 89 f4 48 8b 83 f8 03 00 00 48 8b 40 08 a8 02 75 0a <0f> 0b eb 06 cc cc cc cc cc 41 bd ff ff ff ff e9 de 00 00 00 66 90
[   52.103566] RSP: 0018:ffffb4c1c04bfd98 EFLAGS: 00010246
[   52.103571] RAX: 0000000000000000 RBX: ffff9a0c4a1e2000 RCX: 0000000000000000
[   52.103574] RDX: 0000000000000001 RSI: ffff9a0c43b5c0c0 RDI: ffff9a0c43b5c000
[   52.103576] RBP: ffff9a0c43b5c000 R08: 0000000000000000 R09: 0000000000000000
[   52.103578] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c43b5c0c0
[   52.103580] R13: ffff9a0c44d1c600 R14: 0000000000000000 R15: ffff9a0c4a1e2000
[   52.103583] FS:  00007f5b0c0f7740(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[   52.103587] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   52.103589] CR2: 000055d0a1f0e0a8 CR3: 0000000104a1e000 CR4: 00000000000006e0
[   52.103596] Call Trace:
[   52.103601]  <TASK>
[   52.103606]  vfs_unlink+0x11a/0x290
[   52.103617]  do_unlinkat+0x1d0/0x2e0
[   52.103624]  __x64_sys_unlinkat+0x33/0x60
[   52.103629]  do_syscall_64+0x58/0xc0
[   52.103637]  ? exit_to_user_mode_prepare+0x40/0x1e0
[   52.103645]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[   52.103652] RIP: 0033:0x7f5b0c1f0e37
[   52.103657] Code: 73 01 c3 48 8b 0d c9 2f 0d 00 f7 d8 64 89 01 48 83 c8 ff c3 66 2e 0f 1f 84 00 00 00 00 00 90 b8 07 01 00 00 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d 99 2f 0d 00 f7 d8 64 89 01 48
[   52.103660] RSP: 002b:00007ffd3c2e5a48 EFLAGS: 00000246 ORIG_RAX: 0000000000000107
[   52.103665] RAX: ffffffffffffffda RBX: 000055d0a1f0c4a0 RCX: 00007f5b0c1f0e37
[   52.103667] RDX: 0000000000000000 RSI: 000055d0a1f0b2c0 RDI: 00000000ffffff9c
[   52.103669] RBP: 000055d0a1f0b230 R08: 0000000000000003 R09: 0000000000000000
[   52.103671] R10: fffffffffffff28b R11: 0000000000000246 R12: 0000000000000000
[   52.103673] R13: 00007ffd3c2e5c30 R14: 0000000000000000 R15: 0000000000000000
[   52.103678]  </TASK>
[   52.103680] ---[ end trace 0000000000000000 ]---
";

    /// A WARN without a module and without file info in a different subsystem.
    const WARN_ALLOC: &str = "\
[   12.880001] ------------[ cut here ]------------
[   12.880004] WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5534 __alloc_pages+0x2a2/0x330
[   12.880015] Modules linked in:
[   12.880019] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2
[   12.880022] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   12.880025] RIP: 0010:__alloc_pages+0x2a2/0x330
[   12.880030] Code: ff ff 00 0f 84 2e fe ff ff 80 ce 01 e9 26 fe ff ff 83 fe 0a 0f 86 3b fe ff ff 80 3d 0f 3c 1a 01 00 75 09 c6 05 06 3c 1a 01 01 <0f> 0b 45 31 f6 e9 c5 fe ff ff e8 b0 5e d9 ff 84 c0 0f 85 15 ff ff
[   12.880033] RSP: 0000:ffffb4c1c0013c90 EFLAGS: 00010246
[   12.880036] RAX: 0000000000000000 RBX: 0000000000040cc0 RCX: 0000000000000000
[   12.880038] RDX: 0000000000000001 RSI: 000000000000000b RDI: 0000000000040cc0
[   12.880040] RBP: 0000000000040cc0 R08: 0000000000000000 R09: ffffb4c1c0013b58
[   12.880042] R10: 0000000000000000 R11: 0000000000000000 R12: 000000000000000b
[   12.880044] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000dc0
[   12.880046] FS:  0000000000000000(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[   12.880049] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   12.880051] CR2: 0000000000000000 CR3: 000000000ea10000 CR4: 00000000000006f0
[   12.880054] Call Trace:
[   12.880056]  <TASK>
[   12.880060]  __kmalloc_large_node+0x7f/0x150
[   12.880066]  __kmalloc+0xb1/0x130
[   12.880070]  ? kobject_uevent_env+0x11a/0x660
[   12.880075]  do_one_initcall+0x41/0x200
[   12.880080]  kernel_init_freeable+0x233/0x28a
[   12.880085]  ? rest_init+0xd0/0xd0
[   12.880088]  kernel_init+0x16/0x130
[   12.880091]  ret_from_fork+0x1f/0x30
[   12.880096]  </TASK>
[   12.880098] ---[ end trace 0000000000000000 ]---
";

    const KERNEL_BUG_PANIC: &str = "\
[  130.512301] ------------[ cut here ]------------
[  130.512309] kernel BUG at fs/inode.c:1234!
[  130.512340] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[  130.512349] CPU: 0 PID: 45 Comm: kworker/0:2 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  130.512357] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  130.512361] Workqueue: ceph-inode ceph_inode_work [ceph]
[  130.512420] RIP: 0010:evict+0x1b0/0x1c0
[  130.512431] Code: 48 83 c4 08 5b 5d 41 5c 41 5d c3 cc cc cc cc 48 8d bb 70 02 00 00 e8 1e 6f fe ff eb a7 0f 0b 0f 0b 0f 0b e9 a0 fe ff ff <0f> 0b 0f 1f 84 00 00 00 00 00 0f 1f 44 00 00 41 54 55 48 89 fd 53
[  130.512436] RSP: 0018:ffffb4c1c0173e00 EFLAGS: 00010202
[  130.512440] RAX: 0000000000000060 RBX: ffff9a0c4a6f1a38 RCX: 0000000000000000
[  130.512443] RDX: 0000000000000001 RSI: 0000000000000000 RDI: ffff9a0c4a6f1bb0
[  130.512446] RBP: ffff9a0c4a6f1bb0 R08: ffff9a0c4a6f1bb0 R09: 0000000000000000
[  130.512449] R10: 0000000000000000 R11: 0000000000000000 R12: ffffffffc0a97c40
[  130.512452] R13: ffff9a0c44f1d000 R14: ffff9a0c40051e05 R15: ffff9a0c4a6f1a38
[  130.512455] FS:  0000000000000000(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  130.512459] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  130.512462] CR2: 00007f2b9c1f8000 CR3: 0000000104f4c000 CR4: 00000000000006f0
[  130.512470] Call Trace:
[  130.512474]  <TASK>
[  130.512479]  ceph_inode_work+0x5c/0x2b0 [ceph]
[  130.512530]  process_one_work+0x1c7/0x380
[  130.512536]  worker_thread+0x4d/0x380
[  130.512541]  ? rescuer_thread+0x3a0/0x3a0
[  130.512545]  kthread+0xd7/0x100
[  130.512550]  ? kthread_complete_and_exit+0x20/0x20
[  130.512555]  ret_from_fork+0x1f/0x30
[  130.512562]  </TASK>
[  130.512564] Modules linked in: {MODULES}
[  130.512600] ---[ end trace 0000000000000000 ]---
[  130.512604] RIP: 0010:evict+0x1b0/0x1c0
[  130.512610] Code: 48 83 c4 08 5b 5d 41 5c 41 5d c3 cc cc cc cc 48 8d bb 70 02 00 00 e8 1e 6f fe ff eb a7 0f 0b 0f 0b 0f 0b e9 a0 fe ff ff <0f> 0b 0f 1f 84 00 00 00 00 00 0f 1f 44 00 00 41 54 55 48 89 fd 53
[  130.512614] RSP: 0018:ffffb4c1c0173e00 EFLAGS: 00010202
[  130.512617] RAX: 0000000000000060 RBX: ffff9a0c4a6f1a38 RCX: 0000000000000000
[  130.512620] RDX: 0000000000000001 RSI: 0000000000000000 RDI: ffff9a0c4a6f1bb0
[  130.512623] RBP: ffff9a0c4a6f1bb0 R08: ffff9a0c4a6f1bb0 R09: 0000000000000000
[  130.512626] R10: 0000000000000000 R11: 0000000000000000 R12: ffffffffc0a97c40
[  130.512629] R13: ffff9a0c44f1d000 R14: ffff9a0c40051e05 R15: ffff9a0c4a6f1a38
[  130.512632] FS:  0000000000000000(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  130.512635] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  130.512638] CR2: 00007f2b9c1f8000 CR3: 0000000104f4c000 CR4: 00000000000006f0
[  130.512640] Kernel panic - not syncing: Fatal exception
[  130.512700] Kernel Offset: 0x1a000000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
[  130.512750] ---[ end Kernel panic - not syncing: Fatal exception ]---
";

    const NULL_DEREF: &str = "\
[   88.301112] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   88.301130] #PF: supervisor read access in kernel mode
[   88.301134] #PF: error_code(0x0000) - not-present page
[   88.301138] PGD 0 P4D 0 
[   88.301145] Oops: 0000 [#1] PREEMPT SMP NOPTI
[   88.301152] CPU: 1 PID: 287 Comm: kworker/1:3 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   88.301158] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   88.301161] Workqueue: ceph-msgr ceph_con_workfn [libceph]
[   88.301210] RIP: 0010:__ceph_remove_cap+0x3c/0x2a0 [ceph]
[   88.301220] Code: 41 56 41 55 41 54 55 53 48 89 fb 48 83 ec 08 4c 8b 6f 10 4c 8b 67 18 4d 8b b5 c8 fe ff ff 49 8b 86 a8 06 00 00 4c 8b 78 08 <49> 8b 47 08 48 85 c0 74 0b 0f b6 50 19 f6 c2 01 75 5c 90 48 8b 43
[   88.301224] RSP: 0018:ffffb4c1c0387c28 EFLAGS: 00010246
[   88.301228] RAX: 0000000000000000 RBX: ffff9a0c4b3e1e40 RCX: 0000000000000000
[   88.301231] RDX: 0000000000000001 RSI: 0000000000000001 RDI: ffff9a0c4b3e1e40
[   88.301233] RBP: ffff9a0c4ad89c38 R08: 0000000000000000 R09: ffff9a0c4ad89c38
[   88.301236] R10: 0000000000000001 R11: 0000000000000000 R12: ffff9a0c4ad89f58
[   88.301238] R13: ffff9a0c4ad89f58 R14: ffff9a0c4ad89a00 R15: 0000000000000000
[   88.301241] FS:  0000000000000000(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[   88.301244] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   88.301246] CR2: 0000000000000008 CR3: 0000000104b2a000 CR4: 00000000000006e0
[   88.301250] Call Trace:
[   88.301252]  <TASK>
[   88.301256]  ? __die_body.cold+0x1a/0x1f
[   88.301262]  ? page_fault_oops+0xd2/0x2b0
[   88.301268]  ? exc_page_fault+0x70/0x170
[   88.301272]  ? asm_exc_page_fault+0x22/0x30
[   88.301277]  ? __ceph_remove_cap+0x3c/0x2a0 [ceph]
[   88.301330]  ceph_handle_caps+0x6f2/0x1a10 [ceph]
[   88.301380]  mds_dispatch+0x6d1/0x1b40 [ceph]
[   88.301425]  ceph_con_process_message+0x73/0x140 [libceph]
[   88.301450]  ceph_con_v1_try_read+0x2e5/0x840 [libceph]
[   88.301475]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[   88.301500]  process_one_work+0x1c7/0x380
[   88.301506]  worker_thread+0x4d/0x380
[   88.301510]  ? rescuer_thread+0x3a0/0x3a0
[   88.301514]  kthread+0xd7/0x100
[   88.301518]  ? kthread_complete_and_exit+0x20/0x20
[   88.301522]  ret_from_fork+0x1f/0x30
[   88.301530]  </TASK>
[   88.301532] Modules linked in: {MODULES}
[   88.301560] CR2: 0000000000000008
[   88.301566] ---[ end trace 0000000000000000 ]---
[   88.301570] RIP: 0010:__ceph_remove_cap+0x3c/0x2a0 [ceph]
[   88.301575] Code: 41 56 41 55 41 54 55 53 48 89 fb 48 83 ec 08 4c 8b 6f 10 4c 8b 67 18 4d 8b b5 c8 fe ff ff 49 8b 86 a8 06 00 00 4c 8b 78 08 <49> 8b 47 08 48 85 c0 74 0b 0f b6 50 19 f6 c2 01 75 5c 90 48 8b 43
[   88.301580] RSP: 0018:ffffb4c1c0387c28 EFLAGS: 00010246
[   88.301600] note: kworker/1:3[287] exited with irqs disabled
";

    const PAGE_FAULT: &str = "\
[  301.020441] BUG: unable to handle page fault for address: ffffed1020942000
[  301.020460] #PF: supervisor read access in kernel mode
[  301.020463] #PF: error_code(0x0000) - not-present page
[  301.020467] PGD 13ffe9067 P4D 13ffe9067 PUD 13ffe8067 PMD 0 
[  301.020475] Oops: 0000 [#1] PREEMPT SMP NOPTI
[  301.020480] CPU: 0 PID: 1311 Comm: fsstress Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  301.020484] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  301.020487] RIP: 0010:ceph_put_snap_realm.isra.0+0x2b/0x90 [ceph]
[  301.020530] Code: 0f 1f 44 00 00 41 55 41 54 55 48 89 f5 53 48 89 fb 48 8b 06 48 8d 7e 08 48 85 c0 74 0c f0 ff 4e 08 <0f> 94 c0 84 c0 75 10 5b 5d 41 5c 41 5d c3 cc cc cc cc 4c 8d a7 50
[  301.020534] RSP: 0018:ffffb4c1c0d1bd20 EFLAGS: 00010286
[  301.020537] RAX: ffffed1020942000 RBX: ffff9a0c44f1d000 RCX: 0000000000000000
[  301.020540] RDX: 0000000000000000 RSI: ffffed1020942000 RDI: ffff9a0c44f1d000
[  301.020542] RBP: ffffed1020942000 R08: 0000000000000000 R09: 0000000000000000
[  301.020545] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c44f1d0c8
[  301.020547] R13: ffff9a0c4ad8a3b8 R14: 0000000000000000 R15: ffff9a0c44f1d000
[  301.020550] FS:  00007f0f3d9f8740(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  301.020553] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  301.020555] CR2: ffffed1020942000 CR3: 0000000104c3e000 CR4: 00000000000006f0
[  301.020559] Call Trace:
[  301.020561]  <TASK>
[  301.020565]  ceph_update_snap_trace+0x3d5/0x6c0 [ceph]
[  301.020610]  ceph_handle_snap+0x2a1/0x5a0 [ceph]
[  301.020650]  mds_dispatch+0x7c1/0x1b40 [ceph]
[  301.020690]  ceph_con_process_message+0x73/0x140 [libceph]
[  301.020715]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[  301.020740]  process_one_work+0x1c7/0x380
[  301.020745]  worker_thread+0x4d/0x380
[  301.020749]  kthread+0xd7/0x100
[  301.020753]  ret_from_fork+0x1f/0x30
[  301.020758]  </TASK>
[  301.020760] Modules linked in: {MODULES}
[  301.020790] CR2: ffffed1020942000
[  301.020794] ---[ end trace 0000000000000000 ]---
";

    const STANDALONE_OOPS: &str = "\
[  77.400100] Oops: 0002 [#1] PREEMPT SMP NOPTI
[  77.400110] CPU: 1 PID: 902 Comm: ceph-fuse Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  77.400114] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  77.400118] RIP: 0010:ceph_fill_inode+0x5d1/0x1550 [ceph]
[  77.400160] Code: 89 c7 e8 a2 5b 01 00 85 c0 0f 85 5b 05 00 00 48 8b 44 24 10 48 8b 54 24 18 48 8b 4c 24 20 48 8b 74 24 28 48 89 83 b8 fa ff <ff> 48 89 93 c0 fa ff ff 48 89 8b c8 fa ff ff 48 89 b3 d0 fa ff ff
[  77.400164] RSP: 0018:ffffb4c1c05c7a78 EFLAGS: 00010246
[  77.400168] RAX: 0000000000000000 RBX: ffff9a0c4a6f1f00 RCX: 0000000000000000
[  77.400171] RDX: 0000000000000000 RSI: 0000000000000000 RDI: ffff9a0c4a6f1f00
[  77.400173] RBP: ffff9a0c4b3e1e40 R08: 0000000000000000 R09: 0000000000000000
[  77.400176] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c4ad89c38
[  77.400178] R13: 0000000000000000 R14: ffff9a0c4ad8a3b8 R15: 0000000000000000
[  77.400181] FS:  00007fb1a6ffd6c0(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[  77.400184] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  77.400186] CR2: 0000000000000000 CR3: 0000000104c3e000 CR4: 00000000000006e0
[  77.400190] Call Trace:
[  77.400192]  <TASK>
[  77.400196]  ceph_readdir_prepopulate+0x427/0xd40 [ceph]
[  77.400240]  ceph_handle_reply+0x9a1/0x1180 [ceph]
[  77.400280]  mds_dispatch+0x5c1/0x1b40 [ceph]
[  77.400320]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[  77.400345]  process_one_work+0x1c7/0x380
[  77.400350]  worker_thread+0x4d/0x380
[  77.400354]  kthread+0xd7/0x100
[  77.400358]  ret_from_fork+0x1f/0x30
[  77.400362]  </TASK>
[  77.400364] Modules linked in: {MODULES}
[  77.400390] ---[ end trace 0000000000000000 ]---
";

    const GPF: &str = "\
[  201.447201] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI
[  201.447220] CPU: 0 PID: 1203 Comm: fsstress Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  201.447224] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  201.447228] RIP: 0010:ceph_d_revalidate+0x88/0x3d0 [ceph]
[  201.447270] Code: 00 00 48 8b 43 30 48 8b 40 28 48 8b 80 98 03 00 00 4c 8b 70 10 49 8b 46 08 48 85 c0 0f 84 2a 01 00 00 48 8b 53 58 48 8b 4a <08> 48 39 48 10 0f 85 6e 01 00 00 8b 43 68 85 c0 0f 84 0f 01 00 00
[  201.447274] RSP: 0018:ffffb4c1c0e07c60 EFLAGS: 00010286
[  201.447277] RAX: ffff9a0c44d1c600 RBX: ffff9a0c4a6e4d80 RCX: dead000000000122
[  201.447280] RDX: dead000000000100 RSI: 0000000000000000 RDI: ffff9a0c4a6e4d80
[  201.447282] RBP: ffff9a0c4a6e4e28 R08: 0000000000000000 R09: 0000000000000001
[  201.447285] R10: 0000000000000000 R11: 0000000000000000 R12: 0000000000000001
[  201.447287] R13: ffff9a0c4a6e4d80 R14: ffff9a0c4ad89a00 R15: 0000000000000000
[  201.447290] FS:  00007f0f3d9f8740(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  201.447293] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  201.447295] CR2: 000055d0a1f0e0a8 CR3: 0000000104c3e000 CR4: 00000000000006f0
[  201.447299] Call Trace:
[  201.447301]  <TASK>
[  201.447305]  lookup_fast+0x7d/0x130
[  201.447311]  walk_component+0x1f/0x150
[  201.447315]  path_lookupat+0x6e/0x1c0
[  201.447319]  filename_lookup+0xcf/0x1d0
[  201.447324]  ? kmem_cache_alloc+0x15d/0x310
[  201.447329]  vfs_statx+0x74/0x130
[  201.447333]  do_statx+0x45/0x80
[  201.447338]  __x64_sys_statx+0x92/0xd0
[  201.447342]  do_syscall_64+0x58/0xc0
[  201.447346]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[  201.447350] RIP: 0033:0x7f0f3db0e46e
[  201.447353] Code: Unable to access opcode bytes at 0x7f0f3db0e444.
[  201.447355] RSP: 002b:00007ffe1f3c28c8 EFLAGS: 00000246 ORIG_RAX: 000000000000014c
[  201.447359] RAX: ffffffffffffffda RBX: 0000000000000000 RCX: 00007f0f3db0e46e
[  201.447361] RDX: 0000000000000100 RSI: 000055d0a1f0b2c0 RDI: 00000000ffffff9c
[  201.447363] RBP: 00007ffe1f3c29b0 R08: 00007ffe1f3c28d0 R09: 0000000000000000
[  201.447365] R10: 0000000000000fff R11: 0000000000000246 R12: 000055d0a1f0b2c0
[  201.447367] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[  201.447370]  </TASK>
[  201.447372] Modules linked in: {MODULES}
[  201.447400] ---[ end trace 0000000000000000 ]---
";

    const HUNG_TASK: &str = "\
[  247.103958] INFO: task kworker/u4:2:123 blocked for more than 120 seconds.
[  247.104012]       Tainted: G           OE      6.1.0-56-amd64 #1 Debian 6.1.192-2
[  247.104035] \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.
[  247.104049] task:kworker/u4:2    state:D stack:0     pid:123   ppid:2      flags:0x00004000
[  247.104062] Workqueue: writeback wb_workfn (flush-ceph-1)
[  247.104071] Call Trace:
[  247.104075]  <TASK>
[  247.104082]  __schedule+0x351/0xa20
[  247.104095]  schedule+0x5d/0xe0
[  247.104101]  schedule_preempt_disabled+0x14/0x30
[  247.104108]  __mutex_lock.constprop.0+0x3b4/0x700
[  247.104116]  ? ceph_check_caps+0x2a/0x6b0 [ceph]
[  247.104170]  ceph_check_caps+0x2a/0x6b0 [ceph]
[  247.104215]  ceph_write_inode+0x8e/0xc0 [ceph]
[  247.104252]  __writeback_single_inode+0x2be/0x3b0
[  247.104260]  writeback_sb_inodes+0x1f7/0x480
[  247.104268]  __writeback_inodes_wb+0x4c/0xe0
[  247.104276]  wb_writeback+0x1d6/0x2b0
[  247.104282]  wb_workfn+0x2a1/0x4c0
[  247.104289]  process_one_work+0x1c7/0x380
[  247.104296]  worker_thread+0x4d/0x380
[  247.104302]  ? rescuer_thread+0x3a0/0x3a0
[  247.104307]  kthread+0xd7/0x100
[  247.104313]  ? kthread_complete_and_exit+0x20/0x20
[  247.104318]  ret_from_fork+0x1f/0x30
[  247.104327]  </TASK>
";

    const HUNG_TASK_PANIC: &str = "\
[  367.223001] INFO: task umount:1502 blocked for more than 241 seconds.
[  367.223040]       Tainted: G           OE      6.1.0-56-amd64 #1 Debian 6.1.192-2
[  367.223052] \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.
[  367.223060] task:umount          state:D stack:0     pid:1502  ppid:1490   flags:0x00004002
[  367.223070] Call Trace:
[  367.223073]  <TASK>
[  367.223078]  __schedule+0x351/0xa20
[  367.223086]  schedule+0x5d/0xe0
[  367.223092]  schedule_timeout+0x118/0x150
[  367.223099]  ? __bpf_trace_tick_stop+0x10/0x10
[  367.223106]  wait_for_completion_killable_timeout+0x9a/0x110
[  367.223115]  ceph_mdsc_sync+0x2f1/0x3e0 [ceph]
[  367.223160]  ceph_sync_fs+0x31/0x130 [ceph]
[  367.223195]  sync_filesystem+0x71/0x90
[  367.223201]  generic_shutdown_super+0x22/0x120
[  367.223207]  kill_anon_super+0x14/0x30
[  367.223212]  ceph_kill_sb+0x36/0x90 [ceph]
[  367.223245]  deactivate_locked_super+0x2f/0xa0
[  367.223251]  cleanup_mnt+0xbd/0x150
[  367.223257]  task_work_run+0x59/0x90
[  367.223263]  exit_to_user_mode_prepare+0x1dd/0x1e0
[  367.223270]  syscall_exit_to_user_mode+0x17/0x40
[  367.223276]  do_syscall_64+0x67/0xc0
[  367.223282]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[  367.223288] RIP: 0033:0x7f8d1c2e8a67
[  367.223293] RSP: 002b:00007ffc85c0f0d8 EFLAGS: 00000246 ORIG_RAX: 00000000000000a6
[  367.223299] RAX: 0000000000000000 RBX: 000055b1f3e2a9d0 RCX: 00007f8d1c2e8a67
[  367.223302] RDX: 0000000000000000 RSI: 0000000000000000 RDI: 000055b1f3e2ac00
[  367.223305] RBP: 0000000000000000 R08: 0000000000000000 R09: 00007ffc85c0de50
[  367.223308] R10: 0000000000000000 R11: 0000000000000246 R12: 000055b1f3e2ac00
[  367.223311] R13: 00007f8d1c42e264 R14: 000055b1f3e2aae8 R15: 000055b1f3e2a9d0
[  367.223316]  </TASK>
[  367.223320] Kernel panic - not syncing: hung_task: blocked tasks
[  367.223330] CPU: 1 PID: 30 Comm: khungtaskd Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  367.223335] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  367.223338] Call Trace:
[  367.223340]  <TASK>
[  367.223343]  dump_stack_lvl+0x44/0x5c
[  367.223350]  panic+0x118/0x2ed
[  367.223356]  watchdog.cold+0xb/0xb
[  367.223361]  ? proc_dohung_task_timeout_secs+0x40/0x40
[  367.223366]  kthread+0xd7/0x100
[  367.223370]  ? kthread_complete_and_exit+0x20/0x20
[  367.223374]  ret_from_fork+0x1f/0x30
[  367.223379]  </TASK>
[  367.223382] Kernel Offset: 0x1a000000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
[  367.223390] ---[ end Kernel panic - not syncing: hung_task: blocked tasks ]---
";

    const SOFT_LOCKUP: &str = "\
[  152.003120] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [kworker/0:1:23]
[  152.003140] Modules linked in: {MODULES}
[  152.003170] CPU: 0 PID: 23 Comm: kworker/0:1 Tainted: G           OEL     6.1.0-56-amd64 #1  Debian 6.1.192-2
[  152.003175] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  152.003178] Workqueue: events delayed_work [ceph]
[  152.003210] RIP: 0010:native_queued_spin_lock_slowpath+0x6e/0x2c0
[  152.003218] Code: 00 00 f0 0f ba 2b 08 0f 92 c2 8b 03 0f b6 d2 c1 e2 08 30 e4 09 d0 a9 00 01 ff ff 0f 85 f0 01 00 00 85 c0 74 0e 8b 03 84 c0 74 08 f3 90 <8b> 03 84 c0 75 f8 b8 01 00 00 00 66 89 03 5b 5d 41 5c 41 5d c3 cc
[  152.003222] RSP: 0018:ffffb4c1c00dbd68 EFLAGS: 00000202
[  152.003225] RAX: 0000000000000001 RBX: ffff9a0c4ad89c5c RCX: 0000000000000000
[  152.003227] RDX: 0000000000000000 RSI: 0000000000000001 RDI: ffff9a0c4ad89c5c
[  152.003230] RBP: ffff9a0c4ad89c5c R08: 0000000000000000 R09: 0000000000000000
[  152.003232] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c4ad89a00
[  152.003234] R13: ffff9a0c4ad89c38 R14: ffff9a0c4ad89f58 R15: 0000000000000000
[  152.003237] FS:  0000000000000000(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  152.003240] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  152.003242] CR2: 00007f2b9c1f8000 CR3: 0000000104f4c000 CR4: 00000000000006f0
[  152.003246] Call Trace:
[  152.003248]  <TASK>
[  152.003252]  _raw_spin_lock+0x2a/0x30
[  152.003258]  ceph_check_delayed_caps+0x7e/0x130 [ceph]
[  152.003300]  delayed_work+0x18b/0x250 [ceph]
[  152.003335]  process_one_work+0x1c7/0x380
[  152.003340]  worker_thread+0x4d/0x380
[  152.003344]  ? rescuer_thread+0x3a0/0x3a0
[  152.003348]  kthread+0xd7/0x100
[  152.003352]  ? kthread_complete_and_exit+0x20/0x20
[  152.003356]  ret_from_fork+0x1f/0x30
[  152.003361]  </TASK>
";

    const RCU_STALL: &str = "\
[  180.912004] rcu: INFO: rcu_preempt self-detected stall on CPU
[  180.912020] rcu: \t1-....: (5249 ticks this GP) idle=3f4c/1/0x4000000000000000 softirq=4529/4529 fqs=2370
[  180.912030] \t(t=5250 jiffies g=7337 q=1061 ncpus=2)
[  180.912040] NMI backtrace for cpu 1
[  180.912045] CPU: 1 PID: 1311 Comm: fsstress Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  180.912049] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  180.912052] Call Trace:
[  180.912054]  <IRQ>
[  180.912058]  dump_stack_lvl+0x44/0x5c
[  180.912064]  nmi_cpu_backtrace.cold+0x30/0x70
[  180.912070]  ? lapic_can_unplug_cpu+0x80/0x80
[  180.912075]  nmi_trigger_cpumask_backtrace+0xdf/0xf0
[  180.912081]  rcu_dump_cpu_stacks+0xed/0x124
[  180.912087]  rcu_sched_clock_irq.cold+0x29a/0x5e9
[  180.912093]  update_process_times+0x8c/0xc0
[  180.912098]  tick_sched_handle+0x22/0x60
[  180.912103]  tick_sched_timer+0x7a/0x90
[  180.912108]  ? tick_sched_do_timer+0xa0/0xa0
[  180.912112]  __hrtimer_run_queues+0x112/0x2b0
[  180.912117]  hrtimer_interrupt+0xfe/0x220
[  180.912121]  __sysvec_apic_timer_interrupt+0x7f/0x170
[  180.912126]  sysvec_apic_timer_interrupt+0x9d/0xd0
[  180.912131]  </IRQ>
[  180.912133]  <TASK>
[  180.912135]  asm_sysvec_apic_timer_interrupt+0x16/0x20
[  180.912140] RIP: 0010:ceph_iterate_session_caps+0x120/0x2a0 [ceph]
[  180.912180] Code: 48 8b 45 00 48 39 c5 0f 84 9b 00 00 00 4c 8d 68 f8 4c 89 ef e8 8f 75 ff ff 48 8b 45 08 4c 39 e8 75 e1 eb d2 0f 1f 44 00 00 <48> 8b 43 08 48 39 c3 75 f4 e9 70 ff ff ff 66 0f 1f 44 00 00 0f 1f
[  180.912184] RSP: 0018:ffffb4c1c0d1bc50 EFLAGS: 00000246
[  180.912187] RAX: ffff9a0c4b3e1e40 RBX: ffff9a0c4ad89c38 RCX: 0000000000000000
[  180.912190] RDX: 0000000000000000 RSI: ffffffffc0a61230 RDI: ffff9a0c4ad89c38
[  180.912192] RBP: ffff9a0c4ad89c38 R08: 0000000000000000 R09: 0000000000000000
[  180.912195] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c4ad89a00
[  180.912197] R13: ffff9a0c4b3e1e40 R14: 0000000000000000 R15: 0000000000000000
[  180.912202]  ? remove_session_caps_cb+0x3a0/0x3a0 [ceph]
[  180.912240]  remove_session_caps+0x6f/0x1e0 [ceph]
[  180.912275]  ceph_mdsc_force_umount+0x1d2/0x2e0 [ceph]
[  180.912310]  ceph_umount_begin+0x24/0x30 [ceph]
[  180.912340]  path_umount+0x230/0x4b0
[  180.912345]  __x64_sys_umount+0x76/0x90
[  180.912350]  do_syscall_64+0x58/0xc0
[  180.912354]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[  180.912358] RIP: 0033:0x7f8d1c2e8a67
[  180.912361] RSP: 002b:00007ffc85c0f0d8 EFLAGS: 00000246 ORIG_RAX: 00000000000000a6
[  180.912365] RAX: ffffffffffffffda RBX: 000055b1f3e2a9d0 RCX: 00007f8d1c2e8a67
[  180.912368] RDX: 0000000000000000 RSI: 0000000000000004 RDI: 000055b1f3e2ac00
[  180.912371] RBP: 0000000000000000 R08: 0000000000000000 R09: 00007ffc85c0de50
[  180.912374] R10: 0000000000000000 R11: 0000000000000246 R12: 000055b1f3e2ac00
[  180.912377] R13: 00007f8d1c42e264 R14: 000055b1f3e2aae8 R15: 000055b1f3e2a9d0
[  180.912380]  </TASK>
";

    const RCU_STALL_OTHER: &str = "\
[  240.100001] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:
[  240.100020] rcu: \t1-...!: (1 GPs behind) idle=9b4/1/0x4000000000000000 softirq=8412/8413 fqs=0
[  240.100030] \t(detected by 0, t=21002 jiffies, g=15221, q=320 ncpus=2)
[  240.100040] Sending NMI from CPU 0 to CPUs 1:
[  240.100120] NMI backtrace for cpu 1
[  240.100125] CPU: 1 PID: 1311 Comm: fsstress Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  240.100129] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  240.100132] RIP: 0010:ceph_queue_cap_snap+0x1b2/0x3f0 [ceph]
[  240.100170] Code: 48 8b 45 00 48 39 c5 0f 84 9b 00 00 00 4c 8d 68 f8 4c 89 ef e8 8f 75 ff ff 48 8b 45 08 4c 39 e8 75 e1 eb d2 0f 1f 44 00 00 <48> 8b 43 08 48 39 c3 75 f4 e9 70 ff ff ff 66 0f 1f 44 00 00 0f 1f
[  240.100174] RSP: 0018:ffffb4c1c0d1bc50 EFLAGS: 00000246
[  240.100177] RAX: ffff9a0c4b3e1e40 RBX: ffff9a0c4ad89c38 RCX: 0000000000000000
[  240.100180] RDX: 0000000000000000 RSI: ffffffffc0a61230 RDI: ffff9a0c4ad89c38
[  240.100182] RBP: ffff9a0c4ad89c38 R08: 0000000000000000 R09: 0000000000000000
[  240.100185] R10: 0000000000000000 R11: 0000000000000000 R12: ffff9a0c4ad89a00
[  240.100187] R13: ffff9a0c4b3e1e40 R14: 0000000000000000 R15: 0000000000000000
[  240.100190] FS:  00007f0f3d9f8740(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[  240.100193] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  240.100195] CR2: 000055d0a1f0e0a8 CR3: 0000000104c3e000 CR4: 00000000000006e0
[  240.100199] Call Trace:
[  240.100201]  <TASK>
[  240.100205]  ceph_update_snap_trace+0x2a1/0x6c0 [ceph]
[  240.100245]  ceph_handle_snap+0x2a1/0x5a0 [ceph]
[  240.100285]  mds_dispatch+0x7c1/0x1b40 [ceph]
[  240.100325]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[  240.100350]  process_one_work+0x1c7/0x380
[  240.100355]  worker_thread+0x4d/0x380
[  240.100359]  kthread+0xd7/0x100
[  240.100363]  ret_from_fork+0x1f/0x30
[  240.100368]  </TASK>
";

    const KASAN_UAF: &str = "\
[   95.330001] ==================================================================
[   95.330010] BUG: KASAN: use-after-free in ceph_put_cap+0x12/0x200 [ceph]
[   95.330080] Read of size 8 at addr ffff888104a1e2c8 by task kworker/0:2/45
[   95.330085] 
[   95.330090] CPU: 0 PID: 45 Comm: kworker/0:2 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   95.330095] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   95.330098] Workqueue: ceph-msgr ceph_con_workfn [libceph]
[   95.330101] Call Trace:
[   95.330103]  <TASK>
[   95.330107]  dump_stack_lvl+0x5b/0x77
[   95.330114]  print_report+0x17f/0x47b
[   95.330120]  ? ceph_put_cap+0x12/0x200 [ceph]
[   95.330170]  kasan_report+0xad/0x130
[   95.330176]  ? ceph_put_cap+0x12/0x200 [ceph]
[   95.330220]  ceph_put_cap+0x12/0x200 [ceph]
[   95.330262]  __ceph_remove_cap+0x1ce/0x2a0 [ceph]
[   95.330305]  ceph_handle_caps+0x6f2/0x1a10 [ceph]
[   95.330350]  mds_dispatch+0x6d1/0x1b40 [ceph]
[   95.330395]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[   95.330420]  process_one_work+0x4c9/0x8c0
[   95.330426]  worker_thread+0x8f/0x6c0
[   95.330430]  kthread+0x18b/0x1c0
[   95.330435]  ret_from_fork+0x1f/0x30
[   95.330440]  </TASK>
[   95.330442] 
[   95.330444] Allocated by task 1311:
[   95.330447]  kasan_save_stack+0x1e/0x40
[   95.330452]  kasan_set_track+0x21/0x30
[   95.330456]  __kasan_slab_alloc+0x62/0x80
[   95.330460]  kmem_cache_alloc+0x15d/0x310
[   95.330465]  ceph_get_cap+0x9c/0x170 [ceph]
[   95.330505]  ceph_add_cap+0x3a0/0xa40 [ceph]
[   95.330545]  ceph_fill_inode+0xc33/0x1550 [ceph]
[   95.330585] 
[   95.330587] Freed by task 45:
[   95.330590]  kasan_save_stack+0x1e/0x40
[   95.330594]  kasan_set_track+0x21/0x30
[   95.330598]  kasan_save_free_info+0x2a/0x40
[   95.330602]  ____kasan_slab_free+0x19c/0x1f0
[   95.330607]  kmem_cache_free+0x11a/0x3c0
[   95.330612]  ceph_put_cap+0x1a4/0x200 [ceph]
[   95.330650] 
[   95.330652] The buggy address belongs to the object at ffff888104a1e280
[   95.330652]  which belongs to the cache ceph_cap of size 104
[   95.330657] The buggy address is located 72 bytes inside of
[   95.330657]  104-byte region [ffff888104a1e280, ffff888104a1e2e8)
[   95.330662] 
[   95.330664] The buggy address belongs to the physical page:
[   95.330668] page:00000000a1b2c3d4 refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x104a1e
[   95.330673] flags: 0x200000000000200(slab|node=0|zone=2)
[   95.330678] raw: 0200000000000200 ffffea000412a880 dead000000000002 ffff888100bc8c80
[   95.330682] raw: 0000000000000000 00000000801c001c 00000001ffffffff 0000000000000000
[   95.330685] page dumped because: kasan: bad access detected
[   95.330688] 
[   95.330690] Memory state around the buggy address:
[   95.330693]  ffff888104a1e180: fb fb fb fb fb fb fb fb fb fb fb fb fb fc fc fc
[   95.330697]  ffff888104a1e200: fc fc fc fc fc fa fb fb fb fb fb fb fb fb fb fb
[   95.330701] >ffff888104a1e280: fb fb fb fb fb fb fb fb fb fb fb fb fb fc fc fc
[   95.330704]                                               ^
[   95.330707]  ffff888104a1e300: fc fc fc fc fc fa fb fb fb fb fb fb fb fb fb fb
[   95.330710]  ffff888104a1e380: fb fb fb fb fb fc fc fc fc fc fc fc fc fa fb fb
[   95.330713] ==================================================================
[   95.330720] Disabling lock debugging due to kernel taint
";

    const LOCKDEP_CIRCULAR: &str = "\
[   40.221001] 
[   40.221005] ======================================================
[   40.221008] WARNING: possible circular locking dependency detected
[   40.221012] 6.1.0-56-amd64 #1 Tainted: G           OE     
[   40.221015] ------------------------------------------------------
[   40.221018] kworker/0:2/45 is trying to acquire lock:
[   40.221022] ffff9a0c4ad89c38 (&mdsc->mutex){+.+.}-{3:3}, at: ceph_mdsc_do_request+0x3c/0x1a0 [ceph]
[   40.221070] 
[   40.221070] but task is already holding lock:
[   40.221074] ffff9a0c4b3e1e40 (&s->s_mutex){+.+.}-{3:3}, at: ceph_check_caps+0x2a/0x6b0 [ceph]
[   40.221120] 
[   40.221120] which lock already depends on the new lock.
[   40.221120] 
[   40.221124] 
[   40.221124] the existing dependency chain (in reverse order) is:
[   40.221128] 
[   40.221128] -> #1 (&s->s_mutex){+.+.}-{3:3}:
[   40.221135]        __mutex_lock+0x8e/0x9f0
[   40.221142]        ceph_mdsc_open_session+0x52/0x90 [ceph]
[   40.221190]        ceph_mdsc_do_request+0x71/0x1a0 [ceph]
[   40.221235] 
[   40.221235] -> #0 (&mdsc->mutex){+.+.}-{3:3}:
[   40.221242]        __lock_acquire+0x15f2/0x2a40
[   40.221248]        lock_acquire+0xd4/0x2f0
[   40.221253]        __mutex_lock+0x8e/0x9f0
[   40.221258]        ceph_mdsc_do_request+0x3c/0x1a0 [ceph]
[   40.221300] 
[   40.221300] other info that might help us debug this:
[   40.221300] 
[   40.221304]  Possible unsafe locking scenario:
[   40.221304] 
[   40.221307]        CPU0                    CPU1
[   40.221309]        ----                    ----
[   40.221311]   lock(&s->s_mutex);
[   40.221315]                                lock(&mdsc->mutex);
[   40.221319]                                lock(&s->s_mutex);
[   40.221323]   lock(&mdsc->mutex);
[   40.221327] 
[   40.221327]  *** DEADLOCK ***
[   40.221327] 
[   40.221331] 3 locks held by kworker/0:2/45:
[   40.221334]  #0: ffff9a0c40051d48 ((wq_completion)events){+.+.}-{0:0}, at: process_one_work+0x1f1/0x5b0
[   40.221343]  #1: ffffb4c1c0173e68 ((work_completion)(&mdsc->delayed_work)){+.+.}-{0:0}, at: process_one_work+0x1f1/0x5b0
[   40.221352]  #2: ffff9a0c4b3e1e40 (&s->s_mutex){+.+.}-{3:3}, at: ceph_check_caps+0x2a/0x6b0 [ceph]
[   40.221400] 
[   40.221400] stack backtrace:
[   40.221404] CPU: 0 PID: 45 Comm: kworker/0:2 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   40.221409] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   40.221412] Workqueue: events delayed_work [ceph]
[   40.221440] Call Trace:
[   40.221442]  <TASK>
[   40.221446]  dump_stack_lvl+0x5b/0x77
[   40.221452]  check_noncircular+0x10b/0x120
[   40.221458]  __lock_acquire+0x15f2/0x2a40
[   40.221463]  lock_acquire+0xd4/0x2f0
[   40.221468]  ? ceph_mdsc_do_request+0x3c/0x1a0 [ceph]
[   40.221510]  __mutex_lock+0x8e/0x9f0
[   40.221515]  ? ceph_mdsc_do_request+0x3c/0x1a0 [ceph]
[   40.221560]  ceph_mdsc_do_request+0x3c/0x1a0 [ceph]
[   40.221600]  ceph_check_caps+0x4d1/0x6b0 [ceph]
[   40.221640]  delayed_work+0x18b/0x250 [ceph]
[   40.221680]  process_one_work+0x27a/0x5b0
[   40.221686]  worker_thread+0x4d/0x3c0
[   40.221690]  kthread+0xe8/0x110
[   40.221694]  ret_from_fork+0x1f/0x30
[   40.221699]  </TASK>
";

    const SLEEPING_IN_ATOMIC: &str = "\
[   61.200301] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580
[   61.200320] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 312, name: rm
[   61.200324] preempt_count: 1, expected: 0
[   61.200327] RCU nest depth: 0, expected: 0
[   61.200330] Preemption disabled at:
[   61.200332] [<ffffffffc0a51e2d>] ceph_check_caps+0x5d/0x6b0 [ceph]
[   61.200380] CPU: 0 PID: 312 Comm: rm Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   61.200385] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   61.200388] Call Trace:
[   61.200390]  <TASK>
[   61.200394]  dump_stack_lvl+0x44/0x5c
[   61.200400]  __might_resched.cold+0xc2/0xd7
[   61.200406]  __mutex_lock.constprop.0+0x37/0x700
[   61.200412]  ? ceph_check_caps+0x5d/0x6b0 [ceph]
[   61.200460]  ceph_add_cap+0x2d3/0xa40 [ceph]
[   61.200500]  ceph_fill_inode+0xc33/0x1550 [ceph]
[   61.200540]  ceph_fill_trace+0x18d/0xd10 [ceph]
[   61.200580]  ceph_mdsc_do_request+0x1b4/0x2b0 [ceph]
[   61.200620]  ceph_unlink+0x140/0x1f0 [ceph]
[   61.200660]  vfs_unlink+0x11a/0x290
[   61.200666]  do_unlinkat+0x1d0/0x2e0
[   61.200672]  __x64_sys_unlinkat+0x33/0x60
[   61.200677]  do_syscall_64+0x58/0xc0
[   61.200682]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[   61.200687] RIP: 0033:0x7f5b0c1f0e37
[   61.200692] Code: 73 01 c3 48 8b 0d c9 2f 0d 00 f7 d8 64 89 01 48 83 c8 ff c3 66 2e 0f 1f 84 00 00 00 00 00 90 b8 07 01 00 00 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d 99 2f 0d 00 f7 d8 64 89 01 48
[   61.200695] RSP: 002b:00007ffd3c2e5a48 EFLAGS: 00000246 ORIG_RAX: 0000000000000107
[   61.200699] RAX: ffffffffffffffda RBX: 000055d0a1f0c4a0 RCX: 00007f5b0c1f0e37
[   61.200702] RDX: 0000000000000000 RSI: 000055d0a1f0b2c0 RDI: 00000000ffffff9c
[   61.200705] RBP: 000055d0a1f0b230 R08: 0000000000000003 R09: 0000000000000000
[   61.200708] R10: fffffffffffff28b R11: 0000000000000246 R12: 0000000000000000
[   61.200711] R13: 00007ffd3c2e5c30 R14: 0000000000000000 R15: 0000000000000000
[   61.200715]  </TASK>
";

    /// No stack trace and no end marker: the first unrelated line ends it.
    const LOCK_HELD_RETURNING: &str = "\
[   71.500001] 
[   71.500004] ================================================
[   71.500007] WARNING: lock held when returning to user space!
[   71.500010] 6.1.0-56-amd64 #1 Tainted: G           OE     
[   71.500013] ------------------------------------------------
[   71.500016] xfs_io/1311 is leaving the kernel with locks still held!
[   71.500020] 1 lock held by xfs_io/1311:
[   71.500023]  #0: ffff9a0c4ad89c38 (&ci->i_truncate_mutex){+.+.}-{3:3}, at: ceph_fallocate+0x1a2/0x6f0 [ceph]
fsx: op 1204 ok
[   71.600001] ceph: mds0 reconnect start
";

    const REFCOUNT_UNDERFLOW: &str = "\
[  114.772001] ------------[ cut here ]------------
[  114.772006] refcount_t: underflow; use-after-free.
[  114.772030] WARNING: CPU: 1 PID: 1311 at lib/refcount.c:28 refcount_warn_saturate+0xba/0x110
[  114.772040] Modules linked in: {MODULES}
[  114.772070] CPU: 1 PID: 1311 Comm: fsstress Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  114.772075] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  114.772078] RIP: 0010:refcount_warn_saturate+0xba/0x110
[  114.772084] Code: 01 01 e8 59 4e 71 00 0f 0b c3 cc cc cc cc 80 3d 6e 43 46 01 00 75 85 48 c7 c7 b0 2e 8c 9e c6 05 5e 43 46 01 01 e8 36 4e 71 00 <0f> 0b c3 cc cc cc cc 80 3d 49 43 46 01 00 0f 85 5e ff ff ff 48 c7
[  114.772088] RSP: 0018:ffffb4c1c0d1bd58 EFLAGS: 00010282
[  114.772091] RAX: 0000000000000000 RBX: ffff9a0c4a6e4d80 RCX: 0000000000000027
[  114.772094] RDX: ffff9a0cbbd1f6c8 RSI: 0000000000000001 RDI: ffff9a0cbbd1f6c0
[  114.772096] RBP: ffff9a0c4a6e4d80 R08: 0000000000000000 R09: ffffb4c1c0d1bbd8
[  114.772099] R10: 0000000000000003 R11: ffffffff9f0d4968 R12: ffff9a0c44f1d000
[  114.772101] R13: ffff9a0c4ad89c38 R14: 0000000000000000 R15: ffff9a0c4a6e4d80
[  114.772104] FS:  00007f0f3d9f8740(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[  114.772107] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  114.772109] CR2: 000055d0a1f0e0a8 CR3: 0000000104c3e000 CR4: 00000000000006e0
[  114.772113] Call Trace:
[  114.772115]  <TASK>
[  114.772119]  ceph_put_snap_context+0x5b/0x70 [ceph]
[  114.772160]  ceph_invalidate_folio+0x10d/0x160 [ceph]
[  114.772200]  truncate_cleanup_folio+0x5d/0xb0
[  114.772206]  truncate_inode_pages_range+0x125/0x470
[  114.772212]  ? ceph_fallocate+0x1a2/0x6f0 [ceph]
[  114.772250]  ceph_fallocate+0x3d9/0x6f0 [ceph]
[  114.772290]  vfs_fallocate+0x14b/0x390
[  114.772296]  __x64_sys_fallocate+0x44/0x70
[  114.772301]  do_syscall_64+0x58/0xc0
[  114.772306]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[  114.772311] RIP: 0033:0x7f0f3db0e46e
[  114.772314] RSP: 002b:00007ffe1f3c28c8 EFLAGS: 00000246 ORIG_RAX: 000000000000011d
[  114.772318] RAX: ffffffffffffffda RBX: 0000000000000000 RCX: 00007f0f3db0e46e
[  114.772320] RDX: 0000000000010000 RSI: 0000000000000003 RDI: 0000000000000003
[  114.772322] RBP: 00007ffe1f3c29b0 R08: 0000000000000000 R09: 0000000000000000
[  114.772324] R10: 0000000000001000 R11: 0000000000000246 R12: 0000000000000003
[  114.772326] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[  114.772330]  </TASK>
[  114.772332] ---[ end trace 0000000000000000 ]---
";

    /// CONFIG_BUG_ON_DATA_CORRUPTION: the message comes first, then `cut here` and a BUG.
    const LIST_DEL_BUG: &str = "\
[  140.010001] list_del corruption. next->prev should be ffff9a0c4b3e1e70, but was dead000000000122. (next=ffff9a0c4ad89c70)
[  140.010020] ------------[ cut here ]------------
[  140.010023] kernel BUG at lib/list_debug.c:62!
[  140.010040] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[  140.010045] CPU: 1 PID: 287 Comm: kworker/1:3 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  140.010050] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  140.010053] Workqueue: ceph-msgr ceph_con_workfn [libceph]
[  140.010080] RIP: 0010:__list_del_entry_valid.cold+0x1d/0x6b
[  140.010086] Code: c7 c7 f8 ff 8b 9e e8 03 7c fe ff 0f 0b 48 89 fe 48 c7 c7 88 00 8c 9e e8 f2 7b fe ff 0f 0b 48 c7 c7 38 01 8c 9e e8 e4 7b fe ff <0f> 0b 48 89 f2 48 89 fe 48 c7 c7 f8 00 8c 9e e8 d0 7b fe ff 0f 0b
[  140.010090] RSP: 0018:ffffb4c1c0387bf8 EFLAGS: 00010246
[  140.010093] RAX: 000000000000006d RBX: ffff9a0c4b3e1e40 RCX: 0000000000000000
[  140.010096] RDX: 0000000000000000 RSI: ffff9a0cbbd1f6c0 RDI: ffff9a0cbbd1f6c0
[  140.010098] RBP: ffff9a0c4ad89c38 R08: 0000000000000000 R09: ffffb4c1c0387a98
[  140.010101] R10: 0000000000000003 R11: ffffffff9f0d4968 R12: ffff9a0c4ad89f58
[  140.010103] R13: ffff9a0c4ad89f58 R14: ffff9a0c4ad89a00 R15: 0000000000000000
[  140.010106] FS:  0000000000000000(0000) GS:ffff9a0cbbd00000(0000) knlGS:0000000000000000
[  140.010109] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  140.010111] CR2: 00007f2b9c1f8000 CR3: 0000000104f4c000 CR4: 00000000000006e0
[  140.010115] Call Trace:
[  140.010117]  <TASK>
[  140.010121]  __ceph_remove_cap+0x1a9/0x2a0 [ceph]
[  140.010165]  ceph_handle_caps+0x6f2/0x1a10 [ceph]
[  140.010205]  mds_dispatch+0x6d1/0x1b40 [ceph]
[  140.010245]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[  140.010270]  process_one_work+0x1c7/0x380
[  140.010275]  worker_thread+0x4d/0x380
[  140.010279]  kthread+0xd7/0x100
[  140.010283]  ret_from_fork+0x1f/0x30
[  140.010288]  </TASK>
[  140.010290] Modules linked in: {MODULES}
[  140.010320] ---[ end trace 0000000000000000 ]---
";

    const UBSAN_OOB: &str = "\
[   33.401001] ================================================================================
[   33.401010] UBSAN: array-index-out-of-bounds in fs/ceph/mds_client.c:1234:17
[   33.401060] index 5 is out of range for type 'ceph_mds_session *[4]'
[   33.401065] CPU: 1 PID: 287 Comm: kworker/1:3 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   33.401070] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   33.401073] Workqueue: ceph-msgr ceph_con_workfn [libceph]
[   33.401076] Call Trace:
[   33.401078]  <TASK>
[   33.401082]  dump_stack_lvl+0x44/0x5c
[   33.401088]  ubsan_epilogue+0x5/0x40
[   33.401093]  __ubsan_handle_out_of_bounds.cold+0x44/0x49
[   33.401100]  __ceph_lookup_mds_session+0x93/0xa0 [ceph]
[   33.401140]  mds_dispatch+0x6d1/0x1b40 [ceph]
[   33.401180]  ceph_con_workfn+0x2f7/0x6d0 [libceph]
[   33.401205]  process_one_work+0x1c7/0x380
[   33.401210]  worker_thread+0x4d/0x380
[   33.401214]  kthread+0xd7/0x100
[   33.401218]  ret_from_fork+0x1f/0x30
[   33.401223]  </TASK>
[   33.401225] ================================================================================
";

    /// The ceph umount path when a dentry leaks: a `BUG: Dentry ...` message with its WARN, then
    /// the VFS complaint (6.1 wording).
    const DENTRY_BUSY_INODES: &str = "\
[  410.120001] BUG: Dentry 00000000a1b2c3d4{i=10000000002,n=dir1}  still in use (1) [unmount of ceph ceph]
[  410.120020] ------------[ cut here ]------------
[  410.120023] WARNING: CPU: 0 PID: 1502 at fs/dcache.c:1605 umount_check+0x5b/0x70
[  410.120040] Modules linked in: {MODULES}
[  410.120070] CPU: 0 PID: 1502 Comm: umount Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[  410.120075] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  410.120078] RIP: 0010:umount_check+0x5b/0x70
[  410.120084] Code: 8b 0b 4d 8b 89 e0 03 00 00 48 8b 43 30 48 8d 88 28 05 00 00 48 c7 c7 b0 8d 8e 9e 48 8b 40 28 4c 8b 00 e8 f7 2d 6b 00 <0f> 0b 31 c0 5b 5d 41 5c c3 cc cc cc cc 41 83 fc 01 75 b5 eb c7 0f
[  410.120088] RSP: 0018:ffffb4c1c0e07d80 EFLAGS: 00010282
[  410.120091] RAX: 0000000000000000 RBX: ffff9a0c4a6e4d80 RCX: 0000000000000027
[  410.120094] RDX: ffff9a0cbbc1f6c8 RSI: 0000000000000001 RDI: ffff9a0cbbc1f6c0
[  410.120096] RBP: ffff9a0c4a6e4d80 R08: 0000000000000000 R09: ffffb4c1c0e07c08
[  410.120099] R10: 0000000000000003 R11: ffffffff9f0d4968 R12: ffff9a0c4a6e4d80
[  410.120101] R13: ffff9a0c44f1d000 R14: ffff9a0c4a6e4e00 R15: ffff9a0c4a6e4d80
[  410.120104] FS:  00007f8d1c1d8800(0000) GS:ffff9a0cbbc00000(0000) knlGS:0000000000000000
[  410.120107] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[  410.120109] CR2: 000055b1f3e2b000 CR3: 0000000104c3e000 CR4: 00000000000006f0
[  410.120113] Call Trace:
[  410.120115]  <TASK>
[  410.120119]  d_walk+0xde/0x2a0
[  410.120124]  ? dentry_free+0x90/0x90
[  410.120128]  shrink_dcache_for_umount+0x3c/0xd0
[  410.120133]  generic_shutdown_super+0x1a/0x120
[  410.120138]  kill_anon_super+0x14/0x30
[  410.120142]  ceph_kill_sb+0x36/0x90 [ceph]
[  410.120180]  deactivate_locked_super+0x2f/0xa0
[  410.120185]  cleanup_mnt+0xbd/0x150
[  410.120190]  task_work_run+0x59/0x90
[  410.120195]  exit_to_user_mode_prepare+0x1dd/0x1e0
[  410.120200]  syscall_exit_to_user_mode+0x17/0x40
[  410.120205]  do_syscall_64+0x67/0xc0
[  410.120210]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[  410.120215] RIP: 0033:0x7f8d1c2e8a67
[  410.120218] RSP: 002b:00007ffc85c0f0d8 EFLAGS: 00000246 ORIG_RAX: 00000000000000a6
[  410.120222] RAX: 0000000000000000 RBX: 000055b1f3e2a9d0 RCX: 00007f8d1c2e8a67
[  410.120225] RDX: 0000000000000000 RSI: 0000000000000000 RDI: 000055b1f3e2ac00
[  410.120228] RBP: 0000000000000000 R08: 0000000000000000 R09: 00007ffc85c0de50
[  410.120231] R10: 0000000000000000 R11: 0000000000000246 R12: 000055b1f3e2ac00
[  410.120234] R13: 00007f8d1c42e264 R14: 000055b1f3e2aae8 R15: 000055b1f3e2a9d0
[  410.120238]  </TASK>
[  410.120240] ---[ end trace 0000000000000000 ]---
[  410.121001] VFS: Busy inodes after unmount of ceph. Self-destruct in 5 seconds.  Have a nice day...
umount: /mnt/ceph: target is busy.
HARNESS-FINDING: umount failed: Device or resource busy
";

    const BOOT_NOISE: &str = "\
[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-06-30)
[    0.000000] Command line: console=ttyS0 root=/dev/vda rw panic=-1 hung_task_panic=1
[    0.004211] mtrr: your CPUs had inconsistent variable MTRR settings
[    0.120522] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!
[    0.301002] PCI: MMCONFIG for domain 0000 [bus 00-ff] at [mem 0xb0000000-0xbfffffff] (base 0xb0000000)
[    0.301010] PCI: fail to add MMCONFIG information, can't access extended configuration space under this bridge
[    0.988420] Unstable clock detected, switching default tracing clock to \"global\"
[    0.988420] If you want to keep using the local clock, then add:
[    0.988420]   \"trace_clock=local\"
[    0.988420] on the kernel command line
[    2.410512] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:
[    2.410520] clocksource:                       'hpet' wd_nsec: 512021554 wd_now: 2c4a1b9 wd_last: 2424d1c mask: ffffffff
[    2.410525] tsc: Marking TSC unstable due to clocksource watchdog
[    3.987654] ceph: loading out-of-tree module taints kernel.
[    3.987700] ceph: module verification failed: signature and/or required key missing - tainting kernel
[    4.120001] FS-Cache: Netfs 'ceph' registered for caching
[    4.130002] Key type ceph registered
[    4.130100] libceph: loaded (mon/osd proto 15/24)
[    4.200311] libceph: mon0 (1)10.0.2.2:40125 socket closed (con state V1_BANNER)
[    4.700312] libceph: mon0 (1)10.0.2.2:40125 socket error on read
[    4.800313] libceph: connect (1)10.0.2.2:40125 error -101
[    5.100001] libceph: mon0 (1)10.0.2.2:40125 session established
[    5.100400] libceph: client4123 fsid 2e6e4b8c-0a62-4f0e-8e0c-1e4b8a6a1f2b
[    5.301002] hrtimer: interrupt took 10349513 ns
Starting workload fsstress...
[    9.001002] perf: interrupt took too long (2509 > 2500), lowering kernel.perf_event_max_sample_rate to 79500
[   20.001002] sched: RT throttling activated
";

    // ----------------------------------------------------------------------------------------
    // One test per kind
    // ----------------------------------------------------------------------------------------

    use FindingKind::*;

    #[test]
    fn warning_with_module() {
        let f = check(WARN_UNLINK, &[(Warning, "WARNING in ceph_unlink")]);
        // The `cut here` line starts the finding; the excerpt ends with the end-trace marker.
        assert_eq!(f[0].line, 1);
        assert!(f[0]
            .excerpt
            .starts_with("[   52.103412] ------------[ cut here ]"));
        assert!(f[0]
            .excerpt
            .ends_with("[   52.103680] ---[ end trace 0000000000000000 ]---"));
        assert_eq!(f[0].excerpt.lines().count(), 34);
        assert_eq!(f[0].prefix, None);
    }

    #[test]
    fn warning_without_module() {
        check(WARN_ALLOC, &[(Warning, "WARNING in __alloc_pages")]);
    }

    #[test]
    fn warning_without_file_info() {
        let text =
            "[    5.1] WARNING: CPU: 0 PID: 1 at ceph_fill_inode.isra.0+0x5d1/0x1550 [ceph]\n\
                    [    5.1] ---[ end trace 0000000000000000 ]---\n";
        assert_eq!(
            titles(text),
            vec![(Warning, "WARNING in ceph_fill_inode".to_string())]
        );
    }

    #[test]
    fn kernel_bug_then_panic_gives_two_findings() {
        let f = check(
            KERNEL_BUG_PANIC,
            &[
                (Bug, "kernel BUG in evict"),
                (Panic, "kernel panic: Fatal exception"),
            ],
        );
        assert!(f[0]
            .excerpt
            .contains("invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"));
        assert!(f[0]
            .excerpt
            .ends_with("---[ end trace 0000000000000000 ]---"));
        // The "executive summary" register dump after the marker belongs to no finding.
        assert_eq!(f[0].excerpt.matches("RIP: 0010:evict").count(), 1);
        assert!(f[1]
            .excerpt
            .starts_with("[  130.512640] Kernel panic - not syncing: Fatal exception"));
        assert!(f[1]
            .excerpt
            .ends_with("---[ end Kernel panic - not syncing: Fatal exception ]---"));
    }

    #[test]
    fn kernel_bug_without_rip_names_the_file() {
        let text = "[  130.512309] kernel BUG at fs/inode.c:1234!\n\
                    [  130.512340] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n";
        assert_eq!(
            titles(text),
            vec![(Bug, "kernel BUG at fs/inode.c".to_string())]
        );
    }

    #[test]
    fn null_pointer_dereference() {
        let f = check(
            NULL_DEREF,
            &[(
                Oops,
                "BUG: unable to handle kernel NULL pointer dereference in __ceph_remove_cap",
            )],
        );
        // `Oops: 0000 [#1]` is part of the same report, not a second finding.
        assert!(f[0].excerpt.contains("Oops: 0000 [#1] PREEMPT SMP NOPTI"));
        assert!(f[0]
            .excerpt
            .ends_with("---[ end trace 0000000000000000 ]---"));
        assert!(!f[0].excerpt.contains("note: kworker"));
    }

    #[test]
    fn page_fault() {
        check(
            PAGE_FAULT,
            &[(
                Oops,
                "BUG: unable to handle page fault in ceph_put_snap_realm",
            )],
        );
    }

    #[test]
    fn standalone_oops() {
        check(STANDALONE_OOPS, &[(Oops, "Oops in ceph_fill_inode")]);
    }

    #[test]
    fn general_protection_fault() {
        let f = check(
            GPF,
            &[(
                GeneralProtectionFault,
                "general protection fault in ceph_d_revalidate",
            )],
        );
        assert!(f[0]
            .excerpt
            .ends_with("---[ end trace 0000000000000000 ]---"));
    }

    #[test]
    fn hung_task_skips_scheduler_and_lock_frames() {
        let f = check(
            HUNG_TASK,
            &[(HungTask, "INFO: task hung in ceph_check_caps")],
        );
        assert!(f[0].excerpt.ends_with("[  247.104327]  </TASK>"));
        assert_eq!(f[0].excerpt.lines().count(), 26);
    }

    #[test]
    fn deadlock_titles_name_the_wait_and_the_cephfs_caller() {
        let fr = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        // Deadlock A: writeback waits for itself (6.12.118, from a real hang of the stock module).
        assert_eq!(
            deadlock_title(&fr("__schedule schedule inode_wait_for_writeback evict iput ceph_put_wrbuffer_cap_refs ceph_invalidate_folio truncate_cleanup_folio ceph_writepages_start do_writepages")).as_deref(),
            Some("INFO: task hung in inode_wait_for_writeback (from ceph_put_wrbuffer_cap_refs)")
        );
        // Deadlock B: the messenger waits for I/O only it can complete.
        assert_eq!(
            deadlock_title(&fr("netfs_wait_for_outstanding_io ceph_evict_inode evict iput ceph_mdsc_release_request ceph_handle_reply")).as_deref(),
            Some("INFO: task hung in netfs_wait_for_outstanding_io (from ceph_mdsc_release_request)")
        );
        // The other side: a cap message looks up the inode being freed.
        assert_eq!(
            deadlock_title(&fr("__wait_on_freeing_inode find_inode ilookup5_nowait ilookup5 ceph_find_inode ceph_handle_caps")).as_deref(),
            Some("INFO: task hung in wait_on_freeing_inode (from ceph_handle_caps)")
        );
        // The same wait outside evict is not this deadlock.
        assert_eq!(
            deadlock_title(&fr(
                "inode_wait_for_writeback writeback_single_inode sync_inode_metadata"
            )),
            None
        );
        assert_eq!(deadlock_title(&fr("ceph_fsync vfs_fsync_range")), None);
    }

    #[test]
    fn hung_task_then_panic() {
        check(
            HUNG_TASK_PANIC,
            &[
                (HungTask, "INFO: task hung in ceph_mdsc_sync"),
                (Panic, "kernel panic: hung_task: blocked tasks"),
            ],
        );
    }

    #[test]
    fn soft_lockup_in_spinlock_names_the_caller() {
        check(
            SOFT_LOCKUP,
            &[(SoftLockup, "BUG: soft lockup in ceph_check_delayed_caps")],
        );
    }

    #[test]
    fn rcu_self_detected_stall() {
        check(
            RCU_STALL,
            &[(
                RcuStall,
                "INFO: rcu detected stall in ceph_iterate_session_caps",
            )],
        );
    }

    #[test]
    fn rcu_stall_detected_on_other_cpu() {
        check(
            RCU_STALL_OTHER,
            &[(RcuStall, "INFO: rcu detected stall in ceph_queue_cap_snap")],
        );
    }

    #[test]
    fn kasan_use_after_free() {
        let f = check(
            KASAN_UAF,
            &[(Kasan, "KASAN: use-after-free Read in ceph_put_cap")],
        );
        // Blank lines inside the report do not end it; the closing separator does.
        assert!(f[0]
            .excerpt
            .starts_with("[   95.330010] BUG: KASAN: use-after-free"));
        assert!(f[0].excerpt.contains("Freed by task 45:"));
        assert!(f[0].excerpt.ends_with(
            "[   95.330713] =================================================================="
        ));
        assert!(!f[0].excerpt.contains("Disabling lock debugging"));
    }

    #[test]
    fn kasan_without_access_line() {
        let text = "[   95.1] ==================================================================\n\
                    [   95.1] BUG: KASAN: double-free in ceph_put_cap+0x1a4/0x200 [ceph]\n\
                    [   95.1] Free of addr ffff888104a1e280 by task kworker/0:2/45\n\
                    [   95.1] ==================================================================\n";
        assert_eq!(
            titles(text),
            vec![(Kasan, "KASAN: double-free in ceph_put_cap".to_string())]
        );
    }

    #[test]
    fn lockdep_circular_dependency() {
        let f = check(
            LOCKDEP_CIRCULAR,
            &[(Lockdep, "possible deadlock in ceph_mdsc_do_request")],
        );
        // The `=====` line before the header is not part of the excerpt; the trace end is.
        assert!(f[0]
            .excerpt
            .starts_with("[   40.221008] WARNING: possible circular locking"));
        assert!(f[0].excerpt.ends_with("[   40.221699]  </TASK>"));
        assert!(f[0].excerpt.contains("*** DEADLOCK ***"));
    }

    #[test]
    fn lockdep_header_is_not_a_plain_warning() {
        let text = console(LOCKDEP_CIRCULAR);
        assert!(scan_text(&text).iter().all(|f| f.kind == Lockdep));
    }

    #[test]
    fn sleeping_function_called_from_invalid_context() {
        check(
            SLEEPING_IN_ATOMIC,
            &[(
                Lockdep,
                "BUG: sleeping function called from invalid context in ceph_add_cap",
            )],
        );
    }

    #[test]
    fn lock_held_when_returning_ends_at_unrelated_line() {
        let f = check(
            LOCK_HELD_RETURNING,
            &[(
                Lockdep,
                "WARNING: lock held when returning to user space in ceph_fallocate",
            )],
        );
        assert!(f[0]
            .excerpt
            .ends_with("at: ceph_fallocate+0x1a2/0x6f0 [ceph]"));
        assert!(!f[0].excerpt.contains("fsx:"));
    }

    #[test]
    fn other_lockdep_reports() {
        let cases = [
            (
                "WARNING: possible recursive locking detected",
                "possible deadlock in ceph_check_caps",
            ),
            (
                "WARNING: inconsistent lock state",
                "inconsistent lock state in ceph_check_caps",
            ),
            (
                "WARNING: suspicious RCU usage",
                "WARNING: suspicious RCU usage in ceph_add_cap",
            ),
            (
                "BUG: scheduling while atomic: rm/312/0x00000002",
                "BUG: scheduling while atomic in ceph_add_cap",
            ),
        ];
        for (header, title) in cases {
            let text = format!(
                "[   40.1] {header}\n\
                 [   40.1] 6.1.0-56-amd64 #1 Tainted: G           OE     \n\
                 [   40.1] rm/312 is trying to acquire lock:\n\
                 [   40.1] ffff9a0c4b3e1e40 (&s->s_mutex){{+.+.}}-{{3:3}}, at: ceph_check_caps+0x2a/0x6b0 [ceph]\n\
                 [   40.1] \n\
                 [   40.1] stack backtrace:\n\
                 [   40.1] CPU: 0 PID: 312 Comm: rm Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2\n\
                 [   40.1] Call Trace:\n\
                 [   40.1]  <TASK>\n\
                 [   40.1]  dump_stack_lvl+0x44/0x5c\n\
                 [   40.1]  __schedule_bug.cold+0x8e/0x9b\n\
                 [   40.1]  __schedule+0x6e4/0xa20\n\
                 [   40.1]  lockdep_rcu_suspicious+0x13f/0x150\n\
                 [   40.1]  ceph_add_cap+0x2d3/0xa40 [ceph]\n\
                 [   40.1]  </TASK>\n"
            );
            assert_eq!(
                titles(&text),
                vec![(Lockdep, title.to_string())],
                "{header}"
            );
        }
    }

    #[test]
    fn refcount_underflow_is_one_corruption_finding() {
        let f = check(
            REFCOUNT_UNDERFLOW,
            &[(Corruption, "refcount bug in ceph_put_snap_context")],
        );
        assert!(f[0]
            .excerpt
            .starts_with("[  114.772001] ------------[ cut here ]"));
        assert!(f[0]
            .excerpt
            .contains("refcount_t: underflow; use-after-free."));
        assert!(f[0]
            .excerpt
            .ends_with("---[ end trace 0000000000000000 ]---"));
    }

    #[test]
    fn refcount_saturated_variant() {
        let text = console(REFCOUNT_UNDERFLOW)
            .replace(
                "refcount_t: underflow; use-after-free.",
                "refcount_t: saturated; leaking memory.",
            )
            .replace("lib/refcount.c:28", "lib/refcount.c:22");
        assert_eq!(
            titles(&text),
            vec![(
                Corruption,
                "refcount bug in ceph_put_snap_context".to_string()
            )]
        );
    }

    #[test]
    fn list_corruption_with_bug() {
        let f = check(
            LIST_DEL_BUG,
            &[(Corruption, "list corruption in __ceph_remove_cap")],
        );
        assert!(f[0]
            .excerpt
            .starts_with("[  140.010001] list_del corruption."));
        assert!(f[0].excerpt.contains("kernel BUG at lib/list_debug.c:62!"));
    }

    #[test]
    fn list_corruption_with_warn() {
        // Without CONFIG_BUG_ON_DATA_CORRUPTION it is a WARN: `cut here` first, then the message.
        let text = "\
[  140.1] ------------[ cut here ]------------
[  140.1] list_add corruption. prev->next should be next (ffff9a0c4ad89c70), but was ffff9a0c4b3e1e70. (prev=ffff9a0c4ad89c70).
[  140.1] WARNING: CPU: 1 PID: 287 at lib/list_debug.c:30 __list_add_valid+0x6f/0xa0
[  140.1] Modules linked in: ceph(OE) libceph(OE)
[  140.1] RIP: 0010:__list_add_valid+0x6f/0xa0
[  140.1] Call Trace:
[  140.1]  <TASK>
[  140.1]  ceph_add_cap+0x3a0/0xa40 [ceph]
[  140.1]  ceph_fill_inode+0xc33/0x1550 [ceph]
[  140.1]  </TASK>
[  140.1] ---[ end trace 0000000000000000 ]---
";
        assert_eq!(
            titles(text),
            vec![(Corruption, "list corruption in ceph_add_cap".to_string())]
        );
    }

    #[test]
    fn ubsan() {
        let f = check(
            UBSAN_OOB,
            &[(
                Corruption,
                "UBSAN: array-index-out-of-bounds in fs/ceph/mds_client.c",
            )],
        );
        assert!(f[0].excerpt.ends_with(
            "================================================================================"
        ));
        assert_eq!(f[0].excerpt.lines().count(), 19);
    }

    #[test]
    fn dentry_leak_busy_inodes_and_workload() {
        let f = check(
            DENTRY_BUSY_INODES,
            &[
                (Bug, "BUG: Dentry still in use [unmount of ceph ceph]"),
                (BusyInodes, "VFS: Busy inodes after unmount of ceph"),
                (Workload, "umount failed: Device or resource busy"),
            ],
        );
        // The dentry message and its WARN are one finding.
        assert!(f[0]
            .excerpt
            .contains("WARNING: CPU: 0 PID: 1502 at fs/dcache.c:1605 umount_check"));
        assert_eq!(f[1].excerpt, "[  410.121001] VFS: Busy inodes after unmount of ceph. Self-destruct in 5 seconds.  Have a nice day...");
        assert_eq!((f[1].line, f[2].line), (42, 44));
    }

    #[test]
    fn busy_inodes_newer_wording() {
        let text = "[  410.1] VFS: Busy inodes after unmount of ceph (ceph)\n";
        assert_eq!(
            titles(text),
            vec![(
                BusyInodes,
                "VFS: Busy inodes after unmount of ceph".to_string()
            )]
        );
    }

    #[test]
    fn workload_line_with_and_without_printk_time() {
        let text = "HARNESS-FINDING: data mismatch in /mnt/ceph/f1\n\
                    [   12.1] HARNESS-FINDING:   fsync   failed: Input/output error \n";
        assert_eq!(
            titles(text),
            vec![
                (Workload, "data mismatch in /mnt/ceph/f1".to_string()),
                (Workload, "fsync failed: Input/output error".to_string()),
            ]
        );
    }

    #[test]
    fn panic_reasons_are_normalised() {
        let cases = [
            (
                "Fatal exception in interrupt",
                "kernel panic: Fatal exception in interrupt",
            ),
            (
                "panic_on_warn set ...",
                "kernel panic: panic_on_warn set ...",
            ),
            (
                "softlockup: hung tasks",
                "kernel panic: softlockup: hung tasks",
            ),
            (
                "Attempted to kill init! exitcode=0x00000009",
                "kernel panic: Attempted to kill init!",
            ),
            (
                "Watchdog detected hard LOCKUP on cpu 1",
                "kernel panic: Watchdog detected hard LOCKUP on cpu",
            ),
            (
                "stack-protector: Kernel stack is corrupted in: ceph_readdir+0x7d0/0x7e0 [ceph]",
                "kernel panic: stack-protector: Kernel stack is corrupted in: ceph_readdir [ceph]",
            ),
        ];
        for (reason, title) in cases {
            let text = format!("[  9.1] Kernel panic - not syncing: {reason}\n");
            assert_eq!(titles(&text), vec![(Panic, title.to_string())], "{reason}");
        }
    }

    // ----------------------------------------------------------------------------------------
    // Behaviour
    // ----------------------------------------------------------------------------------------

    #[test]
    fn noise_produces_nothing() {
        assert_eq!(titles(BOOT_NOISE), vec![]);
        for line in BOOT_NOISE.lines() {
            let body = strip_printk_time(line).1;
            if [
                "mtrr:",
                "PCI: fail",
                "Unstable",
                "clocksource:",
                "tsc:",
                "ceph:",
                "hrtimer:",
                "perf:",
                "sched:",
                "RETBleed",
            ]
            .iter()
            .any(|p| body.starts_with(p))
            {
                assert!(is_noise(line), "not noise: {line}");
            }
        }
        assert!(is_noise(
            "libceph: mon0 (1)10.0.2.2:40125 socket closed (con state V1_BANNER)"
        ));
        assert!(!is_noise(
            "[ 5.1] libceph: mon0 (1)10.0.2.2:40125 session established"
        ));
        assert!(!is_noise(
            "[ 5.1] WARNING: CPU: 1 PID: 312 at fs/ceph/dir.c:1203 ceph_unlink+0x4a/0x1f0 [ceph]"
        ));
    }

    #[test]
    fn same_warning_from_different_runs_has_same_title() {
        let a = console(WARN_UNLINK);
        let b = perturb(&a);
        assert_ne!(a, b);
        assert!(b.contains("PID: 4711") && b.contains("Comm: xfs_io"));
        assert_eq!(one(&a).title, one(&b).title);
        // And a different console position / line numbering does not matter either.
        let c = format!("{}\nsome user-space output\n{}", console(BOOT_NOISE), b);
        assert_eq!(
            titles(&c),
            vec![(Warning, "WARNING in ceph_unlink".to_string())]
        );
    }

    #[test]
    fn excerpt_ends_at_end_trace_marker() {
        let mut scanner = Scanner::new();
        let text = console(WARN_UNLINK);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let found = scanner.feed(i + 1, Some(i as f64), line);
            if i + 1 < lines.len() {
                assert!(found.is_empty(), "completed early at line {}", i + 1);
            } else {
                assert_eq!(found.len(), 1, "completed by the end-trace marker");
                assert_eq!(found[0].time, Some(0.0));
            }
        }
        // What follows the marker is not collected.
        assert!(scanner
            .feed(99, None, "[   52.2] ceph: mds0 caps stale")
            .is_empty());
        assert!(scanner.finish().is_empty());
    }

    #[test]
    fn back_to_back_findings_are_both_reported() {
        let text = format!(
            "{}{}{}",
            console(WARN_UNLINK),
            console(WARN_ALLOC),
            console(WARN_UNLINK)
        );
        assert_eq!(
            titles(&text),
            vec![
                (Warning, "WARNING in ceph_unlink".to_string()),
                (Warning, "WARNING in __alloc_pages".to_string()),
                (Warning, "WARNING in ceph_unlink".to_string()),
            ]
        );
    }

    #[test]
    fn new_header_ends_previous_finding_without_marker() {
        // A WARN cut short (no end marker), directly followed by a hung task report.
        let warn: String = console(WARN_UNLINK)
            .lines()
            .take(20)
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{warn}{HUNG_TASK}");
        let f = scan_text(&text);
        assert_eq!(
            f.iter()
                .map(|f| (f.kind, f.title.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (Warning, "WARNING in ceph_unlink"),
                (HungTask, "INFO: task hung in ceph_check_caps")
            ]
        );
        assert_eq!(f[0].excerpt.lines().count(), 20);
        assert_eq!(f[1].line, 21);
    }

    #[test]
    fn interleaved_lines_do_not_lose_the_finding() {
        // User-space output and another CPU's kernel message land in the middle of reports.
        let mut lines: Vec<String> = HUNG_TASK.lines().map(str::to_string).collect();
        lines.insert(1, "fsstress: seed = 1702931".to_string());
        lines.insert(
            4,
            "[  247.104040] libceph: mon0 (1)10.0.2.2:40125 socket closed (con state OPEN)"
                .to_string(),
        );
        lines.insert(7, "[  247.104065] ceph: mds0 caps stale".to_string());
        lines.insert(12, String::new());
        let hung = lines.join("\n") + "\n";
        let f = one(&hung);
        assert_eq!(
            (f.kind, f.title.as_str()),
            (HungTask, "INFO: task hung in ceph_check_caps")
        );
        assert!(
            !f.excerpt.contains("fsstress: seed"),
            "user space is left out"
        );
        assert!(!f.excerpt.contains("socket closed"), "noise is left out");
        assert!(
            f.excerpt.contains("ceph: mds0 caps stale"),
            "kernel lines are kept"
        );
        assert!(f.excerpt.ends_with("</TASK>"));

        let mut lines: Vec<String> = console(NULL_DEREF).lines().map(str::to_string).collect();
        lines.insert(
            3,
            "dd: writing to '/mnt/ceph/f': Input/output error".to_string(),
        );
        lines.insert(20, "[   88.301240] ceph: mds0 reconnect start".to_string());
        let text = lines.join("\n");
        assert_eq!(
            titles(&text),
            vec![(
                Oops,
                "BUG: unable to handle kernel NULL pointer dereference in __ceph_remove_cap"
                    .to_string()
            )]
        );
    }

    #[test]
    fn line_limit_bounds_the_excerpt() {
        let mut text = String::from(
            "[  1.0] WARNING: CPU: 0 PID: 1 at fs/ceph/caps.c:1 ceph_foo+0x1/0x2 [ceph]\n",
        );
        for i in 0..500 {
            text.push_str(&format!("[  1.0]  frame_{i}+0x1/0x2\n"));
        }
        let f = one(&text);
        assert_eq!(f.excerpt.lines().count(), MAX_EXCERPT_LINES);
    }

    #[test]
    fn finish_flushes_a_report_cut_short() {
        let text: String = HUNG_TASK
            .lines()
            .take(14)
            .map(|l| format!("{l}\n"))
            .collect();
        let mut scanner = Scanner::new();
        for (i, l) in text.lines().enumerate() {
            assert!(scanner.feed(i + 1, None, l).is_empty());
        }
        let f = scanner.finish();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].title, "INFO: task hung in ceph_check_caps");
        assert!(scanner.finish().is_empty());
    }

    #[test]
    fn bare_cut_here_is_not_a_finding() {
        let text = "[ 1.0] ------------[ cut here ]------------\n[ 1.0] ceph: something\n";
        assert_eq!(titles(text), vec![]);
        // Nor does it swallow an unrelated report that follows.
        let text = format!("[ 1.0] ------------[ cut here ]------------\n{HUNG_TASK}");
        let f = one(&text);
        assert_eq!((f.kind, f.line), (HungTask, 2));
    }

    #[test]
    fn host_prefix_gives_time_and_line() {
        let text: String = console(WARN_ALLOC)
            .lines()
            .enumerate()
            .map(|(i, l)| format!("[+{:9.3}] {l}\n", 13.0 + i as f64 * 0.001))
            .collect();
        let text = format!("[+    0.100] SeaBIOS (version 1.16.2-debian-1.16.2-1)\n{text}");
        let f = one(&text);
        assert_eq!(f.title, "WARNING in __alloc_pages");
        assert_eq!(f.line, 2);
        assert_eq!(f.time, Some(13.0));
        assert!(
            f.excerpt
                .starts_with("[   12.880001] ------------[ cut here ]"),
            "host prefix stripped"
        );
    }

    #[test]
    fn console_without_printk_times() {
        // Should CONFIG_PRINTK_TIME be off, reports are still followed.
        let text: String = console(NULL_DEREF)
            .lines()
            .map(|l| format!("{}\n", strip_printk_time(l).1))
            .collect();
        assert_eq!(
            titles(&text),
            vec![(
                Oops,
                "BUG: unable to handle kernel NULL pointer dereference in __ceph_remove_cap"
                    .to_string()
            )]
        );
    }

    #[test]
    fn crlf_line_endings() {
        let text = console(WARN_UNLINK).replace('\n', "\r\n");
        let f = one(&text);
        assert_eq!(f.title, "WARNING in ceph_unlink");
        assert!(!f.excerpt.contains('\r'));
    }

    // ----------------------------------------------------------------------------------------
    // Helpers
    // ----------------------------------------------------------------------------------------

    #[test]
    fn host_prefix() {
        assert_eq!(
            strip_host_prefix("[+   12.345] rest"),
            (Some(12.345), "rest")
        );
        assert_eq!(
            strip_host_prefix("[+    4.123] [    3.987654] ceph: loaded"),
            (Some(4.123), "[    3.987654] ceph: loaded")
        );
        assert_eq!(strip_host_prefix("[+12345.678] "), (Some(12345.678), ""));
        assert_eq!(
            strip_host_prefix("[    3.987654] x"),
            (None, "[    3.987654] x")
        );
        assert_eq!(strip_host_prefix("[+ abc] x"), (None, "[+ abc] x"));
        assert_eq!(strip_host_prefix(""), (None, ""));
    }

    #[test]
    fn printk_time() {
        assert_eq!(
            strip_printk_time("[    3.987654] ceph: loaded"),
            (true, "ceph: loaded")
        );
        assert_eq!(
            strip_printk_time("[   21.100000]  __schedule+0x2e5/0x8d0"),
            (true, " __schedule+0x2e5/0x8d0")
        );
        assert_eq!(strip_printk_time("[12345.000001] [  T123] x"), (true, "x"));
        assert_eq!(
            strip_printk_time("[  OK  ] Started foo"),
            (false, "[  OK  ] Started foo")
        );
        assert_eq!(strip_printk_time("[ 3.] x"), (false, "[ 3.] x"));
        assert_eq!(strip_printk_time("[    3.987654]"), (true, ""));
    }

    #[test]
    fn function_names() {
        assert_eq!(
            normalize_function("ceph_unlink+0x4a/0x1f0 [ceph]"),
            "ceph_unlink"
        );
        assert_eq!(
            normalize_function("__ceph_remove_cap+0x3c/0x2a0 [ceph]"),
            "__ceph_remove_cap"
        );
        assert_eq!(
            normalize_function("__mutex_lock.constprop.0+0x3b4/0x700"),
            "__mutex_lock"
        );
        assert_eq!(
            normalize_function("ceph_put_snap_realm.isra.0"),
            "ceph_put_snap_realm"
        );
        assert_eq!(
            normalize_function("__list_del_entry_valid.cold+0x1d/0x6b"),
            "__list_del_entry_valid"
        );
        assert_eq!(normalize_function("foo.part.0.cold"), "foo");
        assert_eq!(
            normalize_function("x86_64_start_kernel"),
            "x86_64_start_kernel"
        );
    }

    #[test]
    fn uninteresting_frames() {
        for f in [
            "__schedule",
            "schedule_timeout",
            "io_schedule",
            "__mutex_lock",
            "mutex_lock_killable",
            "rwsem_down_write_slowpath",
            "down_read",
            "wait_for_completion_killable_timeout",
            "__wait_on_freeing_inode",
            "wait_on_page_bit_common",
            "__flush_work",
            "__cond_resched",
            "percpu_rwsem_wait",
            "__folio_lock",
            "folio_wait_bit_common",
            "refcount_warn_saturate",
            "_raw_spin_lock_irqsave",
        ] {
            assert!(is_uninteresting_frame(f), "{f}");
        }
        for f in [
            "ceph_check_caps",
            "ceph_mdsc_sync",
            "evict",
            "vfs_unlink",
            "schedule_work_on_ceph",
            "downgrade_caps",
        ] {
            assert!(!is_uninteresting_frame(f), "{f}");
        }
    }

    #[test]
    fn generic_bug_text() {
        assert_eq!(
            normalize_bug_text("Bad page state in process rm  pfn:104a1e"),
            "Bad page state"
        );
        assert_eq!(
            normalize_bug_text(
                "workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 33s!"
            ),
            "workqueue lockup"
        );
        assert_eq!(
            normalize_bug_text("using smp_processor_id() in preemptible [00000000] code: rm/312"),
            "using smp_processor_id() in preemptible code"
        );
        assert_eq!(
            normalize_bug_text("Bad rss-counter state mm:000000004e7c4a36 type:MM_ANONPAGES val:1"),
            "Bad rss-counter state"
        );
    }

    #[test]
    fn scans_100k_lines_quickly() {
        let mut text = String::new();
        let mut n = 0;
        while n < 100_000 {
            for chunk in [BOOT_NOISE, HUNG_TASK, KASAN_UAF, WARN_UNLINK] {
                text.push_str(&console(chunk));
                n += chunk.lines().count();
            }
            for i in 0..200 {
                text.push_str(&format!(
                    "[  500.{i:06}] ceph: mds0 handle_caps from mds0 op grant ino 10000000{i}\n"
                ));
                text.push_str(&format!("fsstress: op {i} ok\n"));
            }
            n += 400;
        }
        let text: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("[+{:9.3}] {l}\n", i as f64 * 0.01))
            .collect();
        let start = std::time::Instant::now();
        let found = scan_text(&text);
        let took = start.elapsed();
        assert!(found.len() > 100);
        // Release builds take a few tens of milliseconds; unoptimised test builds get slack.
        let budget = if cfg!(debug_assertions) { 5.0 } else { 1.0 };
        assert!(took.as_secs_f64() < budget, "100k lines took {took:?}");
    }
}
