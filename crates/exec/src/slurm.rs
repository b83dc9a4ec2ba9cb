//! Slurm's client commands: `sbatch` (submit a unit's batch script), `squeue` (the units'
//! states, parsed into `core::slurm::JobState`), `scancel`. Through `proc::Procs` like every
//! other process; `SLURM_CONF` is set explicitly when the suite names the cluster's slurm.conf.
//! No queue of our own: Slurm schedules, this only asks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_core::slurm::JobState;

use crate::proc::{command, Procs};
use crate::{ExecError, Result};

/// How long one client command may take (slurmctld answers in milliseconds when it is up).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One Slurm cluster, as its client commands see it.
#[derive(Debug, Clone, Default)]
pub struct Slurm {
    /// `SLURM_CONF` for the client commands (else Slurm's default, /etc/slurm/slurm.conf).
    pub conf: Option<PathBuf>,
}

/// A unit to submit: `sbatch` of `script`.
#[derive(Debug, Clone)]
pub struct Submit {
    /// `--job-name`.
    pub name: String,
    pub partition: Option<String>,
    /// `--time` (rounded up to minutes).
    pub time: Duration,
    /// `--chdir`: the unit's shared directory.
    pub dir: PathBuf,
    /// `--output`: Slurm's log of the job (its stdout and stderr).
    pub output: PathBuf,
    /// `--cpus-per-task`; `None`: `--exclusive`.
    pub cpus: Option<u32>,
    /// The batch script (in `dir`).
    pub script: PathBuf,
}

/// A unit's state as `squeue` last said, with Slurm's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub state: JobState,
    pub reason: String,
}

impl Slurm {
    fn cmd(&self, program: &str) -> tokio::process::Command {
        let mut c = command(program, None);
        if let Some(conf) = &self.conf {
            c.env("SLURM_CONF", conf);
        }
        c
    }

    /// Submit; Slurm's job id.
    pub async fn submit(&self, procs: &Procs, s: &Submit) -> Result<u64> {
        let mut c = self.cmd("sbatch");
        c.arg("--parsable")
            .arg(format!("--job-name={}", s.name))
            .arg(format!("--time={}", harness_core::slurm::minutes(s.time)))
            .arg("--chdir")
            .arg(&s.dir)
            .arg("--output")
            .arg(&s.output)
            // The unit's environment is its script's, not the submitter's.
            .arg("--export=NONE")
            // A unit that failed is the submitter's to record, not Slurm's to run again.
            .arg("--no-requeue");
        if let Some(p) = &s.partition {
            c.arg(format!("--partition={p}"));
        }
        match s.cpus {
            Some(n) => c.arg(format!("--cpus-per-task={n}")),
            None => c.arg("--exclusive"),
        };
        c.arg(&s.script);
        let out = procs.check("sbatch", c, CLIENT_TIMEOUT).await?;
        parse_job_id(&out.stdout).ok_or_else(|| {
            ExecError::Other(format!("sbatch printed no job id: {}", out.stdout.trim()))
        })
    }

    /// The states of `ids` Slurm still lists (finished jobs stay listed for `MinJobAge`).
    pub async fn states(&self, procs: &Procs, ids: &[u64]) -> Result<HashMap<u64, Seen>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let run = |jobs: bool| {
            let mut c = self.cmd("squeue");
            c.args(["--noheader", "--states=all", "--format=%i|%T|%r"]);
            if jobs {
                c.arg(format!("--jobs={list}"));
            }
            procs.run("squeue", c, CLIENT_TIMEOUT)
        };
        let mut out = run(true).await?;
        // squeue refuses the whole list when one id is no longer known: ask for every job.
        if !out.ok() && out.message().contains("Invalid job id") {
            out = run(false).await?;
        }
        if !out.ok() {
            return Err(ExecError::Failed {
                what: "squeue".into(),
                status: out.status.to_string(),
                message: out.message(),
            });
        }
        Ok(parse_squeue(&out.stdout)
            .into_iter()
            .filter(|(id, _)| ids.contains(id))
            .collect())
    }

    /// Cancel `ids` (those already ended are left as they are).
    pub async fn cancel(&self, procs: &Procs, ids: &[u64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.cmd("scancel");
        c.args(ids.iter().map(u64::to_string));
        scancelled(procs.run("scancel", c, CLIENT_TIMEOUT).await?)
    }
}

/// What `scancel` said: a job that ended meanwhile is not an error.
fn scancelled(out: crate::proc::Output) -> Result<()> {
    if !out.ok() && !out.message().contains("already completing or completed") {
        return Err(ExecError::Failed {
            what: "scancel".into(),
            status: out.status.to_string(),
            message: out.message(),
        });
    }
    Ok(())
}

impl Slurm {
    /// [`Slurm::cancel`] where nothing can be awaited (a dropped bisection round: Ctrl-C).
    pub fn cancel_sync(&self, ids: &[u64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        let args: Vec<&str> = list.iter().map(String::as_str).collect();
        let env: Vec<(&str, &std::ffi::OsStr)> = self
            .conf
            .iter()
            .map(|c| ("SLURM_CONF", c.as_os_str()))
            .collect();
        scancelled(Procs::run_sync_env("scancel", &args, &env, CLIENT_TIMEOUT)?)
    }
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
pub fn parse_job_id(out: &str) -> Option<u64> {
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())?
        .split(';')
        .next()?
        .parse()
        .ok()
}

/// A state as Slurm spells it (`CANCELLED by 0` from sacct is CANCELLED).
pub fn parse_state(s: &str) -> JobState {
    let word = s
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+');
    match word {
        "PENDING" | "PD" => JobState::Pending,
        "CONFIGURING" | "CF" => JobState::Configuring,
        "RUNNING" | "R" => JobState::Running,
        "COMPLETING" | "CG" => JobState::Completing,
        "SUSPENDED" | "S" | "STOPPED" | "ST" => JobState::Suspended,
        "REQUEUED" | "RQ" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESIZING" | "SIGNALING"
        | "STAGE_OUT" => JobState::Requeued,
        "COMPLETED" | "CD" => JobState::Completed,
        "FAILED" | "F" => JobState::Failed,
        "CANCELLED" | "CA" => JobState::Cancelled,
        "TIMEOUT" | "TO" => JobState::Timeout,
        "NODE_FAIL" | "NF" => JobState::NodeFail,
        "PREEMPTED" | "PR" => JobState::Preempted,
        "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
        "BOOT_FAIL" | "BF" => JobState::BootFail,
        "DEADLINE" | "DL" => JobState::Deadline,
        other => JobState::Other(other.to_string()),
    }
}

/// `squeue --format=%i|%T|%r` lines → (id, state, reason). Array tasks (`12_3`) and lines that
/// do not parse are skipped: the harness submits single jobs.
pub fn parse_squeue(out: &str) -> Vec<(u64, Seen)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, '|');
            let id = f.next()?.trim().parse().ok()?;
            let state = parse_state(f.next()?.trim());
            let reason = f.next().unwrap_or("").trim().to_string();
            Some((id, Seen { state, reason }))
        })
        .collect()
}

/// The batch script of a unit (a nightly's job, or a bisection's boot: `DIR/unit.json` says
/// which): `harness unit --out DIR` with an explicit environment (the job is submitted with
/// `--export=NONE`). `harness` is the binary's path on the nodes.
pub fn unit_script(harness: &Path, dir: &Path) -> String {
    let q = |p: &Path| shell_quote(&p.display().to_string());
    format!(
        "#!/bin/sh\n\
         # A unit of cephfs-harness (a nightly's job, or a bisection's boot), run on this node.\n\
         export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         export HOME=\"${{HOME:-$(getent passwd \"$(id -un)\" | cut -d: -f6)}}\"\n\
         export LANG=C.UTF-8\n\
         exec {} unit --out {}\n",
        q(harness),
        q(dir)
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_become_states() {
        let out = "12|RUNNING|None\n13|PENDING|Resources\n14|CANCELLED|None\n15_2|RUNNING|None\n\
                   16|NODE_FAIL|NodeDown\nnonsense\n17|SPECIAL_EXIT|x\n";
        let v = parse_squeue(out);
        let ids: Vec<u64> = v.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, [12, 13, 14, 16, 17]);
        assert_eq!(v[0].1.state, JobState::Running);
        assert_eq!(v[1].1.reason, "Resources");
        assert_eq!(v[2].1.state, JobState::Cancelled);
        assert_eq!(v[3].1.state, JobState::NodeFail);
        assert_eq!(v[4].1.state, JobState::Other("SPECIAL_EXIT".into()));
        assert_eq!(parse_state("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(parse_state("TO"), JobState::Timeout);
        assert_eq!(parse_state("OUT_OF_MEMORY"), JobState::OutOfMemory);
    }

    #[test]
    fn sbatch_ids() {
        assert_eq!(parse_job_id("123\n"), Some(123));
        assert_eq!(parse_job_id("124;cluster\n"), Some(124));
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
    }

    #[test]
    fn the_script_quotes_its_paths() {
        let s = unit_script(Path::new("/opt/h arness"), Path::new("/s/it's"));
        assert!(
            s.contains("exec '/opt/h arness' unit --out '/s/it'\\''s'"),
            "{s}"
        );
        assert!(s.starts_with("#!/bin/sh\n"));
    }
}
