//! Parsing and checking an ELF executable before anything is mapped.
//!
//! Every field comes from a file the guest controls, so each one is
//! checked here, through `object`'s typed views of the ELF structures, and
//! a bad file gets an error that names the fault.

use object::elf::{FileHeader64, ProgramHeader64};
use object::read::elf::ProgramHeader as _;
use object::{pod, LittleEndian as LE};

use crate::stub;

/// Why a file cannot be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// Does not start with the ELF magic.
    #[error("not an ELF executable (no ELF magic)")]
    NotElf,
    /// A `#!` script (interpreters are run by execve from Step 2 on).
    #[error("a #! script, not an ELF executable (scripts as init are not supported yet)")]
    Script,
    /// Ends before a structure it declares.
    #[error("truncated ELF: {0}")]
    Truncated(&'static str),
    /// Not a 64-bit ELF.
    #[error("32-bit ELF (ELFCLASS{0}): umvm runs x86-64 programs only")]
    Class(u8),
    /// Not little-endian.
    #[error("big-endian ELF: umvm runs x86-64 programs only")]
    Endian,
    /// Built for another machine.
    #[error("ELF for machine {name} (e_machine {0}), not x86-64", name = machine_name(*.0))]
    Machine(u16),
    /// Neither ET_EXEC nor ET_DYN.
    #[error("ELF type {0} is not an executable")]
    Type(u16),
    /// PT_INTERP does not hold a usable path.
    #[error("bad interpreter path in PT_INTERP")]
    Interp,
    /// A malformed header or segment.
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

fn machine_name(m: u16) -> &'static str {
    match m {
        object::elf::EM_386 => "i386",
        object::elf::EM_ARM => "ARM",
        object::elf::EM_AARCH64 => "AArch64",
        object::elf::EM_RISCV => "RISC-V",
        object::elf::EM_PPC64 => "PowerPC64",
        object::elf::EM_S390 => "S/390",
        object::elf::EM_MIPS => "MIPS",
        _ => "unknown",
    }
}

impl ElfError {
    /// The errno execve returns for this fault.
    pub fn errno(&self) -> crate::errno::Errno {
        crate::errno::Errno::ENOEXEC
    }
}

/// One PT_LOAD segment, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address (before the load bias).
    pub vaddr: u64,
    /// Bytes in memory.
    pub memsz: u64,
    /// File offset of the bytes that are copied.
    pub offset: u64,
    /// Bytes copied from the file; the rest is zero (bss).
    pub filesz: u64,
    /// PROT_* bits.
    pub prot: i32,
}

/// What the loader needs from an executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// ET_DYN (position independent) rather than ET_EXEC.
    pub pie: bool,
    /// Entry point (before the load bias).
    pub entry: u64,
    /// The PT_LOAD segments in file order.
    pub segments: Vec<Segment>,
    /// Address of the program headers in memory (before the bias), if any
    /// segment maps them.
    pub phdr_vaddr: Option<u64>,
    /// Number of program headers.
    pub phnum: u16,
    /// Whether PT_GNU_STACK asks for an executable stack.
    pub exec_stack: bool,
    /// PT_INTERP: the dynamic loader the program needs, a guest path.
    pub interp: Option<Vec<u8>>,
}

/// Linux refuses program header tables larger than this.
const MAX_PHDRS_SIZE: usize = 65536;
const PAGE: u64 = 4096;

impl ElfInfo {
    /// Parses and validates `data`, the whole file.
    pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
        if data.starts_with(b"#!") {
            return Err(ElfError::Script);
        }
        if !data.starts_with(&object::elf::ELFMAG) {
            return Err(ElfError::NotElf);
        }
        if data.len() < 6 {
            return Err(ElfError::Truncated("the file ends inside the ELF identification"));
        }
        if data[4] != object::elf::ELFCLASS64 {
            return Err(ElfError::Class(if data[4] == object::elf::ELFCLASS32 { 32 } else { data[4] }));
        }
        if data[5] != object::elf::ELFDATA2LSB {
            return Err(ElfError::Endian);
        }
        let (hdr, _) = pod::from_bytes::<FileHeader64<LE>>(data)
            .map_err(|()| ElfError::Truncated("the file ends inside the ELF header"))?;
        let e = LE;
        let machine = hdr.e_machine.get(e);
        if machine != object::elf::EM_X86_64 {
            return Err(ElfError::Machine(machine));
        }
        let pie = match hdr.e_type.get(e) {
            object::elf::ET_EXEC => false,
            object::elf::ET_DYN => true,
            t => return Err(ElfError::Type(t)),
        };
        let phnum = hdr.e_phnum.get(e);
        let phentsize = hdr.e_phentsize.get(e) as usize;
        if phentsize != std::mem::size_of::<ProgramHeader64<LE>>() {
            return Err(ElfError::Malformed(format!("program header size {phentsize}, expected 56")));
        }
        if phnum == 0 {
            return Err(ElfError::Malformed("no program headers".into()));
        }
        if phnum as usize * phentsize > MAX_PHDRS_SIZE {
            return Err(ElfError::Malformed(format!("{phnum} program headers")));
        }
        let phoff = hdr.e_phoff.get(e);
        let phdr_bytes = usize::try_from(phoff)
            .ok()
            .and_then(|off| data.get(off..))
            .ok_or(ElfError::Truncated("program headers start past the end of the file"))?;
        let (phdrs, _) = pod::slice_from_bytes::<ProgramHeader64<LE>>(phdr_bytes, phnum as usize)
            .map_err(|()| ElfError::Truncated("program headers extend past the end of the file"))?;

        let mut info = ElfInfo {
            pie,
            entry: hdr.e_entry.get(e),
            segments: Vec::new(),
            phdr_vaddr: None,
            phnum,
            exec_stack: false,
            interp: None,
        };
        let mut explicit_phdr = None;
        for (i, ph) in phdrs.iter().enumerate() {
            match ph.p_type(e) {
                object::elf::PT_INTERP => {
                    let interp = ph
                        .data(e, data)
                        .map_err(|()| ElfError::Truncated("PT_INTERP extends past the end of the file"))?;
                    // Linux wants a NUL-terminated path and nothing after it.
                    let path = match interp.split_last() {
                        Some((0, path)) if !path.is_empty() && !path.contains(&0) && path.len() < 4096 => path,
                        _ => return Err(ElfError::Interp),
                    };
                    if info.interp.is_some() {
                        return Err(ElfError::Malformed("two PT_INTERP headers".into()));
                    }
                    info.interp = Some(path.to_vec());
                }
                object::elf::PT_LOAD => info.segments.push(Self::segment(i, ph, data.len() as u64)?),
                object::elf::PT_PHDR => explicit_phdr = Some(ph.p_vaddr(e)),
                object::elf::PT_GNU_STACK => info.exec_stack = ph.p_flags(e) & object::elf::PF_X != 0,
                _ => {}
            }
        }
        if info.segments.is_empty() {
            return Err(ElfError::Malformed("no loadable segment".into()));
        }
        let mut sorted = info.segments.clone();
        sorted.sort_by_key(|s| s.vaddr);
        for pair in sorted.windows(2) {
            if pair[0].vaddr + pair[0].memsz > pair[1].vaddr {
                return Err(ElfError::Malformed(format!(
                    "segments at {:#x} and {:#x} overlap",
                    pair[0].vaddr, pair[1].vaddr
                )));
            }
        }
        let lo = sorted[0].vaddr & !(PAGE - 1);
        let hi = sorted.iter().map(|s| s.vaddr + s.memsz).max().unwrap_or(0);
        if pie && hi - lo > stub::USER_TOP / 4 {
            return Err(ElfError::Malformed(format!("{:#x} bytes of segments", hi - lo)));
        }
        if !pie && (lo < stub::end() || hi > stub::USER_TOP) {
            return Err(ElfError::Malformed(format!(
                "segments at {lo:#x}..{hi:#x} lie outside the guest's address space"
            )));
        }
        if !info.segments.iter().any(|s| (s.vaddr..s.vaddr + s.memsz).contains(&info.entry)) {
            return Err(ElfError::Malformed(format!("entry point {:#x} is in no segment", info.entry)));
        }
        // AT_PHDR: PT_PHDR when present, else the segment that maps e_phoff.
        info.phdr_vaddr = explicit_phdr.or_else(|| {
            let size = phnum as u64 * phentsize as u64;
            info.segments
                .iter()
                .find(|s| s.offset <= phoff && phoff + size <= s.offset + s.filesz)
                .map(|s| s.vaddr + (phoff - s.offset))
        });
        Ok(info)
    }

    fn segment(i: usize, ph: &ProgramHeader64<LE>, file_len: u64) -> Result<Segment, ElfError> {
        let e = LE;
        let (vaddr, memsz, offset, filesz) = (ph.p_vaddr(e), ph.p_memsz(e), ph.p_offset(e), ph.p_filesz(e));
        if filesz > memsz {
            return Err(ElfError::Malformed(format!("segment {i}: file size exceeds memory size")));
        }
        let end = offset.checked_add(filesz).ok_or(ElfError::Malformed(format!("segment {i}: bad offset")))?;
        if end > file_len {
            return Err(ElfError::Truncated("a loadable segment extends past the end of the file"));
        }
        if vaddr.checked_add(memsz).is_none_or(|end| end > stub::USER_TOP) {
            return Err(ElfError::Malformed(format!("segment {i}: address {vaddr:#x} out of range")));
        }
        if vaddr % PAGE != offset % PAGE {
            return Err(ElfError::Malformed(format!("segment {i}: address and offset differ modulo the page size")));
        }
        let f = ph.p_flags(e);
        let mut prot = 0;
        if f & object::elf::PF_R != 0 {
            prot |= libc::PROT_READ;
        }
        if f & object::elf::PF_W != 0 {
            prot |= libc::PROT_WRITE;
        }
        if f & object::elf::PF_X != 0 {
            prot |= libc::PROT_EXEC;
        }
        Ok(Segment { vaddr, memsz, offset, filesz, prot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busybox() -> Option<Vec<u8>> {
        std::fs::read("/bin/busybox").ok()
    }

    #[test]
    fn parses_static_busybox() {
        let Some(b) = busybox() else { return };
        let info = ElfInfo::parse(&b).unwrap();
        assert!(!info.segments.is_empty());
        assert!(info.phdr_vaddr.is_some());
    }

    #[test]
    fn rejects_bad_files_by_name() {
        assert_eq!(ElfInfo::parse(b"hello"), Err(ElfError::NotElf));
        assert_eq!(ElfInfo::parse(b"#!/bin/sh\n"), Err(ElfError::Script));
        assert!(matches!(ElfInfo::parse(b"\x7fELF\x02\x01\x01"), Err(ElfError::Truncated(_))));
        let Some(b) = busybox() else { return };
        let mut arm = b.clone();
        arm[18..20].copy_from_slice(&183u16.to_le_bytes());
        assert_eq!(ElfInfo::parse(&arm), Err(ElfError::Machine(183)));
        let mut c32 = b.clone();
        c32[4] = 1;
        assert_eq!(ElfInfo::parse(&c32), Err(ElfError::Class(32)));
        assert!(matches!(ElfInfo::parse(&b[..100]), Err(ElfError::Truncated(_))));
        assert!(matches!(ElfInfo::parse(&b[..b.len() / 2]), Err(ElfError::Truncated(_))));
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap fuzz: every prefix and single-byte corruption of a real
        // header parses or fails, never panics.
        let Some(b) = busybox() else { return };
        let head = &b[..4096.min(b.len())];
        for n in 0..head.len().min(600) {
            let _ = ElfInfo::parse(&head[..n]);
        }
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut m = head.to_vec();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % 400;
            m[i] = (x >> 8) as u8;
            let _ = ElfInfo::parse(&m);
        }
    }
}
