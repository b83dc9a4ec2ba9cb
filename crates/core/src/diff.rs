//! Unified diff pieces shared by the series parser and the coverage probes.

/// A hunk's `@@ -a,b +c,d @@` header: where it starts and how many lines it spans on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HunkHeader {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
}

impl HunkHeader {
    /// `@@ -12,7 +12,6 @@ ...`; a missing length means 1. None for anything else.
    pub fn parse(line: &str) -> Option<HunkHeader> {
        let rest = line.strip_prefix("@@ -")?;
        let (old, rest) = rest.split_once(' ')?;
        let new = rest.strip_prefix('+')?.split(' ').next()?;
        let range = |r: &str| -> Option<(usize, usize)> {
            match r.split_once(',') {
                Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
                None => Some((r.parse().ok()?, 1)),
            }
        };
        let (old_start, old_len) = range(old)?;
        let (new_start, new_len) = range(new)?;
        Some(HunkHeader {
            old_start,
            old_len,
            new_start,
            new_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers() {
        let h = HunkHeader::parse("@@ -12,7 +13,6 @@ int f()").unwrap();
        assert_eq!(
            (h.old_start, h.old_len, h.new_start, h.new_len),
            (12, 7, 13, 6)
        );
        let h = HunkHeader::parse("@@ -1 +1 @@").unwrap();
        assert_eq!((h.old_len, h.new_len), (1, 1));
        let h = HunkHeader::parse("@@ -0,0 +1,3 @@").unwrap();
        assert_eq!(
            (h.old_start, h.old_len, h.new_start, h.new_len),
            (0, 0, 1, 3)
        );
        assert_eq!(HunkHeader::parse("@@ garbage"), None);
        assert_eq!(HunkHeader::parse("@@ -x,1 +1 @@"), None);
    }
}
