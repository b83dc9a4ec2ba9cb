//! The run lifecycle (after the cli's series parsing and preflight): apply → (build ∥ cluster ∥ accel probe) → image → guest
//! → teardown. Emits events; returns the report. A kernel failure ends up as a verdict in the
//! report; a fault of the harness's own after preflight ends up as `infra-error` with its cause.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use harness_core::event::{Event, EventSink, Phase};
use harness_core::finding::Finding;
use harness_core::job::{Job, KernelSpec, TestPrefixes};
use harness_core::report::{
    GuestExit, PhaseTime, PrefixResult, Report, SeriesSummary, TestResult, Verdict,
};
use harness_core::series::Series;

use crate::cluster::Cluster;
use crate::guest::{self, Accel, GuestConfig};
use crate::netns::{self, Netns};
use crate::proc::Procs;
use crate::tree::SourceTree;
use crate::{image, kernel, ExecError, Result};

pub struct RunInput {
    pub run_id: String,
    pub job: Job,
    pub series: Series,
    /// Where the series came from (file names), for the report.
    pub sources: Vec<String>,
    /// The run's artifact directory (given by the store).
    pub artifacts: PathBuf,
    pub cache: PathBuf,
    pub started_at: String,
}

struct State<'a> {
    sink: &'a dyn EventSink,
    phases: Mutex<Vec<PhaseTime>>,
    prefixes: Vec<PrefixResult>,
    findings: Vec<Finding>,
    accel: Option<Accel>,
}

impl State<'_> {
    fn begin(&self, phase: Phase, detail: impl Into<String>) -> (Phase, Instant) {
        self.sink.emit(&Event::PhaseStarted {
            phase,
            detail: detail.into(),
        });
        (phase, Instant::now())
    }
    fn end(&self, (phase, t): (Phase, Instant), ok: bool) {
        let seconds = t.elapsed().as_secs_f64();
        self.phases.lock().unwrap().push(PhaseTime {
            name: phase.as_str().into(),
            seconds,
        });
        self.sink.emit(&Event::PhaseFinished { phase, seconds, ok });
    }
    fn progress(&self, phase: Phase, message: impl Into<String>) {
        self.sink.emit(&Event::Progress {
            phase,
            message: message.into(),
        });
    }
}

/// Run a job on a series. Call [`crate::preflight::check`] first. `Err` only when the artifact or scratch
/// directory cannot be made (nothing started yet); every later fault is an `infra-error` report.
pub async fn run(input: RunInput, sink: &dyn EventSink) -> Result<Report> {
    let t0 = Instant::now();
    sink.emit(&Event::RunStarted {
        run_id: input.run_id.clone(),
        series: input.series.title(),
        patches: input.series.patches.len(),
        job: input.job.name.clone(),
    });
    let mut st = State {
        sink,
        phases: Mutex::new(Vec::new()),
        prefixes: Vec::new(),
        findings: Vec::new(),
        accel: None,
    };
    std::fs::create_dir_all(&input.artifacts).map_err(|e| ExecError::io(&input.artifacts, e))?;

    // What a killed harness left behind goes first (its namespace, processes, temp dir).
    for what in netns::sweep_stale(&std::env::temp_dir()) {
        sink.emit(&Event::Progress {
            phase: Phase::Apply,
            message: format!("removed leftover {what}"),
        });
    }
    // Owned resources, dropped in reverse order of declaration on every exit path (including a
    // cancelled future on Ctrl-C): processes first, then the namespace, then the scratch dir.
    let scratch = tempfile::Builder::new()
        .prefix(&format!("harness-{}-", std::process::id()))
        .tempdir()
        .map_err(|e| ExecError::io(&std::env::temp_dir(), e))?;
    let mut netns_slot: Option<Netns> = None;
    let procs = Procs::new();

    let outcome = stages(&input, &mut st, &procs, &mut netns_slot, scratch.path()).await;

    let p = st.begin(Phase::Teardown, "stop guest and cluster, remove namespace");
    procs.stop_all();
    drop(netns_slot);
    // Cluster logs are evidence on every path, a cluster that would not start most of all
    // (small: debug levels are at their defaults).
    copy_dir(
        &scratch.path().join("cluster/log"),
        &input.artifacts.join("cluster-logs"),
    );
    st.end(p, true);

    let (verdict, reason) = match &outcome {
        Ok(()) => Report::decide(&st.prefixes, &st.findings),
        Err(e) => (Verdict::InfraError, error_chain(e)),
    };
    let series = SeriesSummary {
        subject: input.series.title(),
        patch_count: input.series.patches.len(),
        sources: input.sources.clone(),
    };
    let report = Report {
        run_id: input.run_id.clone(),
        verdict,
        reason: reason.clone(),
        series,
        job: input.job.name.clone(),
        kernel: input.job.kernel.describe(),
        accel: st.accel.map(|a| a.as_str().to_string()),
        prefixes: st.prefixes,
        findings: st.findings,
        phases: st.phases.into_inner().unwrap(),
        started_at: input.started_at.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    };
    sink.emit(&Event::Verdict { verdict, reason });
    sink.emit(&Event::RunFinished {
        report: Box::new(report.clone()),
    });
    Ok(report)
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

async fn stages(
    input: &RunInput,
    st: &mut State<'_>,
    procs: &Procs,
    netns_slot: &mut Option<Netns>,
    scratch: &Path,
) -> Result<()> {
    let job = &input.job;
    let KernelSpec::DistroModule {
        release,
        source,
        base_patch,
    } = &job.kernel;
    let kernel_image = PathBuf::from(format!("/boot/vmlinuz-{release}"));

    // Apply.
    let p = st.begin(
        Phase::Apply,
        format!(
            "{} patches onto {}",
            input.series.patches.len(),
            source.display()
        ),
    );
    let tree = SourceTree::open(procs, &input.cache, source).await?;
    st.progress(
        Phase::Apply,
        format!("tree {} at {}", tree.version, tree.dir.display()),
    );
    let base = tree.base(base_patch.as_deref()).await?;
    tree.checkout(&base).await?;
    let mut commits = vec![base];
    let mut base_prefix = PrefixResult::new(0, "(base)");
    base_prefix.applied = true;
    st.prefixes.push(base_prefix);
    let mut apply_ok = true;
    for (i, patch) in input.series.patches.iter().enumerate() {
        let mut pr = PrefixResult::new(i + 1, patch.subject.clone());
        if apply_ok {
            let a = tree.am(&patch.raw, scratch).await?;
            st.sink.emit(&Event::PatchApplied {
                index: i + 1,
                subject: patch.subject.clone(),
                ok: a.ok,
            });
            pr.applied = a.ok;
            if a.ok {
                commits.push(a.commit.unwrap_or_default());
            } else {
                apply_ok = false;
                pr.apply_error = Some(a.message);
            }
        }
        st.prefixes.push(pr);
    }
    st.end(p, apply_ok);
    if !apply_ok {
        return Ok(());
    }

    // Build every prefix while the cluster starts and the accelerator is probed.
    let ns = Netns::create(
        &input
            .run_id
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            .chars()
            .rev()
            .take(6)
            .collect::<String>(),
        1,
    )?;
    let ns_name = ns.name.clone();
    *netns_slot = Some(ns);
    let pb = st.begin(
        Phase::Build,
        format!(
            "{} prefixes of fs/ceph against {release} headers",
            commits.len()
        ),
    );
    let pc = st.begin(
        Phase::Cluster,
        format!("mon, mgr, memstore osd, mds in {ns_name}"),
    );
    let ccache = input.cache.join("ccache");
    let sink = st.sink;
    let build_all = async {
        let mut results = Vec::new();
        for (k, commit) in commits.iter().enumerate() {
            tree.checkout(commit).await?;
            let log = input.artifacts.join(format!("build-prefix-{k}.log"));
            let b = kernel::build_module(
                procs,
                release,
                &tree.module_dir(),
                &scratch.join(format!("prefix-{k}")),
                &log,
                &ccache,
                job.timeouts.build,
            )
            .await?;
            sink.emit(&Event::PrefixBuilt {
                index: k,
                ok: b.ok,
                seconds: b.seconds,
            });
            results.push(b);
        }
        Ok::<_, ExecError>(results)
    };
    let cluster_dir = scratch.join("cluster");
    let progress = |m: &str| {
        sink.emit(&Event::Progress {
            phase: Phase::Cluster,
            message: m.to_string(),
        })
    };
    let start_cluster = async {
        let r = Cluster::start(
            procs,
            &ns_name,
            &cluster_dir,
            &job.cluster,
            job.timeouts.cluster,
            &progress,
        )
        .await;
        (r, Instant::now())
    };
    let (builds, (cluster, cluster_done), accel) = tokio::join!(
        build_all,
        start_cluster,
        guest::probe_accel(procs, &input.cache, &kernel_image)
    );
    st.accel = Some(accel);
    let builds = builds?;
    let build_ok = builds.iter().all(|b| b.ok);
    for (k, b) in builds.iter().enumerate() {
        let pr = &mut st.prefixes[k];
        pr.built = Some(b.ok);
        pr.build_seconds = Some(b.seconds);
        pr.build_error = b.error_excerpt.clone();
        pr.build_log = Some(format!("build-prefix-{k}.log"));
    }
    st.end(pb, build_ok);
    {
        let seconds = cluster_done.duration_since(pc.1).as_secs_f64();
        st.phases.lock().unwrap().push(PhaseTime {
            name: Phase::Cluster.as_str().into(),
            seconds,
        });
        st.sink.emit(&Event::PhaseFinished {
            phase: Phase::Cluster,
            seconds,
            ok: cluster.is_ok(),
        });
    }
    let cluster = cluster?;

    // Which prefixes boot a guest.
    let tested: Vec<usize> = match job.test_prefixes {
        TestPrefixes::Tip => builds
            .len()
            .checked_sub(1)
            .filter(|k| builds[*k].ok)
            .into_iter()
            .collect(),
        TestPrefixes::All => (0..builds.len()).filter(|k| builds[*k].ok).collect(),
    };
    if tested.is_empty() {
        return Ok(());
    }

    // Image: the base is cached per module set; the per-run part carries config and the module.
    let p = st.begin(Phase::Image, "initramfs");
    let first = builds[tested[0]].module.clone().expect("built");
    let modules =
        image::resolve_modules(procs, release, image::HARDWARE_MODULES, &[("ceph", &first)])
            .await?;
    let base_img = image::base_image(procs, &input.cache, release, &modules).await?;
    st.progress(
        Phase::Image,
        format!("base {} ({} modules)", base_img.display(), modules.len()),
    );
    st.end(p, true);

    let timeouts = job.timeouts.scaled(accel == Accel::Kvm);
    for k in tested {
        let p = st.begin(
            Phase::Guest,
            format!(
                "prefix {k}: boot {} ({}), run {}",
                release,
                accel.as_str(),
                job.workload.name
            ),
        );
        let initrd = scratch.join(format!("run-{k}.cpio"));
        let conf = image::guest_conf(&[
            (
                "GUEST_IP",
                format!("{}/{}", Netns::guest_ip(0), netns::PREFIX_LEN),
            ),
            ("MON", cluster.mon_addr.clone()),
            (
                "KEY",
                if job.cluster.auth == harness_core::job::Auth::Cephx {
                    cluster.admin_key.clone()
                } else {
                    String::new()
                },
            ),
            (
                "HUNG_TASK_TIMEOUT",
                job.guest.hung_task_timeout_s.to_string(),
            ),
            ("WORKLOAD", job.workload.name.clone()),
            ("SEED", job.workload.seed.to_string()),
            ("CYCLES", job.workload.cycles.to_string()),
            ("WORKERS", job.workload.workers.to_string()),
            ("FILES", job.workload.files.to_string()),
        ]);
        let stripped = builds[k].stripped.clone().expect("built");
        // The unstripped module of a booted prefix is kept: it symbolises the traces of its console.
        if let Some(m) = &builds[k].module {
            let _ = std::fs::copy(m, input.artifacts.join(format!("ceph-prefix-{k}.ko")));
        }
        image::run_image(
            procs,
            &base_img,
            scratch,
            &conf,
            &[("ceph", &stripped)],
            &initrd,
        )
        .await?;
        let console_name = format!("console-prefix-{k}.log");
        let g = GuestConfig {
            kernel: kernel_image.clone(),
            initrd,
            netns: ns_name.clone(),
            tap: "htap0".into(),
            mac: "52:54:00:77:00:02".into(),
            cpus: job.guest.cpus,
            memory_mib: job.guest.memory_mib,
            accel,
            console: input.artifacts.join(&console_name),
            boot_deadline: timeouts.boot,
            workload_deadline: timeouts.workload,
        };
        let mut on_line = |l: &str| {
            sink.emit(&Event::ConsoleLine {
                prefix: k,
                line: l.to_string(),
            })
        };
        let run = guest::run(procs, &g, &mut on_line).await?;
        let mut findings = run.findings;
        for f in &mut findings {
            f.prefix = Some(k);
            sink.emit(&Event::Finding { finding: f.clone() });
        }
        let verdict = match run.exit {
            GuestExit::Unexpected => Verdict::InfraError,
            GuestExit::Ok if findings.is_empty() => Verdict::Pass,
            _ => Verdict::Fail,
        };
        st.prefixes[k].test = Some(TestResult {
            verdict,
            exit: run.exit,
            qemu_status: run.qemu_status,
            seconds: run.seconds,
            console: console_name,
            findings: findings.len(),
        });
        st.findings.extend(findings);
        st.end(p, verdict == Verdict::Pass);
        if verdict != Verdict::Pass {
            let detail = cluster.health_detail().await;
            let _ = crate::write(
                &input
                    .artifacts
                    .join(format!("cluster-health-prefix-{k}.txt")),
                detail,
            );
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) {
    let Ok(rd) = std::fs::read_dir(from) else {
        return;
    };
    let _ = std::fs::create_dir_all(to);
    for e in rd.flatten() {
        if e.path().is_file() {
            let _ = std::fs::copy(e.path(), to.join(e.file_name()));
        }
    }
}
