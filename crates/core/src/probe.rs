//! What the guest's probes are for, decided without I/O:
//!
//! - **Patch coverage**: the functions a patch changes ([`changed_lines`] of its diff, mapped onto
//!   the functions of the patched source by [`function_spans`]), to be counted with kprobes.
//! - **Eviction contexts and hazards**: in which context a CephFS inode's eviction (its final
//!   iput) ran, from the probe's stack ([`classify`]), and a [`hazards`] finding when a prefix
//!   moves evictions into the messenger or writeback context compared with the base.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, FindingKind};

/// New-file line numbers each file's diff touches: added lines, and for a deletion the line that
/// now stands where the deleted ones were. Paths are the `b/` side, prefix stripped.
pub fn changed_lines(diff: &str) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut file: Option<String> = None;
    let mut new_line = 0u32;
    let mut in_hunk = false;
    for l in diff.lines() {
        if let Some(p) = l.strip_prefix("+++ ") {
            file = p
                .strip_prefix("b/")
                .filter(|_| p != "/dev/null")
                .map(str::to_string);
            in_hunk = false;
        } else if l.starts_with("diff --git ") {
            in_hunk = false;
            file = None;
        } else if l.starts_with("@@ ") {
            new_line = crate::diff::HunkHeader::parse(l)
                .map(|h| h.new_start as u32)
                .unwrap_or(0);
            in_hunk = true;
        } else if in_hunk {
            let Some(f) = &file else { continue };
            match l.as_bytes().first() {
                Some(b'+') => {
                    out.entry(f.clone()).or_default().push(new_line);
                    new_line += 1;
                }
                Some(b'-') => out.entry(f.clone()).or_default().push(new_line),
                Some(b'\\') => {}
                _ => new_line += 1,
            }
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    out
}

/// Top-level function definitions of a C file in kernel style (the body's `{` and `}` at column
/// 0): (name, first line of the signature, line of the closing brace), 1-based.
pub fn function_spans(source: &str) -> Vec<(String, u32, u32)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    // First line of the current top-level declaration (reset by blank lines, comments,
    // preprocessor lines, closing braces and statements ending in `;`).
    let mut sig_start: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with('{') {
            if let Some(start) = sig_start.take() {
                let end = (i + 1..lines.len())
                    .find(|&j| lines[j].starts_with('}'))
                    .unwrap_or(lines.len() - 1);
                if let Some(name) = function_name(&lines[start..i].join(" ")) {
                    out.push((name, start as u32 + 1, end as u32 + 1));
                }
                i = end + 1;
                continue;
            }
        }
        let top = !l.is_empty() && !l.starts_with([' ', '\t']);
        let resets = l.trim().is_empty()
            || ["#", "}", "/*", " *", "*/", "//"]
                .iter()
                .any(|p| l.starts_with(p));
        if resets {
            sig_start = None;
        } else if top && sig_start.is_none() {
            sig_start = Some(i);
        }
        if top && l.trim_end().ends_with(';') {
            sig_start = None;
        }
        i += 1;
    }
    out
}

/// The identifier before the parameter list of a signature; `None` for a struct, an array or
/// anything without a parameter list.
fn function_name(sig: &str) -> Option<String> {
    let open = sig.find('(')?;
    let before = sig[..open].trim_end();
    let name: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let keyword = matches!(
        name.as_str(),
        "" | "if" | "for" | "while" | "switch" | "return" | "sizeof"
    );
    (!keyword && !name.starts_with(|c: char| c.is_ascii_digit()) && !before.contains('='))
        .then_some(name)
}

/// The functions of `source` containing any of `lines`, in source order, once each.
pub fn changed_functions(lines: &[u32], source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, start, end) in function_spans(source) {
        if lines.iter().any(|l| (start..=end).contains(l)) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The kprobe module of a file's code: `Some(Some("ceph"))` for `fs/ceph` built as a module,
/// `Some(None)` for built-in code, `None` when the file holds nothing probeable (headers: their
/// functions are inlined where they are used).
pub fn probe_module(path: &str, modular: bool) -> Option<Option<String>> {
    if !path.ends_with(".c") {
        return None;
    }
    if !modular {
        return Some(None);
    }
    Some(
        crate::modules::MODULES
            .iter()
            .find(|(dir, _)| path.starts_with(dir))
            .map(|(_, module)| module.to_string()),
    )
}

/// The report's coverage of one patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchCoverage {
    /// 1-based patch number.
    pub index: usize,
    pub subject: String,
    pub functions: Vec<FunctionCoverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCoverage {
    pub function: String,
    pub file: String,
    /// Calls during the workloads; `None` when it could not be counted (see `note`).
    pub calls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FunctionCoverage {
    /// Changed, probed, and never called: the workloads did not test it.
    pub fn untested(&self) -> bool {
        self.calls == Some(0)
    }
}

/// Where an eviction ran, from innermost-first stack frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// The ceph messenger worker (OSD/MDS replies: `ceph_con_workfn`).
    Messenger,
    /// The writeback flusher (`wb_workfn`).
    Writeback,
    /// CephFS's inode work queue (`ceph_inode_work`: where `ceph_async_iput` deferred iputs).
    InodeWorkqueue,
    /// Another work item.
    Workqueue,
    /// Unmount (`generic_shutdown_super`).
    Unmount,
    /// Memory reclaim (`drop_caches`, shrinkers, kswapd).
    Reclaim,
    /// A system call of a user task.
    UserTask,
    Other,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Messenger => "messenger",
            Context::Writeback => "writeback",
            Context::InodeWorkqueue => "inode-workqueue",
            Context::Workqueue => "workqueue",
            Context::Unmount => "unmount",
            Context::Reclaim => "reclaim",
            Context::UserTask => "user-task",
            Context::Other => "other",
        }
    }

    /// Contexts that must not block on what an eviction may wait for (the 2025 deadlocks).
    pub fn risky(self) -> bool {
        matches!(self, Context::Messenger | Context::Writeback)
    }
}

/// Frames that name a context, checked in this order (the first match wins).
const CONTEXT_FRAMES: &[(Context, &[&str])] = &[
    (Context::Messenger, &["ceph_con_workfn", "con_work"]),
    (Context::Writeback, &["wb_workfn", "wb_writeback"]),
    (Context::InodeWorkqueue, &["ceph_inode_work"]),
    (
        Context::Unmount,
        &[
            "generic_shutdown_super",
            "ceph_kill_sb",
            "deactivate_locked_super",
        ],
    ),
    (
        Context::Reclaim,
        &[
            "drop_caches_sysctl_handler",
            "shrink_slab",
            "kswapd",
            "prune_icache_sb",
        ],
    ),
    (Context::Workqueue, &["process_one_work"]),
    (Context::UserTask, &["do_syscall_64", "entry_SYSCALL_64"]),
];

pub fn classify(frames: &[String]) -> Context {
    CONTEXT_FRAMES
        .iter()
        .find(|(_, names)| frames.iter().any(|f| names.contains(&f.as_str())))
        .map(|(c, _)| *c)
        .unwrap_or(Context::Other)
}

/// Evictions per context name.
pub fn eviction_counts(stacks: &[(Vec<String>, u64)]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (frames, n) in stacks {
        *out.entry(classify(frames).as_str().to_string())
            .or_insert(0) += n;
    }
    out
}

/// Below this many evictions in a risky context, no hazard is raised.
const MIN_RISKY: u64 = 5;

/// Hazard findings for prefix `index` whose evictions are `this`, against the base's (`None` when
/// the base was not booted: then any sizeable number of risky evictions is a hazard). `stacks`
/// supplies the most frequent risky stack for the excerpt.
pub fn hazards(
    index: usize,
    this: &BTreeMap<String, u64>,
    base: Option<&BTreeMap<String, u64>>,
    stacks: &[(Vec<String>, u64)],
) -> Vec<Finding> {
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>().max(1);
    let mut out = Vec::new();
    for ctx in [Context::Messenger, Context::Writeback] {
        let n = this.get(ctx.as_str()).copied().unwrap_or(0);
        let share = n as f64 / total(this) as f64;
        let (b, bshare) = base
            .map(|m| {
                let b = m.get(ctx.as_str()).copied().unwrap_or(0);
                (b, b as f64 / total(m) as f64)
            })
            .unwrap_or((0, 0.0));
        if n < MIN_RISKY || share <= bshare + 0.05 {
            continue;
        }
        let top = stacks
            .iter()
            .filter(|(f, _)| classify(f) == ctx)
            .max_by_key(|(_, n)| *n);
        let mut excerpt = format!(
            "prefix {index}: {n} of {} CephFS inode evictions (final iputs, {:.0}%) ran in the {} context; {}",
            this.values().sum::<u64>(),
            share * 100.0,
            ctx.as_str(),
            match base {
                Some(m) => format!(
                    "on the base: {b} of {} ({:.0}%)",
                    m.values().sum::<u64>(),
                    bshare * 100.0
                ),
                None => "the base was not booted (compared with none)".into(),
            }
        );
        if let Some((frames, k)) = top {
            excerpt.push_str(&format!(
                "\nmost frequent stack ({k}x):\n  {}",
                frames.join("\n  ")
            ));
        }
        out.push(Finding {
            console: None,
            during: None,
            kind: FindingKind::Hazard,
            title: format!("HAZARD: final iput in {} context", ctx.as_str()),
            excerpt,
            line: 0,
            time: None,
            prefix: Some(index),
            outside: None,
            step: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/fs/ceph/caps.c b/fs/ceph/caps.c
index 1..2 100644
--- a/fs/ceph/caps.c
+++ b/fs/ceph/caps.c
@@ -4,3 +4,3 @@ int a(void)
 {
-\treturn 1;
+\treturn 2;
 }
@@ -15,3 +15,2 @@ static void
 {
-\tx();
 }
diff --git a/fs/ceph/super.h b/fs/ceph/super.h
--- a/fs/ceph/super.h
+++ b/fs/ceph/super.h
@@ -1,1 +1,2 @@
 a
+b
";

    const SRC: &str = "// SPDX
#include <x.h>
int a(void)
{
\treturn 2;
}

static struct foo bar = {
\t.x = 1,
};

static void
b_long_name(struct inode *inode,
\t    int flags)
{
}

static inline int c(void) { return 0; }
";

    #[test]
    fn diff_lines_and_functions() {
        let lines = changed_lines(DIFF);
        assert_eq!(lines["fs/ceph/caps.c"], vec![5, 16]);
        assert_eq!(lines["fs/ceph/super.h"], vec![2]);
        let spans = function_spans(SRC);
        assert_eq!(
            spans,
            vec![("a".to_string(), 3, 6), ("b_long_name".to_string(), 12, 16)]
        );
        assert_eq!(changed_functions(&[5, 16], SRC), vec!["a", "b_long_name"]);
        assert!(changed_functions(&[9], SRC).is_empty());
    }

    #[test]
    fn modules() {
        assert_eq!(
            probe_module("fs/ceph/caps.c", true),
            Some(Some("ceph".into()))
        );
        assert_eq!(
            probe_module("net/ceph/osd_client.c", true),
            Some(Some("libceph".into()))
        );
        assert_eq!(probe_module("fs/ceph/caps.c", false), Some(None));
        assert_eq!(probe_module("fs/ceph/super.h", true), None);
    }

    fn frames(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn contexts_and_hazards() {
        let msgr = frames(&[
            "ceph_evict_inode",
            "evict",
            "iput",
            "writepages_finish",
            "ceph_con_workfn",
            "process_one_work",
        ]);
        let wq = frames(&[
            "ceph_evict_inode",
            "evict",
            "iput",
            "ceph_inode_work",
            "process_one_work",
        ]);
        let user = frames(&["ceph_evict_inode", "evict", "do_unlinkat", "do_syscall_64"]);
        assert_eq!(classify(&msgr), Context::Messenger);
        assert_eq!(classify(&wq), Context::InodeWorkqueue);
        assert_eq!(classify(&user), Context::UserTask);
        assert_eq!(classify(&frames(&["x"])), Context::Other);

        let base_stacks = vec![(wq.clone(), 300), (user.clone(), 400)];
        let tip_stacks = vec![(msgr.clone(), 300), (user.clone(), 400)];
        let base = eviction_counts(&base_stacks);
        let tip = eviction_counts(&tip_stacks);
        assert_eq!(tip["messenger"], 300);
        let h = hazards(6, &tip, Some(&base), &tip_stacks);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].title, "HAZARD: final iput in messenger context");
        assert!(h[0].excerpt.contains("300 of 700"), "{}", h[0].excerpt);
        assert!(h[0].excerpt.contains("writepages_finish"));
        // The base itself, or a prefix like it, raises nothing.
        assert!(hazards(0, &base, Some(&base), &base_stacks).is_empty());
        // Without the base, a sizeable risky count still does.
        assert_eq!(hazards(6, &tip, None, &tip_stacks).len(), 1);
    }
}
