//! Patch-series parsing: turns a `git format-patch` file or a mailing-list mbox into a [`Series`].
//!
//! The module is pure: [`parse_mbox`] takes the input bytes plus an `origin` label (usually the file
//! name, used only in diagnostics and [`Patch::origin`]) and never touches files, processes or the
//! network. Mail handling (header decoding, RFC 2047 encoded words, quoted-printable and base64
//! bodies, charsets, mbox `From_` lines and `>From ` unquoting) is done by `mail-parser`; this
//! module only decides where messages start, which of them are patches, and how they fit together.
//!
//! What counts as what:
//! - a message whose subject carries `0/N` in its leading `[...]` tags is the cover letter;
//! - a message whose decoded body contains a unified diff (`diff --git`, or `--- ` + `+++ ` + `@@`)
//!   is a patch, unless its subject is a reply (`Re: ...`), which is ignored with a warning;
//! - everything else (review mails, chatter) is ignored silently.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use mail_parser::mailbox::mbox::MessageIterator;
use mail_parser::{HeaderName, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// A patch series: optional cover letter plus the patches in application order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The `0/N` message, if present.
    pub cover: Option<Cover>,
    /// In application order (ordered by patch number).
    pub patches: Vec<Patch>,
    /// From a `base-commit: <sha>` trailer (cover letter or any patch).
    pub base_commit: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The cover letter (`[PATCH 0/N]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cover {
    /// Cleaned subject: no `[PATCH 0/6]` prefix.
    pub subject: String,
    pub raw_subject: String,
    /// `"Name <email>"`.
    pub author: String,
    /// Decoded body text with LF line endings.
    pub body: String,
}

/// One patch mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// `(k, n)` from `[PATCH k/n]`; `None` for a bare `[PATCH]`.
    pub number: Option<(u32, u32)>,
    /// Cleaned: `"[RFC PATCH v3 2/7] ceph: foo"` -> `"ceph: foo"`.
    pub subject: String,
    /// The decoded, unfolded Subject header as sent.
    pub raw_subject: String,
    /// `v3` -> `Some(3)`; `None` when the subject carries no version.
    pub version: Option<u32>,
    /// `"Name <email>"`; an in-body `From:` line (as `git am` honours it) wins over the header.
    pub author: String,
    /// The Date header as written (whitespace normalised); an in-body `Date:` wins.
    pub date: Option<String>,
    /// Message-ID without the angle brackets.
    pub message_id: Option<String>,
    /// Files touched by the diff, in diff order.
    pub files: Vec<FileChange>,
    /// The whole original message exactly as in the input (from its `From ` line, if any), so it
    /// can be fed to `git am` unchanged.
    pub raw: Vec<u8>,
    /// `"<origin>:<line>"`: the 1-based input line where the message starts.
    pub origin: String,
}

/// One file of a patch's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path after the change (the `b/` side, prefix stripped); the `a/` side for deletions.
    pub path: String,
    /// Path before a rename or copy; `None` when the file keeps its name.
    pub old_path: Option<String>,
    /// Added lines (`+`), counted from the hunks.
    pub added: usize,
    /// Removed lines (`-`), counted from the hunks.
    pub removed: usize,
    pub new_file: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Something odd about the input that did not stop parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// `"<origin>:<line>"` for a message, or just `"<origin>"` for the series as a whole.
    pub origin: String,
}

/// Why an input could not be turned into a series at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SeriesError {
    #[error("{origin}: empty input")]
    Empty { origin: String },
    #[error("{origin}: not an mbox or patch file: {detail}")]
    NotAnMbox { origin: String, detail: String },
    #[error("{origin}: no patches found (no message contains a diff)")]
    NoPatches { origin: String },
    #[error("{origin}: {} is over the {} MiB limit for a series", size(*bytes), MAX_INPUT_BYTES >> 20)]
    TooLarge { origin: String, bytes: usize },
    #[error("{origin}: {count} patches is over the limit of {MAX_PATCHES} for a series")]
    TooManyPatches { origin: String, count: usize },
}

/// A size for an error message: never "64 MiB is over the 64 MiB limit".
pub fn size(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes > 1 << 20 {
        format!(
            "{:.1} MiB ({bytes} bytes)",
            bytes as f64 / (1u64 << 20) as f64
        )
    } else {
        format!("{bytes} bytes")
    }
}

/// Most patches a series may have (each is built; no real series comes near it).
pub const MAX_PATCHES: usize = 500;

/// Highest version tag accepted (`[PATCH v100]`); a higher one is an error, not "the newest".
pub const MAX_VERSION: u32 = 100;

impl Series {
    /// The cover letter's subject, else the first patch's subject, else `""`.
    pub fn title(&self) -> String {
        match &self.cover {
            Some(c) if !c.subject.is_empty() => c.subject.clone(),
            _ => self
                .patches
                .first()
                .map(|p| p.subject.clone())
                .unwrap_or_default(),
        }
    }

    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.severity, self.message)
    }
}

impl Diagnostic {
    fn warning(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            origin: origin.into(),
        }
    }
    fn error(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            origin: origin.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Inputs larger than this are refused: no real series comes near it, and a parser should not be
/// asked to hold a mailing-list archive.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Parse an mbox, a single `git format-patch` file, or a single mail without a `From_` line.
pub fn parse_mbox(bytes: &[u8], origin: &str) -> Result<Series, SeriesError> {
    parse_many(&[(origin, bytes)])
}

/// Parse several inputs as one series (the files of a `git format-patch` directory, in order):
/// patches are numbered, ordered and checked for gaps and duplicates across all of them.
pub fn parse_many(inputs: &[(&str, &[u8])]) -> Result<Series, SeriesError> {
    let origin = match inputs {
        [(o, _)] => o.to_string(),
        _ => inputs
            .first()
            .map(|(o, _)| {
                std::path::Path::new(o)
                    .parent()
                    .map(|p| p.display().to_string())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| o.to_string())
            })
            .unwrap_or_default(),
    };
    let origin = origin.as_str();
    let mut diagnostics = Vec::new();
    let mut mails = Vec::new();
    let parser = MessageParser::default();
    for (input_origin, bytes) in inputs {
        let input_origin = *input_origin;
        if bytes.len() > MAX_INPUT_BYTES {
            return Err(SeriesError::TooLarge {
                origin: input_origin.to_string(),
                bytes: bytes.len(),
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(SeriesError::Empty {
                origin: input_origin.to_string(),
            });
        }
        let mut not_mail = Vec::new();
        let before = mails.len();
        for chunk in split_messages(bytes) {
            let raw = &bytes[chunk.start..chunk.end];
            let msg_origin = format!("{input_origin}:{}", chunk.line);
            match read_mail(&parser, raw, chunk.from_line) {
                Some(mail) => mails.push((mail, raw, msg_origin)),
                None => not_mail.push(msg_origin),
            }
        }
        if mails.len() == before {
            return Err(SeriesError::NotAnMbox {
                origin: input_origin.to_string(),
                detail: not_mail_detail(bytes),
            });
        }
        for o in not_mail {
            diagnostics.push(Diagnostic::warning(o, "no mail headers here; ignored"));
        }
    }

    // The series belongs to whoever sent the first mail (the thread root, as b4 has it).
    let root = mails
        .iter()
        .find(|(m, _, _)| !parse_subject(&m.raw_subject).is_reply)
        .map(|(m, _, _)| (m.sender.clone(), m.author.clone()));

    // Classify every message.
    let mut covers: Vec<Candidate> = Vec::new();
    let mut patches: Vec<Candidate> = Vec::new();
    for (mail, raw, msg_origin) in mails {
        let subj = parse_subject(&mail.raw_subject);
        if let Some(v) = subj.version.filter(|v| *v > MAX_VERSION) {
            diagnostics.push(Diagnostic::error(
                &msg_origin,
                format!(
                    "\"{}\": version tag v{v} is out of range (at most v{MAX_VERSION})",
                    mail.raw_subject
                ),
            ));
        }
        let diff = parse_diff(&mail.body);
        let has_diff = !diff.files.is_empty();
        let shown = if mail.raw_subject.is_empty() {
            "(no subject)".to_string()
        } else {
            mail.raw_subject.clone()
        };
        if subj.is_reply {
            // Review replies are normal mailing-list traffic; only a reply carrying a diff is worth
            // mentioning, since someone might have expected it to be applied.
            if has_diff {
                diagnostics.push(Diagnostic::warning(
                    &msg_origin,
                    format!("reply \"{shown}\" contains a diff; ignored (replies are not applied)"),
                ));
            }
            continue;
        }
        let cand = Candidate {
            mail,
            subj,
            diff,
            raw,
            origin: msg_origin,
        };
        if matches!(cand.subj.number, Some((0, _))) {
            if has_diff {
                diagnostics.push(Diagnostic::warning(
                    &cand.origin,
                    format!("cover letter \"{shown}\" contains a diff; treated as the cover letter, not applied"),
                ));
            }
            covers.push(cand);
        } else if has_diff {
            patches.push(cand);
        } else if cand.subj.tagged {
            diagnostics.push(Diagnostic::warning(
                &cand.origin,
                format!("\"{shown}\" looks like a patch but contains no diff; ignored"),
            ));
        }
        // Else: an untagged mail without a diff (discussion); ignored silently.
    }
    if patches.is_empty() {
        return Err(SeriesError::NoPatches {
            origin: origin.to_string(),
        });
    }

    // Several revisions in one mbox: keep the newest one.
    let rev = |c: &Candidate| c.subj.version.unwrap_or(1);
    let revisions: BTreeSet<u32> = patches.iter().map(rev).collect();
    // A reroll, partial reroll or a second copy of a patch replaces what the root's author sent:
    // only that author may do it (anyone can post into a thread).
    let mut numbers = BTreeSet::new();
    let duplicated = patches
        .iter()
        .filter_map(|c| c.subj.number.map(|n| (rev(c), n.0)))
        .any(|n| !numbers.insert(n));
    if revisions.len() > 1 || duplicated || covers.len() > 1 {
        if let Some((sender, root_author)) = &root {
            for c in covers.iter().chain(patches.iter()) {
                if c.mail.sender != *sender {
                    diagnostics.push(Diagnostic::error(
                        &c.origin,
                        format!(
                            "\"{}\" is sent by {}, not by the series' author {root_author} (the thread root): a reroll or replacement by another author is refused",
                            c.mail.raw_subject,
                            if c.mail.sender.is_empty() { "(no sender)" } else { &c.mail.sender }
                        ),
                    ));
                }
            }
        }
    }
    if let Some(&newest) = revisions.iter().next_back() {
        if revisions.len() > 1 {
            let dropped = patches.iter().filter(|c| rev(c) != newest).count()
                + covers.iter().filter(|c| rev(c) != newest).count();
            let older: Vec<String> = revisions
                .iter()
                .filter(|&&v| v != newest)
                .map(|v| format!("v{v}"))
                .collect();
            diagnostics.push(Diagnostic::warning(
                origin,
                format!(
                    "the input holds several revisions of the series; using v{newest} and ignoring {dropped} message(s) of {}",
                    older.join(", ")
                ),
            ));
            // A partial reroll (`[PATCH v3 2/6]` sent alone): the other patches come from the
            // newest older revision that has them, as b4 does.
            let (mut keep, mut older): (Vec<Candidate>, Vec<Candidate>) =
                patches.into_iter().partition(|c| rev(c) == newest);
            let total = keep.iter().find_map(|c| c.subj.number.map(|(_, n)| n));
            if let Some(n) = total {
                older.sort_by_key(|c| std::cmp::Reverse(rev(c)));
                for c in older {
                    let Some((k, cn)) = c.subj.number else {
                        continue;
                    };
                    let have = keep
                        .iter()
                        .any(|x| x.subj.number.map(|(xk, _)| xk) == Some(k));
                    if cn == n && k >= 1 && !have {
                        diagnostics.push(Diagnostic::warning(
                            &c.origin,
                            format!(
                                "partial reroll: patch {k}/{n} is not in v{newest}; taking it from v{}",
                                rev(&c)
                            ),
                        ));
                        keep.push(c);
                    }
                }
            }
            patches = keep;
            covers.retain(|c| rev(c) == newest);
        } else if !covers.is_empty() && covers.iter().all(|c| rev(c) != newest) {
            diagnostics.push(Diagnostic::warning(
                origin,
                format!(
                    "cover letter is for another revision than the patches (v{newest}); ignored"
                ),
            ));
            covers.clear();
        } else {
            covers.retain(|c| rev(c) == newest);
        }
    }

    // Cover letter: the last one wins, like duplicate patches.
    if covers.len() > 1 {
        let all: Vec<&str> = covers.iter().map(|c| c.origin.as_str()).collect();
        diagnostics.push(Diagnostic::warning(
            origin,
            format!(
                "{} cover letters ({}); keeping the last one",
                covers.len(),
                all.join(", ")
            ),
        ));
    }
    let cover_cand = covers.pop();
    let cover_total = cover_cand
        .as_ref()
        .and_then(|c| c.subj.number)
        .map(|(_, n)| n);

    let ordered = order_patches(patches, cover_total, origin, &mut diagnostics);

    // base-commit: cover letter first, then the patches in order; disagreement is worth a warning.
    let mut base_commit: Option<String> = None;
    let bodies = cover_cand
        .iter()
        .chain(ordered.iter())
        .map(|c| (c.mail.body.as_str(), c.origin.as_str()));
    for (body, msg_origin) in bodies {
        if let Some(sha) = find_base_commit(body) {
            match &base_commit {
                None => base_commit = Some(sha),
                Some(b) if *b != sha => diagnostics.push(Diagnostic::warning(
                    msg_origin,
                    format!("base-commit {sha} differs from {b} given earlier; using {b}"),
                )),
                Some(_) => {}
            }
        }
    }

    let cover = cover_cand.map(|c| Cover {
        subject: c.subj.clean,
        raw_subject: c.mail.raw_subject,
        author: c.mail.author,
        body: c.mail.body,
    });
    let mut out_patches = Vec::with_capacity(ordered.len());
    for c in ordered {
        for problem in &c.diff.problems {
            diagnostics.push(Diagnostic::error(&c.origin, problem.clone()));
        }
        out_patches.push(Patch {
            number: c.subj.number,
            subject: c.subj.clean,
            raw_subject: c.mail.raw_subject,
            version: c.subj.version,
            author: c.mail.author,
            date: c.mail.date,
            message_id: c.mail.message_id,
            files: c.diff.files,
            raw: c.raw.to_vec(),
            origin: c.origin,
        });
    }

    if out_patches.len() > MAX_PATCHES {
        return Err(SeriesError::TooManyPatches {
            origin: origin.to_string(),
            count: out_patches.len(),
        });
    }
    Ok(Series {
        cover,
        patches: out_patches,
        base_commit,
        diagnostics,
    })
}

/// Join several parsed inputs in order (e.g. a series mbox followed by a single fix-up patch):
/// later inputs' patches come after earlier ones, the first cover letter and the first
/// base-commit win. Patch numbers are kept as they were in each input.
pub fn concat(parts: Vec<Series>) -> Series {
    let mut out = Series {
        cover: None,
        patches: Vec::new(),
        base_commit: None,
        diagnostics: Vec::new(),
    };
    for part in parts {
        // Name the input by its first patch's origin without the line number.
        let part_origin = part
            .patches
            .first()
            .map(|p| {
                p.origin
                    .rsplit_once(':')
                    .map_or(p.origin.clone(), |(file, _)| file.to_string())
            })
            .unwrap_or_default();
        out.diagnostics.extend(part.diagnostics);
        match (&out.cover, part.cover) {
            (None, c) => out.cover = c,
            (Some(_), Some(c)) => out.diagnostics.push(Diagnostic::warning(
                &part_origin,
                format!("cover letter \"{}\" of a later input ignored", c.subject),
            )),
            (Some(_), None) => {}
        }
        match (&out.base_commit, part.base_commit) {
            (None, b) => out.base_commit = b,
            (Some(a), Some(b)) if *a != b => out.diagnostics.push(Diagnostic::warning(
                &part_origin,
                format!("base-commit {b} differs from {a} of an earlier input; using {a}"),
            )),
            _ => {}
        }
        out.patches.extend(part.patches);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Splitting the input into messages
// ---------------------------------------------------------------------------------------------

/// Byte range of one message in the input, and the 1-based line where it starts.
struct Chunk {
    start: usize,
    end: usize,
    line: usize,
    /// The chunk starts with an mbox `From_` line.
    from_line: bool,
}

/// Is this line an mbox `From_` separator (`From <sender> <date with a time and a year>`)?
///
/// Like `git mailsplit`, demand more than the `From ` prefix: `git format-patch` does not escape
/// commit-message lines that start with "From ", and treating each of them as a separator would
/// cut patches in half.
fn is_from_line(line: &[u8]) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^From \S+ .*\b\d\d?:\d\d(:\d\d)?\b.*\b\d{4}\b").expect("static regex")
    });
    line.starts_with(b"From ") && re.is_match(&String::from_utf8_lossy(line))
}

/// Cut the input at `From_` lines. Anything before the first one (or the whole input when there is
/// none) becomes a chunk of its own unless it is blank: that is the "plain single mail" case.
fn split_messages(bytes: &[u8]) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut pos = 0;
    for (idx, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if is_from_line(line) {
            match chunks.last_mut() {
                Some(prev) => prev.end = pos,
                None if !bytes[..pos].iter().all(u8::is_ascii_whitespace) => chunks.push(Chunk {
                    start: 0,
                    end: pos,
                    line: 1,
                    from_line: false,
                }),
                None => {}
            }
            chunks.push(Chunk {
                start: pos,
                end: bytes.len(),
                line: idx + 1,
                from_line: true,
            });
        }
        pos += line.len();
    }
    if chunks.is_empty() {
        chunks.push(Chunk {
            start: 0,
            end: bytes.len(),
            line: 1,
            from_line: false,
        });
    }
    chunks
}

/// The RFC 5322 message inside one chunk: `From_` line removed and `>From ` quoting undone (by
/// mail-parser's mbox reader).
fn mbox_contents(raw: &[u8]) -> Vec<u8> {
    // The chunk may contain "From " lines that `is_from_line` did not accept as separators;
    // MessageIterator would split on them, so quote them first. It unquotes them again.
    let mut quoted = Vec::with_capacity(raw.len() + 64);
    for (i, line) in raw.split_inclusive(|&b| b == b'\n').enumerate() {
        if i > 0 && line.starts_with(b"From ") {
            quoted.push(b'>');
        }
        quoted.extend_from_slice(line);
    }
    MessageIterator::new(&quoted[..])
        .next()
        .and_then(Result::ok)
        .map(|m| m.unwrap_contents())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reading one mail
// ---------------------------------------------------------------------------------------------

/// What we need from one mail, decoded.
struct MailInfo {
    raw_subject: String,
    author: String,
    /// The header `From:` address, lowercased: who sent the mail (the author may be in the body).
    sender: String,
    date: Option<String>,
    message_id: Option<String>,
    /// All text parts, decoded, LF line endings.
    body: String,
}

/// Does the first line look like a header field (`Name: value`)? mail-parser is deliberately
/// lenient and will "parse" arbitrary text, so this is our test for "is this mail at all".
fn starts_with_header(contents: &[u8]) -> bool {
    let first = contents.split(|&b| b == b'\n').next().unwrap_or_default();
    match first.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => first[..colon].iter().all(|&b| b.is_ascii_graphic()),
        _ => false,
    }
}

fn read_mail(parser: &MessageParser, raw: &[u8], from_line: bool) -> Option<MailInfo> {
    let contents: std::borrow::Cow<[u8]> = if from_line {
        mbox_contents(raw).into()
    } else {
        // A plain mail (no From_ line): tolerate blank lines before the headers.
        let skip: usize = raw
            .split_inclusive(|&b| b == b'\n')
            .take_while(|l| l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::len)
            .sum();
        raw[skip..].into()
    };
    if !starts_with_header(&contents) {
        return None;
    }
    let msg = parser.parse(&contents[..])?;
    if msg.subject().is_none() && msg.from().is_none() {
        return None;
    }

    let raw_subject = msg.subject().map(normalize_ws).unwrap_or_default();
    let mut author = msg
        .from()
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(e)) if !n.trim().is_empty() => format!("{} <{}>", n.trim(), e.trim()),
            (_, Some(e)) => e.trim().to_string(),
            (Some(n), None) => n.trim().to_string(),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    let sender = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut date = msg
        .header_raw(HeaderName::Date)
        .map(normalize_ws)
        .filter(|d| !d.is_empty());
    let message_id = msg.message_id().map(str::to_string);

    // Collect every text part (a patch may come as a text/x-patch attachment after a short note)
    // and binary parts that are recognisably patches.
    let mut body = String::new();
    for part in &msg.parts {
        let text: Option<std::borrow::Cow<str>> = match &part.body {
            PartType::Text(t) => Some(t.as_ref().into()),
            PartType::Binary(b) | PartType::InlineBinary(b) if looks_like_patch_part(part) => {
                Some(String::from_utf8_lossy(b))
            }
            _ => None,
        };
        if let Some(t) = text {
            if !body.is_empty() && !body.ends_with('\n') {
                body.push('\n');
            }
            body.push_str(&t);
        }
    }
    let body = body.replace("\r\n", "\n");

    // In-body "From:" / "Date:" lines at the top override the headers, as `git am` does: they are
    // how git send-email records the real author when someone else sends the patch.
    let (in_from, in_date) = in_body_headers(&body);
    if let Some(f) = in_from {
        author = f;
    }
    if let Some(d) = in_date {
        date = Some(d);
    }

    Some(MailInfo {
        raw_subject,
        author,
        sender,
        date,
        message_id,
        body,
    })
}

fn looks_like_patch_part(part: &mail_parser::MessagePart) -> bool {
    let ctype_hit = part
        .content_type()
        .and_then(|c| c.subtype())
        .is_some_and(|s| s.contains("patch") || s.contains("diff"));
    let name_hit = part
        .attachment_name()
        .is_some_and(|n| n.ends_with(".patch") || n.ends_with(".diff"));
    ctype_hit || name_hit
}

fn in_body_headers(body: &str) -> (Option<String>, Option<String>) {
    let (mut from, mut date) = (None, None);
    for line in body.lines().skip_while(|l| l.trim().is_empty()) {
        if let Some(v) = line.strip_prefix("From:") {
            from = Some(normalize_ws(v)).filter(|v| !v.is_empty());
        } else if let Some(v) = line.strip_prefix("Date:") {
            date = Some(normalize_ws(v)).filter(|v| !v.is_empty());
        } else if line.starts_with("Subject:") {
            // Recognised as part of the in-body header block, but the subject comes from the mail.
        } else {
            break;
        }
    }
    (from, date)
}

/// Collapse runs of whitespace (including folded-header line breaks) to single spaces.
fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn not_mail_detail(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(8192)];
    if head.starts_with(b"\xEF\xBB\xBF") {
        "it starts with a UTF-8 byte order mark (EF BB BF), which git am does not accept: remove it"
            .to_string()
    } else if head.contains(&0)
        || std::str::from_utf8(head).is_err()
            && String::from_utf8_lossy(head).matches('\u{FFFD}').count() > head.len() / 20
    {
        "binary data, not text".to_string()
    } else if !parse_diff(&String::from_utf8_lossy(bytes)).files.is_empty() {
        "a bare diff without mail headers (expected git format-patch output or an mbox)".to_string()
    } else {
        "no mail headers found (expected git format-patch output or an mbox)".to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, PartialEq)]
struct SubjectInfo {
    clean: String,
    number: Option<(u32, u32)>,
    version: Option<u32>,
    is_reply: bool,
    /// A leading tag says PATCH or RFC.
    tagged: bool,
}

/// Split `"Re: [RFC PATCH v3 2/7] [net-next] ceph: foo"` into its parts. All leading `[...]`
/// groups are tags; `k/n`, `vN` (also `PATCHv2`), PATCH and RFC are recognised in any of them,
/// other words (`net-next`, `RESEND`, list names) are ignored.
fn parse_subject(raw: &str) -> SubjectInfo {
    let mut info = SubjectInfo::default();
    let mut rest = raw.trim();
    loop {
        if let Some(r) = strip_reply_prefix(rest) {
            info.is_reply = true;
            rest = r.trim_start();
        } else if let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            for token in inner[..end].split(|c: char| c.is_whitespace() || c == ',') {
                parse_tag_token(token, &mut info);
            }
            rest = inner[end + 1..].trim_start();
        } else {
            break;
        }
    }
    info.clean = rest.trim().to_string();
    info
}

fn strip_reply_prefix(s: &str) -> Option<&str> {
    // "Re:", plus the German/Scandinavian "Aw:"/"Sv:" some mailers send.
    ["re:", "aw:", "sv:"].iter().find_map(|p| {
        s.get(..p.len())
            .filter(|head| head.eq_ignore_ascii_case(p))
            .map(|_| &s[p.len()..])
    })
}

fn parse_tag_token(token: &str, info: &mut SubjectInfo) {
    let lower = token.to_ascii_lowercase();
    if lower.starts_with("patch") || lower == "rfc" {
        info.tagged = true;
    }
    if let Some((k, n)) = token.split_once('/') {
        if let (Ok(k), Ok(n)) = (k.parse::<u32>(), n.parse::<u32>()) {
            info.number.get_or_insert((k, n));
        }
        return;
    }
    let v = lower.strip_prefix("patch").unwrap_or(&lower);
    if let Some(num) = v.strip_prefix('v') {
        if let Ok(num) = num.parse::<u32>() {
            info.version.get_or_insert(num);
        } else if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            // Too large for any counter: out of range, not "no version".
            info.version.get_or_insert(u32::MAX);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordering and numbering checks
// ---------------------------------------------------------------------------------------------

struct Candidate<'a> {
    mail: MailInfo,
    subj: SubjectInfo,
    diff: DiffInfo,
    raw: &'a [u8],
    origin: String,
}

/// Sort numbered patches by k, drop duplicates (the last copy wins) and report gaps, patches
/// beyond the total and totals that disagree. Unnumbered patches keep their input order and go
/// after the numbered ones.
fn order_patches<'a>(
    patches: Vec<Candidate<'a>>,
    cover_total: Option<u32>,
    origin: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Candidate<'a>> {
    let mut by_k: BTreeMap<u32, Vec<Candidate<'a>>> = BTreeMap::new();
    let mut unnumbered = Vec::new();
    for c in patches {
        match c.subj.number {
            Some((k, _)) => by_k.entry(k).or_default().push(c),
            None => unnumbered.push(c),
        }
    }
    if !by_k.is_empty() && !unnumbered.is_empty() {
        diags.push(Diagnostic::warning(
            origin,
            format!(
                "{} unnumbered patch(es) mixed with numbered ones; applying them after the numbered ones",
                unnumbered.len()
            ),
        ));
    }

    let mut kept = Vec::with_capacity(by_k.len() + unnumbered.len());
    for (k, mut copies) in by_k {
        let Some(last) = copies.pop() else { continue };
        if !copies.is_empty() {
            let n = last.subj.number.map_or(0, |(_, n)| n);
            let all: Vec<&str> = copies
                .iter()
                .map(|c| c.origin.as_str())
                .chain([last.origin.as_str()])
                .collect();
            diags.push(Diagnostic::warning(
                &last.origin,
                format!(
                    "patch {k}/{n} appears {} times ({}); keeping the last one",
                    copies.len() + 1,
                    all.join(", ")
                ),
            ));
        }
        kept.push(last);
    }

    // The series total: the cover letter's, else the most common one among patches.
    let mut totals: BTreeMap<u32, usize> = BTreeMap::new();
    for c in &kept {
        if let Some((_, n)) = c.subj.number {
            *totals.entry(n).or_default() += 1;
        }
    }
    let total = cover_total.or_else(|| {
        totals
            .iter()
            .max_by_key(|&(n, count)| (*count, *n))
            .map(|(n, _)| *n)
    });
    if let Some(total) = total {
        let mut seen: BTreeSet<u32> = totals.keys().copied().collect();
        if let Some(t) = cover_total {
            seen.insert(t);
        }
        if seen.len() > 1 {
            let odd: Vec<String> = kept
                .iter()
                .filter_map(|c| c.subj.number)
                .filter(|&(_, n)| n != total)
                .map(|(k, n)| format!("{k}/{n}"))
                .collect();
            diags.push(Diagnostic::warning(
                origin,
                format!(
                    "patch totals disagree ({} vs. {total}); assuming {total} patches",
                    odd.join(", ")
                ),
            ));
        }
        for c in &kept {
            if let Some((k, n)) = c.subj.number {
                if k > total {
                    diags.push(Diagnostic::warning(
                        &c.origin,
                        format!("patch {k}/{n} is numbered beyond the series total of {total}"),
                    ));
                }
            }
        }
        report_missing(&kept, total, origin, diags);
    }

    kept.extend(unnumbered);
    kept
}

/// Warn about each k in 1..=total that has no patch. Works on the gaps between present numbers so a
/// hostile total such as 1/4000000000 costs nothing, and stops listing after a few.
fn report_missing(kept: &[Candidate], total: u32, origin: &str, diags: &mut Vec<Diagnostic>) {
    const LISTED: u64 = 10;
    let present: BTreeSet<u32> = kept
        .iter()
        .filter_map(|c| c.subj.number)
        .map(|(k, _)| k)
        .collect();
    let mut missing_total: u64 = 0;
    let mut next: u64 = 1;
    let bounds = present
        .iter()
        .map(|&k| u64::from(k))
        .filter(|&k| k >= 1 && k <= u64::from(total));
    for upto in bounds.chain([u64::from(total) + 1]) {
        for k in next..upto {
            if missing_total < LISTED {
                // Testing what is left would test another series than the one posted.
                diags.push(Diagnostic::error(
                    origin,
                    format!("patch {k}/{total} is missing"),
                ));
            }
            missing_total += 1;
            if missing_total >= LISTED {
                // Count the rest of this gap arithmetically.
                missing_total += upto - k - 1;
                break;
            }
        }
        next = upto + 1;
    }
    if missing_total > LISTED {
        diags.push(Diagnostic::error(
            origin,
            format!(
                "{} more patches of {total} are missing",
                missing_total - LISTED
            ),
        ));
    }
}

fn find_base_commit(body: &str) -> Option<String> {
    body.lines().find_map(|line| {
        let sha = line.strip_prefix("base-commit:")?.trim();
        let ok = (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| sha.to_ascii_lowercase())
    })
}

// ---------------------------------------------------------------------------------------------
// Diffs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct DiffInfo {
    files: Vec<FileChange>,
    /// Mangled or truncated hunks, worded for a diagnostic.
    problems: Vec<String>,
}

/// A file being assembled from a diff's header lines and hunks.
#[derive(Default)]
struct FileBuilder {
    a: Option<String>,
    b: Option<String>,
    renamed: bool,
    /// A `120000` (symbolic link) mode line.
    symlink: bool,
    new_file: bool,
    deleted: bool,
    added: usize,
    removed: usize,
}

impl FileBuilder {
    fn finish(self) -> Option<FileChange> {
        let (path, old_path) = if self.deleted {
            (self.a.or(self.b)?, None)
        } else {
            let path = self.b.or_else(|| self.a.clone())?;
            let old = self
                .a
                .filter(|a| !self.new_file && self.renamed && *a != path);
            (path, old)
        };
        Some(FileChange {
            path,
            old_path,
            added: self.added,
            removed: self.removed,
            new_file: self.new_file,
            deleted: self.deleted,
        })
    }
}

/// Find the files of every unified diff in a decoded mail body and count their `+`/`-` lines.
///
/// Hunk lines are counted against the `@@ -a,b +c,d @@` lengths rather than by prefix alone, so
/// the mail signature after the last hunk (`-- ` / `2.31.1`) is not miscounted as a removal.
fn parse_diff(body: &str) -> DiffInfo {
    let lines: Vec<&str> = body.lines().collect();
    let mut info = DiffInfo::default();
    let mut cur: Option<FileBuilder> = None;
    // Between a `diff --git` line and its first hunk: extended header lines belong to `cur`.
    let mut in_header = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("diff --git ") {
            finish(&mut cur, &mut info);
            let (a, b) = split_git_paths(rest);
            cur = Some(FileBuilder {
                a,
                b,
                ..FileBuilder::default()
            });
            in_header = true;
        } else if in_header && cur.is_some() && !line.starts_with("@@ ") {
            if let Some(f) = cur.as_mut() {
                git_header_line(line, f);
            }
        } else if line.starts_with("--- ")
            && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ "))
            && lines.get(i + 2).is_some_and(|l| l.starts_with("@@ "))
        {
            // A plain (non-git) unified diff file.
            finish(&mut cur, &mut info);
            let mut f = FileBuilder::default();
            git_header_line(line, &mut f);
            git_header_line(lines[i + 1], &mut f);
            cur = Some(f);
            i += 1;
        } else if line.starts_with("@@ ") {
            if let Some(f) = cur.as_mut() {
                in_header = false;
                i = count_hunk(&lines, i, f, &mut info.problems);
            }
        }
        i += 1;
    }
    finish(&mut cur, &mut info);
    info
}

/// Why a path in a diff must not be applied: it would write outside the work tree or into git's
/// own files.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.starts_with('/') {
        Some("is absolute")
    } else if path.split('/').any(|c| c == "..") {
        Some("leaves the tree (`..`)")
    } else if path.split('/').any(is_git_component) {
        Some("is a git file or directory (`.git*`, in any case)")
    } else if path.contains('\\') || path.chars().any(|c| c.is_control()) {
        Some("contains a backslash or a control character")
    } else {
        None
    }
}

/// `.git`, `.gitattributes`, `.gitmodules`, `.GIT`, `.git.` ...: what git (or a case- or
/// dot-insensitive file system) would treat as its own, or what changes how git checks out.
fn is_git_component(c: &str) -> bool {
    c.trim_end_matches(['.', ' '])
        .to_ascii_lowercase()
        .starts_with(".git")
}

/// What git itself will apply for one patch, next to what the parser listed: git's `mailinfo`
/// decodes every MIME part, so a diff in a part the parser skipped shows up here.
///
/// `numstat_z` is `git apply --numstat -z` of the patch `mailinfo` extracted (`patch_text`).
/// Returns the first reason to refuse the patch.
pub fn check_git_view(patch: &Patch, numstat_z: &str, patch_text: &str) -> Result<(), String> {
    let mut git_paths = std::collections::BTreeSet::new();
    let mut fields = numstat_z.split('\0');
    while let Some(rec) = fields.next() {
        if rec.is_empty() {
            continue;
        }
        let mut cols = rec.splitn(3, '\t');
        let (_, _, path) = (cols.next(), cols.next(), cols.next().unwrap_or(""));
        if path.is_empty() {
            // A rename or copy: the two paths follow as their own fields.
            for p in [fields.next(), fields.next()].into_iter().flatten() {
                git_paths.insert(p.to_string());
            }
        } else {
            git_paths.insert(path.to_string());
        }
    }
    for line in patch_text.lines() {
        let mode = if let Some(rest) = line.strip_prefix("index ") {
            rest.split_whitespace().nth(1)
        } else {
            [
                "new file mode ",
                "deleted file mode ",
                "new mode ",
                "old mode ",
            ]
            .iter()
            .find_map(|p| line.strip_prefix(p))
        };
        match mode.map(str::trim) {
            Some("120000") => {
                return Err(format!(
                    "git would apply a symbolic link (mode 120000): `{}`",
                    line.trim()
                ))
            }
            Some("160000") => {
                return Err(format!(
                    "git would apply a submodule (gitlink, mode 160000): `{}`",
                    line.trim()
                ))
            }
            _ => {}
        }
    }
    for p in &git_paths {
        if p.contains('\u{fffd}') {
            return Err(format!("git would apply a path that is not UTF-8: {p:?}"));
        }
        if let Some(why) = unsafe_path(p) {
            return Err(format!(
                "git would apply `{}`, which {why}",
                p.escape_debug()
            ));
        }
    }
    let ours: std::collections::BTreeSet<String> = patch
        .files
        .iter()
        .flat_map(|f| std::iter::once(f.path.clone()).chain(f.old_path.clone()))
        .collect();
    if let Some(p) = git_paths.difference(&ours).next() {
        return Err(format!(
            "git would also apply `{}`, which the parser did not see (a diff in another MIME part?)",
            p.escape_debug()
        ));
    }
    if let Some(p) = ours.difference(&git_paths).next() {
        return Err(format!(
            "the parser found a change to `{}` that git would not apply",
            p.escape_debug()
        ));
    }
    Ok(())
}

fn finish(cur: &mut Option<FileBuilder>, info: &mut DiffInfo) {
    if let Some(symlink) = cur.as_ref().filter(|f| f.symlink) {
        let name = symlink
            .b
            .clone()
            .or_else(|| symlink.a.clone())
            .unwrap_or_default();
        info.problems.push(format!(
            "{name}: creates or changes a symbolic link (mode 120000); a kernel series has no business doing that"
        ));
    }
    for p in cur.iter().flat_map(|f| f.a.iter().chain(f.b.iter())) {
        if let Some(why) = unsafe_path(p) {
            info.problems
                .push(format!("path `{p}` {why}; refusing the patch"));
        }
    }
    if let Some(f) = cur.take().and_then(FileBuilder::finish) {
        info.files.push(f);
    }
}

/// Apply one extended git header line (or a `---`/`+++` line) to the file being built.
fn git_header_line(line: &str, f: &mut FileBuilder) {
    if line.ends_with(" 120000") && line.contains("mode ") {
        f.symlink = true;
    }
    if line.starts_with("new file mode") {
        f.new_file = true;
    } else if line.starts_with("deleted file mode") {
        f.deleted = true;
    } else if let Some(p) = line
        .strip_prefix("rename from ")
        .or_else(|| line.strip_prefix("copy from "))
    {
        f.a = Some(unquote(p));
        f.renamed = true;
    } else if let Some(p) = line
        .strip_prefix("rename to ")
        .or_else(|| line.strip_prefix("copy to "))
    {
        f.b = Some(unquote(p));
        f.renamed = true;
    } else if let Some(p) = line.strip_prefix("--- ") {
        match strip_prefix_component(&diff_path(p)) {
            Some(a) => f.a = Some(a),
            None => f.new_file = true,
        }
    } else if let Some(p) = line.strip_prefix("+++ ") {
        match strip_prefix_component(&diff_path(p)) {
            Some(b) => f.b = Some(b),
            None => f.deleted = true,
        }
    }
}

/// Count one hunk starting at `lines[at]` (the `@@` line); returns the index of its last line.
fn count_hunk(lines: &[&str], at: usize, f: &mut FileBuilder, problems: &mut Vec<String>) -> usize {
    let Some((mut old_left, mut new_left)) = lines.get(at).and_then(|l| parse_hunk_header(l))
    else {
        problems.push(format!(
            "malformed hunk header \"{}\"",
            lines.get(at).unwrap_or(&"")
        ));
        return at;
    };
    let name = f.b.clone().or_else(|| f.a.clone()).unwrap_or_default();
    let mut i = at;
    while old_left > 0 || new_left > 0 {
        let Some(line) = lines.get(i + 1) else {
            problems.push(format!("{name}: hunk is truncated (input ends inside it)"));
            break;
        };
        match line.as_bytes().first() {
            Some(b'+') if new_left > 0 => {
                f.added += 1;
                new_left -= 1;
            }
            Some(b'-') if old_left > 0 => {
                f.removed += 1;
                old_left -= 1;
            }
            // An empty line is a context line whose single space a mailer stripped.
            Some(b' ') | None if old_left > 0 && new_left > 0 => {
                old_left -= 1;
                new_left -= 1;
            }
            Some(b'\\') => {} // "\ No newline at end of file"
            _ => {
                problems.push(format!(
                    "{name}: hunk ends early or is mangled (expected {old_left} more old and {new_left} more new lines)"
                ));
                break;
            }
        }
        i += 1;
    }
    i
}

/// `@@ -12,7 +12,6 @@ ...` -> (7, 6). Missing lengths mean 1.
fn parse_hunk_header(line: &str) -> Option<(usize, usize)> {
    crate::diff::HunkHeader::parse(line).map(|h| (h.old_len, h.new_len))
}

/// The path of a `---`/`+++` line: possibly quoted, possibly followed by a tab and a timestamp.
fn diff_path(p: &str) -> String {
    if p.starts_with('"') {
        unquote(p)
    } else {
        p.split('\t').next().unwrap_or(p).trim_end().to_string()
    }
}

/// Drop the `a/`/`b/` (or any single leading) component, as `git am -p1` does; `/dev/null` -> None.
fn strip_prefix_component(p: &str) -> Option<String> {
    if p == "/dev/null" {
        return None;
    }
    Some(p.split_once('/').map_or(p, |(_, rest)| rest).to_string())
}

/// Split the `a/x b/y` of a `diff --git` line. Unquoted paths may contain spaces; git's prefixes
/// (`a/ b/`, or `i/ w/` and friends) have equal length, so an unchanged name splits exactly in the
/// middle. Otherwise split at " b/". The `---`/`+++` and `rename` lines, which are unambiguous,
/// override these guesses later.
fn split_git_paths(rest: &str) -> (Option<String>, Option<String>) {
    if rest.starts_with('"') {
        let (a, tail) = take_quoted(rest);
        let tail = tail.trim_start();
        let b = if tail.starts_with('"') {
            take_quoted(tail).0
        } else {
            tail.to_string()
        };
        return (strip_prefix_component(&a), strip_prefix_component(&b));
    }
    let mid = rest.len() / 2;
    let middle = (rest.as_bytes().get(mid) == Some(&b' '))
        .then_some(mid)
        .filter(|&i| strip_prefix_component(&rest[..i]) == strip_prefix_component(&rest[i + 1..]));
    match middle
        .or_else(|| rest.find(" b/"))
        .or_else(|| rest.find(' '))
    {
        Some(i) => (
            strip_prefix_component(&rest[..i]),
            strip_prefix_component(&rest[i + 1..]),
        ),
        None => (strip_prefix_component(rest), None),
    }
}

fn unquote(s: &str) -> String {
    if s.starts_with('"') {
        take_quoted(s).0
    } else {
        s.to_string()
    }
}

/// Parse a git C-style quoted path at the start of `s`; returns it and the text after it.
fn take_quoted(s: &str) -> (String, &str) {
    let mut bytes = Vec::new();
    let mut iter = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = iter.next() {
        match c {
            '"' => return (String::from_utf8_lossy(&bytes).into_owned(), &s[i + 1..]),
            '\\' => {
                let Some((_, e)) = iter.next() else { break };
                match e {
                    'n' => bytes.push(b'\n'),
                    't' => bytes.push(b'\t'),
                    'a' => bytes.push(7),
                    'b' => bytes.push(8),
                    'f' => bytes.push(12),
                    'r' => bytes.push(b'\r'),
                    'v' => bytes.push(11),
                    '0'..='7' => {
                        // Three octal digits: one raw byte (git quotes non-ASCII bytes this way).
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            if let Some(d) = iter.peek().and_then(|&(_, d)| d.to_digit(8)) {
                                v = v * 8 + d;
                                iter.next();
                            }
                        }
                        bytes.push((v & 0xff) as u8);
                    }
                    other => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            other => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    // Unterminated quote: take everything.
    (String::from_utf8_lossy(&bytes).into_owned(), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_prefixes() {
        let s = parse_subject("[RFC PATCH v3 2/7] ceph: foo");
        assert_eq!(s.clean, "ceph: foo");
        assert_eq!(s.number, Some((2, 7)));
        assert_eq!(s.version, Some(3));
        assert!(s.tagged && !s.is_reply);

        let s = parse_subject("[PATCH net-next 1/3] net: bar");
        assert_eq!(
            (s.clean.as_str(), s.number, s.version),
            ("net: bar", Some((1, 3)), None)
        );

        let s = parse_subject("[PATCH RESEND 1/2] x");
        assert_eq!((s.clean.as_str(), s.number), ("x", Some((1, 2))));

        let s = parse_subject("[ceph-devel] [PATCHv2 04/10] [foo] ceph: [not a tag] baz");
        assert_eq!(s.clean, "ceph: [not a tag] baz");
        assert_eq!((s.number, s.version), (Some((4, 10)), Some(2)));

        let s = parse_subject("Re: [PATCH 2/6] ceph: x");
        assert!(s.is_reply);
        assert_eq!(s.clean, "ceph: x");

        let s = parse_subject("[PATCH] single");
        assert_eq!(
            (s.clean.as_str(), s.number, s.version, s.tagged),
            ("single", None, None, true)
        );

        let s = parse_subject("[PATCH 1/99999999999] overflow");
        assert_eq!(s.number, None);

        let s = parse_subject("[unterminated subject");
        assert_eq!(s.clean, "[unterminated subject");
    }

    #[test]
    fn hunk_headers() {
        assert_eq!(parse_hunk_header("@@ -12,7 +12,6 @@ int f()"), Some((7, 6)));
        assert_eq!(parse_hunk_header("@@ -1 +1 @@"), Some((1, 1)));
        assert_eq!(parse_hunk_header("@@ -0,0 +1,3 @@"), Some((0, 3)));
        assert_eq!(parse_hunk_header("@@ garbage"), None);
    }

    #[test]
    fn diff_counts_ignore_signature() {
        let body = "msg\n---\n f | 2 +-\n\ndiff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n ctx\n-old\n+new\n-- \n2.31.1\n";
        let d = parse_diff(body);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(
            d.files,
            vec![FileChange {
                path: "f".into(),
                old_path: None,
                added: 1,
                removed: 1,
                new_file: false,
                deleted: false
            }]
        );
    }

    #[test]
    fn diff_renames_new_deleted_and_quoted() {
        let body = "\
diff --git a/old name.c b/new name.c
similarity index 90%
rename from old name.c
rename to new name.c
diff --git a/added.c b/added.c
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/added.c
@@ -0,0 +1,2 @@
+a
+b
diff --git a/gone.c b/gone.c
deleted file mode 100644
--- a/gone.c
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git \"a/t\\303\\244b.c\" \"b/t\\303\\244b.c\"
--- \"a/t\\303\\244b.c\"
+++ \"b/t\\303\\244b.c\"
@@ -1 +1 @@
-1
+2
diff --git a/bin.png b/bin.png
new file mode 100644
index 0000000..e69de29
Binary files /dev/null and b/bin.png differ
";
        let d = parse_diff(body);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let fc = |path: &str, old: Option<&str>, added, removed, new_file, deleted| FileChange {
            path: path.into(),
            old_path: old.map(Into::into),
            added,
            removed,
            new_file,
            deleted,
        };
        assert_eq!(
            d.files,
            vec![
                fc("new name.c", Some("old name.c"), 0, 0, false, false),
                fc("added.c", None, 2, 0, true, false),
                fc("gone.c", None, 0, 1, false, true),
                fc("täb.c", None, 1, 1, false, false),
                fc("bin.png", None, 0, 0, true, false),
            ]
        );
    }

    #[test]
    fn truncated_hunk_is_reported() {
        let d = parse_diff("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n");
        assert_eq!(d.files.len(), 1);
        assert_eq!((d.files[0].added, d.files[0].removed), (0, 1));
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].contains("truncated"), "{:?}", d.problems);
    }

    #[test]
    fn plain_unified_diff_and_quoted_review_are_distinguished() {
        let plain = "--- a/x.c\t2021-01-01\n+++ b/x.c\t2021-01-02\n@@ -1 +1,2 @@\n a\n+b\n";
        let d = parse_diff(plain);
        assert_eq!(d.files.len(), 1);
        assert_eq!((d.files[0].path.as_str(), d.files[0].added), ("x.c", 1));
        let quoted = "> diff --git a/x b/x\n> --- a/x\n> +++ b/x\n> @@ -1 +1 @@\n";
        assert!(parse_diff(quoted).files.is_empty());
    }

    #[test]
    fn from_line_detection() {
        assert!(is_from_line(
            b"From 59ee154ef78215ef2ab916eddf9af3155578d4c1 Mon Sep 17 00:00:00 2001\n"
        ));
        assert!(is_from_line(b"From foo@bar  Tue Jul 23 19:39:23 2002\r\n"));
        assert!(!is_from_line(
            b"From the spec we learn that 1:30 is early\n"
        ));
        assert!(!is_from_line(b"From: x\n"));
    }

    #[test]
    fn missing_report_is_bounded() {
        let mut diags = Vec::new();
        report_missing(&[], u32::MAX, "o", &mut diags);
        assert_eq!(diags.len(), 11);
        assert_eq!(diags[0].message, format!("patch 1/{} is missing", u32::MAX));
        assert_eq!(
            diags[10].message,
            format!(
                "{} more patches of {} are missing",
                u64::from(u32::MAX) - 10,
                u32::MAX
            )
        );
    }

    #[test]
    fn base_commit_trailer() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            find_base_commit(&format!("x\n\nbase-commit: {sha}\n-- \n")),
            Some(sha.to_string())
        );
        assert_eq!(find_base_commit("base-commit: nothex\n"), None);
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::*;

    fn mail(subject: &str, from: &str, path: &str) -> String {
        format!(
            "From x Mon Sep 17 00:00:00 2001\nFrom: {from}\nSubject: {subject}\n\nx\n---\ndiff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n\n"
        )
    }

    #[test]
    fn git_components_in_any_spelling_are_refused() {
        for p in [
            ".git/config",
            ".GIT/config",
            ".git./config",
            "a/.Git/hooks/x",
            ".gitattributes",
            "fs/.gitmodules",
            ".git /x",
        ] {
            assert!(unsafe_path(p).is_some(), "{p}");
        }
        for p in ["fs/ceph/git.c", "fs/ceph/a.git", "fs/ceph/x.gitx"] {
            assert!(unsafe_path(p).is_none(), "{p}");
        }
    }

    #[test]
    fn git_view_disagreements_are_refused() {
        let s = parse_mbox(mail("[PATCH] x", "A <a@x>", "fs/ceph/a.c").as_bytes(), "m").unwrap();
        let p = &s.patches[0];
        let text = "diff --git a/fs/ceph/a.c b/fs/ceph/a.c\n--- a/fs/ceph/a.c\n+++ b/fs/ceph/a.c\n";
        assert_eq!(check_git_view(p, "1\t1\tfs/ceph/a.c\0", text), Ok(()));
        let e = check_git_view(p, "1\t1\tfs/ceph/a.c\x001\t0\tkernel/hidden.c\0", text);
        assert!(e.unwrap_err().contains("kernel/hidden.c"));
        let e = check_git_view(p, "", text).unwrap_err();
        assert!(e.contains("would not apply"), "{e}");
        let e = check_git_view(
            p,
            "1\t1\tfs/ceph/a.c\0",
            "diff --git a/l b/l\nnew file mode 120000\n",
        )
        .unwrap_err();
        assert!(e.contains("120000"), "{e}");
        let e = check_git_view(p, "1\t1\tfs/ceph/a.c\0", "index 1..2 160000\n").unwrap_err();
        assert!(e.contains("gitlink"), "{e}");
        // A rename in git's -z form names both paths.
        let e = check_git_view(p, "0\t0\t\0fs/ceph/a.c\0.GIT/config\0", text).unwrap_err();
        assert!(e.contains(".GIT/config"), "{e}");
    }

    #[test]
    fn a_reroll_by_another_author_is_an_error_naming_them() {
        let series = [1, 2, 3]
            .iter()
            .map(|k| {
                mail(
                    &format!("[PATCH {k}/3] p{k}"),
                    "Alice <alice@x>",
                    "fs/ceph/a.c",
                )
            })
            .collect::<String>();
        let evil = format!(
            "{series}{}",
            mail("[PATCH v2 2/3] mine", "Mallory <m@evil>", "fs/ceph/a.c")
        );
        let s = parse_mbox(evil.as_bytes(), "t").unwrap();
        let e: Vec<_> = s
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(e.len(), 1, "{:?}", s.diagnostics);
        assert!(e[0].message.contains("m@evil") && e[0].message.contains("Alice"));
        // The same author's partial reroll is fine.
        let own = format!(
            "{series}{}",
            mail("[PATCH v2 2/3] better", "Alice <ALICE@x>", "fs/ceph/a.c")
        );
        let s = parse_mbox(own.as_bytes(), "t").unwrap();
        assert!(!s.has_errors(), "{:?}", s.diagnostics);
        assert_eq!(s.patches[1].subject, "better");
        // A format-patch series of several authors (no reroll, no duplicate) is fine.
        let multi = format!(
            "{}{}",
            mail("[PATCH 1/2] a", "A <a@x>", "fs/ceph/a.c"),
            mail("[PATCH 2/2] b", "B <b@x>", "fs/ceph/a.c")
        );
        assert!(!parse_mbox(multi.as_bytes(), "t").unwrap().has_errors());
        // Version tags are bounded.
        for v in ["v101", "v4294967295", "v99999999999"] {
            let s = parse_mbox(
                mail(&format!("[PATCH {v}] x"), "A <a@x>", "fs/ceph/a.c").as_bytes(),
                "t",
            )
            .unwrap();
            assert!(s.has_errors(), "{v}");
        }
    }

    #[test]
    fn limits_name_themselves() {
        let many: String = (1..=501)
            .map(|k| mail(&format!("[PATCH {k}/501] p"), "A <a@x>", "fs/ceph/a.c"))
            .collect();
        let e = parse_mbox(many.as_bytes(), "m").unwrap_err().to_string();
        assert_eq!(e, "m: 501 patches is over the limit of 500 for a series");
        let e = SeriesError::TooLarge {
            origin: "f".into(),
            bytes: (64 << 20) + 1,
        }
        .to_string();
        assert!(
            e.contains("64.0 MiB (67108865 bytes) is over the 64 MiB limit"),
            "{e}"
        );
        let e = parse_mbox(b"\xef\xbb\xbfdiff --git a/x b/x\n", "b")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("byte order mark") && !e.contains("bare diff"),
            "{e}"
        );
    }
}
