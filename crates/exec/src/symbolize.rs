//! Symbolising kernel stack traces: `ceph_unlink+0x3b8/0x490 [ceph]` → `fs/ceph/dir.c:1196`, so a
//! finding's excerpt points at a source line, the way `scripts/decode_stacktrace.sh` does it.
//!
//! For each object (a module under test, kept unstripped per prefix, or in tree mode a `vmlinux`
//! with debug info) one `nm` finds the symbols' addresses and one `addr2line -i -f` per section
//! resolves all the frames' addresses. A module is a relocatable object in which every section
//! starts at 0, so its addresses are section-relative: `addr2line -j <section>` is told which
//! section (`.cold` parts live in `.text.unlikely`, whose offsets overlap `.text`'s). Frames of
//! objects we have no file for (the distro vmlinux in the default mode) are left alone.
//!
//! Symbolising is an extra: a missing tool, an object without debug info or a symbol that is not
//! found only leaves the excerpt as it was (logged at debug level), it never fails a run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_core::Finding;
use harness_scan::frames::{self, Frame, FrameKey};

use crate::proc::{Output, Procs};
use crate::ExecError;

/// `nm` of a vmlinux lists ~150k symbols and `addr2line` loads all its DWARF: generous but finite.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Resolves frames against the objects it was given.
pub struct Symbolizer {
    /// The run's process registry: the tools are short, but a Ctrl-C must still reap them.
    procs: Procs,
    /// Module name as the kernel prints it (`ceph`, `libceph`) → unstripped `.ko`.
    modules: HashMap<String, PathBuf>,
    /// For frames without a `[module]` tag; only in tree mode is there one with debug info.
    vmlinux: Option<PathBuf>,
    /// Leading directories cut from source paths (tree root, build dir), longest match first.
    strip_prefixes: Vec<PathBuf>,
}

/// Where the distro's kernel headers live: inlined header code is reported relative to them.
const HEADERS_PREFIX: &str = "/usr/src/linux-headers-";

/// A function symbol of an object, as `nm -f sysv` lists it.
#[derive(Debug, Clone, PartialEq)]
struct Symbol {
    value: u64,
    size: u64,
    section: String,
}

impl Symbolizer {
    async fn run_tool(
        &self,
        name: &str,
        c: crate::sandbox::SandboxCommand,
    ) -> Result<Output, ExecError> {
        self.procs.run(name, c.build()?, TOOL_TIMEOUT).await
    }

    pub fn new(procs: Procs) -> Self {
        Symbolizer {
            procs,
            modules: HashMap::new(),
            vmlinux: None,
            strip_prefixes: Vec::new(),
        }
    }

    /// Resolve frames tagged `[name]` in `ko` (unstripped). Module names are read as the kernel
    /// prints them (`-` → `_`).
    pub fn module(mut self, name: &str, ko: impl Into<PathBuf>) -> Self {
        self.modules.insert(name.replace('-', "_"), ko.into());
        self
    }

    /// Resolve untagged frames in this vmlinux (tree mode: the only one with debug info).
    pub fn vmlinux(mut self, path: impl Into<PathBuf>) -> Self {
        self.vmlinux = Some(path.into());
        self
    }

    /// Report source paths relative to `dir` (the source tree, the build directory); the longest
    /// matching prefix wins.
    pub fn strip_prefix(mut self, dir: impl Into<PathBuf>) -> Self {
        self.strip_prefixes.push(dir.into());
        self.strip_prefixes
            .sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        self
    }

    /// Source locations of all the frames that can be resolved, keyed by [`Frame::key`]. The value
    /// is the innermost `file:line`, followed by the inline chain when the code was inlined.
    pub async fn locate_all(&self, frames: &[Frame]) -> HashMap<FrameKey, String> {
        let mut by_object: BTreeMap<&Path, Vec<&Frame>> = BTreeMap::new();
        for f in frames {
            let object = match &f.module {
                Some(m) => self.modules.get(&m.replace('-', "_")),
                None => self.vmlinux.as_ref(),
            };
            if let Some(object) = object {
                by_object.entry(object).or_default().push(f);
            }
        }
        let mut found = HashMap::new();
        for (object, frames) in by_object {
            found.extend(self.locate_in(object, &frames).await);
        }
        found
    }

    /// Rewrite each finding's excerpt with [`frames::annotate`]; lines that cannot be resolved stay
    /// as they are.
    pub async fn symbolize_findings(&self, findings: &mut [Finding]) {
        let mut seen = HashSet::new();
        let frames: Vec<Frame> = findings
            .iter()
            .flat_map(|f| f.excerpt.lines().filter_map(frames::parse_frame))
            .filter(|f| seen.insert(f.key()))
            .collect();
        let found = self.locate_all(&frames).await;
        if found.is_empty() {
            return;
        }
        for f in findings {
            f.excerpt = frames::annotate(&f.excerpt, |fr| found.get(&fr.key()).cloned());
        }
    }

    async fn locate_in(&self, object: &Path, frames: &[&Frame]) -> HashMap<FrameKey, String> {
        let mut found = HashMap::new();
        let relocatable = match elf_is_relocatable(object) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(object = %object.display(), "not symbolising: {e}");
                return found;
            }
        };
        let names: BTreeSet<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        let symbols = match symbols(&self.procs, object, &names).await {
            Some(s) => s,
            None => return found,
        };
        // addr2line runs per section of a relocatable object; a linked one has absolute addresses.
        let mut by_section: BTreeMap<Option<&str>, BTreeMap<u64, Vec<FrameKey>>> = BTreeMap::new();
        for f in frames {
            let off = f.lookup_offset();
            let candidates = symbols.get(&f.function).map(Vec::as_slice).unwrap_or(&[]);
            // Same-named static functions: take the one the offset fits in.
            let Some(sym) = candidates.iter().find(|s| s.size == 0 || off < s.size) else {
                tracing::debug!(object = %object.display(), function = %f.function, off,
                    "symbol not found (or offset past its end: not the running build?)");
                continue;
            };
            let section = relocatable.then_some(sym.section.as_str());
            by_section
                .entry(section)
                .or_default()
                .entry(sym.value + off)
                .or_default()
                .push(f.key());
        }
        for (section, addrs) in by_section {
            let mut c = tool("addr2line", object);
            c.arg("-e").arg(object).args(["-a", "-i", "-f"]);
            if let Some(s) = section {
                c.args(["-j", s]);
            }
            c.args(addrs.keys().map(|a| format!("{a:#x}")));
            let out = match self.run_tool("addr2line", c).await {
                Ok(out) if out.ok() => out,
                Ok(out) => {
                    tracing::debug!(object = %object.display(), "addr2line: {}", out.message());
                    continue;
                }
                Err(e) => {
                    tracing::debug!(object = %object.display(), "addr2line: {e}");
                    continue;
                }
            };
            for (addr, chain) in parse_addr2line(&out.stdout) {
                let (Some(keys), Some(text)) = (addrs.get(&addr), self.describe(&chain)) else {
                    continue;
                };
                for k in keys {
                    found.insert(k.clone(), text.clone());
                }
            }
        }
        found
    }

    /// `addr2line -i` answers innermost first: `(function, file:line)` of the inlined code, then
    /// each caller's call site. `None` when the innermost location is unknown (no debug info).
    fn describe(&self, chain: &[(String, String)]) -> Option<String> {
        let mut parts = chain
            .iter()
            .map(|(func, loc)| (func, self.clean_location(loc)));
        let (func, loc) = parts.next()?;
        let mut text = loc?;
        if chain.len() > 1 {
            text.push_str(&format!(" in {func}"));
        }
        let outer: Vec<_> = parts.filter_map(|(f, l)| Some((f, l?))).collect();
        for (i, (func, loc)) in outer.iter().enumerate() {
            text.push_str(", inlined from ");
            text.push_str(loc);
            if i + 1 < outer.len() {
                text.push_str(&format!(" in {func}"));
            }
        }
        Some(text)
    }

    /// `/tree/fs/ceph/./dir.c:1196 (discriminator 2)` → `fs/ceph/dir.c:1196`; unknown → `None`.
    fn clean_location(&self, loc: &str) -> Option<String> {
        let loc = loc.split(" (discriminator").next()?.trim();
        let (path, line) = loc.rsplit_once(':')?;
        if path.starts_with("??") || line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let path = normalize(Path::new(path));
        let rel = self
            .strip_prefixes
            .iter()
            .find_map(|p| path.strip_prefix(p).ok())
            .or_else(|| {
                // `/usr/src/linux-headers-6.1.0-56-common/include/...` → `include/...`
                let rest = path.to_str()?.strip_prefix(HEADERS_PREFIX)?;
                Some(Path::new(&rest[rest.find('/')? + 1..]))
            })
            .unwrap_or(&path);
        Some(format!("{}:{line}", rel.display()))
    }
}

/// A binary tool over an object the series' build produced: in the sandbox, the object bound
/// read-only (a crafted ELF meets a parser that cannot reach anything).
fn tool(program: &str, object: &Path) -> crate::sandbox::SandboxCommand {
    let mut c = crate::sandbox::SandboxCommand::new(program);
    c.ro(object);
    c
}

/// The function symbols of `object` named in `names`, from one `nm` run.
async fn symbols(
    procs: &Procs,
    object: &Path,
    names: &BTreeSet<&str>,
) -> Option<HashMap<String, Vec<Symbol>>> {
    let mut c = tool("nm", object);
    c.args(["-f", "sysv", "--defined-only"]).arg(object);
    let run = async {
        crate::sandbox::reach(object)?;
        procs.run("nm", c.build()?, TOOL_TIMEOUT).await
    };
    match run.await {
        Ok(out) if out.ok() => Some(parse_nm_sysv(&out.stdout, names)),
        Ok(out) => {
            tracing::debug!(object = %object.display(), "nm: {}", out.message());
            None
        }
        Err(e) => {
            tracing::debug!(object = %object.display(), "nm: {e}");
            None
        }
    }
}

/// `a/./b/../c` → `a/c`, lexically: DWARF joins the compile directory and relative file names, and
/// an out-of-tree build's paths go through `..`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Is `path` an ELF relocatable object (a `.ko`), rather than a linked image (vmlinux)?
fn elf_is_relocatable(path: &Path) -> Result<bool, String> {
    use std::io::Read;
    let mut header = [0u8; 18];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| e.to_string())?;
    if &header[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let e_type = match header[5] {
        2 => u16::from_be_bytes([header[16], header[17]]),
        _ => u16::from_le_bytes([header[16], header[17]]),
    };
    Ok(e_type == 1) // ET_REL
}

/// Parse `nm -f sysv` (`name|value|class|type|size|line|section`), keeping the text symbols named
/// in `names`.
fn parse_nm_sysv(text: &str, names: &BTreeSet<&str>) -> HashMap<String, Vec<Symbol>> {
    let mut out: HashMap<String, Vec<Symbol>> = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, value, class, kind, size, _, section] = f[..] else {
            continue;
        };
        if !names.contains(name) || !(class.eq_ignore_ascii_case("t") || kind == "FUNC") {
            continue;
        }
        let (Ok(value), size) = (
            u64::from_str_radix(value, 16),
            u64::from_str_radix(size, 16).unwrap_or(0),
        ) else {
            continue;
        };
        out.entry(name.to_string()).or_default().push(Symbol {
            value,
            size,
            section: section.to_string(),
        });
    }
    out
}

/// Parse `addr2line -a -i -f`: an address line (`0x...`), then `function` / `file:line` pairs,
/// innermost first.
fn parse_addr2line(text: &str) -> Vec<(u64, Vec<(String, String)>)> {
    let mut out: Vec<(u64, Vec<(String, String)>)> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(hex) = line.strip_prefix("0x") {
            if let Ok(addr) = u64::from_str_radix(hex.trim(), 16) {
                out.push((addr, Vec::new()));
                continue;
            }
        }
        let (Some((_, chain)), Some(loc)) = (out.last_mut(), lines.next()) else {
            break;
        };
        chain.push((line.to_string(), loc.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbolizer(prefixes: &[&str]) -> Symbolizer {
        prefixes
            .iter()
            .fold(Symbolizer::new(Procs::new()), |s, p| s.strip_prefix(*p))
    }

    #[test]
    fn nm_sysv() {
        let text = "\n\nSymbols from ceph.ko:\n\n\
            Name                  Value           Class        Type         Size             Line  Section\n\n\
            ceph_kill_sb        |0000000000001040|   t  |              FUNC|00000000000000fd|     |.text\n\
            ceph_kill_sb.cold   |0000000000000076|   t  |              FUNC|0000000000000027|     |.text.unlikely\n\
            ceph_unlink         |0000000000008ef0|   t  |              FUNC|000000000000046c|     |.text\n\
            __UNIQUE_ID_x       |0000000000000000|   r  |            OBJECT|0000000000000010|     |.modinfo\n";
        let names = BTreeSet::from(["ceph_kill_sb.cold", "ceph_unlink", "__UNIQUE_ID_x"]);
        let syms = parse_nm_sysv(text, &names);
        assert_eq!(syms.len(), 2);
        assert_eq!(
            syms["ceph_kill_sb.cold"],
            vec![Symbol {
                value: 0x76,
                size: 0x27,
                section: ".text.unlikely".into()
            }]
        );
        assert_eq!(syms["ceph_unlink"][0].value, 0x8ef0);
    }

    #[test]
    fn addr2line_output() {
        let text = "0x0000000000009000\nspin_lock\n\
            /usr/src/linux-headers-6.1.0-56-common/include/linux/spinlock.h:351\n\
            get_caps_for_async_unlink\n/tmp/x/fs/ceph/dir.c:1150\n\
            ceph_unlink\n/tmp/x/fs/ceph/dir.c:1220 (discriminator 2)\n\
            0x00000000000092a8\nceph_unlink\n/tmp/x/fs/ceph/./dir.c:1196\n\
            0x0000000000ffffff\n??\n??:0\n";
        let parsed = parse_addr2line(text);
        assert_eq!(
            parsed
                .iter()
                .map(|(a, c)| (*a, c.len()))
                .collect::<Vec<_>>(),
            vec![(0x9000, 3), (0x92a8, 1), (0xffffff, 1)]
        );
        let s = symbolizer(&["/tmp/x"]);
        assert_eq!(
            s.describe(&parsed[0].1).as_deref(),
            Some(
                "include/linux/spinlock.h:351 in spin_lock, inlined from fs/ceph/dir.c:1150 in \
                 get_caps_for_async_unlink, inlined from fs/ceph/dir.c:1220"
            )
        );
        assert_eq!(
            s.describe(&parsed[1].1).as_deref(),
            Some("fs/ceph/dir.c:1196")
        );
        assert_eq!(s.describe(&parsed[2].1), None);
        assert_eq!(
            s.clean_location("/elsewhere/a.c:7").as_deref(),
            Some("/elsewhere/a.c:7")
        );
        assert_eq!(s.clean_location("/tmp/x/a.c:?"), None);
    }

    #[test]
    fn longest_prefix_wins() {
        let s = symbolizer(&["/t", "/t/fs/ceph"]);
        assert_eq!(
            s.clean_location("/t/fs/ceph/dir.c:1").as_deref(),
            Some("dir.c:1")
        );
        assert_eq!(
            s.clean_location("/t/net/ceph/osd.c:1").as_deref(),
            Some("net/ceph/osd.c:1")
        );
        assert_eq!(
            s.clean_location("/b/../t/./fs/x.c:2 (discriminator 1)")
                .as_deref(),
            Some("fs/x.c:2")
        );
    }
}
