//! The sandbox a series' code runs in, measured from inside it (real bubblewrap, the real sandbox
//! user): what it can see, write, reach and inherit. Needs root (to switch to the sandbox user)
//! and scripts/install-deps (bubblewrap, the user).

use std::path::Path;
use std::time::{Duration, Instant};

use harness_exec::proc::Procs;
use harness_exec::sandbox::{self, Limits, SandboxCommand};

const CANARY: &str = "ghp_sandboxCanary0123456789";

fn ready() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to switch to the sandbox user");
        return false;
    }
    assert!(
        sandbox::identity().is_ok(),
        "the sandbox user is missing: scripts/install-deps"
    );
    true
}

async fn sh(procs: &Procs, script: &str, work: &Path) -> harness_exec::proc::Output {
    let mut c = SandboxCommand::new("sh");
    c.rw(work).cwd(work).arg("-c").arg(script);
    procs
        .run("sh", c.build().unwrap(), Duration::from_secs(60))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandboxed_command_sees_only_the_toolchain_and_its_tree() {
    if !ready() {
        return;
    }
    // The harness's own environment holds a secret; the sandbox must not.
    std::env::set_var("GITHUB_TOKEN", CANARY);
    std::env::set_var("GIT_DIR", "/etc");
    let work = tempfile::tempdir().unwrap();
    sandbox::dir(work.path()).unwrap();
    let procs = Procs::new();
    let host_tmp = std::env::temp_dir().join(format!("sandbox-proof-{}", std::process::id()));
    let script = format!(
        "id -u; echo ---; env; echo ---; \
         echo x > /tmp/proof && echo tmp-ok; \
         echo x > {host_tmp} 2>/dev/null && echo host-tmp-WRITTEN; \
         echo x > /usr/proof 2>/dev/null && echo usr-WRITTEN; \
         echo x > /etc/proof 2>/dev/null && echo etc-WRITTEN; \
         echo x > proof-in-tree && echo tree-ok; \
         test -e /etc/shadow && echo shadow-VISIBLE; \
         test -e /root && echo root-VISIBLE; test -e /home && echo home-VISIBLE; \
         test -e /var && echo var-VISIBLE; \
         echo \"links=$(ip -o link | cut -d: -f2 | tr -d ' \\n')\"; \
         ulimit -t; ulimit -f; \
         hostname",
        host_tmp = host_tmp.display()
    );
    let out = sh(&procs, &script, work.path()).await;
    assert!(out.ok(), "{}", out.message());
    let text = out.stdout;
    eprintln!("{text}");
    let mut parts = text.split("---\n");
    let uid: u32 = parts.next().unwrap().trim().parse().unwrap();
    assert_eq!(uid, sandbox::identity().unwrap().uid);
    assert_ne!(uid, 0);
    let env = parts.next().unwrap();
    let keys: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    for k in &keys {
        assert!(
            ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PWD"].contains(k),
            "{k} in the sandbox's environment"
        );
    }
    assert!(!text.contains(CANARY));
    let rest = parts.next().unwrap();
    assert!(
        rest.contains("tmp-ok") && rest.contains("tree-ok"),
        "{rest}"
    );
    for bad in [
        "usr-WRITTEN",
        "etc-WRITTEN",
        "shadow-VISIBLE",
        "root-VISIBLE",
        "home-VISIBLE",
        "var-VISIBLE",
    ] {
        assert!(!rest.contains(bad), "{bad}: {rest}");
    }
    // The private /tmp is not the host's; the tree is.
    assert!(!host_tmp.exists());
    assert!(work.path().join("proof-in-tree").exists());
    // Network: a private loopback and nothing else.
    assert!(rest.lines().any(|l| l == "links=lo"), "{rest}");
    // Limits are set.
    assert!(
        rest.lines()
            .any(|l| l.trim() == Limits::tool().cpu_seconds.to_string()),
        "{rest}"
    );
    assert!(rest.contains("sandbox"));
    std::env::remove_var("GITHUB_TOKEN");
    std::env::remove_var("GIT_DIR");
}

/// `.incbin "/etc/shadow"` in a series' C file: the compiler finds no such file.
#[tokio::test(flavor = "multi_thread")]
async fn the_compiler_cannot_include_host_secrets() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("evil.c"),
        "asm(\".section .rodata\\n.incbin \\\"/etc/shadow\\\"\\n.previous\");\nint x;\n",
    )
    .unwrap();
    sandbox::dir(work.path()).unwrap();
    let procs = Procs::new();
    let out = sh(&procs, "gcc -c evil.c -o evil.o", work.path()).await;
    assert!(!out.ok(), "the build read /etc/shadow");
    assert!(
        out.stderr.contains("/etc/shadow") && !work.path().join("evil.o").exists(),
        "{}",
        out.stderr
    );
}

/// What the sandbox costs: bubblewrap's start per command.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_costs_milliseconds_per_command() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    sandbox::dir(work.path()).unwrap();
    let procs = Procs::new();
    let n = 20;
    let t0 = Instant::now();
    for _ in 0..n {
        let mut c = tokio::process::Command::new("true");
        c.current_dir("/");
        procs.run("true", c, Duration::from_secs(10)).await.unwrap();
    }
    let plain = t0.elapsed() / n;
    let t0 = Instant::now();
    for _ in 0..n {
        let out = sh(&procs, "true", work.path()).await;
        assert!(out.ok(), "{}", out.message());
    }
    let boxed = t0.elapsed() / n;
    eprintln!("per command: plain {plain:?}, sandboxed {boxed:?}");
    assert!(boxed < Duration::from_millis(500), "{boxed:?}");
}

fn git(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Tree mode applies in a repository the sandbox user owns (the developer's objects through alternates): the developer's repository is
/// only read (its hooks never run, its checkout is untouched), and the series' mails are applied
/// by git in the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn tree_mode_applies_in_a_sandboxed_clone_of_the_developers_repository() {
    if !ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("linux");
    std::fs::create_dir_all(repo.join("fs/ceph")).unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    std::fs::write(repo.join("fs/ceph/a.c"), "int a;\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    // The developer's hooks must never run for a series.
    let proof = t.path().join("hook-ran");
    for hook in [
        "applypatch-msg",
        "pre-applypatch",
        "post-applypatch",
        "post-checkout",
    ] {
        let h = repo.join(".git/hooks").join(hook);
        std::fs::write(&h, format!("#!/bin/sh\ntouch {}\n", proof.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cache = t.path().join("cache");
    let procs = Procs::new();
    let kt = harness_exec::ktree::KernelTree::open(&procs, &cache, &repo, Some("master"), None)
        .await
        .unwrap();
    let mail = b"From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\n\
From: A <a@example.org>\nDate: Tue, 1 Jun 2021 10:00:00 +0000\nSubject: [PATCH] ceph: b\n\n---\n\
diff --git a/fs/ceph/a.c b/fs/ceph/a.c\n--- a/fs/ceph/a.c\n+++ b/fs/ceph/a.c\n@@ -1 +1 @@\n-int a;\n+int b;\n";
    let scratch = tempfile::tempdir().unwrap();
    let a = kt.am(mail, scratch.path(), false).await.unwrap();
    assert!(a.ok, "{}", a.message);
    assert_eq!(
        std::fs::read_to_string(kt.dir.join("fs/ceph/a.c")).unwrap(),
        "int b;\n"
    );
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(kt.dir.join(".git")).unwrap().uid();
    assert_eq!(owner, sandbox::identity().unwrap().uid);
    assert!(!proof.exists(), "a hook of the developer's repository ran");
    assert_eq!(
        std::fs::read_to_string(repo.join("fs/ceph/a.c")).unwrap(),
        "int a;\n",
        "the developer's checkout changed"
    );
    // A file left in the tree (a planted Kbuild) does not survive the next checkout.
    std::fs::write(kt.dir.join("fs/ceph/Kbuild"), "planted\n").unwrap();
    kt.checkout(&kt.base).await.unwrap();
    assert!(!kt.dir.join("fs/ceph/Kbuild").exists());
}
