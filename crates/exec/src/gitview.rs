//! Git's own view of a series, before anything is applied: each mail goes through `git mailinfo`
//! (what `git am` runs: it decodes every MIME part) and the extracted patch through
//! `git apply --numstat -z`, in the sandbox. What git would apply must be what the parser listed,
//! with no symbolic link, gitlink or `.git*` path ([`harness_core::series::check_git_view`]).

use std::path::Path;
use std::time::Duration;

use harness_core::series::Series;

use crate::proc::Procs;
use crate::sandbox::SandboxCommand;
use crate::{ExecError, Result};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a series is refused: the patch (1-based), its origin, and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: patch {index} \"{subject}\": {why}")]
pub struct Refused {
    pub index: usize,
    pub origin: String,
    pub subject: String,
    pub why: String,
}

/// `Ok(Err(refused))` for a series git sees differently; `Err` for the harness's own faults.
pub async fn check(procs: &Procs, series: &Series) -> Result<std::result::Result<(), Refused>> {
    let dir = tempfile::Builder::new()
        .prefix("harness-gitview-")
        .tempdir()
        .map_err(|e| ExecError::io(&std::env::temp_dir(), e))?;
    for (i, patch) in series.patches.iter().enumerate() {
        let mail = dir.path().join(format!("mail-{i}"));
        crate::write(&mail, &patch.raw)?;
        crate::sandbox::reach(&mail)?;
        let text = extracted_patch(procs, &mail).await?;
        let extracted = dir.path().join(format!("patch-{i}"));
        crate::write(&extracted, text.as_bytes())?;
        let numstat = numstat(procs, &extracted).await?;
        let why = match (text, numstat) {
            (_, Err(msg)) => Err(format!("git cannot read the patch: {msg}")),
            (text, Ok(n)) => harness_core::series::check_git_view(patch, &n, &text),
        };
        if let Err(why) = why {
            return Ok(Err(Refused {
                index: i + 1,
                origin: patch.origin.clone(),
                subject: patch.subject.clone(),
                why,
            }));
        }
    }
    Ok(Ok(()))
}

/// The patch `git mailinfo` takes out of a mail (every part it decodes).
async fn extracted_patch(procs: &Procs, mail: &Path) -> Result<String> {
    let mut c = SandboxCommand::new("sh");
    c.ro(mail)
        .cwd("/tmp")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c.arg("-c")
        .arg(r#"git mailinfo -u /tmp/msg /tmp/patch < "$1" > /dev/null && cat /tmp/patch"#)
        .arg("sh")
        .arg(mail);
    let out = procs.check("git mailinfo", c.build()?, TIMEOUT).await?;
    Ok(out.stdout)
}

/// `git apply --numstat -z` of an extracted patch; `Err(message)` when git cannot parse it.
async fn numstat(procs: &Procs, patch: &Path) -> Result<std::result::Result<String, String>> {
    crate::sandbox::reach(patch)?;
    let mut c = SandboxCommand::new("git");
    c.ro(patch)
        .cwd("/tmp")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c.args(["apply", "--numstat", "-z"]).arg(patch);
    let out = procs
        .run("git apply --numstat", c.build()?, TIMEOUT)
        .await?;
    Ok(if out.ok() {
        Ok(out.stdout)
    } else {
        Err(out.message().lines().next().unwrap_or("").to_string())
    })
}
