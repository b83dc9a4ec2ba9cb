//! QEMU guests: accelerator probe (KVM with a timeout, else TCG), boot with the serial console
//! captured line by line with host timestamps, the isa-debug-exit protocol, harness-proto messages
//! from the guest program, and the watchdogs: a deadline per phase (boot, each workload), the
//! guest's own stall report, and console silence (then sysrq w and t through QMP). Console lines
//! are scanned as they arrive.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness_core::finding::During;
use harness_core::finding::{Finding, FindingKind};
use harness_core::report::GuestExit;
use harness_proto::Msg;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::proc::{command, Procs};
use crate::{ExecError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Does this `/proc/cpuinfo` expose hardware virtualisation (VMX or SVM) to us?
fn has_virt_flags(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

fn cpu_has_virt() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| has_virt_flags(&s))
        .unwrap_or(false)
}

/// Decide between KVM and TCG. `/dev/kvm` can exist and still hang a guest (no VMX/SVM exposed to a
/// nested VM), so a real KVM boot is tried with a timeout; the answer is cached per host boot.
pub async fn probe_accel(procs: &Procs, cache: &Path, kernel: &Path) -> Accel {
    if std::env::var("HARNESS_ACCEL").as_deref() == Ok("tcg") {
        return Accel::Tcg;
    }
    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !rw || !cpu_has_virt() {
        return Accel::Tcg;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let memo = cache.join(format!("kvm-probe-{}", boot_id.trim()));
    if let Ok(s) = std::fs::read_to_string(&memo) {
        return if s.trim() == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
    }
    // No initrd: a working KVM boots to "VFS: Unable to mount root fs" and panics in about a second;
    // panic=-1 + -no-reboot makes QEMU exit 0.
    let mut c = command("qemu-system-x86_64", None);
    c.args(["-accel", "kvm", "-cpu", "host", "-m", "256"])
        .args(HEADLESS)
        .args(["-serial", "null", "-kernel"])
        .arg(kernel)
        .args(["-append", "panic=-1 console=ttyS0"]);
    let ok = matches!(procs.run("qemu-kvm-probe", c, Duration::from_secs(15)).await, Ok(o) if o.status.code() == Some(0));
    let accel = if ok { Accel::Kvm } else { Accel::Tcg };
    let _ = crate::write(&memo, accel.as_str());
    accel
}

pub struct GuestConfig {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub netns: String,
    pub tap: String,
    pub mac: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub accel: Accel,
    pub console: PathBuf,
    /// QMP socket (sysrq through the keyboard when the guest goes silent).
    pub qmp: PathBuf,
    pub boot_deadline: Duration,
    /// Per workload.
    pub workload_deadline: Duration,
    /// No sign of life for this long: sysrq w/t, then kill.
    pub silence: Duration,
    /// Names the boot on the kernel command line (`harness.boot=`): the guest's CephFS workspace.
    pub boot_name: String,
    /// The host's userland for the guest (`guests.userland: host`): this directory (`/usr`)
    /// exported read-only over virtio-9p with the mount tag [`HOST_USR_TAG`].
    pub host_usr: Option<PathBuf>,
    /// Where the guest program's requests for cluster actions go.
    pub requests: Option<tokio::sync::mpsc::UnboundedSender<harness_proto::Action>>,
    /// Host directories exported read-only over virtio-9p: (mount tag, path).
    pub exports: Vec<(String, PathBuf)>,
    /// Per test of a test-suite workload (fstests): each `test-start` opens a deadline this long
    /// (the guest's own per-test deadline plus a margin); None: the workload's alone.
    pub test_deadline: Option<Duration>,
    /// End the boot ([`GuestExit::Stopped`]) once the console shows a finding with this title
    /// (after [`STOP_GRACE`], so that the lines after it reach the console artifact).
    pub stop_at: Option<String>,
}

pub struct GuestRun {
    pub exit: GuestExit,
    pub qemu_status: Option<i32>,
    pub seconds: f64,
    pub findings: Vec<Finding>,
    pub workload_rc: Option<i32>,
    /// What the guest program reported, in order.
    pub messages: Vec<Msg>,
    /// The guest hung (its stall report or console silence) and was killed.
    pub hung: bool,
}

/// After a hang is noticed: how long the blocked-task dump may take before the kill.
const DUMP_GRACE: Duration = Duration::from_secs(20);

/// After the finding a boot waits for (`stop_at`): console lines still read before the kill. The
/// scanner hands a finding over once its report has ended (`---[ end trace`, the end of the task's
/// stack), so its excerpt is complete; this keeps what the kernel printed right after it.
pub const STOP_GRACE: Duration = Duration::from_millis(500);

/// QEMU's minimal firmware: it loads the kernel QEMU was given and nothing else.
const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// No devices, display, monitor or config file of QEMU's own; exit instead of rebooting.
const HEADLESS: &[&str] = &[
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
];

/// The 9p mount tag of the host's `/usr` (`/init` mounts it: `HOST_USR_TAG` in harness.conf).
pub const HOST_USR_TAG: &str = "hostusr";

/// The host's `/usr`, read-only, for the guest: only `/usr` (Debian is usr-merged), never the
/// root, so `/etc`, `/root`, the store and tokens stay out of reach of the series' kernel code.
/// `security_model=none`: files keep their host owners and modes (QEMU, running as the sandbox
/// user after `-runas`, can read what every user can).
fn virtfs_arg(dir: &Path) -> String {
    // A comma in the path would end QEMU's option value (`,,` escapes it).
    let path = dir.to_string_lossy().replace(',', ",,");
    format!("local,path={path},mount_tag={HOST_USR_TAG},security_model=none,readonly=on")
}

fn qemu_args(g: &GuestConfig) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |s: &[&str]| a.extend(s.iter().map(|x| x.to_string()));
    match g.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => push(&["-accel", "tcg,thread=multi", "-cpu", "max"]),
    }
    push(&["-machine", "pc"]);
    // qboot (QEMU's minimal firmware, Debian's qemu-system-data) starts the kernel
    // 0.15-0.2 s sooner than SeaBIOS (under TCG here): every boot pays the firmware.
    if Path::new(QBOOT).exists() {
        push(&["-bios", QBOOT]);
    }
    push(HEADLESS);
    push(&["-smp", &g.cpus.to_string(), "-m", &g.memory_mib.to_string()]);
    push(&[
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]);
    push(&[
        "-netdev",
        &format!("tap,id=n0,ifname={},script=no,downscript=no", g.tap),
    ]);
    push(&[
        "-device",
        &format!("virtio-net-pci,netdev=n0,mac={}", g.mac),
    ]);
    if let Some(usr) = &g.host_usr {
        push(&["-virtfs", &virtfs_arg(usr)]);
    }
    push(&[
        "-kernel",
        &g.kernel.to_string_lossy(),
        "-initrd",
        &g.initrd.to_string_lossy(),
    ]);
    let append = format!(
        "console=ttyS0 panic=-1 oops=panic loglevel=7 {}{}",
        harness_proto::BOOT_ARG,
        harness_proto::sanitize_boot_name(&g.boot_name)
    );
    push(&["-append", &append]);
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", g.qmp.display()),
    ]);
    for (i, (tag, path)) in g.exports.iter().enumerate() {
        push(&[
            "-fsdev",
            &format!(
                "local,id=x{i},path={},security_model=none,readonly=on",
                path.display()
            ),
            "-device",
            &format!("virtio-9p-pci,fsdev=x{i},mount_tag={tag}"),
        ]);
    }
    // The guest runs the series' module: QEMU confines itself (seccomp: no obsolete syscalls, no
    // spawning, no resource control) and, once its devices are open, drops to the sandbox user.
    // (`elevateprivileges=deny` would forbid the drop itself.)
    push(&[
        "-sandbox",
        "on,obsolete=deny,spawn=deny,resourcecontrol=deny",
    ]);
    if crate::sandbox::identity().is_ok_and(|id| id.switch) {
        push(&["-runas", crate::sandbox::USER]);
    }
    a
}

/// Press alt+sysrq+KEY on the guest's keyboard through QMP (works while every task is stuck:
/// the keyboard interrupt runs the handler).
async fn sysrq(qmp: &Path, keys: &[&str]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let stream = tokio::net::UnixStream::connect(qmp).await?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines.next_line().await?; // greeting
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await?;
    lines.next_line().await?;
    for k in keys {
        let cmd = serde_json::json!({"execute": "send-key", "arguments": {"keys": [
            {"type": "qcode", "data": "alt"},
            {"type": "qcode", "data": "sysrq"},
            {"type": "qcode", "data": k},
        ]}});
        w.write_all(format!("{cmd}\n").as_bytes()).await?;
        lines.next_line().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Map QEMU's exit status to the guest exit protocol.
pub fn classify_exit(status: Option<i32>) -> GuestExit {
    match status {
        Some(1) => GuestExit::Ok,
        Some(3) => GuestExit::WorkloadFailed,
        Some(0) => GuestExit::Panic,
        _ => GuestExit::Unexpected,
    }
}

/// Boot the guest and run it to its end or its deadline. `on_line` sees every console line.
pub async fn run(
    procs: &Procs,
    g: &GuestConfig,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<GuestRun> {
    let mut c = command("qemu-system-x86_64", Some(&g.netns));
    c.args(qemu_args(g))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = procs.spawn("qemu", c, false)?;
    let pid = child.id().unwrap_or(0) as i32;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let err_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let mut console = std::io::BufWriter::new(
        std::fs::File::create(&g.console).map_err(|e| ExecError::io(&g.console, e))?,
    );
    let mut reader = BufReader::new(stdout);
    let mut scanner = harness_scan::Scanner::new();
    let mut findings = Vec::new();
    let mut messages = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut deadline = t0 + g.boot_deadline;
    let mut phase = During::Boot;
    // (first console line, phase, step of the phase's workload): what the guest was doing from
    // that line on.
    let mut phase_lines: Vec<(usize, During, Option<u64>)> = vec![(0, phase.clone(), None)];
    let mut workload_rc = None;
    let mut last_lines: std::collections::VecDeque<String> = Default::default();
    // Once a hang is noticed: when to kill, and the finding (its excerpt grows with the dump).
    let mut hang: Option<(Instant, Finding)> = None;
    let stamp = |t: f64, l: &str| format!("[+{t:9.3}] {l}");
    // Alive: any console line until the guest program has started, then only its messages
    // (a kernel printing soft-lockup reports every 20 s is not a guest making progress).
    let mut last_alive = t0;
    // Console lines since the guest program's last message (at most 20).
    let mut since_message: Vec<String> = Vec::new();
    let mut program_started = false;
    // Once the finding `stop_at` names is seen: when to stop the guest.
    let mut stop: Option<Instant> = None;
    let timed_out = loop {
        let now = Instant::now();
        let silent_at = last_alive + g.silence;
        let mut until = match &hang {
            Some((kill_at, _)) => *kill_at,
            None => deadline.min(silent_at),
        };
        if let Some(s) = stop {
            if now >= s {
                break true;
            }
            until = until.min(s);
        }
        if now >= until && (hang.is_some() || now >= deadline) {
            break true;
        }
        // Cancel-safe: a line cut by the timeout stays in `buf` and is completed next time.
        let read = tokio::time::timeout(
            until.saturating_duration_since(now),
            reader.read_until(b'\n', &mut buf),
        )
        .await;
        match read {
            Err(_) if stop.is_some_and(|s| Instant::now() >= s) => continue,
            Err(_) if hang.is_none() && Instant::now() < silent_at.min(deadline) => continue,
            Err(_) if hang.is_none() && Instant::now() < deadline => {
                // Silence: ask the kernel for its blocked tasks, then give it time to print them.
                let t = t0.elapsed().as_secs_f64();
                let _ = writeln!(
                    console,
                    "{}",
                    stamp(
                        t,
                        &format!(
                            "[harness] no sign of life for {}s during {phase}: sysrq w, t",
                            g.silence.as_secs()
                        )
                    )
                );
                let _ = sysrq(&g.qmp, &["w", "t"]).await;
                hang = Some((
                    Instant::now() + DUMP_GRACE,
                    Finding {
                        console: None,
                        during: None,

                        outside: None,
                        step: None,
                        kind: FindingKind::Hang,
                        title: format!("INFO: guest stopped responding during {phase}"),
                        excerpt: last_lines.iter().cloned().collect::<Vec<_>>().join("\n"),
                        line: line_no,
                        time: Some(t),
                        prefix: None,
                    },
                ));
                continue;
            }
            Err(_) => break true,
            Ok(Err(_)) | Ok(Ok(0)) => break false,
            Ok(Ok(_)) => {}
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        buf.clear();
        let line = text.trim_end_matches(['\n', '\r']);
        let t = t0.elapsed().as_secs_f64();
        line_no += 1;
        let _ = writeln!(console, "{}", stamp(t, line));
        let fed = scanner.feed(line_no, Some(t), line);
        if stop.is_none()
            && g.stop_at
                .as_deref()
                .is_some_and(|want| fed.iter().any(|f| f.title == want))
        {
            stop = Some(Instant::now() + STOP_GRACE);
        }
        findings.extend(fed);
        if let Some((_, f)) = hang.as_mut() {
            if f.excerpt.lines().count() < harness_scan::MAX_EXCERPT_LINES_LONG {
                f.excerpt.push('\n');
                f.excerpt.push_str(&stamp(t, line));
            }
        }
        if !program_started {
            last_alive = Instant::now();
        }
        let message = harness_proto::decode(line);
        if message.is_none() && since_message.len() < 20 {
            since_message.push(stamp(t, line));
        }
        if let Some(m) = message {
            program_started = true;
            last_alive = Instant::now();
            match &m {
                Msg::WorkloadStart { name, .. } => {
                    phase = During::Workload(name.clone());
                    phase_lines.push((line_no, phase.clone(), None));
                    deadline = Instant::now() + g.workload_deadline;
                }
                Msg::Step { step, .. } => {
                    phase_lines.push((line_no, phase.clone(), Some(*step)));
                }
                Msg::TestStart { workload, test } => {
                    phase = During::Test {
                        workload: workload.clone(),
                        test: test.clone(),
                    };
                    phase_lines.push((line_no, phase.clone(), None));
                    if let Some(d) = g.test_deadline {
                        deadline = Instant::now() + d.max(g.workload_deadline);
                    }
                }
                Msg::TestEnd { workload, .. } => {
                    phase = During::Workload(workload.clone());
                    phase_lines.push((line_no, phase.clone(), None));
                }
                Msg::Finding {
                    workload,
                    title,
                    detail,
                } => findings.push(Finding {
                    console: None,
                    during: None,

                    outside: None,
                    step: None,
                    kind: FindingKind::Workload,
                    title: title.clone(),
                    excerpt: format!("{workload}: {detail}"),
                    line: line_no,
                    time: Some(t),
                    prefix: None,
                }),
                Msg::Stall { workload, seconds } if hang.is_none() => {
                    // Kernel lines printed since the previous message may already belong to
                    // the dump (the kernel writes to the UART directly, the guest via the tty).
                    let mut excerpt =
                        format!("{workload}: no progress for {seconds}s; blocked tasks (sysrq w):");
                    for l in &since_message {
                        excerpt.push('\n');
                        excerpt.push_str(l);
                    }
                    excerpt.push('\n');
                    excerpt.push_str(&stamp(t, line));
                    hang = Some((
                        Instant::now() + DUMP_GRACE,
                        Finding {
                            console: None,
                            during: None,

                            outside: None,
                            step: None,
                            kind: FindingKind::Hang,
                            title: format!("INFO: workload stalled in {workload}"),
                            excerpt,
                            line: line_no,
                            time: Some(t),
                            prefix: None,
                        },
                    ));
                }
                Msg::Request { action } => {
                    if let Some(tx) = &g.requests {
                        let _ = tx.send(*action);
                    }
                }
                Msg::Result { rc } => {
                    workload_rc = Some(*rc);
                    phase = During::Shutdown;
                    phase_lines.push((line_no, phase.clone(), None));
                    deadline = Instant::now() + Duration::from_secs(60);
                }
                _ => {}
            }
            messages.push(m);
            since_message.clear();
        }
        if last_lines.len() == 30 {
            last_lines.pop_front();
        }
        last_lines.push_back(stamp(t, line));
        on_line(line);
    };
    findings.extend(scanner.finish());
    let hung = hang.is_some();
    // Stopped at the finding it waited for (not hung: a hang noticed meanwhile is the kill's).
    let stopped = timed_out && !hung && stop.is_some_and(|s| Instant::now() >= s);
    let status = if timed_out {
        let t = t0.elapsed().as_secs_f64();
        let why = if hung {
            "hung".to_string()
        } else if stopped {
            format!(
                "\"{}\" seen (the bisected signature)",
                g.stop_at.as_deref().unwrap_or_default()
            )
        } else {
            "deadline passed".to_string()
        };
        let _ = writeln!(
            console,
            "{}",
            stamp(t, &format!("[harness] {why} during {phase}: guest killed"))
        );
        procs.stop(pid, Duration::from_secs(2));
        match hang.take() {
            Some((_, mut f)) => {
                // A stall is titled by where the blocked task sleeps, so the same hang groups
                // together. (After silence, sysrq t dumps every task: no one of them is "the" one.)
                if f.title.starts_with("INFO: workload stalled") {
                    if let Some(func) = harness_scan::frames::blocked_in(&f.excerpt) {
                        f.title = format!("INFO: task stalled in {func}");
                    }
                }
                findings.push(f)
            }
            None if stopped => {}
            None => findings.push(Finding {
                console: None,
                during: None,

                outside: None,
                step: None,
                kind: FindingKind::Timeout,
                title: format!("guest timeout during {phase}"),
                excerpt: last_lines.iter().cloned().collect::<Vec<_>>().join("\n"),
                line: line_no,
                time: Some(t),
                prefix: None,
            }),
        }
        let _ = child.wait().await;
        None
    } else {
        if let Some((_, f)) = hang.take() {
            findings.push(f);
        }
        let st = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        procs.forget(pid);
        match st {
            Ok(Ok(s)) => s.code(),
            _ => {
                procs.stop(pid, Duration::from_secs(2));
                None
            }
        }
    };
    let qemu_err = err_task.await.unwrap_or_default();
    if !qemu_err.trim().is_empty() {
        let _ = writeln!(console, "[harness] qemu stderr:\n{}", qemu_err.trim());
    }
    let _ = console.flush();
    let exit = if stopped {
        GuestExit::Stopped
    } else if timed_out {
        GuestExit::Timeout
    } else {
        classify_exit(status)
    };
    if exit == GuestExit::Unexpected && line_no == 0 {
        return Err(ExecError::Other(format!(
            "qemu exited with {status:?} before any console output: {}",
            qemu_err.trim()
        )));
    }
    for f in &mut findings {
        let at = phase_lines
            .iter()
            .rev()
            .find(|(l, _, _)| *l < f.line.max(1));
        f.during = at.map(|(_, p, _)| p.clone());
        f.step = at.and_then(|(_, _, s)| *s);
    }
    Ok(GuestRun {
        exit,
        qemu_status: status,
        seconds: t0.elapsed().as_secs_f64(),
        findings,
        workload_rc,
        messages,
        hung,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtualisation_flags() {
        assert!(has_virt_flags(
            "processor\t: 0\nflags\t\t: fpu vme de vmx sse\n"
        ));
        assert!(has_virt_flags("flags\t\t: fpu svm\n"));
        // A nested guest without VMX/SVM (like this build machine): /dev/kvm may exist but hangs.
        assert!(!has_virt_flags(
            "flags\t\t: fpu vme de pse tsc msr pae mce cx8 vmxfoo\n"
        ));
        assert!(!has_virt_flags("bugs\t\t: vmx\n"));
    }

    #[test]
    fn only_usr_is_exported_and_read_only() {
        let a = virtfs_arg(Path::new("/usr"));
        assert_eq!(
            a,
            "local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on"
        );
        assert_eq!(
            virtfs_arg(Path::new("/a,b")),
            "local,path=/a,,b,mount_tag=hostusr,security_model=none,readonly=on"
        );
    }

    #[test]
    fn exit_protocol() {
        assert_eq!(classify_exit(Some(1)), GuestExit::Ok);
        assert_eq!(classify_exit(Some(3)), GuestExit::WorkloadFailed);
        assert_eq!(classify_exit(Some(0)), GuestExit::Panic);
        assert_eq!(classify_exit(None), GuestExit::Unexpected);
        assert_eq!(classify_exit(Some(2)), GuestExit::Unexpected);
    }
}
