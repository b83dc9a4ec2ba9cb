//! Series input from everywhere a kernel developer keeps one (files, format-patch directories,
//! git ranges, a public-inbox archive) and hostile input, through the real `harness` binary and
//! real git. No guest boots here: every case ends before the run starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::shared;

fn harness(args: &[&str], results: &Path) -> Output {
    common::harness_in(results, args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A small git repository with a base commit and three patches on fs/ceph/a.c.
fn small_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(dir.join("fs/ceph")).unwrap();
    std::fs::write(dir.join("fs/ceph/a.c"), "int a;\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    for i in 1..=3 {
        std::fs::write(dir.join("fs/ceph/a.c"), format!("int a{i};\n")).unwrap();
        git(dir, &["commit", "-q", "-am", &format!("ceph: change {i}")]);
    }
}

#[test]
fn a_format_patch_directory_and_a_git_range_are_series() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    small_repo(&repo);
    let out_dir = t.path().join("out");
    git(
        &repo,
        &[
            "format-patch",
            "-q",
            "--cover-letter",
            "-o",
            out_dir.to_str().unwrap(),
            "HEAD~3",
        ],
    );

    let o = harness(
        &["series", "show", out_dir.to_str().unwrap()],
        &t.path().join("res"),
    );
    let s = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{s}", text(&o.stderr));
    for i in 1..=3 {
        assert!(s.contains(&format!("({i}/3) ceph: change {i}")), "{s}");
    }
    assert!(s.contains("fs/ceph/a.c") && s.contains("+1 -1"), "{s}");

    let o = harness(
        &[
            "series",
            "show",
            "--tree",
            repo.to_str().unwrap(),
            "--range",
            "HEAD~2..HEAD",
        ],
        &t.path().join("res"),
    );
    let s = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{s}", text(&o.stderr));
    assert!(
        s.contains("ceph: change 2") && s.contains("ceph: change 3"),
        "{s}"
    );
    assert!(!s.contains("ceph: change 1"), "{s}");

    let o = harness(
        &[
            "series",
            "show",
            "--tree",
            repo.to_str().unwrap(),
            "--range",
            "nope..HEAD",
        ],
        &t.path().join("res"),
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("nope..HEAD"),
        "{}",
        text(&o.stderr)
    );
}

/// A local stand-in for a public-inbox archive serving `thread` (gzipped) as the thread of Jeff
/// Layton's RFC posting: the runtime that serves it (keep it alive) and the `--lore-url`.
fn inbox(thread: &[u8]) -> (tokio::runtime::Runtime, String) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(thread).unwrap();
    let body = gz.finish().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let app = axum::Router::new().route(
            "/all/20210615145730.21952-1-jlayton@kernel.org/t.mbox.gz",
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([("content-type", "application/gzip")], body) }
            }),
        );
        axum::serve(listener, app).await.unwrap();
    });
    (rt, format!("http://{addr}/all"))
}

#[test]
fn a_message_id_is_fetched_from_a_public_inbox_archive() {
    let (_rt, base) = inbox(&std::fs::read(shared("ceph-cap-locking-rfc.mbox")).unwrap());
    let t = tempfile::tempdir().unwrap();
    let o = harness(
        &[
            "series",
            "show",
            "--lore-url",
            &base,
            "--msgid",
            "<20210615145730.21952-1-jlayton@kernel.org>",
        ],
        &t.path().join("res"),
    );
    let s = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{s}", text(&o.stderr));
    assert!(
        s.contains("cover: ceph: remove excess mutex locking"),
        "{s}"
    );
    assert!(s.contains("(6/6) ceph: eliminate ceph_async_iput()"), "{s}");

    let o = harness(
        &[
            "series",
            "show",
            "--lore-url",
            &base,
            "--msgid",
            "unknown@example.org",
        ],
        &t.path().join("res"),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("not found") && err.contains("unknown@example.org"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A patch mail touching `path`, with extra git header lines.
fn evil(dir: &Path, name: &str, path: &str, header: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\n\
From: Mallory <m@example.org>\nDate: Tue, 1 Jun 2021 10:00:00 +0000\n\
Subject: [PATCH] ceph: innocent\n\n---\n\
diff --git a/{path} b/{path}\n{header}--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn hostile_and_unfit_series_are_refused_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let res = d.join("res");
    let big = d.join("big.mbox");
    // Sparse: the size check comes before any read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (evil(d, "dotdot.patch", "../../etc/x", ""), "leaves the tree"),
        (evil(d, "abs.patch", "/etc/x", ""), "is absolute"),
        (evil(d, "link.patch", "fs/ceph/l", "new file mode 120000\n"), "symbolic link"),
        (evil(d, "gitdir.patch", ".git/config", ""), "is a git file or directory"),
        (evil(d, "gitdir-case.patch", ".GIT/config", ""), "is a git file or directory"),
        (evil(d, "gitdir-dot.patch", ".git./config", ""), "is a git file or directory"),
        (evil(d, "gitattr.patch", "fs/ceph/.gitattributes", ""), "is a git file or directory"),
        (big, "200 MiB is over the 64 MiB limit"),
        (
            evil(d, "vfs.patch", "fs/inode.c", ""),
            "changes fs/inode.c: distro-module mode rebuilds only fs/ceph/, net/ceph/, include/linux/ceph/",
        ),
    ];
    for (file, why) in cases {
        let o = harness(&["test", file.to_str().unwrap()], &res);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{}: {err}", file.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(why), "{}: {err}", file.display());
        assert!(
            err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    assert!(!Path::new("/etc/x").exists());
    assert!(
        !res.join("runs").exists(),
        "nothing is recorded for refused input"
    );

    // The hint points at tree mode.
    let o = harness(&["test", d.join("vfs.patch").to_str().unwrap()], &res);
    assert!(text(&o.stderr).contains("--job tree --tree PATH --base REF"));
}

#[test]
fn job_errors_name_the_file_line_and_key() {
    let t = tempfile::tempdir().unwrap();
    let job = t.path().join("bad.yaml");
    std::fs::write(
        &job,
        "name: bad\nkernel:\n  mode: distro-module\n  release: r\n  source: s\nworkloads:\n  - name: umount-stress\n    params:\n      files: 1\n",
    )
    .unwrap();
    let series = shared("ceph-cap-locking-6.1.mbox");
    let o = harness(
        &[
            "test",
            "--job",
            job.to_str().unwrap(),
            series.to_str().unwrap(),
        ],
        &t.path().join("res"),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "harness: {}:9: key `workloads[0].params.files`: 1 is out of range 2..=1000000",
            job.display()
        )
    );

    // A job named by its name in jobs/; a tree job needs a tree.
    let o = harness(
        &["test", "--job", "tree-debug", series.to_str().unwrap()],
        &t.path().join("res"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("give --tree PATH"),
        "{}",
        text(&o.stderr)
    );
    let o = harness(
        &[
            "test",
            "--job",
            "tree-debug",
            "--tree",
            t.path().to_str().unwrap(),
            series.to_str().unwrap(),
        ],
        &t.path().join("res"),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a git tree"),
        "{}",
        text(&o.stderr)
    );
}

/// Anyone can post into a thread: a `[PATCH v2 3/6]` from someone else than the thread root's
/// author must not replace patch 3 (b4's rule); the error names that author.
#[test]
fn a_foreign_reroll_in_a_thread_is_refused_naming_its_author() {
    let mut thread = std::fs::read(shared("ceph-cap-locking-rfc.mbox")).unwrap();
    thread.extend_from_slice(
        b"\nFrom mallory Mon Sep 17 00:00:00 2001\n\
From: Mallory Evil <mallory@evil.example>\n\
Date: Wed, 16 Jun 2021 10:00:00 +0000\n\
Subject: [PATCH v2 3/6] ceph: take my version instead\n\
Message-Id: <evil-3@evil.example>\n\
In-Reply-To: <20210615145730.21952-1-jlayton@kernel.org>\n\n\
Better.\n---\n\
diff --git a/fs/ceph/caps.c b/fs/ceph/caps.c\n\
--- a/fs/ceph/caps.c\n+++ b/fs/ceph/caps.c\n@@ -1 +1 @@\n-a\n+b\n",
    );
    let (_rt, base) = inbox(&thread);
    let t = tempfile::tempdir().unwrap();
    let o = harness(
        &[
            "test",
            "--lore-url",
            &base,
            "--msgid",
            "<20210615145730.21952-1-jlayton@kernel.org>",
        ],
        &t.path().join("res"),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("mallory@evil.example") && err.contains("Jeff Layton"),
        "{err}"
    );
    assert!(
        !t.path().join("res").join("runs").exists(),
        "nothing recorded"
    );
}
