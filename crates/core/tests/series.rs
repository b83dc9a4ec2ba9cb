//! Tests for `harness_core::series`: the real Jeff Layton series under /work/shared/series (read by
//! path, never copied here) and small made-up fixtures under tests/fixtures/series/.

use harness_core::series::{
    concat, parse_many, parse_mbox, FileChange, Series, SeriesError, Severity,
};

fn shared(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/series/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/series/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn parse_fixture(name: &str) -> Series {
    parse_mbox(&fixture(name), name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn subjects(s: &Series) -> Vec<&str> {
    s.patches.iter().map(|p| p.subject.as_str()).collect()
}

fn numbers(s: &Series) -> Vec<Option<(u32, u32)>> {
    s.patches.iter().map(|p| p.number).collect()
}

fn messages(s: &Series) -> Vec<(Severity, &str)> {
    s.diagnostics
        .iter()
        .map(|d| (d.severity, d.message.as_str()))
        .collect()
}

fn fc(path: &str, added: usize, removed: usize) -> FileChange {
    FileChange {
        path: path.into(),
        old_path: None,
        added,
        removed,
        new_file: false,
        deleted: false,
    }
}

/// `git format-patch` writes " N files changed, X insertions(+), Y deletions(-)" under the commit
/// message: an independent count to check ours against.
fn diffstat_summary(raw: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(raw);
    let line = text
        .lines()
        .find(|l| {
            l.contains(" changed, ")
                && l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
        })
        .expect("diffstat summary line");
    let grab = |word: &str| -> usize {
        line.split(", ")
            .find(|part| part.contains(word))
            .and_then(|part| part.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (grab("insertion"), grab("deletion"))
}

const SUBJECTS: [&str; 6] = [
    "ceph: allow ceph_put_mds_session to take NULL or ERR_PTR",
    "ceph: eliminate session->s_gen_ttl_lock",
    "ceph: don't take s_mutex or snap_rwsem in ceph_check_caps",
    "ceph: don't take s_mutex in try_flush_caps",
    "ceph: don't take s_mutex in ceph_flush_snaps",
    "ceph: eliminate ceph_async_iput()",
];
const COVER: &str = "ceph: remove excess mutex locking from cap/snap flushing codepaths";

// ---------------------------------------------------------------------------------------------
// The real series
// ---------------------------------------------------------------------------------------------

#[test]
fn real_6_1_mbox() {
    let bytes = shared("ceph-cap-locking-6.1.mbox");
    let s = parse_mbox(&bytes, "ceph-cap-locking-6.1.mbox").expect("parses");

    let cover = s.cover.as_ref().expect("cover letter");
    assert_eq!(cover.subject, COVER);
    assert_eq!(cover.raw_subject, format!("[PATCH 0/6] {COVER}"));
    assert_eq!(cover.author, "Jeff Layton <jlayton@kernel.org>");
    assert!(
        cover
            .body
            .starts_with("[Backport onto Linux 6.1.192 fs/ceph"),
        "{}",
        &cover.body[..80]
    );
    assert_eq!(s.title(), COVER);
    assert_eq!(s.base_commit, None);
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);

    assert_eq!(subjects(&s), SUBJECTS);
    assert_eq!(
        numbers(&s),
        (1..=6).map(|k| Some((k, 6))).collect::<Vec<_>>()
    );
    let origins: Vec<&str> = s.patches.iter().map(|p| p.origin.as_str()).collect();
    let lines = [84, 198, 392, 572, 630, 707];
    assert_eq!(
        origins,
        lines.map(|l| format!("ceph-cap-locking-6.1.mbox:{l}"))
    );
    for (k, p) in s.patches.iter().enumerate() {
        assert_eq!(p.author, "Jeff Layton <jlayton@kernel.org>");
        assert_eq!(p.version, None);
        assert_eq!(
            p.raw_subject,
            format!("[PATCH {}/6] {}", k + 1, SUBJECTS[k])
        );
        assert_eq!(
            p.date.as_deref(),
            Some(format!("Tue, 15 Jun 2021 10:57:{} -0400", 25 + k).as_str())
        );
        assert_eq!(p.message_id, None, "format-patch output has no Message-Id");
        assert!(!p.files.is_empty());
        assert!(p.files.iter().all(|f| f.path.starts_with("fs/ceph/")
            && !f.new_file
            && !f.deleted
            && f.old_path.is_none()));
        // Our hunk counts agree with git's own diffstat in the message.
        let ours = (
            p.files.iter().map(|f| f.added).sum(),
            p.files.iter().map(|f| f.removed).sum(),
        );
        assert_eq!(ours, diffstat_summary(&p.raw), "patch {}", k + 1);
    }

    // Counts checked by hand against the diffstat lines of the mbox.
    assert_eq!(
        s.patches[0].files,
        vec![
            fc("fs/ceph/dir.c", 1, 2),
            fc("fs/ceph/inode.c", 2, 4),
            fc("fs/ceph/mds_client.c", 6, 6),
            fc("fs/ceph/metric.c", 1, 2)
        ]
    );
    assert_eq!(s.patches[2].files, vec![fc("fs/ceph/caps.c", 12, 63)]);
    assert_eq!(
        s.patches[4].files,
        vec![fc("fs/ceph/caps.c", 3, 10), fc("fs/ceph/snap.c", 1, 4)]
    );
    let p6: Vec<&str> = s.patches[5].files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        p6,
        [
            "fs/ceph/caps.c",
            "fs/ceph/inode.c",
            "fs/ceph/mds_client.c",
            "fs/ceph/quota.c",
            "fs/ceph/snap.c",
            "fs/ceph/super.h"
        ]
    );
    assert_eq!(s.patches[5].files[5], fc("fs/ceph/super.h", 0, 2));

    // `raw` is the input verbatim: the patches' raw bytes are exactly the file from line 84 on.
    let start: usize = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(83)
        .map(<[u8]>::len)
        .sum();
    let joined: Vec<u8> = s
        .patches
        .iter()
        .flat_map(|p| p.raw.iter().copied())
        .collect();
    assert_eq!(joined, bytes[start..]);
    assert!(s.patches[0]
        .raw
        .starts_with(b"From 59ee154ef78215ef2ab916eddf9af3155578d4c1 Mon Sep 17 00:00:00 2001\n"));
}

#[test]
fn real_rfc_mbox() {
    let s = parse_mbox(&shared("ceph-cap-locking-rfc.mbox"), "rfc.mbox").expect("parses");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    let cover = s.cover.as_ref().expect("cover letter");
    assert_eq!(cover.subject, COVER);
    assert_eq!(cover.raw_subject, format!("[RFC PATCH 0/6] {COVER}"));
    assert_eq!(subjects(&s), SUBJECTS);
    assert_eq!(
        numbers(&s),
        (1..=6).map(|k| Some((k, 6))).collect::<Vec<_>>()
    );
    for (k, p) in s.patches.iter().enumerate() {
        assert_eq!(
            p.author, "Jeff Layton <jlayton@kernel.org>",
            "the archive's padded 'From:   ' header"
        );
        assert_eq!(
            p.message_id.as_deref(),
            Some(format!("20210615145730.21952-{}-jlayton@kernel.org", k + 2).as_str())
        );
        assert!(p.raw.starts_with(
            b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nReturn-Path:"
        ));
        assert!(p.files.iter().all(|f| f.path.starts_with("fs/ceph/")));
        let ours = (
            p.files.iter().map(|f| f.added).sum(),
            p.files.iter().map(|f| f.removed).sum(),
        );
        assert_eq!(ours, diffstat_summary(&p.raw), "patch {}", k + 1);
    }
    assert_eq!(s.patches[0].origin, "rfc.mbox:104");
    assert_eq!(s.patches[2].files, vec![fc("fs/ceph/caps.c", 7, 54)]);
}

#[test]
fn real_single_patch_and_concat() {
    let pre = parse_mbox(&shared("pre-series-6.1.patch"), "pre-series-6.1.patch").expect("parses");
    assert!(pre.cover.is_none());
    assert_eq!(pre.patches.len(), 1);
    let p = &pre.patches[0];
    assert_eq!(p.number, None);
    // The subject is folded over two header lines in the file.
    assert_eq!(
        p.subject,
        "ceph: pre-series base (revert cap/snap locking series on 6.1.192)"
    );
    assert_eq!(p.author, "Patch Prep <prep@localhost>");
    assert_eq!(p.files.len(), 9);
    assert_eq!(diffstat_summary(&p.raw), (201, 70));
    assert_eq!(
        (
            p.files.iter().map(|f| f.added).sum::<usize>(),
            p.files.iter().map(|f| f.removed).sum::<usize>()
        ),
        (201, 70)
    );
    assert_eq!(pre.title(), p.subject);

    let series = parse_mbox(&shared("ceph-cap-locking-6.1.mbox"), "6.1.mbox").expect("parses");
    let all = concat(vec![series, pre]);
    assert_eq!(all.patches.len(), 7);
    assert_eq!(all.title(), COVER);
    assert_eq!(all.patches[6].origin, "pre-series-6.1.patch:1");
    assert_eq!(all.patches[0].subject, SUBJECTS[0]);
    assert!(all.diagnostics.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Synthetic fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn quoted_printable_body_and_encoded_words() {
    let s = parse_fixture("quoted-printable.mbox");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    let p = &s.patches[0];
    assert_eq!(p.raw_subject, "[PATCH 1/1] ceph: fix Jörg's bug");
    assert_eq!(p.subject, "ceph: fix Jörg's bug");
    assert_eq!(p.number, Some((1, 1)));
    assert_eq!(p.author, "Jörg Müller <jm@example.org>");
    // The soft line breaks inside the long +/- lines are decoded away, so the hunk is intact.
    assert_eq!(p.files, vec![fc("fs/ceph/qp.c", 2, 1)]);
    assert!(
        String::from_utf8_lossy(&p.raw).contains("=3D=3D 0;"),
        "raw stays encoded"
    );
}

#[test]
fn base64_body_single_file() {
    let s = parse_fixture("base64.patch");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(s.patches.len(), 1);
    let p = &s.patches[0];
    assert_eq!(
        (p.subject.as_str(), p.number, p.version),
        ("ceph: base64 body", None, Some(3))
    );
    assert_eq!(
        p.files,
        vec![fc("fs/ceph/inode.c", 1, 2), fc("fs/ceph/super.h", 0, 1)]
    );
    assert_eq!(p.origin, "base64.patch:1");
}

#[test]
fn crlf_line_endings() {
    let bytes = fixture("crlf.mbox");
    assert!(bytes.windows(2).any(|w| w == b"\r\n"));
    let s = parse_mbox(&bytes, "crlf.mbox").expect("parses");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(subjects(&s), ["ceph: one", "ceph: two"]);
    assert_eq!(s.patches[0].author, "Alice Example <alice@example.org>");
    assert_eq!(s.patches[0].files, vec![fc("fs/ceph/caps.c", 2, 1)]);
    assert_eq!(s.patches[1].files, vec![fc("fs/ceph/inode.c", 1, 2)]);
    assert_eq!(s.patches[1].origin, "crlf.mbox:25");
    assert!(s.patches[1].raw.starts_with(b"From aaaa"));
    assert!(
        s.patches[1].raw.ends_with(b"2.47.3\r\n\r\n"),
        "raw keeps the CRLFs"
    );
}

#[test]
fn net_next_prefix_and_base_commit() {
    let s = parse_fixture("net-next-base-commit.mbox");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    let cover = s.cover.as_ref().expect("cover");
    assert_eq!(cover.subject, "ceph: tidy up three things");
    assert_eq!(
        cover.raw_subject,
        "[PATCH net-next 0/3] ceph: tidy up three things"
    );
    assert_eq!(
        s.base_commit.as_deref(),
        Some("3f2a9c1b0e8d7f6a5b4c3d2e1f0a9b8c7d6e5f40")
    );
    assert_eq!(subjects(&s), ["ceph: one", "ceph: two", "ceph: three"]);
    assert_eq!(numbers(&s), [Some((1, 3)), Some((2, 3)), Some((3, 3))]);
    assert_eq!(s.patches[2].raw_subject, "[PATCH net-next 3/3] ceph: three");
    assert_eq!(s.patches[1].message_id.as_deref(), Some("c2@example.org"));
    assert_eq!(s.patches[2].files, vec![fc("fs/ceph/super.h", 0, 1)]);
}

#[test]
fn missing_patch_is_diagnosed() {
    let s = parse_fixture("missing.mbox");
    assert_eq!(numbers(&s), [Some((1, 3)), Some((3, 3))]);
    assert_eq!(messages(&s), [(Severity::Error, "patch 2/3 is missing")]);
    assert_eq!(s.diagnostics[0].origin, "missing.mbox");
}

#[test]
fn duplicate_keeps_the_last_copy() {
    let s = parse_fixture("duplicate.mbox");
    assert_eq!(subjects(&s), ["ceph: one", "ceph: two (fixed)"]);
    assert_eq!(s.patches[1].files, vec![fc("fs/ceph/super.h", 0, 1)]);
    assert_eq!(s.diagnostics.len(), 1, "{:?}", s.diagnostics);
    let d = &s.diagnostics[0];
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(
        d.message,
        "patch 2/2 appears 2 times (duplicate.mbox:25, duplicate.mbox:48); keeping the last one"
    );
    assert_eq!(d.origin, s.patches[1].origin);
    assert_eq!(s.patches[1].origin, "duplicate.mbox:48");
}

#[test]
fn newest_revision_wins() {
    let s = parse_fixture("revisions.mbox");
    assert_eq!(subjects(&s), ["ceph: one", "ceph: two, again"]);
    assert!(s.patches.iter().all(|p| p.version == Some(2)));
    let cover = s.cover.as_ref().expect("cover");
    assert_eq!(cover.raw_subject, "[PATCH v2 0/2] ceph: pair");
    assert!(cover.body.contains("Changes since v1"));
    assert_eq!(
        messages(&s),
        [(
            Severity::Warning,
            "the input holds several revisions of the series; using v2 and ignoring 3 message(s) of v1"
        )]
    );
}

#[test]
fn replies_are_skipped() {
    let s = parse_fixture("reply-thread.mbox");
    assert_eq!(subjects(&s), ["ceph: one", "ceph: two"]);
    assert_eq!(numbers(&s), [Some((1, 2)), Some((2, 2))]);
    assert_eq!(s.patches[1].message_id.as_deref(), Some("t2@example.org"));
    // The review reply without a diff is silent; the one carrying a diff is named.
    assert_eq!(s.diagnostics.len(), 1, "{:?}", s.diagnostics);
    assert_eq!(s.diagnostics[0].severity, Severity::Warning);
    assert!(
        s.diagnostics[0]
            .message
            .contains("\"Re: [RFC PATCH 2/2] ceph: two\" contains a diff"),
        "{}",
        s.diagnostics[0].message
    );
    assert_eq!(s.diagnostics[0].origin, "reply-thread.mbox:74");
    // mboxrd ">From " quoting in the cover letter is undone once.
    let cover = s.cover.as_ref().expect("cover");
    assert_eq!(cover.subject, "ceph: thread");
    assert!(
        cover
            .body
            .contains("\nFrom the docs: quoting is undone.\n>From stays quoted once.\n"),
        "{:?}",
        cover.body
    );
}

#[test]
fn totals_disagree_and_beyond() {
    let s = parse_fixture("totals.mbox");
    assert_eq!(numbers(&s), [Some((1, 2)), Some((2, 2)), Some((3, 3))]);
    assert_eq!(
        messages(&s),
        [
            (
                Severity::Warning,
                "patch totals disagree (3/3 vs. 2); assuming 2 patches"
            ),
            (
                Severity::Warning,
                "patch 3/3 is numbered beyond the series total of 2"
            ),
        ]
    );
    assert_eq!(s.diagnostics[1].origin, "totals.mbox:48");
}

#[test]
fn bare_patch_single_file() {
    let bytes = fixture("single.patch");
    let s = parse_mbox(&bytes, "single.patch").expect("parses");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(
        s.patches.len(),
        1,
        "the unescaped 'From ' lines in the message must not split it"
    );
    let p = &s.patches[0];
    assert_eq!(p.number, None);
    assert_eq!(p.version, None);
    assert_eq!(
        p.subject,
        "ceph: fix the helper that the caps code calls on the unmount path"
    );
    assert_eq!(
        p.raw_subject,
        "[PATCH] ceph: fix the helper that the caps code calls on the unmount path"
    );
    // The in-body From: (the real author) wins over the sender, as with `git am`.
    assert_eq!(p.author, "Carol Author <carol@example.com>");
    assert_eq!(p.date.as_deref(), Some("Mon, 3 Mar 2025 10:00:00 +0000"));
    assert_eq!(p.files, vec![fc("fs/ceph/caps.c", 2, 1)]);
    assert_eq!(p.raw, bytes);
    assert_eq!(s.title(), p.subject);
}

#[test]
fn attachment_in_plain_mail_without_from_line() {
    let s = parse_fixture("attachment.eml");
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(subjects(&s), ["ceph: attached"]);
    assert_eq!(s.patches[0].files, vec![fc("fs/ceph/super.h", 0, 1)]);
    assert_eq!(s.patches[0].origin, "attachment.eml:1");
    assert_eq!(s.patches[0].raw, fixture("attachment.eml"));
}

#[test]
fn error_cases() {
    assert_eq!(
        parse_mbox(&fixture("empty.mbox"), "empty.mbox"),
        Err(SeriesError::Empty {
            origin: "empty.mbox".into()
        })
    );
    assert_eq!(
        parse_mbox(b" \n\n", "blank"),
        Err(SeriesError::Empty {
            origin: "blank".into()
        })
    );
    assert_eq!(
        parse_mbox(&fixture("no-patches.mbox"), "no-patches.mbox"),
        Err(SeriesError::NoPatches {
            origin: "no-patches.mbox".into()
        })
    );
    assert_eq!(
        parse_mbox(&fixture("garbage.bin"), "garbage.bin"),
        Err(SeriesError::NotAnMbox {
            origin: "garbage.bin".into(),
            detail: "binary data, not text".into()
        })
    );
    assert_eq!(
        parse_mbox(&fixture("not-mail.txt"), "not-mail.txt"),
        Err(SeriesError::NotAnMbox {
            origin: "not-mail.txt".into(),
            detail: "no mail headers found (expected git format-patch output or an mbox)".into()
        })
    );
    let err = parse_mbox(&fixture("bare.diff"), "bare.diff").expect_err("a diff is not a mail");
    assert_eq!(err.to_string(), "bare.diff: not an mbox or patch file: a bare diff without mail headers (expected git format-patch output or an mbox)");
}

#[test]
fn concat_keeps_first_cover_and_order() {
    let a = parse_fixture("net-next-base-commit.mbox");
    let b = parse_fixture("single.patch");
    let c = parse_fixture("revisions.mbox");
    let all = concat(vec![a, b, c]);
    assert_eq!(all.title(), "ceph: tidy up three things");
    assert_eq!(
        subjects(&all),
        [
            "ceph: one",
            "ceph: two",
            "ceph: three",
            "ceph: fix the helper that the caps code calls on the unmount path",
            "ceph: one",
            "ceph: two, again"
        ]
    );
    assert_eq!(
        all.base_commit.as_deref(),
        Some("3f2a9c1b0e8d7f6a5b4c3d2e1f0a9b8c7d6e5f40")
    );
    // revisions.mbox's own warning plus the note that its cover letter lost.
    assert_eq!(all.diagnostics.len(), 2, "{:?}", all.diagnostics);
    assert_eq!(
        all.diagnostics[1].message,
        "cover letter \"ceph: pair\" of a later input ignored"
    );
    assert_eq!(all.diagnostics[1].origin, "revisions.mbox");
    assert_eq!(concat(vec![]).patches.len(), 0);
}

#[test]
fn serde_round_trip() {
    let s = parse_fixture("net-next-base-commit.mbox");
    let json = serde_json::to_string(&s).expect("serialize");
    let back: Series = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, s);
}

// ---------------------------------------------------------------------------------------------
// Hostile input: must never panic
// ---------------------------------------------------------------------------------------------

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..300 {
        let len = rng.below(600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = parse_mbox(&bytes, "random");
    }
}

#[test]
fn token_soup_never_panics() {
    // Lines that push the parser into its corners: separators, headers, encodings, diff syntax
    // with absurd numbers, quoting, multipart boundaries.
    const TOKENS: &[&str] = &[
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n",
        "From x Mon Sep 17 00:00:00 2001\r\n",
        ">From y\n",
        "From: A <a@b>\n",
        "From:\n",
        "Subject: [PATCH 1/2] x\n",
        "Subject: [PATCH 0/4294967295] x\n",
        "Subject: [PATCH 4294967295/1] y\n",
        "Subject: Re: [PATCH v99999999999 3/3] z\n",
        "Subject: =?UTF-8?B?W1BBVENIXQ==?=\n",
        "Subject: [unterminated\n",
        " folded continuation\n",
        "Content-Transfer-Encoding: base64\n",
        "Content-Transfer-Encoding: quoted-printable\n",
        "Content-Type: multipart/mixed; boundary=\"B\"\n",
        "--B\n",
        "--B--\n",
        "\n",
        "\r\n",
        "diff --git a/x b/x\n",
        "diff --git \"a/unterminated\n",
        "diff --git \n",
        "diff --git \"a/q\\\"\\377\\\" b/q\"\n",
        "--- a/x\n",
        "--- /dev/null\n",
        "+++ b/x\n",
        "+++ /dev/null\n",
        "@@ -1,3 +1,4 @@\n",
        "@@ -99999999999999999999,1 +1 @@\n",
        "@@ -1,18446744073709551615 +1,18446744073709551615 @@\n",
        "@@ -\n",
        "+added\n",
        "-removed\n",
        " context\n",
        "\\ No newline at end of file\n",
        "rename from a b\n",
        "rename to \"c\\td\"\n",
        "new file mode 100644\n",
        "deleted file mode 100644\n",
        "base-commit: 0123456789abcdef0123456789abcdef01234567\n",
        "=C3=A9=\n",
        "W1BBVENIXQ==\n",
        "\u{feff}\u{fffd}\0\n",
    ];
    let mut rng = Rng(0xfeed_beef_0000_0042);
    for _ in 0..3000 {
        let n = rng.below(40);
        let mut input = String::new();
        for _ in 0..n {
            input.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        if let Ok(s) = parse_mbox(input.as_bytes(), "soup") {
            assert!(!s.patches.is_empty());
            let _ = s.title();
        }
    }
}

#[test]
fn truncated_and_mutated_real_inputs_never_panic() {
    let mut rng = Rng(7);
    for name in ["ceph-cap-locking-6.1.mbox", "ceph-cap-locking-rfc.mbox"] {
        let bytes = shared(name);
        // Truncations at many points, some mid-line and mid-hunk.
        for cut in (0..bytes.len()).step_by(331) {
            if let Ok(s) = parse_mbox(&bytes[..cut], name) {
                assert!(s.patches.len() <= 6);
            }
        }
        // Random byte flips.
        for _ in 0..40 {
            let mut m = bytes.clone();
            for _ in 0..20 {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            let _ = parse_mbox(&m, name);
        }
    }
    // A truncated hunk is an Error diagnostic, not a panic or a silent success.
    let bytes = shared("ceph-cap-locking-6.1.mbox");
    let text = String::from_utf8_lossy(&bytes);
    let cut = text.find("From 7c0e6d0c").expect("patch 2 start") - 200;
    let s = parse_mbox(&bytes[..cut], "cut").expect("still parses");
    assert_eq!(s.patches.len(), 1);
    assert!(
        s.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("truncated")),
        "{:?}",
        s.diagnostics
    );
}

/// A hand-written patch mail touching `path` (with an optional git header line, e.g. a mode).
fn mail_for(path: &str, header: &str) -> String {
    format!(
        "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\n\
From: Mallory <m@example.org>\nDate: Tue, 1 Jun 2021 10:00:00 +0000\n\
Subject: [PATCH] ceph: innocent\n\n---\n\
diff --git a/{path} b/{path}\n{header}--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
    )
}

#[test]
fn hostile_paths_are_errors() {
    for (path, header, why) in [
        ("../../etc/x", "", "leaves the tree"),
        ("fs/ceph/../../../etc/x", "", "leaves the tree"),
        ("/etc/passwd", "", "is absolute"),
        (".git/hooks/post-checkout", "", "is a git file or directory"),
        ("fs/ceph/link", "new mode 120000\n", "symbolic link"),
    ] {
        let text = mail_for(path, header);
        let s = parse_mbox(text.as_bytes(), "evil.patch").unwrap();
        assert!(s.has_errors(), "{path}: {:?}", s.diagnostics);
        let d = s
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .unwrap();
        assert!(d.message.contains(why), "{path}: {}", d.message);
        assert_eq!(d.origin, "evil.patch:1");
    }
    let fine = parse_mbox(mail_for("fs/ceph/caps.c", "").as_bytes(), "ok.patch").unwrap();
    assert!(!fine.has_errors(), "{:?}", fine.diagnostics);
}

#[test]
fn oversized_input_is_refused() {
    let big = vec![b'x'; harness_core::series::MAX_INPUT_BYTES + 1];
    let e = parse_mbox(&big, "huge.mbox").unwrap_err();
    assert_eq!(
        e.to_string(),
        "huge.mbox: 64.0 MiB (67108865 bytes) is over the 64 MiB limit for a series"
    );
}

#[test]
fn format_patch_directory_is_one_series() {
    // The 6.1 mbox split into one file per message, as `git format-patch -o` writes them.
    let all = String::from_utf8(shared("ceph-cap-locking-6.1.mbox")).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    for (i, msg) in all.split("\nFrom ").enumerate() {
        let text = if i == 0 {
            msg.to_string()
        } else {
            format!("From {msg}")
        };
        files.push((format!("dir/{i:04}-x.patch"), text));
    }
    assert_eq!(files.len(), 7);
    let inputs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_bytes()))
        .collect();
    let s = parse_many(&inputs).unwrap();
    assert_eq!(s.patches.len(), 6);
    assert!(s.cover.is_some());
    assert_eq!(s.patches[2].origin, "dir/0003-x.patch:1");
    assert!(!s.has_errors(), "{:?}", s.diagnostics);

    // Without 0004 the gap is an error naming the directory.
    let gap: Vec<(&str, &[u8])> = inputs
        .iter()
        .copied()
        .filter(|(n, _)| !n.contains("0004"))
        .collect();
    let s = parse_many(&gap).unwrap();
    assert_eq!(messages(&s), [(Severity::Error, "patch 4/6 is missing")]);
    assert_eq!(s.diagnostics[0].origin, "dir");

    // An empty file among them is named.
    let mut with_empty = inputs.clone();
    with_empty.push(("dir/0007-empty.patch", b"\n"));
    assert_eq!(
        parse_many(&with_empty).unwrap_err().to_string(),
        "dir/0007-empty.patch: empty input"
    );
}

#[test]
fn partial_reroll_takes_the_rest_from_the_older_revision() {
    let mut text = String::from_utf8(shared("ceph-cap-locking-6.1.mbox")).unwrap();
    // A v2 of patch 3 alone, as a reply to the series.
    let p3 = text.find("Subject: [PATCH 3/6]").unwrap();
    let start = text[..p3].rfind("\nFrom ").unwrap() + 1;
    let end = start + 1 + text[start + 1..].find("\nFrom ").unwrap() + 1;
    let v2 = text[start..end].replace("[PATCH 3/6]", "[PATCH v2 3/6]");
    text.push_str(&v2);
    let s = parse_mbox(text.as_bytes(), "t.mbox").unwrap();
    assert_eq!(s.patches.len(), 6, "{:?}", s.diagnostics);
    assert_eq!(s.patches[2].version, Some(2));
    assert_eq!(s.patches[0].version, None);
    assert!(!s.has_errors(), "{:?}", s.diagnostics);
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.message == "partial reroll: patch 1/6 is not in v2; taking it from v1"));
}
