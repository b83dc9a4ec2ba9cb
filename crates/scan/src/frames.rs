//! Stack frames in console lines, and annotating them with source locations.
//!
//! The kernel prints code addresses as `function+0xOFFSET/0xSIZE [module]` (`%pS` / `%pB`), in
//! `RIP:` lines, call traces, `WARNING: ... at file:line func+off/size` headers, lockdep `at:` lines
//! and KASAN headers. Resolving such a frame to `file:line` needs the object file with debug info,
//! which is the executor's business (it runs `nm` and `addr2line`); this module only finds frames in
//! text ([`parse_frame`]) and splices the answers back in ([`annotate`]), like the kernel's
//! `scripts/decode_stacktrace.sh` does.

use std::sync::LazyLock;

use regex::Regex;

use crate::{strip_host_prefix, strip_printk_time};

/// One code address as printed by the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The symbol as printed, clone suffixes included (`finish_task_switch.isra.0`): that is the
    /// name the object's symbol table has.
    pub function: String,
    pub offset: u64,
    /// The size kallsyms reports (distance to the next symbol, not the ELF symbol size).
    pub size: u64,
    /// `[ceph]`; `None` for the core kernel (vmlinux).
    pub module: Option<String>,
    /// A `? ` frame: a stale return address found on the stack, maybe not part of the call chain.
    pub uncertain: bool,
    /// The address is a return address (call traces, lockdep `at:`, KASAN `in`): it points after the
    /// call, so the call's own line is found at `offset - 1`. `RIP:`/`pc :` lines and the
    /// `WARNING: ... at` header carry the exact instruction address instead.
    pub return_address: bool,
}

/// What a resolved frame is looked up by: `(module or "", function, lookup offset)`.
pub type FrameKey = (String, String, u64);

impl Frame {
    /// The offset whose source line is wanted: the call instruction for a return address (a call
    /// that ends a function returns past its end, into the next symbol or padding).
    pub fn lookup_offset(&self) -> u64 {
        if self.return_address {
            self.offset.saturating_sub(1)
        } else {
            self.offset
        }
    }

    /// The key under which a symbolizer reports this frame's location.
    pub fn key(&self) -> FrameKey {
        (
            self.module.clone().unwrap_or_default(),
            self.function.clone(),
            self.lookup_offset(),
        )
    }
}

/// `func+0xoff/0xsize [module]`, preceded by the start, white space or a `:` (`RIP: 0010:func`).
/// The module tag may carry a build id (`[ceph 0123abcd...]`, CONFIG_STACKTRACE_BUILD_ID).
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s:])(?P<q>\?\s+)?(?P<func>[A-Za-z_$][\w.$]*)\+0x(?P<off>[0-9a-fA-F]+)/0x(?P<size>[0-9a-fA-F]+)(?:\s+\[(?P<module>\w+)[^\]]*\])?",
    )
    .unwrap()
});

/// Lines whose frame is the exact address of the instruction (not a return address).
static EXACT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:(?:RIP|EIP|pc|ip)\s*:|WARNING: (?:CPU: \d+ PID: \d+ )?at )").unwrap()
});

/// The first frame in a console line, with or without the host stamp (`[+    4.939] `) and the
/// printk timestamp. `None` for lines that show no `func+0xoff/0xsize`.
pub fn parse_frame(line: &str) -> Option<Frame> {
    let (_, guest) = strip_host_prefix(line);
    let (_, body) = strip_printk_time(guest);
    let c = FRAME_RE.captures(body)?;
    Some(Frame {
        function: c["func"].to_string(),
        offset: u64::from_str_radix(&c["off"], 16).ok()?,
        size: u64::from_str_radix(&c["size"], 16).ok()?,
        module: c.name("module").map(|m| m.as_str().to_string()),
        uncertain: c.name("q").is_some(),
        return_address: !EXACT_RE.is_match(body),
    })
}

/// The function a blocked task is stuck in, from a blocked-task dump (sysrq w, hung task report):
/// the first frame of the first call trace that is certain and not scheduler or locking plumbing.
pub fn blocked_in(excerpt: &str) -> Option<String> {
    excerpt
        .lines()
        .skip_while(|l| !l.contains("Call Trace:"))
        .filter_map(parse_frame)
        .find(|f| !f.uncertain && !crate::is_uninteresting_frame(&f.function))
        .map(|f| crate::normalize_function(&f.function))
}

/// Append ` (<location>)` to every line of `excerpt` whose frame `locate` resolves; every other
/// line, and every line ending (`\n`, `\r\n`, none at the end), stays byte-identical. A line that
/// already ends with the same annotation is left alone, so annotating twice changes nothing.
pub fn annotate(excerpt: &str, locate: impl Fn(&Frame) -> Option<String>) -> String {
    let mut out = String::with_capacity(excerpt.len() + excerpt.len() / 4);
    for chunk in excerpt.split_inclusive('\n') {
        let body = chunk.trim_end_matches(['\n', '\r']);
        let ending = &chunk[body.len()..];
        out.push_str(body);
        if let Some(loc) = parse_frame(body).and_then(|f| locate(&f)) {
            let note = format!(" ({loc})");
            if !body.ends_with(&note) {
                out.push_str(&note);
            }
        }
        out.push_str(ending);
    }
    out
}

/// What a run rebuilt and tests: module names (`ceph`, `libceph`: frames tagged `[ceph]`) and
/// source directories (`fs/ceph/`: frames a symbolizer located there, and `WARNING ... at` paths).
#[derive(Debug, Clone, Default)]
pub struct UnderTest {
    pub modules: Vec<String>,
    pub dirs: Vec<String>,
}

impl UnderTest {
    fn holds(&self, frame: &Frame, line: &str) -> bool {
        frame
            .module
            .as_ref()
            .is_some_and(|m| self.modules.iter().any(|x| x == m))
            || self
                .dirs
                .iter()
                .any(|d| line.contains(&format!("({d}")) || line.contains(&format!(" at {d}")))
    }
}

/// Where a crash happened, when that is outside the code under test: the function of the
/// faulting context's first frame (`net_rx_action`). The faulting context is the interrupt the
/// crash happened in (the `<IRQ>` … `</IRQ>` part of the trace) when there is one, since the
/// task frames under it are only what the interrupt interrupted; else the whole trace. `None`
/// when any of those frames is in the code under test, or when the excerpt shows no frame.
pub fn outside(excerpt: &str, under_test: &UnderTest) -> Option<String> {
    let lines: Vec<&str> = excerpt.lines().collect();
    let irq = lines.iter().position(|l| l.trim_end().ends_with("<IRQ>"));
    let mut context: Vec<(&str, Frame)> = Vec::new();
    let mut in_trace = false;
    let mut in_irq = false;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_end();
        if t.ends_with("Call Trace:") {
            in_trace = true;
        }
        if Some(i) == irq {
            in_irq = true;
        }
        if t.ends_with("</IRQ>") {
            in_irq = false;
        }
        let Some(f) = parse_frame(l) else { continue };
        if f.uncertain {
            continue;
        }
        // Before the trace: the faulting instruction (RIP, the WARNING header). In it: the frames
        // of the faulting context.
        if !in_trace || irq.is_none() || in_irq {
            context.push((l, f));
        }
    }
    if context.iter().any(|(l, f)| under_test.holds(f, l)) {
        return None;
    }
    context
        .iter()
        .map(|(_, f)| f)
        .find(|f| !crate::is_uninteresting_frame(&f.function))
        .or(context.first().map(|(_, f)| f))
        .map(|f| crate::normalize_function(&f.function))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceph() -> UnderTest {
        UnderTest {
            modules: vec!["ceph".into(), "libceph".into()],
            dirs: vec!["fs/ceph/".into(), "net/ceph/".into()],
        }
    }

    #[test]
    fn a_crash_in_softirq_over_the_messenger_is_outside_the_code_under_test() {
        let oops = "BUG: kernel NULL pointer dereference, address: 0000000000000008
#PF: supervisor read access in kernel mode
RIP: 0010:net_rx_action+0x1a2/0x3a0
Call Trace:
 <IRQ>
 ? __die+0x23/0x70
 net_rx_action+0x1a2/0x3a0
 __do_softirq+0xc5/0x2c8
 do_softirq.part.0+0x3d/0x60
 </IRQ>
 <TASK>
 __local_bh_enable_ip+0x64/0x70
 tcp_sendmsg+0x31/0x40
 ceph_tcp_sendmsg+0x51/0x80 [libceph]
 ceph_con_v1_try_write+0x2a3/0x6a0 [libceph]
 process_one_work+0x1c7/0x380
 </TASK>";
        assert_eq!(outside(oops, &ceph()).as_deref(), Some("net_rx_action"));
    }

    #[test]
    fn a_crash_with_a_frame_of_the_module_under_test_is_inside() {
        let bug = "kernel BUG at fs/inode.c:1763!
RIP: 0010:iput+0x1e6/0x200
Call Trace:
 <TASK>
 ceph_put_wrbuffer_cap_refs+0x1b1/0x2a0 [ceph]
 writepages_finish+0x2c0/0x450 [ceph]
 </TASK>";
        assert_eq!(outside(bug, &ceph()), None);
        // Symbolised frames of a tree build carry their source path instead of a module tag.
        let tree = "RIP: 0010:iput+0x1e6/0x200
Call Trace:
 ceph_put_wrbuffer_cap_refs+0x1b1/0x2a0 (fs/ceph/caps.c:3296)";
        assert_eq!(outside(tree, &ceph()), None);
        let warn = "WARNING: CPU: 1 PID: 3 at fs/ceph/dir.c:1206 ceph_unlink+0x1f0/0x3c0 [ceph]";
        assert_eq!(outside(warn, &ceph()), None);
        assert_eq!(outside("no frames at all", &ceph()), None);
    }

    #[test]
    fn the_function_a_task_is_blocked_in() {
        let dump = "[+   44.457] [   39.951387] sysrq: Show Blocked State
[+   44.457] [   39.951676] task:harness-guest   state:D stack:0     pid:1     ppid:0      flags:0x00004002
[+   44.457] [   39.952012] Call Trace:
[+   44.457] [   39.952133]  <TASK>
[+   44.457] [   39.952263]  __schedule+0x34d/0xa00
[+   44.457] [   39.952551]  schedule+0x5a/0xd0
[+   44.461] [   39.952590]  ceph_fsync+0x5c3/0x930 [ceph]
[+   44.461] [   39.955247]  ? cpuusage_read+0x10/0x10
[+   44.461] [   39.955302]  __x64_sys_fsync+0x37/0x60
";
        assert_eq!(blocked_in(dump).as_deref(), Some("ceph_fsync"));
        assert_eq!(blocked_in("no trace here"), None);
    }

    const WARN_UNLINK: &str = include_str!("../tests/fixtures/warn-in-unlink.log");
    const HUNG_SYNC: &str = include_str!("../tests/fixtures/hung-task-in-sync.log");
    const BUSY_INODES: &str = include_str!("../tests/fixtures/busy-inodes-leak.log");

    fn frame(function: &str, offset: u64, size: u64, module: Option<&str>) -> Frame {
        Frame {
            function: function.into(),
            offset,
            size,
            module: module.map(Into::into),
            uncertain: false,
            return_address: true,
        }
    }

    /// The first fixture line containing `needle`.
    fn line<'a>(text: &'a str, needle: &str) -> &'a str {
        text.lines().find(|l| l.contains(needle)).unwrap()
    }

    #[test]
    fn warning_header_is_an_exact_address() {
        let l = line(WARN_UNLINK, "WARNING: CPU: 0");
        assert!(l.starts_with("[+    4.939] [    2.334382] WARNING:"));
        let f = parse_frame(l).unwrap();
        assert_eq!(
            f,
            Frame {
                return_address: false,
                ..frame("ceph_unlink", 0x3b8, 0x490, Some("ceph"))
            }
        );
        assert_eq!(f.key(), ("ceph".into(), "ceph_unlink".into(), 0x3b8));
    }

    #[test]
    fn rip_line() {
        let f = parse_frame(line(WARN_UNLINK, "RIP: 0010:ceph_unlink")).unwrap();
        assert_eq!(
            (f.function.as_str(), f.offset, f.module.as_deref()),
            ("ceph_unlink", 0x3b8, Some("ceph"))
        );
        assert!(!f.return_address);
        // vmlinux frame in a RIP line, with a clone suffix.
        let f = parse_frame(line(BUSY_INODES, "RIP: 0010:generic_shutdown_super")).unwrap();
        assert_eq!(
            f,
            Frame {
                return_address: false,
                ..frame("generic_shutdown_super.cold", 0x1a, 0x1c, None)
            }
        );
        // A user-space RIP has no symbol.
        assert_eq!(parse_frame(line(WARN_UNLINK, "RIP: 0033:")), None);
    }

    #[test]
    fn call_trace_lines() {
        let f = parse_frame(line(HUNG_SYNC, "ceph_sync_fs+")).unwrap();
        assert_eq!(f, frame("ceph_sync_fs", 0x81, 0xd0, Some("ceph")));
        assert_eq!(f.key(), ("ceph".into(), "ceph_sync_fs".into(), 0x80));
        let f = parse_frame(line(WARN_UNLINK, "vfs_unlink+")).unwrap();
        assert_eq!(f, frame("vfs_unlink", 0x10e, 0x280, None));
        let f = parse_frame(line(WARN_UNLINK, "finish_task_switch")).unwrap();
        assert_eq!(
            f,
            Frame {
                uncertain: true,
                ..frame("finish_task_switch.isra.0", 0x90, 0x2d0, None)
            }
        );
        let f = parse_frame("[   12.1]  ? __mutex_lock.constprop.0+0x3b4/0x700").unwrap();
        assert_eq!(f.function, "__mutex_lock.constprop.0");
        assert!(f.uncertain);
        // Without any timestamp, and with a build id in the module tag.
        let f = parse_frame(" ceph_kill_sb+0x8b/0x100 [ceph 0123456789abcdef]").unwrap();
        assert_eq!(f, frame("ceph_kill_sb", 0x8b, 0x100, Some("ceph")));
    }

    #[test]
    fn other_frame_shapes() {
        let f = parse_frame(
            "[  9.1]  #0: ffff9a1c8a2f0c58 (&mdsc->mutex){+.+.}-{3:3}, at: ceph_mdsc_sync+0x42/0x2d0 [ceph]",
        )
        .unwrap();
        assert_eq!(f, frame("ceph_mdsc_sync", 0x42, 0x2d0, Some("ceph")));
        let f = parse_frame(
            "[  9.1] BUG: KASAN: slab-use-after-free in __ceph_remove_cap+0x3c/0x2a0 [ceph]",
        )
        .unwrap();
        assert_eq!(f.function, "__ceph_remove_cap");
        let f = parse_frame("[  9.1] pc : ceph_foo+0x10/0x40 [ceph]").unwrap();
        assert!(!f.return_address);
    }

    #[test]
    fn lines_without_frames() {
        for needle in [
            "Modules linked in:",
            "Code: 61 c0",
            "RSP: 0018",
            "Call Trace:",
            "<TASK>",
            "---[ end trace",
            "HARNESS: workload start",
            "CPU: 0 PID: 143 Comm: rm",
        ] {
            assert_eq!(parse_frame(line(WARN_UNLINK, needle)), None, "{needle}");
        }
        assert_eq!(parse_frame("foo+0x1"), None);
        assert_eq!(parse_frame("a+b+0x1/0x2"), None);
    }

    #[test]
    fn every_trace_line_of_the_fixtures_parses() {
        for text in [WARN_UNLINK, HUNG_SYNC, BUSY_INODES] {
            for l in text
                .lines()
                .filter(|l| l.contains("+0x") && l.contains("/0x"))
            {
                assert!(parse_frame(l).is_some(), "{l}");
            }
        }
    }

    #[test]
    fn annotate_touches_only_resolved_lines() {
        let excerpt: String = WARN_UNLINK
            .lines()
            .skip_while(|l| !l.contains("WARNING: CPU: 0"))
            .take(30)
            .map(|l| format!("{l}\n"))
            .collect();
        let out = annotate(&excerpt, |f| {
            (f.module.as_deref() == Some("ceph")).then(|| format!("fs/ceph/dir.c:{}", f.offset))
        });
        assert_eq!(out.lines().count(), excerpt.lines().count());
        let mut changed = 0;
        for (before, after) in excerpt.lines().zip(out.lines()) {
            if before.contains("[ceph]") {
                assert_eq!(after, format!("{before} (fs/ceph/dir.c:952)"));
                changed += 1;
            } else {
                assert_eq!(before, after);
            }
        }
        assert_eq!(changed, 2, "WARNING and RIP lines");
        // Annotating again changes nothing.
        let again = annotate(&out, |f| {
            (f.module.as_deref() == Some("ceph")).then(|| format!("fs/ceph/dir.c:{}", f.offset))
        });
        assert_eq!(again, out);
    }

    #[test]
    fn annotate_keeps_line_endings() {
        let text =
            "[ 1.0]  ceph_sync_fs+0x81/0xd0 [ceph]\r\n[ 1.0]  x\r\n[ 1.0]  vfs_unlink+0x10e/0x280";
        let out = annotate(text, |f| {
            Some(format!("{}:{}", f.function, f.lookup_offset()))
        });
        assert_eq!(
            out,
            "[ 1.0]  ceph_sync_fs+0x81/0xd0 [ceph] (ceph_sync_fs:128)\r\n[ 1.0]  x\r\n\
             [ 1.0]  vfs_unlink+0x10e/0x280 (vfs_unlink:269)"
        );
        assert_eq!(annotate(text, |_| None), text);
        assert_eq!(annotate("", |_| Some("x".into())), "");
    }
}
