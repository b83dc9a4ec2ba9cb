//! fio (Debian's): `jobs` processes do seeded random reads and writes on a file each in the
//! boot's workspace, then read back and check every block they wrote (`verify=crc32c`,
//! `verify_fatal`). fio's JSON output gives the figures (IOPS, KiB/s per direction); a job error
//! or a verification failure is a finding.

use harness_proto::WorkloadPlan;

use super::tools::{self, round, Counters};
use crate::ctx::Ctx;

const FIO: &str = "/usr/bin/fio";

pub fn run(ctx: &Ctx, w: &WorkloadPlan) -> Counters {
    let Some(dir) = tools::workspace(ctx, "fio") else {
        return Counters::new();
    };
    let args = args(w, &dir.to_string_lossy());
    let mut counters = Counters::new();
    if let Some(out) = tools::run(ctx, FIO, &args, &dir) {
        match parse(&out.stdout) {
            Ok(f) => {
                ctx.op(f.ios);
                for (job, err) in &f.errors {
                    ctx.finding(
                        failure_title(*err, &out.stderr),
                        format!("job {job}: error {err}\n{}", tools::tail(&out.stderr, 20)),
                    );
                }
                counters = f.counters();
            }
            Err(e) => ctx.finding(
                "fio: no result",
                format!("{e}\n{}", tools::tail(&out.stderr, 20)),
            ),
        }
        if !ctx.failed() {
            tools::check_exit(ctx, "fio", &out, &[0]);
        }
    }
    tools::done(ctx, &dir);
    counters
}

/// fio's command line for this plan (one job section, `jobs` clones of it).
pub fn args(w: &WorkloadPlan, dir: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--output-format=json",
        "--name=randrw",
        "--rw=randrw",
        "--ioengine=psync",
        "--verify=crc32c",
        "--verify_fatal=1",
        "--verify_dump=0",
        "--fsync_on_close=1",
        "--exitall_on_error=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(format!("--directory={dir}"));
    a.push(format!("--size={}M", w.param("size_mib")));
    a.push(format!("--runtime={}", w.param("runtime_s")));
    a.push(format!("--numjobs={}", w.param("jobs")));
    a.push(format!("--bs={}k", w.param("block_kib")));
    a.push(format!("--rwmixread={}", w.param("read_pct")));
    a.push(format!("--direct={}", w.param("direct")));
    a.push(format!("--randseed={}", w.seed));
    a
}

/// What fio reported, summed over its jobs.
#[derive(Debug, Default, PartialEq)]
pub struct Figures {
    pub read_iops: f64,
    pub write_iops: f64,
    pub read_kib_s: u64,
    pub write_kib_s: u64,
    pub read_kib: u64,
    pub write_kib: u64,
    /// I/Os issued, both directions, verification reads included.
    pub ios: u64,
    pub jobs: u64,
    /// (job name, errno) of each job that ended with an error.
    pub errors: Vec<(String, u64)>,
}

impl Figures {
    pub fn counters(&self) -> Counters {
        super::counters(&[
            ("read_iops", round(self.read_iops)),
            ("write_iops", round(self.write_iops)),
            ("read_kib_s", self.read_kib_s),
            ("write_kib_s", self.write_kib_s),
            ("read_kib", self.read_kib),
            ("write_kib", self.write_kib),
            ("jobs", self.jobs),
            ("job_errors", self.errors.len() as u64),
        ])
    }
}

/// fio's `--output-format=json` (stdout; anything before the first `{` is ignored).
pub fn parse(stdout: &str) -> Result<Figures, String> {
    let at = stdout.find('{').ok_or("no JSON in fio's output")?;
    let v: serde_json::Value = serde_json::Deserializer::from_str(&stdout[at..])
        .into_iter::<serde_json::Value>()
        .next()
        .ok_or("empty fio output")?
        .map_err(|e| format!("fio's JSON: {e}"))?;
    let jobs = v["jobs"].as_array().ok_or("fio's JSON has no jobs")?;
    let mut f = Figures::default();
    for (i, j) in jobs.iter().enumerate() {
        f.jobs += 1;
        let (r, w) = (&j["read"], &j["write"]);
        f.read_iops += r["iops"].as_f64().unwrap_or(0.0);
        f.write_iops += w["iops"].as_f64().unwrap_or(0.0);
        f.read_kib_s += r["bw"].as_u64().unwrap_or(0);
        f.write_kib_s += w["bw"].as_u64().unwrap_or(0);
        f.read_kib += r["io_kbytes"].as_u64().unwrap_or(0);
        f.write_kib += w["io_kbytes"].as_u64().unwrap_or(0);
        f.ios += r["total_ios"].as_u64().unwrap_or(0) + w["total_ios"].as_u64().unwrap_or(0);
        let err = j["error"].as_u64().unwrap_or(0);
        if err != 0 {
            let name = j["jobname"].as_str().unwrap_or("?");
            f.errors.push((format!("{name}.{i}"), err));
        }
    }
    Ok(f)
}

/// A stable title: verification failures by name, other errors by errno.
pub fn failure_title(errno: u64, stderr: &str) -> String {
    if stderr.contains("verify:") || stderr.contains("bad magic") || errno == 84 {
        "fio: data verification failed".into()
    } else {
        format!("fio: I/O error {errno}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shortened from `fio --output-format=json` of Debian's fio 3.33 (two jobs).
    const OUT: &str = r#"{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "randrw", "groupid" : 0, "error" : 0, "elapsed" : 1,
      "read" : { "io_bytes" : 4194304, "io_kbytes" : 4096, "bw" : 34711, "iops" : 8677.966102, "total_ios" : 1024 },
      "write" : { "io_bytes" : 2068480, "io_kbytes" : 2020, "bw" : 35438, "iops" : 8859.649123, "total_ios" : 505 }
    },
    {
      "jobname" : "randrw", "groupid" : 0, "error" : 84, "elapsed" : 1,
      "read" : { "io_kbytes" : 4096, "bw" : 34420, "iops" : 8605.042017, "total_ios" : 1024 },
      "write" : { "io_kbytes" : 2068, "bw" : 36928, "iops" : 9232.142857, "total_ios" : 517 }
    }
  ]
}
"#;

    #[test]
    fn figures_are_summed_over_jobs_and_errors_named() {
        let f = parse(&format!("fio: some warning\n{OUT}")).unwrap();
        assert_eq!(f.jobs, 2);
        assert_eq!(f.ios, 1024 + 505 + 1024 + 517);
        assert_eq!(f.read_kib_s, 34711 + 34420);
        assert_eq!(round(f.write_iops), 18092);
        assert_eq!(f.errors, vec![("randrw.1".to_string(), 84)]);
        let c = f.counters();
        assert_eq!(c["read_iops"], 17283);
        assert_eq!(c["job_errors"], 1);
        assert!(parse("fio: engine psync not loadable\n").is_err());
    }

    #[test]
    fn titles_are_stable() {
        let stderr = "verify: bad magic header 0, wanted acca at file /mnt/h/fio/randrw.0.0 offset 1234, length 4096 (requested block: offset=1234, length=4096)\n";
        assert_eq!(failure_title(84, stderr), "fio: data verification failed");
        assert_eq!(
            failure_title(
                5,
                "fio: io_u error on file x: Input/output error: write offset=0, buflen=4096\n"
            ),
            "fio: I/O error 5"
        );
    }

    #[test]
    fn the_seed_and_parameters_reach_the_command_line() {
        let w = WorkloadPlan {
            name: "fio".into(),
            seed: 42,
            params: [("size_mib".to_string(), 3)].into_iter().collect(),
            fstests: None,
            through_step: None,
        };
        let a = args(&w, "/mnt/h/fio");
        for want in [
            "--randseed=42",
            "--size=3M",
            "--numjobs=2",
            "--verify=crc32c",
            "--directory=/mnt/h/fio",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} in {a:?}");
        }
    }
}
