//! The kernel QEMU boots. A distribution's `vmlinuz` is a bzImage: a small decompressor and the
//! compressed kernel. Under TCG the decompressor's emulated xz or zstd costs seconds on every
//! boot (Debian's 6.1: about 6 s of a 10 s boot to `/init` here; 6.12: about 3 s). So the
//! kernel is decompressed once on the host, with the compressor's own tool, into
//! `$CACHE/kernels/vmlinux-<content key>`, and QEMU boots that ELF through its PVH entry point
//! (`CONFIG_PVH`: the kernel starts as it would after decompression). A kernel without a PVH
//! entry, or one that cannot be unpacked, boots as the bzImage it is.
//!
//! Only the distribution's own kernel is unpacked here (it is trusted, like the rest of the host):
//! a tree-mode kernel is built from the series under test and keeps booting as its bzImage.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proc::{command, Procs};

/// A bzImage's payload compressor, with the host tool that undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Xz,
    Zstd,
    Lzma,
    Bzip2,
    Lz4,
    Lzo,
}

impl Codec {
    fn from_magic(b: &[u8]) -> Option<Codec> {
        let is = |m: &[u8]| b.starts_with(m);
        Some(if is(&[0x1f, 0x8b]) {
            Codec::Gzip
        } else if is(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Codec::Xz
        } else if is(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Codec::Zstd
        } else if is(&[0x5d, 0, 0]) {
            Codec::Lzma
        } else if is(b"BZh") {
            Codec::Bzip2
        } else if is(&[0x02, 0x21, 0x4c, 0x18]) {
            Codec::Lz4
        } else if is(&[0x89, b'L', b'Z', b'O']) {
            Codec::Lzo
        } else {
            return None;
        })
    }

    /// The program and arguments that write the decompressed stdin to stdout.
    fn tool(self) -> &'static [&'static str] {
        match self {
            Codec::Gzip => &["gzip", "-dc"],
            Codec::Xz => &["xz", "-dc"],
            Codec::Zstd => &["zstd", "-dcq"],
            Codec::Lzma => &["xz", "--format=lzma", "-dc"],
            Codec::Bzip2 => &["bzip2", "-dc"],
            Codec::Lz4 => &["lz4", "-dc"],
            Codec::Lzo => &["lzop", "-dc"],
        }
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The compressed kernel inside a bzImage, from its boot protocol header
/// (Documentation/arch/x86/boot.rst: `setup_sects`, `payload_offset`, `payload_length`, protocol
/// 2.08 or later), and how it is compressed. `None` for anything else.
pub fn payload(bz: &[u8]) -> Option<(Codec, &[u8])> {
    if bz.get(0x202..0x206)? != b"HdrS" || le16(bz, 0x206)? < 0x208 {
        return None;
    }
    let setup_sects = match *bz.get(0x1f1)? {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + le32(bz, 0x248)? as usize;
    let data = bz.get(start..start.checked_add(le32(bz, 0x24c)? as usize)?)?;
    Some((Codec::from_magic(data)?, data))
}

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note QEMU looks for to boot an ELF kernel through PVH.
const PHYS32_ENTRY: u32 = 18;

/// The ELF kernel has a PVH entry point (a `Xen` note of type 18), so QEMU can boot it.
pub fn has_pvh_entry(elf: &[u8]) -> bool {
    use object::elf::FileHeader64;
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(h) = FileHeader64::<object::Endianness>::parse(elf) else {
        return false;
    };
    let Ok(endian) = h.endian() else {
        return false;
    };
    let Ok(phdrs) = h.program_headers(endian, elf) else {
        return false;
    };
    phdrs.iter().any(|ph| {
        let Ok(Some(mut notes)) = ph.notes(endian, elf) else {
            return false;
        };
        while let Ok(Some(n)) = notes.next() {
            if n.name() == b"Xen" && n.n_type(endian) == object::elf::NoteType(PHYS32_ENTRY) {
                return true;
            }
        }
        false
    })
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// What QEMU should boot for the distribution kernel `bzimage`: its unpacked ELF (made once,
/// cached by content under `$CACHE/kernels/`) when that has a PVH entry, else `bzimage` itself.
/// Never fails: a kernel that cannot be unpacked boots the slow way, with a warning.
pub async fn bootable(procs: &Procs, cache: &Path, bzimage: &Path) -> PathBuf {
    match unpack(procs, cache, bzimage).await {
        Ok(Some(elf)) => elf,
        Ok(None) => bzimage.to_path_buf(),
        Err(e) => {
            tracing::warn!(kernel = %bzimage.display(), "booting the compressed kernel: {e}");
            bzimage.to_path_buf()
        }
    }
}

async fn unpack(procs: &Procs, cache: &Path, bzimage: &Path) -> Result<Option<PathBuf>, String> {
    let bz = std::fs::read(bzimage).map_err(|e| format!("{}: {e}", bzimage.display()))?;
    let dir = cache.join("kernels");
    let out = dir.join(format!("vmlinux-{:016x}", fnv(&bz)));
    // A kernel without a PVH entry is remembered as such, so it is not unpacked on every run.
    let no_pvh = out.with_extension("no-pvh");
    if out.exists() {
        return Ok(Some(out));
    }
    if no_pvh.exists() {
        return Ok(None);
    }
    let Some((codec, data)) = payload(&bz) else {
        return Err("not a bzImage with a known compressor".into());
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let packed = tmp.path().join("payload");
    let elf = tmp.path().join("vmlinux");
    std::fs::write(&packed, data).map_err(|e| format!("{}: {e}", packed.display()))?;
    let tool = codec.tool();
    let mut cmd = command(tool[0], None);
    cmd.args(&tool[1..]);
    let stdin = std::fs::File::open(&packed).map_err(|e| e.to_string())?;
    let stdout = std::fs::File::create(&elf).map_err(|e| e.to_string())?;
    cmd.stdin(stdin)
        .stdout(stdout)
        .stderr(std::process::Stdio::null());
    let st = procs
        .status("unpack kernel", cmd, Duration::from_secs(300))
        .await
        .map_err(|e| e.to_string())?;
    // Kernels pad the payload; the decompressors say so and exit non-zero after a complete
    // stream (xz: "trailing garbage"), so the output, not the status, is the test.
    let unpacked = std::fs::read(&elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    if !has_pvh_entry(&unpacked) {
        if unpacked.starts_with(b"\x7fELF") {
            std::fs::write(&no_pvh, b"").map_err(|e| format!("{}: {e}", no_pvh.display()))?;
            return Ok(None);
        }
        return Err(format!("{} -dc exited with {st}: no ELF", tool[0]));
    }
    std::fs::rename(&elf, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped buffer: `setup_sects` sectors of setup after the boot sector, the header
    /// fields the parser reads, and `body` at `offset` into the protected-mode part.
    fn bz(setup_sects: u8, offset: u32, body: &[u8]) -> Vec<u8> {
        let pm = (if setup_sects == 0 {
            4
        } else {
            setup_sects as usize
        } + 1)
            * 512;
        let mut b = vec![0u8; pm + offset as usize + body.len() + 64];
        b[0x1f1] = setup_sects;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        b[0x248..0x24c].copy_from_slice(&offset.to_le_bytes());
        b[0x24c..0x250].copy_from_slice(&(body.len() as u32).to_le_bytes());
        b[pm + offset as usize..][..body.len()].copy_from_slice(body);
        b
    }

    #[test]
    fn the_payload_is_found_from_the_boot_header() {
        let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2, 3];
        let b = bz(27, 0x3b1, &xz);
        assert_eq!(payload(&b), Some((Codec::Xz, &xz[..])));
        let zst = [0x28, 0xb5, 0x2f, 0xfd, 9];
        // setup_sects 0 means 4.
        assert_eq!(payload(&bz(0, 16, &zst)), Some((Codec::Zstd, &zst[..])));
    }

    #[test]
    fn anything_else_has_no_payload() {
        assert_eq!(payload(b"\x7fELF"), None);
        let mut old = bz(27, 16, &[0x1f, 0x8b, 8]);
        old[0x206..0x208].copy_from_slice(&0x207u16.to_le_bytes());
        assert_eq!(
            payload(&old),
            None,
            "protocol before 2.08 has no payload fields"
        );
        assert_eq!(payload(&bz(27, 16, b"??????")), None, "unknown compressor");
        let mut cut = bz(27, 16, &[0x1f, 0x8b, 8]);
        cut.truncate(28 * 512 + 17);
        assert_eq!(payload(&cut), None, "payload past the end");
    }

    /// A minimal ELF64 executable with one PT_NOTE segment holding one note.
    fn elf_with_note(name: &[u8], n_type: u32) -> Vec<u8> {
        let mut note = Vec::new();
        let namesz = name.len() as u32 + 1;
        note.extend(namesz.to_le_bytes());
        note.extend(8u32.to_le_bytes());
        note.extend(n_type.to_le_bytes());
        note.extend(name);
        note.push(0);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        note.extend(0x0100_0000u64.to_le_bytes());
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2; // 64-bit
        e[5] = 1; // little endian
        e[6] = 1; // version
        e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        e[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
        e[20..24].copy_from_slice(&1u32.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        e[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        e[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        e[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = &mut e[64..];
        ph[..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes()); // p_filesz
        ph[40..48].copy_from_slice(&(note.len() as u64).to_le_bytes()); // p_memsz
        ph[48..56].copy_from_slice(&4u64.to_le_bytes()); // p_align
        e.extend(note);
        e
    }

    #[test]
    fn only_an_elf_with_a_xen_phys32_note_is_bootable_through_pvh() {
        assert!(has_pvh_entry(&elf_with_note(b"Xen", 18)));
        assert!(
            !has_pvh_entry(&elf_with_note(b"Xen", 17)),
            "another Xen note"
        );
        assert!(!has_pvh_entry(&elf_with_note(b"GNU", 18)), "another owner");
        assert!(!has_pvh_entry(b"not an elf"));
        assert!(!has_pvh_entry(&[]));
    }

    /// Debian's own kernels (installed by scripts/install-deps) have a PVH entry once unpacked.
    #[tokio::test]
    async fn debians_kernels_unpack_to_a_pvh_elf_once() {
        let kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains("/vmlinuz-"))
            .collect();
        assert!(!kernels.is_empty(), "no /boot/vmlinuz-*");
        let cache = tempfile::tempdir().unwrap();
        let procs = Procs::new();
        for k in &kernels {
            let elf = bootable(&procs, cache.path(), k).await;
            assert_ne!(&elf, k, "{} was not unpacked", k.display());
            assert!(has_pvh_entry(&std::fs::read(&elf).unwrap()));
            let again = bootable(&procs, cache.path(), k).await;
            assert_eq!(elf, again, "cached by content");
        }
        let left: Vec<_> = std::fs::read_dir(cache.path().join("kernels"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "temp dirs left: {left:?}");
    }
}
