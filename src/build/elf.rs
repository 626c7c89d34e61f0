//! Checks that an executable is for the platform its image claims: ELF class, byte order and
//! machine (or PE machine for Windows, the wasm magic for wasip1). Also reads an ELF's
//! interpreter (`PT_INTERP`), which tells a static binary from a dynamically linked one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::image::platform::Platform;

/// What an executable's headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryFormat {
    Elf {
        bits: u8,
        little_endian: bool,
        machine: u16,
        /// The dynamic loader it asks for; `None` for a static binary.
        interpreter: Option<String>,
    },
    Pe {
        machine: u16,
    },
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
}
