//! The words a maintainer reads about a bisection: the culprit line and the bisection story.
//! One place, used by the run's reason, the terminal, the dashboard and GitHub.

use crate::report::{BisectRun, Culprit, Revert};

impl Culprit {
    /// One line: "culprit: patch 4 \"subject\" (99.6%, 9 runs, verified)".
    pub fn describe(&self) -> String {
        let who = match self.candidates.as_slice() {
            [0] => "culprit: none in the series, the base fails too".to_string(),
            [k] => format!("culprit: patch {k} \"{}\"", self.subject),
            g => format!(
                "culprit: one of patches {} (untestable prefixes between them), likely {} \"{}\"",
                numbers(g),
                self.index,
                self.subject
            ),
        };
        format!(
            "{who} ({:.1}%{}, {} runs, {})",
            self.confidence * 100.0,
            if self.confident {
                ""
            } else {
                ", below the stated confidence: a best guess"
            },
            self.runs,
            if self.verified {
                "verified"
            } else {
                "not verified"
            }
        )
    }
}

/// The bisection as a maintainer reads it (`bisect-report.txt`).
/// What a bisection boot ran: `umount-stress`, with a cut `umount-stress (through step 1)`.
pub fn ran(workloads: &str, cut: Option<&crate::bisect::policy::Cut>) -> String {
    match cut {
        Some(c) => format!("{workloads} ({} through step {})", c.workload, c.step),
        None => workloads.to_string(),
    }
}

pub fn bisect_text(c: &Culprit, runs: &[BisectRun], revert: Option<&Revert>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "signature: {}", c.signature);
    let _ = writeln!(s, "{}", c.describe());
    let _ = writeln!(
        s,
        "estimated reproduction rate {:.2}; {} runs in {} rounds",
        c.rate, c.runs, c.rounds
    );
    if !c.skipped.is_empty() {
        let k: Vec<String> = c.skipped.iter().map(|k| k.to_string()).collect();
        let _ = writeln!(
            s,
            "skipped prefixes (do not build or boot): {}",
            k.join(", ")
        );
    }
    if let Some(r) = runs.iter().find(|r| !r.workloads.is_empty()) {
        let _ = writeln!(
            s,
            "each boot ran {}; \"stopped\": ended when the signature showed",
            ran(&r.workloads.join(", "), r.cut.as_ref())
        );
    }
    let _ = writeln!(s, "\nruns:");
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>3}. prefix {:>3}{} {:<10} {:>5.0}s{} {}  {}",
            i + 1,
            r.prefix,
            if r.verify { " verify" } else { "       " },
            format!("{:?}", r.outcome).to_lowercase(),
            r.seconds,
            if r.stopped { " stopped" } else { "        " },
            r.console,
            r.signatures.join(" | ")
        );
    }
    if let Some(r) = revert {
        let _ = writeln!(s, "\nrevert:");
        for t in [&r.without_culprit, &r.whole_series] {
            let _ = writeln!(
                s,
                "  {}: {} ({} clean runs, {:.1}% sure a variant with the bug would have failed){}{}",
                t.what,
                t.verdict,
                t.runs,
                t.confidence * 100.0,
                t.file.as_ref().map(|f| format!(", {f}")).unwrap_or_default(),
                t.note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
            );
        }
        match (&r.revert_patch, &r.revert_note) {
            (Some(f), _) => {
                let _ = writeln!(s, "  git revert of the culprit on the full series: {f}");
            }
            (None, Some(n)) => {
                let _ = writeln!(s, "  {n}");
            }
            _ => {}
        }
    }
    s
}

/// A culprit group as words: "the base", "patch 4", "one of patches 2, 3".
pub fn patches(group: &[usize]) -> String {
    match group {
        [0] => "the base".into(),
        [k] => format!("patch {k}"),
        g => format!("one of patches {}", numbers(g)),
    }
}

/// Patch numbers as a list: "2, 3".
pub fn numbers(ks: &[usize]) -> String {
    ks.iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a bisection run said, as the progress line puts it.
pub fn outcome(o: crate::bisect::Outcome) -> &'static str {
    use crate::bisect::Outcome;
    match o {
        Outcome::Fail => "fails with the signature",
        Outcome::Pass => "passes",
        Outcome::Other => "fails otherwise (not evidence)",
        Outcome::Skip => "skipped",
    }
}
