//! What the terminal prints after a run: the report, the bisection, the bench figures.

use std::path::Path;

use harness_core::report::Report;
use harness_proto::fstests::Status;

pub(crate) fn print_report(r: &Report, artifacts: &Path) {
    println!(
        "run {}  {}  job {}  kernel {}  accel {}",
        r.run_id,
        r.started_at,
        r.job,
        r.kernel,
        r.accel.as_deref().unwrap_or("-")
    );
    println!(
        "series: {} ({} patches)",
        harness_core::text::line(&r.series.subject),
        r.series.patch_count
    );
    for p in &r.prefixes {
        let applied = if p.index == 0 {
            "base   "
        } else if p.applied {
            "applied"
        } else if p.apply_error.is_some() {
            "FAILED "
        } else {
            "-      "
        };
        let built = match p.built {
            Some(true) => format!("built {:5.1}s", p.build_seconds.unwrap_or(0.0)),
            Some(false) => "BUILD FAILED".to_string(),
            None => "-".to_string(),
        };
        let test = p
            .test
            .as_ref()
            .map(|t| {
                format!(
                    "{} ({:?}, {:.0}s, {} findings)",
                    t.verdict, t.exit, t.seconds, t.findings
                )
            })
            .unwrap_or_default();
        println!(
            "  [{:>2}] {applied}  {built:<12}  {test:<28}  {}",
            p.index,
            harness_core::text::line(&p.subject)
        );
        if let Some(e) = &p.apply_error {
            for l in e.lines().take(8) {
                println!("       | {}", harness_core::text::line(l));
            }
        }
        if let Some(e) = &p.build_error {
            for l in e.lines().take(12) {
                println!("       | {}", harness_core::text::line(l));
            }
        }
        if let Some(t) = &p.test {
            if let Some(why) = &t.infra {
                println!("       | infra: {why}");
            }
            for w in &t.workloads {
                println!(
                    "       | workload {:<14} {:<4} {:6.1}s {:8} ops {:8.1} ops/s",
                    w.name,
                    if w.ok { "ok" } else { "FAIL" },
                    w.seconds,
                    w.ops,
                    w.ops_per_s
                );
            }
            if !t.fstests.is_empty() {
                let (pass, fail, notrun) = harness_core::report::fstests_counts(&t.fstests);
                println!(
                    "       | fstests: {} tests, {pass} passed, {fail} failed, {notrun} not run",
                    t.fstests.len()
                );
                for x in t.fstests.iter().filter(|x| x.status != Status::Pass) {
                    let mut line = format!(
                        "       |   {:<12} {:<6} {}",
                        x.test,
                        x.status,
                        harness_core::text::line(&x.reason)
                    );
                    if let Some(d) = &x.diff {
                        line.push_str(&format!(" (diff: {d})"));
                    }
                    println!("{line}");
                }
            }
            if t.sessions_evicted > 0 {
                println!(
                    "       | {} client session(s) the guest left evicted and blocklisted",
                    t.sessions_evicted
                );
            }
            if !t.evictions.is_empty() {
                let e: Vec<String> = t
                    .evictions
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                println!("       | final iputs by context: {}", e.join(", "));
            }
        }
    }
    if !r.coverage.is_empty() {
        println!("coverage (calls of the functions each patch changes; UNTESTED = never called):");
        for pc in &r.coverage {
            let untested = pc.functions.iter().filter(|f| f.untested()).count();
            println!(
                "  patch {}: {} functions, {untested} untested  {}",
                pc.index,
                pc.functions.len(),
                pc.subject
            );
            for f in &pc.functions {
                let calls = match (f.calls, &f.note) {
                    (Some(0), _) => "UNTESTED".to_string(),
                    (Some(n), _) => n.to_string(),
                    (None, Some(note)) => format!("- ({note})"),
                    (None, None) => "-".to_string(),
                };
                println!("      {:<36} {calls}", f.function);
            }
        }
    }
    for f in &r.findings {
        println!(
            "finding [{}] {} (prefix {}, console line {})",
            f.kind,
            harness_core::text::line(&f.title),
            f.prefix.map(|p| p.to_string()).unwrap_or("-".into()),
            f.line
        );
        if let Some(func) = &f.outside {
            println!(
                "    (outside the code under test: in {}; likely not the series' doing)",
                harness_core::text::line(func)
            );
        }
        // The console is the kernel under test's: its text is escaped like a patch's.
        for l in f.excerpt.lines().take(14) {
            println!("    {}", harness_core::text::line(l));
        }
    }
    for f in &r.fixes {
        println!(
            "{}",
            harness_core::text::line(&harness_core::fix::describe_fix(f))
        );
    }
    for p in &r.pre_existing {
        println!(
            "{}",
            harness_core::text::line(&harness_core::fix::describe_pre_existing(p))
        );
    }
    print_bisection(r);
    let phases: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} {:.1}s", p.name, p.seconds))
        .collect();
    println!("phases: {}", phases.join(", "));
    println!("artifacts: {}", artifacts.display());
    println!(
        "verdict: {} ({}) in {:.1}s",
        r.verdict,
        harness_core::text::line(&r.reason),
        r.seconds
    );
}

pub(crate) fn print_bisection(r: &Report) {
    let Some(c) = &r.culprit else { return };
    // The same story as the run's bisect-report.txt.
    println!("bisection of \"{}\":", c.signature);
    for l in harness_core::wording::bisect_text(c, &r.bisection, r.revert.as_ref()).lines() {
        println!("{}", format!("  {l}").trim_end());
    }
}

pub(crate) fn print_bench(r: &Report) {
    let sum: f64 = r.phases.iter().map(|p| p.seconds).sum();
    println!("\nbench: phase times (seconds)");
    for p in &r.phases {
        println!("  {:<10} {:8.2}", p.name, p.seconds);
    }
    for p in &r.prefixes {
        if let Some(s) = p.build_seconds {
            println!("  build prefix {:<2} {:6.2}", p.index, s);
        }
    }
    println!("  {:<10} {:8.2}", "sum", sum);
    println!(
        "  {:<10} {:8.2}  ({:.2}x the sum of its parts; target <= 1.2x, and < 180 s with every workload)",
        "total",
        r.seconds,
        r.seconds / sum.max(0.001)
    );
    if let Some(c) = &r.culprit {
        // From the start of the run to the verified answer (the revert comes after).
        let until = c.found_after_s;
        println!(
            "bench: time to culprit {:.0} s (target < 240 s for a deterministic bug in 6 patches): patch {} after {} runs",
            until, c.index, c.runs
        );
        // After the failing run: the bisection phase, its boots and how they ended.
        let bisect_s: f64 = r
            .phases
            .iter()
            .filter(|p| p.name == "bisect")
            .map(|p| p.seconds)
            .sum();
        let mean = |stopped: bool| {
            let s: Vec<f64> = r
                .bisection
                .iter()
                .filter(|b| b.stopped == stopped)
                .map(|b| b.seconds)
                .collect();
            (s.len(), s.iter().sum::<f64>() / (s.len().max(1) as f64))
        };
        let ((ns, ms), (nf, mf)) = (mean(true), mean(false));
        let ran = r
            .bisection
            .first()
            .map(|b| harness_core::wording::ran(&b.workloads.join(", "), b.cut.as_ref()))
            .unwrap_or_default();
        println!(
            "bench: culprit {bisect_s:.0} s after the failing run: {} bisection boots running {ran}; {ns} stopped at the signature (mean {ms:.1} s), {nf} ran to the end (mean {mf:.1} s)",
            r.bisection.len()
        );
    }
    for p in &r.prefixes {
        for t in &p.attempts {
            if t.workloads.is_empty() {
                continue;
            }
            println!(
                "bench: workloads of prefix {} (guest time, operations)",
                p.index
            );
            for w in &t.workloads {
                println!(
                    "  {:<14} {:8.2} s {:8} ops {:9.1} ops/s{}",
                    w.name,
                    w.seconds,
                    w.ops,
                    w.ops_per_s,
                    if w.ok { "" } else { "  FAILED" }
                );
            }
        }
    }
}
