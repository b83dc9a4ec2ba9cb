//! dbench (Debian's): `clients` processes replay its client loadfile
//! (/usr/share/dbench/client.txt: the file operations of a Windows file server's clients,
//! metadata-heavy: create, rename, unlink, find, lock, write, read, flush) in the boot's workspace
//! for `seconds`. dbench replays a fixed trace: the seed does not change it. An error line or a
//! non-zero exit is a finding; the throughput and the worst latency are counters.

use harness_proto::WorkloadPlan;

use super::tools::{self, round, Counters};
use crate::ctx::Ctx;

const DBENCH: &str = "/usr/bin/dbench";
const LOADFILE: &str = "/usr/share/dbench/client.txt";

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> Counters {
    let Some(dir) = tools::workspace(ctx, "dbench") else {
        return Counters::new();
    };
    let args: Vec<String> = vec![
        "-c".into(),
        LOADFILE.into(),
        "-D".into(),
        dir.to_string_lossy().into_owned(),
        "-t".into(),
        w.param("seconds").to_string(),
        w.param("clients").to_string(),
    ];
    let mut counters = Counters::new();
    if let Some(out) = tools::run(ctx, DBENCH, &args, &dir) {
        let text = format!("{}{}", out.stdout, out.stderr);
        let errors = errors(&text);
        if !errors.is_empty() {
            ctx.finding("dbench: operation failed", errors.join("\n"));
        }
        if !ctx.failed() {
            tools::check_exit(ctx, "dbench", &out, &[0]);
        }
        match parse(&out.stdout) {
            Some(r) => {
                ctx.op(r.ops);
                counters = super::counters(&[
                    ("throughput_kb_s", round(r.mb_s * 1000.0)),
                    ("max_latency_us", round(r.max_latency_ms * 1000.0)),
                    ("operations", r.ops),
                ]);
            }
            None if !ctx.failed() => ctx.finding("dbench: no result", tools::tail(&text, 20)),
            None => {}
        }
    }
    tools::done(ctx, &dir);
    counters
}

#[derive(Debug, PartialEq)]
pub struct Result {
    pub mb_s: f64,
    pub max_latency_ms: f64,
    /// Sum of the operation table's counts.
    pub ops: u64,
}

/// The final table and `Throughput 203.139 MB/sec  2 clients  2 procs  max_latency=20.518 ms`.
pub fn parse(stdout: &str) -> Option<Result> {
    let line = stdout.lines().find(|l| l.starts_with("Throughput "))?;
    let mb_s = line.split_whitespace().nth(1)?.parse().ok()?;
    let max_latency_ms = line
        .split("max_latency=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    // Rows of the table after " Operation      Count    AvgLat    MaxLat".
    let mut ops = 0;
    let mut in_table = false;
    for l in stdout.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() == Some(&"Operation") {
            in_table = true;
        } else if in_table && f.len() == 4 {
            ops += f[1].parse::<u64>().unwrap_or(0);
        } else if in_table && l.starts_with("Throughput") {
            break;
        }
    }
    Some(Result {
        mb_s,
        max_latency_ms,
        ops,
    })
}

/// dbench's own error reports (`ERROR: ...`, `... failed ...` lines of the children).
pub fn errors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("ERROR") || l.contains(" failed") || l.contains("Child failed")
        })
        .take(20)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The end of `dbench -c /usr/share/dbench/client.txt -t 3 2`, Debian's dbench 4.0.
    const OUT: &str = "   2      2331   203.53 MB/sec  execute   2 sec  latency 4.053 ms
   2  cleanup   3 sec
   0  cleanup   3 sec

 Operation      Count    AvgLat    MaxLat
 ----------------------------------------
 NTCreateX      17912     0.041    13.838
 Close          13238     0.002     8.036
 Flush           1271     2.455    20.954

Throughput 203.139 MB/sec  2 clients  2 procs  max_latency=20.518 ms
";

    #[test]
    fn throughput_latency_and_operations() {
        let r = parse(OUT).unwrap();
        assert_eq!(r.mb_s, 203.139);
        assert_eq!(r.max_latency_ms, 20.518);
        assert_eq!(r.ops, 17912 + 13238 + 1271);
        assert!(parse("   2  cleanup   3 sec\n").is_none());
        assert!(errors(OUT).is_empty());
        let e = errors("[1234] open ./clients/client0/~dmtmp/COREL/GRAPH1.CDR failed for handle 9999 (No such file or directory)\nERROR: child 1 failed at line 1234\n");
        assert_eq!(e.len(), 2);
    }
}
