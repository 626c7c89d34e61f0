//! Checks that an executable is for the platform its image claims: ELF class, byte order and
//! machine (or PE machine for Windows, the wasm magic for wasip1). Also reads an ELF's
//! interpreter (`PT_INTERP`), which tells a static binary from a dynamically linked one, and its
//! dynamic section ([`dynamic`]): the shared libraries it needs (`DT_NEEDED`) and where it asks
//! the loader to look for them (`DT_RUNPATH`, `DT_RPATH`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::image::platform::Platform;

/// What an executable's headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryFormat {
    /// An ELF executable (Linux).
    Elf {
        /// 32 or 64.
        bits: u8,
        /// Little-endian (else big-endian).
        little_endian: bool,
        /// `e_machine`.
        machine: u16,
        /// The dynamic loader it asks for; `None` for a static binary.
        interpreter: Option<String>,
    },
    /// A PE executable (Windows).
    Pe {
        /// The COFF machine.
        machine: u16,
    },
    /// A WebAssembly module.
    Wasm,
}

/// `(bits, little_endian, e_machine)` expected for each Linux architecture.
fn expected_elf(arch: &str) -> Option<(u8, bool, u16)> {
    Some(match arch {
        "amd64" => (64, true, 62),
        "arm64" => (64, true, 183),
        "arm" => (32, true, 40),
        "386" => (32, true, 3),
        "ppc64le" => (64, true, 21),
        "s390x" => (64, false, 22),
        "riscv64" => (64, true, 243),
        "mips64le" => (64, true, 8),
        "loong64" => (64, true, 258),
        _ => return None,
    })
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        3 => "x86 (386)",
        8 => "MIPS",
        21 => "PowerPC64",
        22 => "s390",
        40 => "ARM",
        62 => "x86-64 (amd64)",
        183 => "AArch64 (arm64)",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => "another machine",
    }
}

/// Reads the headers of the executable at `path`.
pub fn inspect(path: &Path) -> Result<BinaryFormat> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 64];
    let n = read_up_to(&mut f, &mut head)?;
    let head = &head[..n];
    if head.starts_with(b"\0asm") {
        return Ok(BinaryFormat::Wasm);
    }
    if head.starts_with(b"MZ") && head.len() >= 0x40 {
        let pe_off = u32::from_le_bytes([head[0x3c], head[0x3d], head[0x3e], head[0x3f]]) as u64;
        let mut pe = [0u8; 6];
        f.seek(SeekFrom::Start(pe_off))?;
        if read_up_to(&mut f, &mut pe)? == 6 && &pe[..4] == b"PE\0\0" {
            return Ok(BinaryFormat::Pe {
                machine: u16::from_le_bytes([pe[4], pe[5]]),
            });
        }
    }
    if !head.starts_with(b"\x7fELF") || head.len() < 52 {
        bail!(
            "{} is not an executable this tool knows (no ELF, PE or wasm header)",
            path.display()
        );
    }
    let bits = match head[4] {
        1 => 32,
        2 => 64,
        c => bail!("{}: unknown ELF class {c}", path.display()),
    };
    let le = head[5] == 1;
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let machine = u16_at(head, 18);
    let (phoff, phentsize, phnum) = if bits == 64 {
        (
            u64_at(head, 32),
            u16_at(head, 54) as u64,
            u16_at(head, 56) as u64,
        )
    } else {
        (
            u32_at(head, 28) as u64,
            u16_at(head, 42) as u64,
            u16_at(head, 44) as u64,
        )
    };
    let mut interpreter = None;
    // Bounded: at most 256 program headers are read.
    for i in 0..phnum.min(256) {
        let mut ph = [0u8; 56];
        f.seek(SeekFrom::Start(phoff + i * phentsize))?;
        let len = if bits == 64 { 56 } else { 32 };
        if read_up_to(&mut f, &mut ph[..len])? < len {
            break;
        }
        const PT_INTERP: u32 = 3;
        if u32_at(&ph, 0) != PT_INTERP {
            continue;
        }
        let (off, size) = if bits == 64 {
            (u64_at(&ph, 8), u64_at(&ph, 32))
        } else {
            (u32_at(&ph, 4) as u64, u32_at(&ph, 16) as u64)
        };
        let mut buf = vec![0u8; size.min(4096) as usize];
        f.seek(SeekFrom::Start(off))?;
        let n = read_up_to(&mut f, &mut buf)?;
        let s = String::from_utf8_lossy(&buf[..n]);
        interpreter = Some(s.trim_end_matches('\0').to_string());
        break;
    }
    Ok(BinaryFormat::Elf {
        bits,
        little_endian: le,
        machine,
        interpreter,
    })
}

/// What a dynamically linked ELF asks of the loader, from its `PT_DYNAMIC` segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED`: the shared libraries it needs, in order (`libc.so.6`).
    pub needed: Vec<String>,
    /// `DT_RUNPATH`, split at `:` (`$ORIGIN` left as written).
    pub runpath: Vec<String>,
    /// `DT_RPATH`, split at `:` (the loader ignores it when `DT_RUNPATH` is present).
    pub rpath: Vec<String>,
    /// `.gnu.version_r` (`DT_VERNEED`): the symbol versions it needs, as `(library, version)`
    /// (`("libc.so.6", "GLIBC_2.34")`), in file order.
    pub versions_needed: Vec<(String, String)>,
    /// `.gnu.version_d` (`DT_VERDEF`): the symbol versions a library defines (`GLIBC_2.31`), its
    /// own base entry (the soname) left out.
    pub versions_defined: Vec<String>,
}

/// Reads the dynamic section of the ELF at `path`; an ELF without one (static) gives an empty
/// [`Dynamic`].
pub fn dynamic(path: &Path) -> Result<Dynamic> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_dynamic(&mut f)
        .with_context(|| format!("reading the dynamic section of {}", path.display()))
}

/// The most program headers read; real executables have about a dozen.
const MAX_PHDRS: u64 = 4096;
/// The largest dynamic segment read; real ones are a few hundred bytes.
const MAX_DYNAMIC: u64 = 1 << 20;
/// The longest string read from the string table (a library name or a search path list).
const MAX_STRING: u64 = 4096;
/// The most version entries (needed libraries, or versions of one of them) walked.
const MAX_VERSIONS: u64 = 4096;

/// [`dynamic`] on any seekable reader: every read is bounded, and malformed input (truncated,
/// offsets out of range, a string table outside every `PT_LOAD`) is an error, never a panic.
pub fn read_dynamic<R: Read + Seek>(r: &mut R) -> Result<Dynamic> {
    let mut head = [0u8; 64];
    let n = read_exact_up_to(r, 0, &mut head)?;
    if n < 16 || &head[..4] != b"\x7fELF" {
        bail!("not an ELF file");
    }
    let bits64 = match head[4] {
        1 => false,
        2 => true,
        c => bail!("unknown ELF class {c}"),
    };
    let le = match head[5] {
        1 => true,
        2 => false,
        d => bail!("unknown ELF byte order {d}"),
    };
    if n < if bits64 { 64 } else { 52 } {
        bail!("truncated ELF header");
    }
    let rd = Fields { le };
    let (phoff, phentsize, phnum) = if bits64 {
        (
            rd.u64(&head, 32),
            rd.u16(&head, 54) as u64,
            rd.u16(&head, 56) as u64,
        )
    } else {
        (
            rd.u32(&head, 28) as u64,
            rd.u16(&head, 42) as u64,
            rd.u16(&head, 44) as u64,
        )
    };
    let ph_len: usize = if bits64 { 56 } else { 32 };
    if phnum > MAX_PHDRS {
        bail!("{phnum} program headers, more than the {MAX_PHDRS} this reads");
    }
    if phnum > 0 && phentsize < ph_len as u64 {
        bail!("program header entries of {phentsize} bytes, fewer than {ph_len}");
    }
    // (vaddr, offset, filesz) of each PT_LOAD; (offset, filesz) of PT_DYNAMIC.
    let mut loads = Vec::new();
    let mut dyn_seg = None;
    for i in 0..phnum {
        let at = i
            .checked_mul(phentsize)
            .and_then(|o| o.checked_add(phoff))
            .ok_or_else(|| anyhow::anyhow!("program header offset overflows"))?;
        let mut ph = [0u8; 56];
        if read_exact_up_to(r, at, &mut ph[..ph_len])? < ph_len {
            bail!("truncated program header {i}");
        }
        const PT_LOAD: u32 = 1;
        const PT_DYNAMIC: u32 = 2;
        let kind = rd.u32(&ph, 0);
        let (offset, vaddr, filesz) = if bits64 {
            (rd.u64(&ph, 8), rd.u64(&ph, 16), rd.u64(&ph, 32))
        } else {
            (
                rd.u32(&ph, 4) as u64,
                rd.u32(&ph, 8) as u64,
                rd.u32(&ph, 16) as u64,
            )
        };
        match kind {
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            PT_DYNAMIC if dyn_seg.is_none() => dyn_seg = Some((offset, filesz)),
            _ => {}
        }
    }
    let Some((dyn_off, dyn_size)) = dyn_seg else {
        return Ok(Dynamic::default());
    };
    if dyn_size > MAX_DYNAMIC {
        bail!("a dynamic segment of {dyn_size} bytes, more than the {MAX_DYNAMIC} this reads");
    }
    let mut table = vec![0u8; dyn_size as usize];
    let got = read_exact_up_to(r, dyn_off, &mut table)?;
    if got < table.len() {
        bail!("the dynamic segment ends past the end of the file");
    }
    let ent = if bits64 { 16 } else { 8 };
    const DT_NULL: u64 = 0;
    const DT_NEEDED: u64 = 1;
    const DT_STRTAB: u64 = 5;
    const DT_STRSZ: u64 = 10;
    const DT_RPATH: u64 = 15;
    const DT_RUNPATH: u64 = 29;
    const DT_VERDEF: u64 = 0x6fff_fffc;
    const DT_VERDEFNUM: u64 = 0x6fff_fffd;
    const DT_VERNEED: u64 = 0x6fff_fffe;
    const DT_VERNEEDNUM: u64 = 0x6fff_ffff;
    let (mut verdef, mut verdefnum, mut verneed, mut verneednum) = (None, 0, None, 0);
    let (mut strtab, mut strsz) = (None, None);
    let (mut needed, mut runpath, mut rpath) = (Vec::new(), Vec::new(), Vec::new());
    for e in table.chunks_exact(ent) {
        let (tag, val) = if bits64 {
            (rd.u64(e, 0), rd.u64(e, 8))
        } else {
            (rd.u32(e, 0) as u64, rd.u32(e, 4) as u64)
        };
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(val),
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = Some(val),
            DT_RPATH => rpath.push(val),
            DT_RUNPATH => runpath.push(val),
            DT_VERDEF => verdef = Some(val),
            DT_VERDEFNUM => verdefnum = val,
            DT_VERNEED => verneed = Some(val),
            DT_VERNEEDNUM => verneednum = val,
            _ => {}
        }
    }
    if needed.is_empty()
        && runpath.is_empty()
        && rpath.is_empty()
        && verdef.is_none()
        && verneed.is_none()
    {
        return Ok(Dynamic::default());
    }
    let strtab = strtab.ok_or_else(|| anyhow::anyhow!("DT_NEEDED without a DT_STRTAB"))?;
    // A virtual address's offset in the file, through the PT_LOAD that holds it.
    let file_offset = |addr: u64, what: &str| {
        loads
            .iter()
            .find(|(vaddr, _, filesz)| addr >= *vaddr && addr - vaddr < *filesz)
            .and_then(|(vaddr, offset, _)| offset.checked_add(addr - vaddr))
            .ok_or_else(|| anyhow::anyhow!("the {what} address {addr:#x} is in no PT_LOAD segment"))
    };
    let str_off = file_offset(strtab, "string table")?;
    let verneed = verneed
        .map(|a| file_offset(a, "version needs"))
        .transpose()?;
    let verdef = verdef
        .map(|a| file_offset(a, "version definitions"))
        .transpose()?;
    let string = |r: &mut R, index: u64| -> Result<String> {
        if strsz.is_some_and(|size| index >= size) {
            bail!("string index {index} is past the string table's end");
        }
        let limit = strsz.map_or(MAX_STRING, |size| (size - index).min(MAX_STRING));
        let at = str_off
            .checked_add(index)
            .ok_or_else(|| anyhow::anyhow!("string offset overflows"))?;
        let mut buf = vec![0u8; limit as usize];
        let n = read_exact_up_to(r, at, &mut buf)?;
        let end = buf[..n]
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| anyhow::anyhow!("string at index {index} has no end"))?;
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    };
    let mut d = Dynamic::default();
    for i in needed {
        d.needed.push(string(r, i)?);
    }
    let split = |s: String| -> Vec<String> { s.split(':').map(str::to_string).collect() };
    for i in runpath {
        d.runpath.extend(split(string(r, i)?));
    }
    for i in rpath {
        d.rpath.extend(split(string(r, i)?));
    }
    // Each walk is bounded by its count (and MAX_VERSIONS) and every read by the file's end.
    let at = |base: u64, add: u64| {
        base.checked_add(add)
            .ok_or_else(|| anyhow::anyhow!("a version entry's offset overflows"))
    };
    if let Some(mut entry) = verneed {
        // Elf_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32;
        // Elf_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
        for _ in 0..verneednum.min(MAX_VERSIONS) {
            let mut vn = [0u8; 16];
            if read_exact_up_to(r, entry, &mut vn)? < 16 {
                bail!("truncated version need entry");
            }
            let file = string(r, rd.u32(&vn, 4) as u64)?;
            let mut aux = at(entry, rd.u32(&vn, 8) as u64)?;
            for _ in 0..(rd.u16(&vn, 2) as u64).min(MAX_VERSIONS) {
                let mut va = [0u8; 16];
                if read_exact_up_to(r, aux, &mut va)? < 16 {
                    bail!("truncated version need aux entry");
                }
                d.versions_needed
                    .push((file.clone(), string(r, rd.u32(&va, 8) as u64)?));
                match rd.u32(&va, 12) {
                    0 => break,
                    next => aux = at(aux, next as u64)?,
                }
            }
            match rd.u32(&vn, 12) {
                0 => break,
                next => entry = at(entry, next as u64)?,
            }
        }
    }
    if let Some(mut entry) = verdef {
        // Elf_Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32,
        // vd_aux u32, vd_next u32; Elf_Verdaux: vda_name u32, vda_next u32.
        const VER_FLG_BASE: u16 = 1;
        for _ in 0..verdefnum.min(MAX_VERSIONS) {
            let mut vd = [0u8; 20];
            if read_exact_up_to(r, entry, &mut vd)? < 20 {
                bail!("truncated version definition");
            }
            if rd.u16(&vd, 2) & VER_FLG_BASE == 0 && rd.u16(&vd, 6) > 0 {
                let mut va = [0u8; 8];
                if read_exact_up_to(r, at(entry, rd.u32(&vd, 12) as u64)?, &mut va)? < 8 {
                    bail!("truncated version definition aux entry");
                }
                d.versions_defined.push(string(r, rd.u32(&va, 0) as u64)?);
            }
            match rd.u32(&vd, 16) {
                0 => break,
                next => entry = at(entry, next as u64)?,
            }
        }
    }
    Ok(d)
}

/// Fixed-width fields in the file's byte order; the caller has checked the lengths.
struct Fields {
    le: bool,
}

impl Fields {
    fn u16(&self, b: &[u8], o: usize) -> u16 {
        let v = [b[o], b[o + 1]];
        if self.le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    }
    fn u32(&self, b: &[u8], o: usize) -> u32 {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if self.le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    }
    fn u64(&self, b: &[u8], o: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if self.le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    }
}

/// Reads into `buf` from offset `at` until it is full or the input ends; returns the count.
fn read_exact_up_to<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> Result<usize> {
    r.seek(SeekFrom::Start(at))?;
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Refuses an executable whose headers do not match `platform`.
pub fn check(path: &Path, platform: &Platform) -> Result<BinaryFormat> {
    let format = inspect(path)?;
    let wrong = |what: String| {
        anyhow::anyhow!(
            "{} is {what}, not a {platform} executable: it cannot run in the {platform} image \
             (is a linker or `build.target` in .cargo/config.toml overriding --target?)",
            path.display()
        )
    };
    match (&format, platform.os.as_str()) {
        (
            BinaryFormat::Elf {
                bits,
                little_endian,
                machine,
                ..
            },
            "linux",
        ) => {
            let Some((want_bits, want_le, want_machine)) = expected_elf(&platform.architecture)
            else {
                bail!("no ELF check is known for {platform}");
            };
            if (*bits, *little_endian, *machine) != (want_bits, want_le, want_machine) {
                return Err(wrong(format!(
                    "a {bits}-bit {} {} ELF",
                    if *little_endian {
                        "little-endian"
                    } else {
                        "big-endian"
                    },
                    machine_name(*machine)
                )));
            }
        }
        (BinaryFormat::Pe { machine }, "windows") => {
            let want = match platform.architecture.as_str() {
                "amd64" => 0x8664,
                "arm64" => 0xaa64,
                _ => 0,
            };
            if *machine != want {
                return Err(wrong(format!("a PE executable for machine {machine:#x}")));
            }
        }
        (BinaryFormat::Wasm, "wasip1") => {}
        (f, _) => return Err(wrong(format!("{f:?}"))),
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(bits: u8, le: bool, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = if bits == 64 { 2 } else { 1 };
        h[5] = if le { 1 } else { 2 };
        let m = if le {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    fn check_bytes(bytes: &[u8], platform: &str) -> Result<BinaryFormat> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, bytes).unwrap();
        check(&p, &platform.parse().unwrap())
    }

    #[test]
    fn matching_headers_pass() {
        for (bits, le, m, p) in [
            (64, true, 62, "linux/amd64"),
            (64, true, 183, "linux/arm64"),
            (32, true, 40, "linux/arm/v7"),
            (32, true, 3, "linux/386"),
            (64, false, 22, "linux/s390x"),
            (64, true, 243, "linux/riscv64"),
        ] {
            check_bytes(&elf(bits, le, m), p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        check_bytes(b"\0asm\x01\0\0\0", "wasip1/wasm").unwrap();
    }

    #[test]
    fn mismatches_are_refused_with_what_was_found() {
        let e = check_bytes(&elf(64, true, 62), "linux/arm64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x86-64") && e.contains("linux/arm64"), "{e}");
        let e = check_bytes(&elf(64, true, 22), "linux/s390x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("little-endian"), "{e}");
        assert!(check_bytes(b"#!/bin/sh\n", "linux/amd64").is_err());
    }

    #[test]
    fn reads_the_interpreter_of_this_test_binary() {
        // The test binary itself is a dynamically linked host executable.
        let me = std::env::current_exe().unwrap();
        if let BinaryFormat::Elf { interpreter, .. } = inspect(&me).unwrap() {
            let i = interpreter.expect("the test binary is dynamic");
            assert!(i.contains("ld-"), "{i}");
        } else {
            panic!("the test binary is not ELF");
        }
    }

    /// A minimal dynamic ELF: header, a PT_LOAD mapping address 0x10000 to offset 0 for the
    /// whole file, a PT_DYNAMIC, the dynamic entries, then the string table.
    fn dyn_elf(bits64: bool, le: bool, strings: &[(u64, &str)]) -> Vec<u8> {
        let (eh, ph, ent) = if bits64 { (64, 56, 16) } else { (52, 32, 8) };
        let mut strtab = vec![0u8];
        let mut dyns: Vec<(u64, u64)> = Vec::new();
        for (tag, s) in strings {
            dyns.push((*tag, strtab.len() as u64));
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
        }
        let dyn_off = eh + 2 * ph;
        let str_off = dyn_off + (dyns.len() + 3) * ent;
        dyns.push((5, 0x10000 + str_off as u64));
        dyns.push((10, strtab.len() as u64));
        dyns.push((0, 0));
        let total = str_off + strtab.len();
        let mut b = vec![0u8; total];
        let put = |b: &mut Vec<u8>, o: usize, v: u64, w: usize| {
            let bytes = if le { v.to_le_bytes() } else { v.to_be_bytes() };
            let bytes = if le { &bytes[..w] } else { &bytes[8 - w..] };
            b[o..o + w].copy_from_slice(bytes);
        };
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = if bits64 { 2 } else { 1 };
        b[5] = if le { 1 } else { 2 };
        if bits64 {
            put(&mut b, 32, eh as u64, 8);
            put(&mut b, 54, ph as u64, 2);
            put(&mut b, 56, 2, 2);
        } else {
            put(&mut b, 28, eh as u64, 4);
            put(&mut b, 42, ph as u64, 2);
            put(&mut b, 44, 2, 2);
        }
        let w = if bits64 { 8 } else { 4 };
        // (type, offset, vaddr, filesz) at the class's field offsets.
        for (i, (kind, off, vaddr, size)) in [
            (1u64, 0u64, 0x10000u64, total as u64),
            (
                2,
                dyn_off as u64,
                0x10000 + dyn_off as u64,
                (dyns.len() * ent) as u64,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let p = eh + i * ph;
            put(&mut b, p, kind, 4);
            if bits64 {
                put(&mut b, p + 8, off, 8);
                put(&mut b, p + 16, vaddr, 8);
                put(&mut b, p + 32, size, 8);
            } else {
                put(&mut b, p + 4, off, 4);
                put(&mut b, p + 8, vaddr, 4);
                put(&mut b, p + 16, size, 4);
            }
        }
        for (i, (tag, val)) in dyns.iter().enumerate() {
            put(&mut b, dyn_off + i * ent, *tag, w);
            put(&mut b, dyn_off + i * ent + w, *val, w);
        }
        b[str_off..].copy_from_slice(&strtab);
        b
    }

    fn read(bytes: &[u8]) -> Result<Dynamic> {
        read_dynamic(&mut std::io::Cursor::new(bytes))
    }

    #[test]
    fn dynamic_section_of_every_class_and_byte_order() {
        for bits64 in [false, true] {
            for le in [false, true] {
                let b = dyn_elf(
                    bits64,
                    le,
                    &[
                        (1, "libz.so.1"),
                        (29, "$ORIGIN/../lib:/opt/x"),
                        (1, "libc.so.6"),
                        (15, "/old"),
                    ],
                );
                let d = read(&b).unwrap_or_else(|e| panic!("{bits64} {le}: {e:#}"));
                assert_eq!(d.needed, ["libz.so.1", "libc.so.6"], "{bits64} {le}");
                assert_eq!(d.runpath, ["$ORIGIN/../lib", "/opt/x"]);
                assert_eq!(d.rpath, ["/old"]);
            }
        }
    }

    #[test]
    fn malformed_dynamic_sections_are_errors_not_panics() {
        let good = dyn_elf(true, true, &[(1, "libz.so.1")]);
        // Every truncation either reads or fails cleanly.
        for n in 0..good.len() {
            let _ = read(&good[..n]);
        }
        assert!(
            read(&good[..good.len() - 2]).is_err(),
            "unterminated string"
        );
        assert!(read(b"not an elf at all").is_err());
        // The string table's address in no PT_LOAD.
        let mut b = good.clone();
        b[64 + 16..64 + 24].copy_from_slice(&0x9000_0000u64.to_le_bytes());
        assert!(read(&b).is_err());
        // Absurd program header counts and sizes.
        let mut b = good.clone();
        b[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(read(&b).is_err());
        let mut b = good.clone();
        b[54..56].copy_from_slice(&4u16.to_le_bytes());
        assert!(read(&b).is_err());
        // A program header table far past the end of the file.
        let mut b = good.clone();
        b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read(&b).is_err());
        // A string index past DT_STRSZ.
        let mut b = good;
        let dyn_off = 64 + 2 * 56;
        b[dyn_off + 8..dyn_off + 16].copy_from_slice(&1000u64.to_le_bytes());
        assert!(read(&b).is_err());
    }

    #[test]
    fn static_elf_has_no_dynamic_needs() {
        let mut b = elf(64, true, 62);
        b[4] = 2;
        assert_eq!(read(&b).unwrap(), Dynamic::default());
    }

    #[test]
    fn real_binaries_name_their_libraries() {
        let ls = dynamic(Path::new("/bin/ls")).unwrap();
        assert!(ls.needed.iter().any(|l| l == "libc.so.6"), "{ls:?}");
        let me = dynamic(&std::env::current_exe().unwrap()).unwrap();
        assert!(me.needed.iter().any(|l| l == "libc.so.6"), "{me:?}");
        // The cross C libraries scripts/test.sh installs: 32-bit little-endian, 64-bit big-endian.
        for (lib, loader) in [
            (
                "/usr/arm-linux-gnueabihf/lib/libc.so.6",
                "ld-linux-armhf.so.3",
            ),
            ("/usr/s390x-linux-gnu/lib/libc.so.6", "ld64.so.1"),
            (
                "/usr/riscv64-linux-gnu/lib/libc.so.6",
                "ld-linux-riscv64-lp64d.so.1",
            ),
        ] {
            let d = dynamic(Path::new(lib)).unwrap();
            assert_eq!(d.needed, [loader], "{lib}");
        }
    }
}
