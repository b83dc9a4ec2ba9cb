//! Fetching a patch series thread from a public-inbox archive (lore.kernel.org and its kind) by
//! Message-Id, the way `b4 am` does: `GET {base}/{msgid}/t.mbox.gz`, gunzip, hand the mbox on.
//!
//! This module only downloads. Picking the series out of the thread (skipping replies and review
//! mails, keeping the newest `vN` revision) is [`harness_core::series::parse_mbox`]'s job.

use std::io::Read;
use std::time::Duration;

use flate2::read::MultiGzDecoder;

/// The archive b4 uses by default: every list lore.kernel.org carries.
pub const DEFAULT_BASE: &str = "https://lore.kernel.org/all";

/// Largest download accepted (the gzipped thread as sent), and largest mbox after gunzip.
pub const MAX_BYTES: usize = 64 << 20;

/// Why a thread could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum LoreError {
    #[error("not a message-id or lore URL: {0:?}")]
    BadMsgid(String),
    #[error("message-id not found at {url}")]
    NotFound { url: String },
    #[error("{url} answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("no answer from {url} within {after:?}")]
    Timeout {
        url: String,
        after: Duration,
        source: reqwest::Error,
    },
    #[error("cannot fetch {url}")]
    Http { url: String, source: reqwest::Error },
    #[error("{what} from {url} is larger than {limit} bytes")]
    TooLarge {
        url: String,
        what: &'static str,
        limit: usize,
    },
    #[error("corrupt gzip data from {url}")]
    Gzip { url: String, source: std::io::Error },
    #[error("{url} did not return a thread mbox: {detail}")]
    NotMbox { url: String, detail: String },
}

/// Fetch the whole thread containing `msgid` from the public-inbox archive at `base` (e.g.
/// [`DEFAULT_BASE`]) and return it as mbox bytes (mboxrd, as public-inbox writes it).
///
/// `msgid` may be `<id@host>`, `id@host`, `id:id@host`, `msgid:id@host`, or a lore URL such as
/// `https://lore.kernel.org/ceph-devel/id@host/`. `timeout` bounds connecting and the whole
/// transfer.
pub async fn fetch_thread(
    base: &str,
    msgid: &str,
    timeout: Duration,
) -> Result<Vec<u8>, LoreError> {
    let id = normalize_msgid(msgid)?;
    let url = thread_url(base, &id);

    let client = reqwest::Client::builder()
        .user_agent(concat!("cephfs-harness/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|source| LoreError::Http {
            url: url.clone(),
            source,
        })?;
    let net_err = |source: reqwest::Error| {
        if source.is_timeout() {
            LoreError::Timeout {
                url: url.clone(),
                after: timeout,
                source,
            }
        } else {
            LoreError::Http {
                url: url.clone(),
                source,
            }
        }
    };

    let mut resp = client.get(&url).send().await.map_err(net_err)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(LoreError::NotFound { url });
    }
    if !status.is_success() {
        return Err(LoreError::Status { url, status });
    }
    let too_large = |what| LoreError::TooLarge {
        url: url.clone(),
        what,
        limit: MAX_BYTES,
    };
    if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
        return Err(too_large("download"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(net_err)? {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(too_large("download"));
        }
        body.extend_from_slice(&chunk);
    }

    let mbox = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut dec = MultiGzDecoder::new(&body[..]).take(MAX_BYTES as u64 + 1);
        dec.read_to_end(&mut out)
            .map_err(|source| LoreError::Gzip {
                url: url.clone(),
                source,
            })?;
        if out.len() > MAX_BYTES {
            return Err(too_large("decompressed mbox"));
        }
        out
    } else {
        body
    };
    if let Some(detail) = not_mbox(&mbox) {
        return Err(LoreError::NotMbox { url, detail });
    }
    Ok(mbox)
}

/// The bare message-id (no angle brackets) from any of the forms [`fetch_thread`] accepts.
pub fn normalize_msgid(input: &str) -> Result<String, LoreError> {
    let bad = || LoreError::BadMsgid(input.to_string());
    let s = input.trim();
    let id = if let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    {
        // Like b4: the first path component that holds an '@' is the (percent-encoded) msgid.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        rest.split('/')
            .skip(1) // the host
            .map(percent_decode)
            .find(|seg| seg.contains('@'))
            .ok_or_else(bad)?
    } else {
        let s = s
            .strip_prefix("msgid:")
            .or_else(|| s.strip_prefix("id:"))
            .unwrap_or(s);
        s.to_string()
    };
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    if id.is_empty()
        || id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(bad());
    }
    Ok(id.to_string())
}

/// `{base}/{msgid}/t.mbox.gz`, the msgid encoded like b4's `quote_plus(msgid, safe='@')`.
pub fn thread_url(base: &str, msgid: &str) -> String {
    format!(
        "{}/{}/t.mbox.gz",
        base.trim_end_matches('/'),
        encode_msgid(msgid)
    )
}

/// Percent-encode everything but `A-Za-z0-9_.-~@` (so `/` becomes `%2F`, `+` `%2B`).
pub fn encode_msgid(msgid: &str) -> String {
    let mut out = String::with_capacity(msgid.len());
    for &b in msgid.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'@') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why `bytes` does not look like an mbox (or a single mail), if it does not.
fn not_mbox(bytes: &[u8]) -> Option<String> {
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Some("empty answer".to_string());
    };
    let head = &bytes[start..bytes.len().min(start + 512)];
    if head.starts_with(b"From ") {
        return None;
    }
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if let Some(colon) = first.iter().position(|&b| b == b':') {
        if colon > 0 && first[..colon].iter().all(|b| b.is_ascii_graphic()) {
            return None; // a single mail without a From_ line
        }
    }
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    Some(
        if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
            "got an HTML page".to_string()
        } else if head.contains(&0) {
            "got binary data".to_string()
        } else {
            let line: String = String::from_utf8_lossy(first).chars().take(80).collect();
            format!("got text starting {line:?}")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgid_forms() {
        let id = "20210615145730.21952-1-jlayton@kernel.org";
        for input in [
            id.to_string(),
            format!("<{id}>"),
            format!("  <{id}>\n"),
            format!("id:{id}"),
            format!("msgid:<{id}>"),
            format!("https://lore.kernel.org/ceph-devel/{id}/"),
            format!("https://lore.kernel.org/all/{id}/T/#u"),
            format!("http://lore.kernel.org/r/{id}"),
        ] {
            assert_eq!(normalize_msgid(&input).unwrap(), id, "{input:?}");
        }
        assert_eq!(
            normalize_msgid("https://lore.kernel.org/all/a%2Fb@x/t.mbox.gz").unwrap(),
            "a/b@x"
        );
        for bad in ["", "<>", "a b@c", "https://lore.kernel.org/all/"] {
            assert!(normalize_msgid(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encoding_matches_quote_plus() {
        assert_eq!(encode_msgid("a/b+c=d@x.y-z_~"), "a%2Fb%2Bc%3Dd@x.y-z_~");
        assert_eq!(
            thread_url("https://lore.kernel.org/all/", "a/b@c"),
            "https://lore.kernel.org/all/a%2Fb@c/t.mbox.gz"
        );
        assert_eq!(percent_decode("a%2fb%zz%4%"), "a/b%zz%4%");
    }

    #[test]
    fn mbox_sniffing() {
        assert_eq!(not_mbox(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"), None);
        assert_eq!(not_mbox(b"\nReturn-Path: <x@y>\n"), None);
        assert!(not_mbox(b"<!DOCTYPE html><html>").unwrap().contains("HTML"));
        assert_eq!(not_mbox(b" \n").as_deref(), Some("empty answer"));
        assert!(not_mbox(b"hello world").unwrap().contains("hello world"));
    }
}
