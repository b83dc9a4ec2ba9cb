//! fs_mark (Debian's fsmark): `threads` threads each create `files` files of `size_kib` KiB per
//! loop in the boot's workspace (fsync before close by default: `sync`), `loops` times; the files
//! stay, so later loops run on a fuller directory. Its file names are random (fs_mark takes no
//! seed). A non-zero exit is a finding; files/s per loop (mean, and the last loop's) are counters.

use harness_proto::WorkloadPlan;

use super::tools::{self, round, Counters};
use crate::ctx::Ctx;

const FS_MARK: &str = "/usr/bin/fs_mark";

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> Counters {
    let Some(dir) = tools::workspace(ctx, "fsmark") else {
        return Counters::new();
    };
    let args: Vec<String> = vec![
        "-d".into(),
        dir.to_string_lossy().into_owned(),
        "-n".into(),
        w.param("files").to_string(),
        "-s".into(),
        (w.param("size_kib") * 1024).to_string(),
        "-t".into(),
        w.param("threads").to_string(),
        "-L".into(),
        w.param("loops").to_string(),
        "-S".into(),
        w.param("sync").to_string(),
    ];
    let mut counters = Counters::new();
    if let Some(out) = tools::run(ctx, FS_MARK, &args, &dir) {
        tools::check_exit(ctx, "fs_mark", &out, &[0]);
        let loops = parse(&out.stdout);
        if loops.is_empty() && !ctx.failed() {
            ctx.finding(
                "fs_mark: no result",
                tools::tail(&format!("{}{}", out.stdout, out.stderr), 20),
            );
        }
        if let Some(last) = loops.last() {
            let mean = loops.iter().map(|l| l.files_per_s).sum::<f64>() / loops.len() as f64;
            ctx.op(last.count);
            counters = super::counters(&[
                ("files", last.count),
                ("files_per_s", round(mean)),
                ("last_loop_files_per_s", round(last.files_per_s)),
                ("loops", loops.len() as u64),
            ]);
        }
    }
    tools::done(ctx, &dir);
    counters
}

#[derive(Debug, PartialEq)]
pub struct Loop {
    /// Files created so far.
    pub count: u64,
    pub files_per_s: f64,
}

/// The rows under `FSUse%        Count         Size    Files/sec     App Overhead`.
pub fn parse(stdout: &str) -> Vec<Loop> {
    let mut out = Vec::new();
    let mut in_table = false;
    for l in stdout.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() == Some(&"FSUse%") {
            in_table = true;
            continue;
        }
        if !in_table || f.len() < 4 {
            continue;
        }
        if let (Ok(count), Ok(files_per_s)) = (f[1].parse(), f[3].parse()) {
            out.push(Loop { count, files_per_s });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // `fs_mark -d DIR -n 200 -s 4096 -L 2 -S 0 -t 2`, Debian's fsmark 3.3.
    const OUT: &str = "#  fs_mark  -d  /tmp/fm  -n  200  -s  4096  -L  2  -S  0  -t  2 
#	Version 3.3, 2 thread(s) starting at Mon Dec  7 00:32:58 2026
#	App overhead is time in microseconds spent in the test not doing file writing related system calls.

FSUse%        Count         Size    Files/sec     App Overhead
    89          400         4096       7445.5            11144
    89          800         4096       8045.0             1199
";

    #[test]
    fn loops_in_order() {
        let l = parse(OUT);
        assert_eq!(
            l,
            vec![
                Loop {
                    count: 400,
                    files_per_s: 7445.5
                },
                Loop {
                    count: 800,
                    files_per_s: 8045.0
                }
            ]
        );
        assert!(parse("#  fs_mark -d x\n").is_empty());
    }
}
