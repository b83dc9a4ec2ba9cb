//! The run lifecycle (after the cli's series parsing and preflight): apply → (build ∥ cluster ∥ accel probe) → image → guest
//! → teardown. Emits events; returns the report. A kernel failure ends up as a verdict in the
//! report; a fault of the harness's own after preflight ends up as `infra-error` with its cause.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use harness_core::coverage::{self, Changed};
use harness_core::event::{Event, EventSink, Phase};
use harness_core::finding::Finding;
use harness_core::job::{Job, OnFailure, TestPrefixes, Userland};
use harness_core::plan;
use harness_core::probe::{self, PatchCoverage};
use harness_core::report::{
    AttemptRecord, PhaseTime, PrefixResult, Report, SeriesSummary, TestResult, Verdict, WorkloadRun,
};
use harness_core::series::Series;
use harness_proto::{Msg, Plan, Probe};

use crate::bisector::{self, Span, Tester, Tried, Variant, Without};
use crate::builder::{Built, Kernel};
use crate::cluster::Cluster;
use crate::guest::{self, Accel, GuestConfig};
use crate::netns::{self, Netns};
use crate::proc::Procs;
use crate::remote::RemoteBoots;
use crate::symbolize::Symbolizer;
use crate::tree::WorkTree;
use crate::{image, sandbox, ExecError, Result};
use harness_core::bisect::policy::BootPlan;
use harness_core::slurm::{BootResult, BootUnit};

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
    /// Guest boots recorded before an interruption (`harness resume`): a boot with the same
    /// console name, prefix and variant is taken from here instead of booted again.
    pub replay: Vec<AttemptRecord>,
    /// The base's hazard profile a earlier run recorded for this kernel and job (the store's),
    /// compared with when this run does not boot the base.
    pub base_profile: Option<harness_core::report::BaseProfile>,
    /// Where the bisection's boots are made when not here (`executor: slurm`): a round's
    /// boots go out at once, one unit each. The test's own boots stay here.
    pub remote: Option<std::sync::Arc<dyn RemoteBoots>>,
    /// Make only this boot (a Slurm boot unit, on its node): patches 1..=prefix applied, that
    /// prefix alone built, one guest booted as its plan says; [`boot_unit`] returns it.
    pub one_boot: Option<BootUnit>,
}

struct State<'a> {
    sink: Clock<'a>,
    /// When the run started.
    t0: Instant,
    phases: Mutex<Vec<PhaseTime>>,
    prefixes: Vec<PrefixResult>,
    findings: Vec<Finding>,
    coverage: Vec<PatchCoverage>,
    accel: Option<Accel>,
    culprit: Option<harness_core::report::Culprit>,
    bisection: Vec<harness_core::report::BisectRun>,
    revert: Option<harness_core::report::Revert>,
    /// Boots to replay (by console name), and how many were.
    replay: Mutex<(BTreeMap<String, AttemptRecord>, u32)>,
    /// The boot of a boot unit (`RunInput::one_boot`), once made.
    unit_boot: Option<BootResult>,
}

impl State<'_> {
    /// The recorded boot that stands for this one, if the run is resumed and it was made.
    fn take_replay(
        &self,
        console: &str,
        prefix: usize,
        variant: &str,
        artifacts: &Path,
    ) -> Option<AttemptRecord> {
        let mut r = self.replay.lock().unwrap();
        let rec = r.0.remove(console)?;
        // The console log is the evidence: without it the boot is made again.
        let usable =
            rec.prefix == prefix && rec.variant == variant && artifacts.join(console).is_file();
        if usable {
            r.1 += 1;
        }
        usable.then_some(rec)
    }

    /// [`State::take_replay`] as a boot, told as the progress and findings of one.
    fn replayed(
        &self,
        console: &str,
        prefix: usize,
        variant: &str,
        artifacts: &Path,
        what: &str,
    ) -> Option<Boot> {
        let rec = self.take_replay(console, prefix, variant, artifacts)?;
        self.progress(
            Phase::Guest,
            format!(
                "{what}: {} in {:.0}s, recorded before the interruption (not booted again)",
                rec.result.verdict, rec.result.seconds
            ),
        );
        for f in &rec.findings {
            self.sink.emit(&Event::Finding { finding: f.clone() });
        }
        Some(Boot::of_record(rec))
    }

    pub fn begin(&self, phase: Phase, detail: impl Into<String>) -> (Phase, Instant) {
        self.sink.emit(&Event::PhaseStarted {
            phase,
            detail: detail.into(),
        });
        (phase, Instant::now())
    }
    pub fn end(&self, (phase, t): (Phase, Instant), ok: bool) {
        let seconds = t.elapsed().as_secs_f64();
        self.phases.lock().unwrap().push(PhaseTime {
            name: phase.as_str().into(),
            seconds,
        });
        self.sink.emit(&Event::PhaseFinished { phase, seconds, ok });
    }
    pub fn progress(&self, phase: Phase, message: impl Into<String>) {
        self.sink.emit(&Event::Progress {
            phase,
            message: message.into(),
        });
    }
}

/// The run's sink and its clock: every event is stamped with the time since the run started.
#[derive(Clone, Copy)]
struct Clock<'a> {
    sink: &'a dyn EventSink,
    t0: Instant,
}

impl Clock<'_> {
    fn emit(&self, event: &Event) {
        self.sink.emit(self.t0.elapsed().as_secs_f64(), event);
    }
}

/// Run a job on a series. Call [`crate::preflight::check`] first. `Err` only when the artifact or scratch
/// directory cannot be made (nothing started yet); every later fault is an `infra-error` report.
pub async fn run(input: RunInput, sink: &dyn EventSink) -> Result<Report> {
    Ok(run_all(input, sink).await?.0)
}

/// A boot unit's run ([`RunInput::one_boot`]): its boot, or, when no guest could be booted
/// (the prefix did not apply or build here, the cluster did not start), an infrastructure
/// error saying why: the submitter's bisection retries it, never counts it.
pub async fn boot_unit(input: RunInput, sink: &dyn EventSink) -> Result<BootResult> {
    let prefix = input
        .one_boot
        .as_ref()
        .map(|u| u.prefix)
        .unwrap_or_default();
    let (report, boot) = run_all(input, sink).await?;
    Ok(boot.unwrap_or_else(|| {
        BootResult::infra(
            format!(
                "no guest of prefix {prefix} was booted on the node: {}: {}",
                report.verdict, report.reason
            ),
            report.seconds,
        )
    }))
}

async fn run_all(input: RunInput, sink: &dyn EventSink) -> Result<(Report, Option<BootResult>)> {
    let t0 = Instant::now();
    let sink = Clock { sink, t0 };
    sink.emit(&Event::RunStarted {
        run_id: input.run_id.clone(),
        series: input.series.title(),
        patches: input.series.patches.len(),
        job: input.job.name.clone(),
    });
    let mut st = State {
        sink,
        t0,
        phases: Mutex::new(Vec::new()),
        prefixes: Vec::new(),
        findings: Vec::new(),
        coverage: Vec::new(),
        accel: None,
        culprit: None,
        bisection: Vec::new(),
        revert: None,
        replay: Mutex::new((
            input
                .replay
                .iter()
                .map(|a| (a.console.clone(), a.clone()))
                .collect(),
            0,
        )),
        unit_boot: None,
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
    remove_scratch(scratch);
    st.end(p, true);

    let fix = harness_core::fix::assess(&st.prefixes, &st.findings);
    let (verdict, reason) = match &outcome {
        Ok(()) => Report::decide(
            &st.prefixes,
            &st.findings,
            input.job.probes.hazards_fail,
            &fix,
            input.job.check.expect_fix.as_deref(),
        ),
        Err(e) => (Verdict::InfraError, error_chain(e)),
    };
    let reason = Report::reason_with_culprit(&reason, st.culprit.as_ref());
    let unit_boot = st.unit_boot.take();
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
        coverage: st.coverage,
        phases: st.phases.into_inner().unwrap(),
        started_at: input.started_at.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        culprit: st.culprit,
        bisection: st.bisection,
        revert: st.revert,
        fixes: fix.fixes,
        pre_existing: fix.pre_existing,
        replayed: st.replay.into_inner().unwrap().1,
    };
    sink.emit(&Event::Verdict { verdict, reason });
    sink.emit(&Event::RunFinished {
        report: Box::new(report.clone()),
    });
    Ok((report, unit_boot))
}

/// Remove the run's scratch dir (every process that wrote into it has been stopped and reaped);
/// what cannot be removed is logged and left to the next run's sweep.
fn remove_scratch(scratch: tempfile::TempDir) {
    let path = scratch.path().to_path_buf();
    if let Err(e) = scratch.close() {
        tracing::warn!(dir = %path.display(), "scratch dir not removed: {e}");
    }
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

    // Apply.
    let p = st.begin(
        Phase::Apply,
        format!(
            "{} patches ({})",
            input.series.patches.len(),
            job.kernel.describe()
        ),
    );
    let kernel = Kernel::open(procs, &input.cache, &job.kernel, &input.series).await?;
    st.progress(Phase::Apply, format!("base {}", kernel.describe_base()));
    let work = kernel.work();
    work.checkout(kernel.base()).await?;
    let mut commits = vec![kernel.base().to_string()];
    let mut base_prefix = PrefixResult::new(0, "(base)");
    base_prefix.applied = true;
    st.prefixes.push(base_prefix);
    let mut apply_ok = true;
    // A boot unit applies its prefix's patches only.
    let upto = input.one_boot.as_ref().map_or(usize::MAX, |u| u.prefix);
    for (i, patch) in input.series.patches.iter().enumerate().take(upto) {
        let mut pr = PrefixResult::new(i + 1, patch.subject.clone());
        if apply_ok {
            let a = work.am(&patch.raw, scratch, job.apply.three_way).await?;
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

    // Which prefixes boot a guest (if they build).
    let last = commits.len() - 1;
    let wanted: Vec<usize> = match job.test_prefixes {
        _ if input.one_boot.is_some() => vec![last],
        TestPrefixes::Tip => vec![last],
        TestPrefixes::All => (0..=last).collect(),
    };

    // Guests booted at once: the job's, or what the machine allows; no more than the run can use
    // (the test's boots only, when the bisection boots elsewhere; one for a boot unit).
    let slots = if input.one_boot.is_some() {
        1
    } else {
        harness_core::job::useful_slots(
            job,
            guests_at_once(job),
            wanted.len(),
            input.remote.is_none(),
        )
    };
    // Build every prefix while the cluster starts and the accelerator is probed.
    let ns = Netns::create(
        &input
            .run_id
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            .chars()
            .rev()
            .take(6)
            .collect::<String>(),
        slots,
    )?;
    let ns_name = ns.name.clone();
    *netns_slot = Some(ns);
    let pb = st.begin(
        Phase::Build,
        format!("{} prefixes: {}", commits.len(), kernel.describe()),
    );
    let pc = st.begin(
        Phase::Cluster,
        if slots == 1 {
            format!(
                "mon, mgr, {} memstore osd, {} mds in {ns_name}",
                job.cluster.osds, job.cluster.mds
            )
        } else {
            format!(
                "mon, mgr, {} memstore osd, {slots} file systems with {} mds each (one per guest slot) in {ns_name}",
                job.cluster.osds, job.cluster.mds
            )
        },
    );
    let ccache = kernel.ccache_dir(&input.cache);
    let sink = st.sink;
    let build_all = async {
        for note in kernel
            .prepare(procs, &input.artifacts.join("kconfig.log"), &ccache)
            .await?
        {
            sink.emit(&Event::Progress {
                phase: Phase::Build,
                message: format!("config: not in effect: {note}"),
            });
        }
        let mut results = Vec::new();
        for (k, commit) in commits.iter().enumerate() {
            if input.one_boot.is_some() && !wanted.contains(&k) {
                // A boot unit builds its prefix alone.
                results.push(Built::not_built());
                continue;
            }
            work.checkout(commit).await?;
            let (cc, shared) = kernel.ccaches(&input.cache, k);
            let b = kernel
                .build(
                    procs,
                    &scratch.join(format!("prefix-{k}")),
                    &input.artifacts.join(format!("prefix-{k}")),
                    &input.artifacts.join(format!("build-prefix-{k}.log")),
                    &cc,
                    shared.as_ref(),
                    job.timeouts.build,
                    wanted.contains(&k),
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
            slots,
            job.timeouts.cluster,
            &progress,
        )
        .await;
        (r, Instant::now())
    };
    // The distro kernel can be probed at once; a tree kernel only once it is built.
    let probe_early = async {
        match &kernel {
            Kernel::Distro { release, .. } => Some(
                guest::probe_accel(
                    procs,
                    &input.cache,
                    Path::new(&format!("/boot/vmlinuz-{release}")),
                )
                .await,
            ),
            Kernel::Tree { .. } => None,
        }
    };
    let (builds, (cluster, cluster_done), accel) =
        tokio::join!(build_all, start_cluster, probe_early);
    let builds = builds?;
    // A boot unit's other prefixes were not built: not a build failure.
    let unbuilt = |k: usize| input.one_boot.is_some() && !wanted.contains(&k);
    let build_ok = builds.iter().enumerate().all(|(k, b)| b.ok || unbuilt(k));
    for (k, b) in builds.iter().enumerate().filter(|(k, _)| !unbuilt(*k)) {
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

    let tested: Vec<usize> = wanted.into_iter().filter(|k| builds[*k].ok).collect();
    if tested.is_empty() {
        return Ok(());
    }
    let accel = match accel {
        Some(a) => a,
        None => guest::probe_accel(procs, &input.cache, &builds[tested[0]].boot).await,
    };
    st.accel = Some(accel);

    // Image: the base is cached per module set; the per-run part carries config and the modules.
    let p = st.begin(Phase::Image, "initramfs");
    let base_img = match &kernel {
        Kernel::Distro { release, .. } => {
            let first = &builds[tested[0]].modules;
            let under_test: Vec<(&str, &Path)> = first
                .iter()
                .map(|m| (m.name.as_str(), m.unstripped.as_path()))
                .collect();
            let mut roots = image::HARDWARE_MODULES.to_vec();
            if job.guests.userland == Userland::Host {
                roots.extend(image::HOST_USERLAND_MODULES);
            }
            let modules = image::resolve_modules(procs, release, &roots, &under_test).await?;
            let img =
                image::base_image(procs, &input.cache, release, &modules, job.guests.userland)
                    .await?;
            st.progress(
                Phase::Image,
                format!("base {} ({} modules)", img.display(), modules.len()),
            );
            img
        }
        // Everything the guest needs is built in (9p too, for the host's userland: the job's
        // config must have it).
        Kernel::Tree { .. } => {
            image::base_image(procs, &input.cache, "tree", &[], job.guests.userland).await?
        }
    };
    st.end(p, true);

    let timeouts = job.timeouts.scaled(accel == Accel::Kvm);
    let modular = matches!(kernel, Kernel::Distro { .. });
    // Patch coverage: the functions each patch changes, counted in every boot.
    let changed = if job.probes.coverage {
        changed_functions(work, &input.series, &commits, modular).await
    } else {
        Vec::new()
    };
    let plan = plan::build(
        job,
        plan::Mount {
            mon: &cluster.mon_addr,
            admin_key: &cluster.admin_key,
        },
        timeouts.stall,
        coverage::probes(&changed),
        modular,
    );
    let mut plan = plan;
    if accel != Accel::Kvm {
        plan::scale_test_timeouts(&mut plan, job.timeouts.tcg_factor);
    }
    // fstests: its tree built on the host (cached by content), exported read-only to the guest.
    let mut exports = Vec::new();
    for f in job.workloads.iter().filter_map(|w| w.fstests.as_ref()) {
        let p = st.begin(Phase::Image, format!("fstests tree {}", f.path.display()));
        let built = crate::fstests::prepare(
            procs,
            &input.cache,
            &f.path,
            &input.artifacts.join("fstests-build.log"),
            job.timeouts.build,
        )
        .await;
        st.end(p, built.is_ok());
        let built = built?;
        st.progress(
            Phase::Image,
            format!(
                "fstests tree {} ({})",
                built.dir.display(),
                if built.fresh {
                    format!("built in {:.0}s", built.seconds)
                } else {
                    "cached".to_string()
                }
            ),
        );
        sandbox::reach(&built.dir)?;
        exports.push((harness_proto::FSTESTS_TAG.to_string(), built.dir));
    }
    // The host's deadline per test: the guest's own plus a margin for its clean-up.
    let test_deadline =
        plan::longest_test_timeout(&plan).map(|d| d + std::time::Duration::from_secs(120));
    let rig = Rig {
        exports,
        test_deadline,
        procs,
        job,
        kernel: &kernel,
        cluster: &cluster,
        ns_name: ns_name.clone(),
        scratch,
        artifacts: &input.artifacts,
        cache: &input.cache,
        base_img,
        plan,
        slots: Slots::new(slots),
        accel,
        timeouts,
        under_test_dirs: harness_core::modules::under_test_dirs(&input.series),
    };
    if let Some(u) = &input.one_boot {
        let boot = rig
            .boot(
                st,
                u.prefix,
                &builds[u.prefix],
                &u.variant,
                &u.console,
                &u.what,
                Some(&u.plan),
            )
            .await?;
        st.unit_boot = Some(boot.unit_result(u.prefix, &u.variant, &u.plan));
        return Ok(());
    }
    let mut hits: BTreeMap<String, u64> = Default::default();
    let mut probe_failures: BTreeMap<String, String> = Default::default();
    // (prefix, evictions per context, stacks) of each tested prefix's first boot.
    let mut evictions: Vec<Evictions> = Vec::new();
    // Every boot of the test, as the bisection will need it: (prefix, verdict, finding titles).
    let mut seen: Vec<Seen> = Vec::new();
    for &k in &tested {
        // The unstripped modules of a booted prefix are kept: they symbolise its traces.
        for m in &builds[k].modules {
            let _ = std::fs::copy(
                &m.unstripped,
                input.artifacts.join(format!("{}-prefix-{k}.ko", m.name)),
            );
        }
    }
    // Every attempt of every tested prefix, as many at once as there are guest slots; their
    // results are taken in order (prefix, attempt), whichever ended first. A fault of the
    // harness's own in one drops the others (their guests are stopped at teardown).
    let attempts_wanted: Vec<(usize, u32)> = tested
        .iter()
        .flat_map(|&k| (1..=job.repeats).map(move |a| (k, a)))
        .collect();
    let booted = {
        let st: &State<'_> = st;
        let (rig, builds) = (&rig, &builds);
        futures::future::try_join_all(attempts_wanted.iter().map(|&(k, attempt)| async move {
            let console_name = if attempt == 1 {
                format!("console-prefix-{k}.log")
            } else {
                format!("console-prefix-{k}-attempt-{attempt}.log")
            };
            let what = format!(
                "prefix {k}{}",
                if job.repeats > 1 {
                    format!(" attempt {attempt}/{}", job.repeats)
                } else {
                    String::new()
                }
            );
            rig.boot(
                st,
                k,
                &builds[k],
                &format!("prefix-{k}"),
                &console_name,
                &what,
                None,
            )
            .await
        }))
        .await?
    };
    let mut booted = booted.into_iter();
    for &k in &tested {
        let mut attempts = Vec::new();
        for attempt in 1..=job.repeats {
            let boot = booted.next().expect("one result per attempt");
            let mut stacks = Vec::new();
            for m in &boot.messages {
                match m {
                    Msg::Coverage { hits: h } => {
                        for (f, n) in h {
                            *hits.entry(f.clone()).or_insert(0) += n;
                        }
                    }
                    Msg::Probes { failed, .. } => probe_failures.extend(failed.iter().cloned()),
                    Msg::Evictions { stacks: s } => stacks = s.clone(),
                    _ => {}
                }
            }
            if attempt == 1 && !stacks.is_empty() {
                evictions.push((k, boot.result.evictions.clone(), stacks));
            }
            seen.push(boot.seen(k));
            attempts.push(boot.result);
            st.findings.extend(boot.findings);
        }
        st.prefixes[k].set_attempts(attempts);
    }
    // The base check: a failure is the series' only if the base does not show it too. When the
    // test did not boot the base and no bisection follows (the bisection checks the base
    // itself), the base boots now, as often as the job repeats, unless the job says not to.
    let failing = |seen: &[Seen]| {
        seen.iter()
            .filter(|s| s.prefix > 0 && s.verdict == Verdict::Fail)
            .flat_map(|s| s.titles.iter().cloned())
            .collect::<BTreeSet<String>>()
    };
    if job.check.base
        && job.on_failure == OnFailure::None
        && !tested.contains(&0)
        && builds[0].ok
        && !failing(&seen).is_empty()
    {
        let sigs = failing(&seen).into_iter().collect::<Vec<_>>().join(", ");
        let boots = {
            let (st, rig, sigs, builds): (&State<'_>, _, _, _) = (st, &rig, &sigs, &builds);
            futures::future::try_join_all((1..=job.repeats).map(|attempt| async move {
                let what = format!("prefix 0 base check {attempt}/{} ({sigs})", job.repeats);
                let console = format!("console-prefix-0-base-check-{attempt}.log");
                rig.boot(st, 0, &builds[0], "prefix-0", &console, &what, None)
                    .await
            }))
            .await?
        };
        for boot in boots {
            record(st, &mut seen, 0, boot);
        }
    }
    // Fix verification: a failure of the base that the tip did not show is settled with more
    // boots of the tip, until verified or the tip fails (core::fix says when it is enough).
    let settle = match tested.last() {
        Some(&tip)
            if tip > 0
                && !st.prefixes[0].attempts.is_empty()
                && st.prefixes[tip]
                    .attempts
                    .iter()
                    .all(|a| a.verdict == Verdict::Pass) =>
        {
            Some(tip)
        }
        _ => None,
    };
    if let Some(tip) = settle {
        let mut n = 0;
        loop {
            let a = harness_core::fix::assess(&st.prefixes, &st.findings);
            let boots = st.prefixes[tip].attempts.len() as u32;
            if !a.fixes.iter().any(|f| !f.confident) || boots >= job.check.max_boots {
                break;
            }
            n += 1;
            let what = format!(
                "prefix {tip} check {n} (verifying the fix of {})",
                a.fixes
                    .iter()
                    .find(|f| !f.confident)
                    .map(|f| f.signature.as_str())
                    .unwrap_or_default()
            );
            let console_name = format!("console-prefix-{tip}-check-{n}.log");
            let boot = rig
                .boot(
                    st,
                    tip,
                    &builds[tip],
                    &format!("prefix-{tip}"),
                    &console_name,
                    &what,
                    None,
                )
                .await?;
            let ok = boot.result.verdict == Verdict::Pass;
            record(st, &mut seen, tip, boot);
            if !ok {
                break;
            }
        }
    }
    // Hazards: each tested prefix against the base: its boot in this run, else the profile an
    // earlier run of the same kernel and job recorded (a booted base's is recorded for later).
    let booted = evictions
        .iter()
        .find(|(k, _, _)| *k == 0)
        .map(|(_, c, _)| c.clone());
    if let Some(c) = &booted {
        sink.emit(&Event::BaseProfile {
            evictions: c.clone(),
        });
    }
    let recorded = input.base_profile.as_ref().filter(|_| booted.is_none());
    let base = booted.or_else(|| recorded.map(|p| p.evictions.clone()));
    for (k, counts, stacks) in &evictions {
        if *k > 0 {
            for mut f in probe::hazards(*k, counts, base.as_ref(), stacks) {
                if let Some(p) = recorded {
                    f.excerpt.push_str(&format!(
                        "\n(the base's profile: recorded by run {} for this kernel and job)",
                        p.run_id
                    ));
                }
                sink.emit(&Event::Finding { finding: f.clone() });
                st.findings.push(f);
            }
        }
    }
    st.coverage = coverage::report(&input.series, &changed, &hits, &probe_failures);

    // A failing prefix: which patch, and the way back. (A prefix that does not build elsewhere
    // in the series still decides the verdict; the bisection skips it.)
    // (The base's own failures are not the series': with the base booted, they are fixed or
    // pre-existing, not bisected.)
    let shared_with_base = harness_core::fix::assess(&st.prefixes, &st.findings);
    let not_series = shared_with_base.not_series();
    let failed = seen.iter().any(|s| {
        s.verdict == Verdict::Fail
            && (s.prefix > 0 || tested == [0])
            && !s.titles.iter().all(|t| not_series.contains(t.as_str()))
    });
    if failed && job.on_failure != OnFailure::None {
        let subjects: Vec<String> = input
            .series
            .patches
            .iter()
            .map(|p| p.subject.clone())
            .collect();
        let built: Vec<bool> = builds.iter().map(|b| b.ok).collect();
        let workload_names: Vec<String> = job.workloads.iter().map(|w| w.name.clone()).collect();
        let bisect_input = bisector::Input {
            subjects: &subjects[..commits.len() - 1],
            built: &built,
            model: job.bisect,
            revert: job.on_failure == OnFailure::Revert,
            seen: &seen,
            workloads: &workload_names,
            scope: job.bisect_scope,
            probe_findings: job.probes.hazards_fail,
            slots: input.remote.as_ref().map_or(slots, |r| r.slots().max(1)),
        };
        let mut out = bisector::Bisected::default();
        let mut tester = RigTester {
            rig: &rig,
            st,
            work,
            series: &input.series,
            commits: &commits,
            builds: &builds,
            without: None,
            remote: input.remote.as_deref(),
        };
        let r = bisector::bisect(&mut tester, &bisect_input, &mut out).await;
        st.bisection = out.runs;
        st.culprit = out.culprit;
        st.revert = out.revert;
        r?;
        if let Some(c) = &st.culprit {
            let text = harness_core::wording::bisect_text(c, &st.bisection, st.revert.as_ref());
            let _ = crate::write(&rig.artifacts.join("bisect-report.txt"), text);
        }
    }
    Ok(())
}

/// The rig as the bisection and revert drivers see it: boots prefixes and the revert's variants.
struct RigTester<'a, 's> {
    rig: &'a Rig<'a>,
    st: &'a State<'s>,
    work: &'a WorkTree,
    series: &'a Series,
    /// `commits[k]` is prefix k, `builds[k]` its build.
    commits: &'a [String],
    builds: &'a [Built],
    /// The series without the culprit, once built (when it is not a prefix already built).
    without: Option<Built>,
    /// Where prefixes are booted when not here (`RunInput::remote`).
    remote: Option<&'a dyn RemoteBoots>,
}

impl<'a> RigTester<'a, '_> {
    /// One boot of `variant` (in a free guest slot).
    async fn tried(
        &self,
        variant: Variant,
        console: &str,
        what: &str,
        plan: &BootPlan,
    ) -> Result<Tried> {
        let prefix = variant.prefix();
        let built = match (variant, &self.without) {
            (Variant::WithoutCulprit(_), Some(fresh)) => fresh,
            _ => &self.builds[prefix],
        };
        let boot = self
            .rig
            .boot(
                self.st,
                prefix,
                built,
                &variant.name(),
                console,
                what,
                Some(plan),
            )
            .await?;
        Ok(boot.tried())
    }

    /// Where `variant` boots when not here: a prefix as built, the base, or the series without
    /// its culprit when that is a prefix (the culprit ended the series). A series rebased
    /// without its culprit is built here and boots here.
    fn remote_for(&self, variant: Variant) -> Option<&'a dyn RemoteBoots> {
        match variant {
            Variant::Prefix(_) | Variant::Base => self.remote,
            Variant::WithoutCulprit(_) => self.remote.filter(|_| self.without.is_none()),
        }
    }

    /// `boots` made elsewhere, all at once (those an interrupted run recorded are replayed);
    /// each recorded as it would be here: its findings, its attempt, its console.
    async fn remote_many(
        &self,
        remote: &dyn RemoteBoots,
        boots: &[bisector::Planned],
        plan: &BootPlan,
    ) -> Result<Vec<Tried>> {
        let artifacts = self.rig.artifacts;
        let mut out: Vec<Option<Tried>> = vec![None; boots.len()];
        let mut units = Vec::new();
        let mut sent = Vec::new();
        for (i, b) in boots.iter().enumerate() {
            let (prefix, variant) = (b.variant.prefix(), b.variant.name());
            if let Some(boot) = self
                .st
                .replayed(&b.console, prefix, &variant, artifacts, &b.what)
            {
                out[i] = Some(boot.tried());
                continue;
            }
            units.push(BootUnit {
                prefix,
                variant,
                console: b.console.clone(),
                what: b.what.clone(),
                plan: plan.clone(),
            });
            sent.push(i);
        }
        if !units.is_empty() {
            let span = self.st.begin(
                Phase::Guest,
                format!(
                    "{} on {}, at once: {}",
                    if units.len() == 1 {
                        "1 boot".to_string()
                    } else {
                        format!("{} boots", units.len())
                    },
                    remote.name(),
                    units
                        .iter()
                        .map(|u| u.what.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
            let progress = |m: String| self.st.progress(Phase::Guest, m);
            let results = match remote.boot_many(&units, artifacts, &progress).await {
                Ok(r) => r,
                Err(e) => {
                    self.st.end(span, false);
                    return Err(e);
                }
            };
            let mut all_passed = true;
            for ((i, u), BootResult { tried: r, attempt }) in
                sent.into_iter().zip(&units).zip(results)
            {
                if let Some(rec) = &attempt {
                    for f in &rec.findings {
                        self.st.sink.emit(&Event::Finding { finding: f.clone() });
                    }
                    self.st.sink.emit(&Event::Attempt {
                        record: Box::new(rec.clone()),
                    });
                }
                self.st.progress(
                    Phase::Guest,
                    format!(
                        "{}: {} in {:.0}s{}",
                        u.what,
                        r.verdict,
                        r.seconds,
                        r.infra
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ),
                );
                all_passed &= r.verdict == Verdict::Pass;
                out[i] = Some(r);
            }
            self.st.end(span, all_passed);
        }
        Ok(out
            .into_iter()
            .map(|t| t.expect("every boot has a result"))
            .collect())
    }
}

impl Tester for RigTester<'_, '_> {
    async fn boot(
        &mut self,
        variant: Variant,
        console: &str,
        what: &str,
        plan: &BootPlan,
    ) -> Result<Tried> {
        if let Some(remote) = self.remote_for(variant) {
            let one = bisector::Planned {
                variant,
                console: console.to_string(),
                what: what.to_string(),
            };
            let mut tried = self.remote_many(remote, &[one], plan).await?;
            return Ok(tried.remove(0));
        }
        self.tried(variant, console, what, plan).await
    }

    async fn boot_many(
        &mut self,
        boots: &[bisector::Planned],
        plan: &BootPlan,
    ) -> Result<Vec<Tried>> {
        let remote = boots
            .iter()
            .map(|b| self.remote_for(b.variant))
            .collect::<Option<Vec<_>>>()
            .and_then(|r| r.first().copied());
        if let Some(remote) = remote {
            return self.remote_many(remote, boots, plan).await;
        }
        let this = &*self;
        futures::future::try_join_all(
            boots
                .iter()
                .map(|b| this.tried(b.variant, &b.console, &b.what, plan)),
        )
        .await
    }

    async fn without(&mut self, first: usize, last: usize) -> Result<Without> {
        let n = self.commits.len() - 1;
        let (rig, work) = (self.rig, self.work);
        work.checkout(&self.commits[first - 1]).await?;
        for j in last + 1..=n {
            let a = work
                .am(&self.series.patches[j - 1].raw, rig.scratch, true)
                .await?;
            if !a.ok {
                return Ok(Without::DoesNotApply {
                    patch: j,
                    message: a.message,
                });
            }
        }
        let mbox = work
            .git_out(&[
                "format-patch",
                "--stdout",
                &format!("{}..HEAD", self.commits[0]),
            ])
            .await?;
        let file = "without-culprit.mbox";
        crate::write(&rig.artifacts.join(file), format!("{mbox}\n"))?;
        // Without later patches the variant is the prefix before the culprit, already built.
        let built = if last == n {
            &self.builds[first - 1]
        } else {
            let fresh = rig
                .kernel
                .build(
                    rig.procs,
                    &rig.scratch.join("without-culprit"),
                    &rig.artifacts.join("without-culprit"),
                    &rig.artifacts.join("build-without-culprit.log"),
                    &rig.kernel.ccache_dir(rig.cache),
                    rig.kernel.ccaches(rig.cache, 1).1.as_ref(),
                    rig.job.timeouts.build,
                    true,
                )
                .await?;
            self.without.insert(fresh)
        };
        Ok(Without::Made {
            file: file.into(),
            built: if built.ok {
                Ok(())
            } else {
                Err(built.error_excerpt.clone().unwrap_or_default())
            },
        })
    }

    async fn revert_patch(
        &mut self,
        candidates: &[usize],
    ) -> Result<std::result::Result<String, (usize, String)>> {
        let n = self.commits.len() - 1;
        let work = self.work;
        work.checkout(&self.commits[n]).await?;
        for &k in candidates.iter().rev().filter(|&&k| k > 0) {
            if let Err(e) = work
                .git_out(&["revert", "--no-edit", &self.commits[k]])
                .await
            {
                let _ = work.git_out(&["revert", "--abort"]).await;
                return Ok(Err((k, e.to_string())));
            }
        }
        let patch = work
            .git_out(&[
                "format-patch",
                "--stdout",
                &format!("{}..HEAD", self.commits[n]),
            ])
            .await?;
        let file = "revert-culprit.patch";
        crate::write(&self.rig.artifacts.join(file), format!("{patch}\n"))?;
        Ok(Ok(file.to_string()))
    }

    fn begin(&self, phase: Phase, detail: String) -> Span {
        self.st.begin(phase, detail)
    }
    fn end(&self, span: Span, ok: bool) {
        self.st.end(span, ok)
    }
    fn progress(&self, phase: Phase, message: String) {
        self.st.progress(phase, message)
    }
    fn elapsed(&self) -> f64 {
        self.st.t0.elapsed().as_secs_f64()
    }
}

/// Everything a guest boot needs once the cluster is up and the image is made: boots any built
/// variant of the kernel (a prefix, or the series without its culprit).
struct Rig<'a> {
    pub procs: &'a Procs,
    pub job: &'a Job,
    pub kernel: &'a Kernel,
    pub cluster: &'a Cluster,
    pub ns_name: String,
    pub scratch: &'a Path,
    pub artifacts: &'a Path,
    pub cache: &'a Path,
    pub base_img: PathBuf,
    pub plan: Plan,
    /// The guest slots (`guests.parallel`): a boot takes a free one for its whole length.
    pub slots: Slots,
    pub accel: Accel,
    pub timeouts: harness_core::job::Timeouts,
    /// Host directories the guest mounts read-only (virtio-9p): the fstests tree.
    pub exports: Vec<(String, PathBuf)>,
    pub test_deadline: Option<std::time::Duration>,
    /// Source directories of the code under test (findings outside them are marked so).
    pub under_test_dirs: Vec<String>,
}

/// One guest boot: its result, its (symbolised) findings and the guest program's messages.
struct Boot {
    pub result: TestResult,
    pub findings: Vec<Finding>,
    pub messages: Vec<Msg>,
}

impl Boot {
    /// The distinct titles of its findings, in order; a failure without one is named by how the
    /// guest ended.
    pub fn titles(&self) -> Vec<String> {
        harness_core::boot::titles(&self.findings, self.result.verdict, self.result.exit)
    }

    /// The boot as the bisection starts from it, as prefix `k`.
    pub fn seen(&self, k: usize) -> Seen {
        let titles = self.titles();
        let at = titles
            .iter()
            .map(|t| {
                self.findings
                    .iter()
                    .find(|f| &f.title == t)
                    .map_or((None, None), |f| (f.during.clone(), f.step))
            })
            .collect();
        Seen {
            prefix: k,
            verdict: self.result.verdict,
            titles,
            at,
        }
    }

    /// The guest program started (the kernel booted and the modules loaded).
    pub fn booted(&self) -> bool {
        self.messages.iter().any(|m| matches!(m, Msg::Hello { .. }))
    }

    /// The boot as the bisection drivers judge it.
    pub fn tried(&self) -> Tried {
        Tried {
            stopped: self.result.exit == harness_core::verdict::GuestExit::Stopped,
            verdict: self.result.verdict,
            titles: self.titles(),
            booted: self.booted(),
            infra: self.result.infra.clone(),
            seconds: self.result.seconds,
        }
    }

    /// The boot's record for the store, as prefix `prefix` of kernel `variant`; `only`: the
    /// workloads it was to run when not all of the job's.
    pub fn record(&self, prefix: usize, variant: &str, only: Vec<String>) -> AttemptRecord {
        AttemptRecord {
            console: self.result.console.clone(),
            prefix,
            variant: variant.to_string(),
            workloads: only,
            result: self.result.clone(),
            findings: self.findings.clone(),
            messages: serde_json::to_value(&self.messages).unwrap_or_default(),
        }
    }

    /// A recorded boot (replayed, or made elsewhere) as a boot of this run.
    pub fn of_record(rec: AttemptRecord) -> Boot {
        Boot {
            messages: serde_json::from_value(rec.messages).unwrap_or_default(),
            result: rec.result,
            findings: rec.findings,
        }
    }

    /// What a boot unit reports of its boot (`core::slurm::BootResult`).
    pub fn unit_result(&self, prefix: usize, variant: &str, plan: &BootPlan) -> BootResult {
        let only = if plan.all {
            Vec::new()
        } else {
            plan.workloads.clone()
        };
        BootResult {
            tried: self.tried(),
            attempt: Some(self.record(prefix, variant, only)),
        }
    }
}

/// A boot of the test as the bisection sees it: (prefix, verdict, titles, when the first title's
/// finding appeared).
use crate::bisector::Seen;

/// Adds one more boot of prefix `k` (after the test's own): its result, findings and what the
/// bisection will need of it.
fn record(st: &mut State<'_>, seen: &mut Vec<Seen>, k: usize, boot: Boot) {
    seen.push(boot.seen(k));
    let mut attempts = st.prefixes[k].attempts.clone();
    attempts.push(boot.result);
    st.prefixes[k].set_attempts(attempts);
    st.findings.extend(boot.findings);
}

/// Guests booted at once when the job does not say (`guests.parallel`): what this machine's cores
/// and free memory allow (`job::parallel_default`).
fn guests_at_once(job: &Job) -> usize {
    if let Some(p) = job.guests.parallel {
        return p as usize;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    // MemAvailable, in kB.
    let available_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    harness_core::job::parallel_default(cores, available_mib, job.guests.memory_mib) as usize
}

/// The guest slots of a run. Slot `i` has the tap `htap<i>`, the address `Netns::guest_ip(i)`,
/// its own MAC and QMP socket, and its own CephFS (`cluster::fs_name(i)`, its own MDS). A boot
/// holds one slot from its start to the eviction of its sessions.
struct Slots {
    free: Mutex<Vec<usize>>,
    permits: tokio::sync::Semaphore,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            // Lowest first: a lone boot always gets slot 0.
            free: Mutex::new((0..n.max(1)).rev().collect()),
            permits: tokio::sync::Semaphore::new(n.max(1)),
        }
    }

    /// Wait for a free slot.
    async fn take(&self) -> Slot<'_> {
        let permit = self.permits.acquire().await.expect("never closed");
        let i = self
            .free
            .lock()
            .unwrap()
            .pop()
            .expect("a permit stands for a free slot");
        Slot {
            slots: self,
            i,
            _permit: permit,
        }
    }
}

/// A slot in use; free again when dropped (the boot ended, or its future was dropped).
struct Slot<'a> {
    slots: &'a Slots,
    i: usize,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Back on the list before the permit (a field, dropped after this) lets a waiter in.
        self.slots.free.lock().unwrap().push(self.i);
    }
}

/// Boots again of a guest that stopped before loading the modules under test.
pub(crate) const MAX_EARLY_STALLS: u32 = 2;

impl Rig<'_> {
    /// One fstests test's result; a failed test's diff and log become artifacts
    /// (`fstests-<boot>/<dir>-<name>.out.bad`, `.full`).
    #[allow(clippy::too_many_arguments)]
    fn fstests_result(
        &self,
        console: &str,
        test: &str,
        status: harness_proto::fstests::Status,
        seconds: f64,
        reason: &str,
        diff: &str,
        full: &str,
    ) -> harness_core::report::FstestsResult {
        let boot = console
            .strip_prefix("console-")
            .unwrap_or(console)
            .trim_end_matches(".log");
        // The guest's test name is untrusted text: only a well-formed one names a file.
        let file = harness_proto::fstests::valid_test(test).then(|| test.replace('/', "-"));
        let save = |ext: &str, text: &str| -> Option<String> {
            let f = file.as_ref()?;
            if text.is_empty() {
                return None;
            }
            let rel = format!("fstests-{boot}/{f}.{ext}");
            crate::write(&self.artifacts.join(&rel), text).ok()?;
            Some(rel)
        };
        harness_core::report::FstestsResult {
            test: test.to_string(),
            status,
            seconds,
            reason: reason.to_string(),
            diff: save("out.bad.diff", diff),
            full: save("full", full),
        }
    }

    /// Boot `built` (which is, or stands for, prefix `prefix`) and run the job's workloads, or
    /// what `scope` says (a bisection boot: some of them, ending at the bisected signature).
    /// `variant` names its initramfs (made once per variant and scope), `console` its console
    /// artifact.
    /// In distro-module mode a guest that fails before `/init` loads the modules under test
    /// (a TCG or firmware hiccup in early boot: no code of the series ran) is booted again, at
    /// most [`MAX_EARLY_STALLS`] times, and is an infrastructure error if it keeps failing so.
    pub async fn boot(
        &self,
        st: &State<'_>,
        prefix: usize,
        built: &Built,
        variant: &str,
        console: &str,
        what: &str,
        scope: Option<&BootPlan>,
    ) -> Result<Boot> {
        let modular = matches!(self.kernel, Kernel::Distro { .. });
        let slot = self.slots.take().await;
        let mut n = 0;
        loop {
            let name = if n == 0 {
                console.to_string()
            } else {
                format!("{}-early-retry-{n}.log", console.trim_end_matches(".log"))
            };
            let (mut boot, under_test_ran) = self
                .boot_once(st, prefix, built, variant, &name, what, scope, slot.i)
                .await?;
            if !modular || under_test_ran || boot.result.verdict == Verdict::Pass {
                return Ok(boot);
            }
            if n == MAX_EARLY_STALLS {
                boot.result.verdict = Verdict::InfraError;
                boot.result.infra = Some(format!(
                    "the guest failed {} times before loading the modules under test (early boot, not the series)",
                    n + 1
                ));
                return Ok(boot);
            }
            n += 1;
            st.progress(
                Phase::Guest,
                format!(
                    "{what}: the guest failed before loading the modules under test (no code of the series ran): booting again ({n}/{MAX_EARLY_STALLS})"
                ),
            );
        }
    }

    /// One boot in guest slot `slot`; also whether `/init` got as far as loading the modules
    /// under test.
    #[allow(clippy::too_many_arguments)]
    async fn boot_once(
        &self,
        st: &State<'_>,
        prefix: usize,
        built: &Built,
        variant: &str,
        console: &str,
        what: &str,
        scope: Option<&BootPlan>,
        slot: usize,
    ) -> Result<(Boot, bool)> {
        let sink = st.sink;
        if let Some(boot) = st.replayed(console, prefix, variant, self.artifacts, what) {
            return Ok((boot, true));
        }
        // Some of the job's workloads: their own plan, so their own initramfs.
        let only = scope.filter(|s| !s.all).map(|s| s.workloads.clone());
        let mut plan = std::borrow::Cow::Borrowed(&self.plan);
        // Slot 0 is a one-guest run's only slot: its image and names are as they always were.
        let fs = crate::cluster::fs_name(slot);
        let slot_tag = if slot == 0 {
            String::new()
        } else {
            plan.to_mut().fs = Some(fs.clone());
            format!("-slot{slot}")
        };
        // A bisection boot without the job's probes (`BootPlan::probes`): its own image too.
        let probes_tag = if scope.is_some_and(|s| !s.probes)
            && (!plan.coverage.is_empty() || plan.evict_probe.is_some())
        {
            let p = plan.to_mut();
            p.coverage.clear();
            p.evict_probe = None;
            "-noprobes"
        } else {
            ""
        };
        // The signature's workload cut after its step (`BootPlan::cut`): its own image too.
        let cut_tag = match scope.and_then(|s| s.cut.as_ref()) {
            Some(cut) => {
                for w in plan.to_mut().workloads.iter_mut() {
                    if w.name == cut.workload {
                        w.through_step = Some(cut.step);
                    }
                }
                format!("-through-{}-{}", cut.workload, cut.step)
            }
            None => String::new(),
        };
        let initrd = match &only {
            Some(names) => {
                plan.to_mut().workloads.retain(|w| names.contains(&w.name));
                self.scratch.join(format!(
                    "run-{variant}-only-{}{cut_tag}{probes_tag}{slot_tag}.cpio",
                    names.join("+")
                ))
            }
            None => self
                .scratch
                .join(format!("run-{variant}{cut_tag}{probes_tag}{slot_tag}.cpio")),
        };
        if !initrd.exists() {
            let run_modules: Vec<(&str, &Path)> = built
                .modules
                .iter()
                .map(|m| (m.name.as_str(), m.stripped.as_path()))
                .collect();
            image::run_image(
                self.procs,
                &self.base_img,
                &self.scratch.join(format!("image{slot_tag}")),
                &guest_conf(self.job.guests.userland, slot),
                &plan,
                &run_modules,
                &initrd,
            )
            .await?;
        }
        let workload_names: Vec<&str> = plan.workloads.iter().map(|w| w.name.as_str()).collect();
        let stop_at = scope.and_then(|s| s.stop_at.clone());
        let p = st.begin(
            Phase::Guest,
            format!(
                "{what}: boot {} ({}), run {}{}",
                built.boot.display(),
                self.accel.as_str(),
                workload_names.join(", "),
                match &stop_at {
                    Some(sig) => format!(" until \"{sig}\""),
                    None => String::new(),
                }
            ),
        );
        let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
        let g = GuestConfig {
            kernel: built.boot.clone(),
            initrd,
            netns: self.ns_name.clone(),
            tap: netns::tap_name(slot),
            mac: format!("52:54:00:77:00:{:02x}", slot + 2),
            cpus: self.job.guests.cpus,
            memory_mib: self.job.guests.memory_mib,
            accel: self.accel,
            console: self.artifacts.join(console),
            qmp: self.scratch.join(format!("qmp{slot_tag}.sock")),
            boot_deadline: self.timeouts.boot,
            workload_deadline: self.timeouts.workload,
            silence: self.timeouts.silence,
            boot_name: console
                .strip_prefix("console-")
                .unwrap_or(console)
                .trim_end_matches(".log")
                .to_string(),
            host_usr: (self.job.guests.userland == Userland::Host).then(|| PathBuf::from("/usr")),
            requests: Some(req_tx),
            exports: self.exports.clone(),
            test_deadline: self.test_deadline,
            stop_at,
        };
        let mut under_test_ran = false;
        let mut on_line = |l: &str| {
            under_test_ran |= l.contains(harness_proto::UNDER_TEST_MARKER);
            sink.emit(&Event::ConsoleLine {
                prefix,
                line: l.to_string(),
            })
        };
        let (run, health) = attend(
            self.cluster,
            &fs,
            guest::run(self.procs, &g, &mut on_line),
            req_rx,
            &|m: String| {
                sink.emit(&Event::Progress {
                    phase: Phase::Guest,
                    message: m,
                })
            },
        )
        .await;
        // Whatever session this guest left (it may have crashed or hung holding caps) must not
        // hold up the next boot. Only its own (by its address) on its own file system: the other
        // slots' guests run on, and the mgr keeps its sessions.
        let blocked = harness_core::health::infra_evidence(&health).is_some();
        let sessions_evicted = match self
            .cluster
            .evict_clients(&fs, &Netns::guest_ip(slot), blocked)
            .await
        {
            Ok(0) => 0,
            Ok(n) => {
                sink.emit(&Event::Progress {
                    phase: Phase::Guest,
                    message: format!(
                        "evicted and blocklisted {n} client session(s) the guest left; the MDS holds none now"
                    ),
                });
                n
            }
            Err(e) => {
                sink.emit(&Event::Progress {
                    phase: Phase::Guest,
                    message: format!("evicting the guest's client session: {e}"),
                });
                0
            }
        };
        let run = run?;
        let mut findings = run.findings;
        if !findings.is_empty() {
            symbolizer(self.procs, self.kernel, built)
                .symbolize_findings(&mut findings)
                .await;
        }
        let under_test = harness_scan::frames::UnderTest {
            modules: built.modules.iter().map(|m| m.name.clone()).collect(),
            dirs: self.under_test_dirs.clone(),
        };
        for f in &mut findings {
            if f.kind.is_crash() {
                f.outside = harness_scan::frames::outside(&f.excerpt, &under_test);
            }
            f.prefix = Some(prefix);
            f.console = Some(console.to_string());
            sink.emit(&Event::Finding { finding: f.clone() });
        }
        let (verdict, infra) = harness_core::boot::judge(run.exit, run.hung, &findings, &health);
        let mut workloads = Vec::new();
        let mut stacks = Vec::new();
        let mut fstests = Vec::new();
        for m in &run.messages {
            match m {
                Msg::WorkloadEnd { name, ok, stats } => {
                    let seed = self
                        .job
                        .workloads
                        .iter()
                        .find(|w| &w.name == name)
                        .map(|w| w.seed)
                        .unwrap_or(0);
                    workloads.push(WorkloadRun {
                        name: name.clone(),
                        seed,
                        ok: *ok,
                        seconds: stats.seconds,
                        ops: stats.ops,
                        ops_per_s: stats.ops as f64 / stats.seconds.max(0.001),
                        counters: stats.counters.clone(),
                    });
                }
                Msg::Evictions { stacks: s } => stacks = s.clone(),
                Msg::TestEnd {
                    test,
                    status,
                    seconds,
                    reason,
                    diff,
                    full,
                    ..
                } => fstests.push(
                    self.fstests_result(console, test, *status, *seconds, reason, diff, full),
                ),
                _ => {}
            }
        }
        let result = TestResult {
            verdict,
            exit: run.exit,
            qemu_status: run.qemu_status,
            seconds: run.seconds,
            console: console.to_string(),
            findings: findings.len(),
            infra,
            workloads,
            evictions: probe::eviction_counts(&stacks),
            fstests,
            sessions_evicted,
        };
        st.end(p, verdict == Verdict::Pass);
        // The cluster's state as evidence of a failure; not for a boot ended at the bisected
        // signature (that failure is the kernel's by definition, and `ceph health detail` would
        // cost each such bisection boot a few tenths of a second).
        if verdict != Verdict::Pass && run.exit != harness_core::verdict::GuestExit::Stopped {
            let detail = self.cluster.health_detail().await;
            let name = console
                .strip_prefix("console-")
                .unwrap_or(console)
                .trim_end_matches(".log");
            let _ = crate::write(
                &self.artifacts.join(format!("cluster-health-{name}.txt")),
                detail,
            );
        }
        let boot = Boot {
            result,
            findings,
            messages: run.messages,
        };
        sink.emit(&Event::Attempt {
            record: Box::new(boot.record(prefix, variant, only.unwrap_or_default())),
        });
        Ok((boot, under_test_ran))
    }
}

/// Run `guest` while sampling the cluster's health every 15 s and carrying out the guest
/// program's requests (an MDS failover); the health samples taken during it.
async fn attend<T>(
    cluster: &Cluster,
    fs: &str,
    guest: impl std::future::Future<Output = T>,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<harness_proto::Action>,
    progress: &(dyn Fn(String) + Sync),
) -> (T, Vec<harness_core::health::Health>) {
    let t0 = Instant::now();
    let samples = Mutex::new(Vec::new());
    let sampler = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
            if let Some(h) = cluster.health_sample(t0.elapsed().as_secs_f64()).await {
                samples.lock().unwrap().push(h);
            }
        }
    };
    let actions = async {
        while let Some(a) = requests.recv().await {
            match a {
                harness_proto::Action::FailMds => {
                    let r = cluster.fail_mds(fs).await;
                    progress(match r {
                        Ok(_) => "ceph mds fail 0 (asked by the guest)".to_string(),
                        Err(e) => format!("ceph mds fail 0 failed: {e}"),
                    });
                }
                harness_proto::Action::EvictSession { blocklist } => {
                    let r = cluster.evict_sessions(fs, blocklist).await;
                    let how = if blocklist { ", blocklisted" } else { "" };
                    progress(match r {
                        Ok(()) => format!("client sessions evicted{how} (asked by the guest)"),
                        Err(e) => format!("evicting client sessions failed: {e}"),
                    });
                }
            }
        }
        std::future::pending::<()>().await
    };
    let out = tokio::select! {
        out = guest => out,
        _ = sampler => unreachable!("the sampler never ends"),
        _ = actions => unreachable!("the action loop never ends"),
    };
    (out, samples.into_inner().unwrap())
}

/// (prefix, evictions per context, stacks) of a tested prefix's first boot.
type Evictions = (usize, BTreeMap<String, u64>, Vec<(Vec<String>, u64)>);

/// The functions each patch changes: its diff (`git diff`, from the previous commit) mapped onto
/// the functions of the patched source.
async fn changed_functions(
    work: &crate::tree::WorkTree,
    series: &Series,
    commits: &[String],
    modular: bool,
) -> Changed {
    let mut out = Vec::new();
    for k in 1..commits.len().min(series.patches.len() + 1) {
        let diff = work
            .git_out(&["diff", "--no-color", "-U0", &commits[k - 1], &commits[k]])
            .await
            .unwrap_or_default();
        let mut fs = Vec::new();
        for (file, lines) in probe::changed_lines(&diff) {
            let Some(module) = probe::probe_module(&file, modular) else {
                continue;
            };
            let Ok(src) = work
                .git_out(&["show", &format!("{}:{file}", commits[k])])
                .await
            else {
                continue;
            };
            for f in probe::changed_functions(&lines, &src) {
                let p = Probe {
                    module: module.clone(),
                    function: f.clone(),
                };
                fs.push((file.clone(), f, Some(p)));
            }
        }
        out.push((k, fs));
    }
    out
}

/// `/etc/harness.conf` for `/init`: the address of guest slot `slot` and the userland.
fn guest_conf(userland: Userland, slot: usize) -> String {
    image::guest_conf(&[
        (
            "GUEST_IP",
            format!("{}/{}", Netns::guest_ip(slot), netns::PREFIX_LEN),
        ),
        ("USERLAND", userland.as_str().to_string()),
        ("HOST_USR_TAG", guest::HOST_USR_TAG.to_string()),
    ])
}

fn symbolizer(procs: &Procs, kernel: &Kernel, built: &Built) -> Symbolizer {
    let mut s = Symbolizer::new(procs.clone());
    for m in &built.modules {
        s = s.module(&m.name, &m.unstripped);
    }
    if let Some(v) = &built.vmlinux {
        s = s.vmlinux(v);
    }
    for root in kernel.source_roots() {
        s = s.strip_prefix(root);
    }
    s
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
