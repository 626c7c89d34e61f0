//! Adds a named data section to a copy of a linked ELF executable, as `objcopy --add-section`
//! does, for the dependency list of [`crate::compile::auditable`]. The section is not loaded
//! (no `SHF_ALLOC`), so the program, its segments and its addresses are untouched: the copy is the
//! original bytes, then the section-name table moved to the end with the new name added, the
//! section's bytes, and a new section-header table that lists the old sections and the new
//! one; the ELF header points at it. Every ELF class and byte order is handled; anything
//! unusual (no section headers, extended numbering) is left alone and said so.
//!
//! Done here, after linking, rather than by wrapping rustc as cargo-auditable does: nothing
//! changes in how cargo, a `RUSTC_WRAPPER` (sccache) or the linker runs, so compile caches and
//! cargo's own freshness are unaffected, and every builder (cargo, zigbuild, cross) gets it.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// What [`add`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// The copy holds the section.
    Written,
    /// The executable already has a section of that name (built with cargo-auditable): left
    /// as it is, nothing written.
    AlreadyThere,
    /// Not an ELF file this can extend (PE, wasm, or an ELF without ordinary section headers),
    /// with why: nothing written.
    Unsupported(String),
}

/// The header fields of one ELF class and byte order.
#[derive(Clone, Copy)]
struct Layout {
    is64: bool,
    le: bool,
}

impl Layout {
    fn get(&self, b: &[u8], at: usize, size: usize) -> Option<u64> {
        let s = b.get(at..at + size)?;
        let mut v = 0u64;
        for i in 0..size {
            let byte = if self.le { s[size - 1 - i] } else { s[i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    }

    fn put(&self, b: &mut [u8], at: usize, size: usize, v: u64) {
        for i in 0..size {
            let shift = 8 * if self.le { i } else { size - 1 - i };
            b[at + i] = (v >> shift) as u8;
        }
    }

    /// The word size of address-sized fields.
    fn word(&self) -> usize {
        if self.is64 {
            8
        } else {
            4
        }
    }

    /// `(e_shoff, e_shentsize, e_shnum, e_shstrndx)` offsets in the ELF header.
    fn header_fields(&self) -> (usize, usize, usize, usize) {
        if self.is64 {
            (0x28, 0x3a, 0x3c, 0x3e)
        } else {
            (0x20, 0x2e, 0x30, 0x32)
        }
    }

    fn entry_size(&self) -> usize {
        if self.is64 {
            64
        } else {
            40
        }
    }

    /// Offsets of `sh_offset` and `sh_size` in a section header.
    fn offset_size_fields(&self) -> (usize, usize) {
        if self.is64 {
            (24, 32)
        } else {
            (16, 20)
        }
    }
}

/// An ELF image's section headers, as read.
struct Sections {
    layout: Layout,
    shoff: usize,
    shnum: usize,
    shstrndx: usize,
    /// `(sh_offset, sh_size)` of the section-name table.
    names: (usize, usize),
}

fn sections(bytes: &[u8]) -> std::result::Result<Sections, String> {
    if bytes.len() < 0x34 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let layout = Layout {
        is64: match bytes[4] {
            1 => false,
            2 => true,
            c => return Err(format!("unknown ELF class {c}")),
        },
        le: match bytes[5] {
            1 => true,
            2 => false,
            d => return Err(format!("unknown ELF byte order {d}")),
        },
    };
    let bad = || "its ELF header is cut short".to_string();
    let (f_off, f_entsize, f_num, f_strndx) = layout.header_fields();
    let shoff = layout.get(bytes, f_off, layout.word()).ok_or_else(bad)?;
    let entsize = layout.get(bytes, f_entsize, 2).ok_or_else(bad)?;
    let shnum = layout.get(bytes, f_num, 2).ok_or_else(bad)?;
    let shstrndx = layout.get(bytes, f_strndx, 2).ok_or_else(bad)?;
    if shoff == 0 || shnum == 0 {
        return Err("it has no section headers".into());
    }
    if shstrndx == 0 || shstrndx >= 0xff00 || shstrndx >= shnum {
        return Err("its section names use extended numbering".into());
    }
    if entsize as usize != layout.entry_size() {
        return Err(format!("its section headers are {entsize} bytes each"));
    }
    let (shoff, shnum, shstrndx) = (shoff as usize, shnum as usize, shstrndx as usize);
    let end = shnum
        .checked_mul(layout.entry_size())
        .and_then(|n| n.checked_add(shoff));
    if end.is_none_or(|e| e > bytes.len()) {
        return Err("its section headers lie past the end of the file".into());
    }
    let (o, s) = layout.offset_size_fields();
    let at = shoff + shstrndx * layout.entry_size();
    let w = layout.word();
    let names = (
        layout.get(bytes, at + o, w).ok_or_else(bad)? as usize,
        layout.get(bytes, at + s, w).ok_or_else(bad)? as usize,
    );
    if names.0.checked_add(names.1).is_none_or(|e| e > bytes.len()) {
        return Err("its section-name table lies past the end of the file".into());
    }
    Ok(Sections {
        layout,
        shoff,
        shnum,
        shstrndx,
        names,
    })
}

/// The contents of the section called `name` in an ELF image, if it has one.
pub fn find<'b>(bytes: &'b [u8], name: &str) -> Option<&'b [u8]> {
    let s = sections(bytes).ok()?;
    let l = s.layout;
    let names = &bytes[s.names.0..s.names.0 + s.names.1];
    let (o, z) = l.offset_size_fields();
    (0..s.shnum).find_map(|i| {
        let at = s.shoff + i * l.entry_size();
        let n = l.get(bytes, at, 4)? as usize;
        let tail = names.get(n..)?;
        let end = tail.iter().position(|&c| c == 0)?;
        if &tail[..end] != name.as_bytes() {
            return None;
        }
        let off = l.get(bytes, at + o, l.word())? as usize;
        let size = l.get(bytes, at + z, l.word())? as usize;
        bytes.get(off..off.checked_add(size)?)
    })
}

/// `bytes` with a section `name` holding `data` added (see the module's comment).
pub fn with_section(bytes: &[u8], name: &str, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let s = sections(bytes)?;
    let l = s.layout;
    let entry = l.entry_size();
    let mut out = Vec::with_capacity(bytes.len() + data.len() + (s.shnum + 1) * entry + 64);
    out.extend_from_slice(bytes);
    // The names, moved to the end with ours added.
    let names_at = out.len();
    out.extend_from_slice(&bytes[s.names.0..s.names.0 + s.names.1]);
    let name_index = s.names.1;
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    let names_size = out.len() - names_at;
    let data_at = out.len();
    out.extend_from_slice(data);
    while out.len() % l.word() != 0 {
        out.push(0);
    }
    // The section headers: the old ones (the name table's now pointing at its new place),
    // then ours.
    let shoff = out.len();
    out.extend_from_slice(&bytes[s.shoff..s.shoff + s.shnum * entry]);
    let (o, z) = l.offset_size_fields();
    let names_header = shoff + s.shstrndx * entry;
    l.put(&mut out, names_header + o, l.word(), names_at as u64);
    l.put(&mut out, names_header + z, l.word(), names_size as u64);
    let ours = out.len();
    out.resize(ours + entry, 0);
    l.put(&mut out, ours, 4, name_index as u64); // sh_name
    l.put(&mut out, ours + 4, 4, 1); // sh_type: SHT_PROGBITS; sh_flags 0: not loaded
    l.put(&mut out, ours + o, l.word(), data_at as u64);
    l.put(&mut out, ours + z, l.word(), data.len() as u64);
    let align_at = if l.is64 { 48 } else { 32 };
    l.put(&mut out, ours + align_at, l.word(), 1);
    let (f_off, _, f_num, _) = l.header_fields();
    l.put(&mut out, f_off, l.word(), shoff as u64);
    l.put(&mut out, f_num, 2, (s.shnum + 1) as u64);
    Ok(out)
}

/// Writes `exe` with a section `name` holding `data` to `dest` (through a temporary file,
/// executable), unless [`Added`] says otherwise.
pub fn add(exe: &Path, name: &str, data: &[u8], dest: &Path) -> Result<Added> {
    // A copy made earlier from the same executable (path, size, mtime) with the same section,
    // and not touched since, is used without reading either file: a no-op run reads nothing
    // and packs nothing again (the layer cache knows the copy by its modification time).
    let stamp_path = stamp_path(dest);
    let stamp = stamp(exe, name, data, dest);
    if stamp.is_some() && std::fs::read_to_string(&stamp_path).ok() == stamp {
        return Ok(Added::Written);
    }
    let bytes = std::fs::read(exe).with_context(|| format!("reading {}", exe.display()))?;
    if find(&bytes, name).is_some() {
        return Ok(Added::AlreadyThere);
    }
    let out = match with_section(&bytes, name, data) {
        Ok(out) => out,
        Err(why) => return Ok(Added::Unsupported(why)),
    };
    if find(&out, name) != Some(data) {
        bail!("adding {name} to {} did not read back", exe.display());
    }
    if !std::fs::read(dest).is_ok_and(|old| old == out) {
        let dir = crate::util::atomic::parent_dir(dest)?;
        let mut f = crate::util::atomic::AtomicFile::stage_in(&dir, "section", Some(0o755))?;
        std::io::Write::write_all(&mut f, &out)
            .with_context(|| format!("writing {}", dest.display()))?;
        f.commit(dest)?;
    }
    // Best effort: without a stamp the next run reads and compares again.
    if let Some(stamp) = self::stamp(exe, name, data, dest) {
        let _ = crate::util::atomic::write(&stamp_path, stamp.as_bytes());
    }
    Ok(Added::Written)
}

/// Where [`add`] notes what a copy was made from: beside it, `<name>.from`.
fn stamp_path(dest: &Path) -> std::path::PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".from");
    dest.with_file_name(name)
}

/// What a copy at `dest` of `exe` with section `name` holding `data` was made from, and the
/// copy's own size and mtime; `None` when either file cannot be read.
fn stamp(exe: &Path, name: &str, data: &[u8], dest: &Path) -> Option<String> {
    let of = |p: &Path| -> Option<String> {
        let m = std::fs::metadata(p).ok()?;
        let t = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(format!("{}|{}", m.len(), t.as_nanos()))
    };
    let sum = crate::util::digest::Digest::of(data);
    Some(format!(
        "{}|{}|{name}|{sum}|{}\n",
        exe.display(),
        of(exe)?,
        of(dest)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF: header, a name table, and the null and name sections' headers.
    fn tiny(is64: bool, le: bool) -> Vec<u8> {
        let l = Layout { is64, le };
        let header = if is64 { 64 } else { 52 };
        let names = b"\0.shstrtab\0.text\0";
        let mut b = vec![0u8; header];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = if is64 { 2 } else { 1 };
        b[5] = if le { 1 } else { 2 };
        b[6] = 1;
        let names_at = b.len();
        b.extend_from_slice(names);
        b.extend_from_slice(b"CODE");
        while b.len() % 8 != 0 {
            b.push(0);
        }
        let shoff = b.len();
        let entry = l.entry_size();
        b.resize(shoff + 3 * entry, 0);
        let (o, z) = l.offset_size_fields();
        // [1] .shstrtab
        l.put(&mut b, shoff + entry, 4, 1);
        l.put(&mut b, shoff + entry + 4, 4, 3);
        l.put(&mut b, shoff + entry + o, l.word(), names_at as u64);
        l.put(&mut b, shoff + entry + z, l.word(), names.len() as u64);
        // [2] .text
        l.put(&mut b, shoff + 2 * entry, 4, 11);
        l.put(
            &mut b,
            shoff + 2 * entry + o,
            l.word(),
            (names_at + names.len()) as u64,
        );
        l.put(&mut b, shoff + 2 * entry + z, l.word(), 4);
        let (f_off, f_ent, f_num, f_str) = l.header_fields();
        l.put(&mut b, f_off, l.word(), shoff as u64);
        l.put(&mut b, f_ent, 2, entry as u64);
        l.put(&mut b, f_num, 2, 3);
        l.put(&mut b, f_str, 2, 1);
        b
    }

    #[test]
    fn every_class_and_byte_order_gets_the_section_and_keeps_the_others() {
        for (is64, le) in [(true, true), (true, false), (false, true), (false, false)] {
            let elf = tiny(is64, le);
            assert_eq!(find(&elf, ".text"), Some(&b"CODE"[..]));
            assert_eq!(find(&elf, ".dep-v0"), None);
            let out = with_section(&elf, ".dep-v0", b"deps").unwrap();
            // Past the ELF header (whose e_shoff and e_shnum change), every byte is kept.
            let header = if is64 { 64 } else { 52 };
            assert_eq!(
                &out[header..elf.len()],
                &elf[header..],
                "the original bytes are kept"
            );
            assert_eq!(&out[..0x18], &elf[..0x18]);
            assert_eq!(find(&out, ".dep-v0"), Some(&b"deps"[..]), "{is64} {le}");
            assert_eq!(find(&out, ".text"), Some(&b"CODE"[..]));
            assert_eq!(
                find(&out, ".shstrtab").map(|n| n.ends_with(b".dep-v0\0")),
                Some(true)
            );
        }
    }

    #[test]
    fn a_real_executable_keeps_running_with_the_section() {
        let dir = tempfile::tempdir().unwrap();
        let true_bin = Path::new("/bin/true");
        let dest = dir.path().join("true");
        assert_eq!(
            add(true_bin, ".dep-v0", b"x", &dest).unwrap(),
            Added::Written
        );
        assert!(std::process::Command::new(&dest)
            .status()
            .unwrap()
            .success());
        let again = dir.path().join("again");
        assert_eq!(
            add(&dest, ".dep-v0", b"y", &again).unwrap(),
            Added::AlreadyThere
        );
        assert!(!again.exists());
    }

    #[test]
    fn what_cannot_be_extended_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let dest = dir.path().join("out");
        assert!(matches!(
            add(&text, ".dep-v0", b"x", &dest).unwrap(),
            Added::Unsupported(_)
        ));
        let mut cut = tiny(true, true);
        cut.truncate(cut.len() - 10);
        assert!(with_section(&cut, ".dep-v0", b"x").is_err());
        assert!(!dest.exists());
    }
}
