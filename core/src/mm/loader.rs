//! The ELF loader: maps an executable, and its dynamic loader if it names
//! one, into a process that has just exec'd the stub, and builds its
//! initial stack (ARCHITECTURE §4).
//!
//! The address space is built with injected host syscalls: one anonymous
//! mapping per segment, one copy of all file bytes (a single
//! process_vm_writev), then the final protections; the stack is its own
//! anonymous mapping. The initial stack is what Linux's `create_elf_tables`
//! builds: argc, argv, envp, the auxiliary vector, and above them the
//! strings, the AT_RANDOM bytes and the platform name.

use super::elf::{ElfInfo, Segment};
use super::mem::GuestMem;
use crate::errno::Errno;
use crate::syscall::names::nr;

const PAGE: u64 = 4096;

/// The size of the main thread's stack (Linux's default RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;

/// Where Linux puts position-independent executables (ELF_ET_DYN_BASE).
const ET_DYN_BASE: u64 = 0x5555_5555_4000;

fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}
fn page_up(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

/// Auxiliary-vector values that describe the host, taken from the stub's
/// own auxv (the host kernel's view of this CPU and this vDSO).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostAux {
    /// AT_SYSINFO_EHDR: the vDSO the host mapped into this process.
    pub sysinfo_ehdr: u64,
    /// AT_HWCAP.
    pub hwcap: u64,
    /// AT_HWCAP2.
    pub hwcap2: u64,
    /// AT_MINSIGSTKSZ.
    pub minsigstksz: u64,
    /// AT_CLKTCK.
    pub clktck: u64,
}

impl HostAux {
    /// Reads the auxv of a process stopped at its first instruction, whose
    /// stack pointer is `sp` (argc, argv..., envp..., auxv...).
    pub fn read(mem: &GuestMem, sp: u64) -> Result<HostAux, Errno> {
        let mut buf = [0u8; 2048];
        let n = mem.read_partial(sp, &mut buf)?;
        let words: Vec<u64> =
            buf[..n - n % 8].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("chunk of 8"))).collect();
        let argc = *words.first().ok_or(Errno::EFAULT)? as usize;
        let mut i = 1 + argc.checked_add(1).ok_or(Errno::EFAULT)?;
        while *words.get(i).ok_or(Errno::EFAULT)? != 0 {
            i += 1;
        }
        i += 1;
        let mut aux = HostAux { clktck: 100, ..Default::default() };
        while let (Some(&k), Some(&v)) = (words.get(i), words.get(i + 1)) {
            match k {
                0 => break,
                libc::AT_SYSINFO_EHDR => aux.sysinfo_ehdr = v,
                libc::AT_HWCAP => aux.hwcap = v,
                libc::AT_HWCAP2 => aux.hwcap2 = v,
                libc::AT_MINSIGSTKSZ => aux.minsigstksz = v,
                libc::AT_CLKTCK => aux.clktck = v,
                _ => {}
            }
            i += 2;
        }
        Ok(aux)
    }
}

/// Credentials reported in the auxv.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuxCreds {
    /// AT_UID.
    pub uid: u32,
    /// AT_EUID.
    pub euid: u32,
    /// AT_GID.
    pub gid: u32,
    /// AT_EGID.
    pub egid: u32,
    /// AT_SECURE.
    pub secure: bool,
}

/// What the program looks like once loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Where execution starts.
    pub entry: u64,
    /// The initial stack pointer (pointing at argc).
    pub sp: u64,
    /// Start of the heap (the initial program break).
    pub brk: u64,
    /// Where things went, as /proc/PID shows them.
    pub layout: Layout,
}

/// The address-space layout an exec produced: what Linux keeps in the
/// mm_struct for /proc/PID/stat, environ, cmdline, auxv and maps.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The lowest address of the program's executable segments.
    pub start_code: u64,
    /// The end of the file bytes of its executable segments.
    pub end_code: u64,
    /// The highest segment start of the program (Linux's start_data).
    pub start_data: u64,
    /// The end of the file bytes of its segments (Linux's end_data).
    pub end_data: u64,
    /// The initial stack pointer: the stack mapping holds it.
    pub start_stack: u64,
    /// Where the argv strings lie on the stack.
    pub arg_start: u64,
    /// The end of the argv strings.
    pub arg_end: u64,
    /// Where the environment strings lie on the stack.
    pub env_start: u64,
    /// The end of the environment strings.
    pub env_end: u64,
    /// The auxiliary vector, AT_NULL included.
    pub auxv: Vec<(u64, u64)>,
    /// The pages of the program and its loader that hold file bytes.
    pub file_pages: Vec<FilePages>,
}

/// A page range that holds the bytes of an image file (the loader copies
/// them into anonymous memory; Linux maps the file there, and its maps
/// show the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilePages {
    /// 0 for the program, 1 for its dynamic loader.
    pub image: usize,
    /// The first page.
    pub lo: u64,
    /// The end of the last page.
    pub hi: u64,
    /// The file offset of the first page.
    pub offset: u64,
}

/// Why loading failed after the address space was touched; the process
/// cannot continue and is killed (as Linux kills a process whose execve
/// fails past the point of no return).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An injected host syscall failed.
    #[error("{what} failed: {errno}")]
    Host {
        /// What the loader was doing.
        what: &'static str,
        /// The host's error.
        errno: Errno,
    },
    /// Arguments and environment exceed the limit.
    #[error("argument list too long")]
    TooBig,
}

impl LoadError {
    /// The errno an execve returns for this failure.
    pub fn errno(&self) -> Errno {
        match self {
            LoadError::Host { errno, .. } => *errno,
            LoadError::TooBig => Errno::E2BIG,
        }
    }
}

/// The largest argv+envp (Linux: a quarter of the stack limit).
pub const MAX_ARGS_TOTAL: usize = (STACK_SIZE / 4) as usize;

/// Everything a new program image gets besides its file.
pub struct ExecArgs<'a> {
    /// argv strings.
    pub argv: &'a [Vec<u8>],
    /// envp strings.
    pub envp: &'a [Vec<u8>],
    /// The path it was executed as (AT_EXECFN).
    pub execfn: &'a [u8],
    /// Host-provided auxv values.
    pub host: HostAux,
    /// Credentials for the auxv.
    pub creds: AuxCreds,
    /// 16 random bytes for AT_RANDOM; also seeds the load address.
    pub random: [u8; 16],
}

/// Runs one injected host syscall, naming what the loader was doing.
type Sys<'a> = dyn FnMut(&'static str, u64, [u64; 6]) -> Result<u64, LoadError> + 'a;

/// Maps the program `main` (and its dynamic loader `interp`, if it has
/// one) into the process and builds its stack. `inject` runs one host
/// syscall in the process and returns its raw result.
///
/// Placement follows Linux's load_elf_binary: an ET_DYN program with a
/// loader (a PIE) goes at ELF_ET_DYN_BASE plus a random offset, as does
/// one without (a static PIE, or `ld.so` run as a program, whose heap then
/// has room after it); the loader goes where the host's randomised mmap
/// puts it, and execution starts at the loader's entry.
pub fn load(
    mem: &GuestMem,
    inject: &mut dyn FnMut(u64, [u64; 6]) -> Result<i64, Errno>,
    main: (&ElfInfo, &[u8]),
    interp: Option<(&ElfInfo, &[u8])>,
    args: &ExecArgs<'_>,
) -> Result<Loaded, LoadError> {
    let (info, file) = main;
    let total: usize = args.argv.iter().chain(args.envp).map(|s| s.len() + 1 + 8).sum();
    if total > MAX_ARGS_TOTAL {
        return Err(LoadError::TooBig);
    }
    let rnd = u64::from_le_bytes(args.random[..8].try_into().expect("8 bytes"));
    let bias = if info.pie {
        // ELF_ET_DYN_BASE plus up to 2^28 random pages, as Linux does.
        ET_DYN_BASE + ((rnd & 0x0fff_ffff) << 12) - image_lo(info)
    } else {
        0
    };

    let mut sys = |what: &'static str, n: u64, a: [u64; 6]| -> Result<u64, LoadError> {
        let r = inject(n, a).map_err(|errno| LoadError::Host { what, errno })?;
        if (-4095..0).contains(&r) {
            return Err(LoadError::Host { what, errno: Errno(-r as i32) });
        }
        Ok(r as u64)
    };
    let end_of_image = map_image(mem, &mut sys, info, file, bias)?;
    let (entry, interp_base) = match interp {
        Some((ii, idata)) => {
            let ibias = if ii.pie {
                // Let the host's mmap pick (and randomise) the place, then
                // map the loader there.
                let span = image_hi(ii) - image_lo(ii);
                let none = libc::PROT_NONE as u64;
                let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
                let at = sys("placing the interpreter", nr::MMAP, [0, span, none, anon, u64::MAX, 0])?;
                sys("placing the interpreter", nr::MUNMAP, [at, span, 0, 0, 0, 0])?;
                at - image_lo(ii)
            } else {
                0
            };
            map_image(mem, &mut sys, ii, idata, ibias)?;
            (ibias + ii.entry, ibias)
        }
        None => (bias + info.entry, 0),
    };

    // The stack.
    let mut stack_prot = rw();
    if info.exec_stack {
        stack_prot |= libc::PROT_EXEC as u64;
    }
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK) as u64;
    let stack = sys("mapping the stack", nr::MMAP, [0, STACK_SIZE, stack_prot, flags, u64::MAX, 0])?;
    let top = stack + STACK_SIZE;
    let (sp, image, mut layout) = build_stack(top, info, bias, interp_base, args);
    mem.write(sp, &image).map_err(|errno| LoadError::Host { what: "writing the stack", errno })?;
    code_and_data(&mut layout, info, bias);
    layout.file_pages = file_pages(0, info, bias);
    if let Some((ii, _)) = interp {
        layout.file_pages.extend(file_pages(1, ii, interp_base));
    }

    // The heap starts past the program, at a random page within 32 MiB as
    // Linux's brk randomisation does.
    let brk = page_up(end_of_image) + ((rnd >> 32) & 0x1fff) * PAGE;
    Ok(Loaded { entry, sp, brk, layout })
}

/// Linux's start_code, end_code, start_data and end_data, as
/// load_elf_binary computes them from the program's segments.
fn code_and_data(layout: &mut Layout, info: &ElfInfo, bias: u64) {
    let exec = |s: &&Segment| s.prot & libc::PROT_EXEC != 0;
    layout.start_code = info.segments.iter().filter(exec).map(|s| s.vaddr + bias).min().unwrap_or(0);
    layout.end_code = info.segments.iter().filter(exec).map(|s| s.vaddr + s.filesz + bias).max().unwrap_or(0);
    layout.start_data = info.segments.iter().map(|s| s.vaddr + bias).max().unwrap_or(0);
    layout.end_data = info.segments.iter().map(|s| s.vaddr + s.filesz + bias).max().unwrap_or(0);
}

/// The pages of image `image` (loaded at `bias`) that hold its file's
/// bytes: what Linux maps from the file (the rest of bss is anonymous).
fn file_pages(image: usize, info: &ElfInfo, bias: u64) -> Vec<FilePages> {
    info.segments
        .iter()
        .filter(|s| s.filesz > 0)
        .map(|s| {
            let lo = page_down(bias + s.vaddr);
            FilePages { image, lo, hi: page_up(bias + s.vaddr + s.filesz), offset: s.offset - (bias + s.vaddr - lo) }
        })
        .collect()
}

fn rw() -> u64 {
    (libc::PROT_READ | libc::PROT_WRITE) as u64
}

/// The lowest page an image's segments touch (before the bias).
fn image_lo(info: &ElfInfo) -> u64 {
    page_down(info.segments.iter().map(|s| s.vaddr).min().unwrap_or(0))
}

/// The end of an image's last segment, page-aligned (before the bias).
fn image_hi(info: &ElfInfo) -> u64 {
    page_up(info.segments.iter().map(|s| s.vaddr + s.memsz).max().unwrap_or(0))
}

/// Maps one ELF image at `bias`: anonymous read-write pages for every
/// segment, one copy of the file bytes, then the final protections.
/// Returns the end of the image.
fn map_image(mem: &GuestMem, sys: &mut Sys<'_>, info: &ElfInfo, file: &[u8], bias: u64) -> Result<u64, LoadError> {
    // Map every segment read-write, skipping pages an earlier segment
    // already mapped (segments may share a boundary page).
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    let mut end_of_image = 0;
    for s in &info.segments {
        let (mut lo, hi) = (page_down(bias + s.vaddr), page_up(bias + s.vaddr + s.memsz));
        for &(mlo, mhi) in &mapped {
            if lo >= mlo && lo < mhi {
                lo = mhi;
            }
        }
        end_of_image = end_of_image.max(hi);
        if lo >= hi {
            continue;
        }
        let at = sys("mapping a segment", nr::MMAP, [lo, hi - lo, rw(), anon, u64::MAX, 0])?;
        if at != lo {
            return Err(LoadError::Host { what: "mapping a segment", errno: Errno::ENOMEM });
        }
        mapped.push((lo, hi));
    }
    // One copy of all file-backed bytes.
    for s in &info.segments {
        let bytes = &file[s.offset as usize..(s.offset + s.filesz) as usize];
        mem.write(bias + s.vaddr, bytes).map_err(|errno| LoadError::Host { what: "copying a segment", errno })?;
    }
    for s in &info.segments {
        let (lo, hi) = (page_down(bias + s.vaddr), page_up(bias + s.vaddr + s.memsz));
        let prot = prot_of_range(&info.segments, bias, lo, hi, s);
        if prot as u64 != rw() {
            sys("protecting a segment", nr::MPROTECT, [lo, hi - lo, prot as u64, 0, 0, 0])?;
        }
    }
    Ok(end_of_image)
}

/// Protection for the pages of `s`: where another segment shares a
/// boundary page, that page gets both segments' rights.
fn prot_of_range(segs: &[Segment], bias: u64, lo: u64, hi: u64, s: &Segment) -> i32 {
    segs.iter()
        .filter(|o| {
            let (olo, ohi) = (page_down(bias + o.vaddr), page_up(bias + o.vaddr + o.memsz));
            olo < hi && lo < ohi
        })
        .fold(s.prot, |p, o| if std::ptr::eq(o, s) { p } else { p | o.prot })
}

/// Lays out the initial stack below `top`; returns the stack pointer, the
/// bytes from there up to `top`, and where argv, envp and the auxv went.
fn build_stack(top: u64, info: &ElfInfo, bias: u64, interp_base: u64, args: &ExecArgs<'_>) -> (u64, Vec<u8>, Layout) {
    // Strings area, built downwards from `top`: execfn, envp, argv,
    // platform, random bytes.
    let mut strings: Vec<u8> = Vec::new();
    let mut push = |s: &[u8], nul: bool| -> u64 {
        let mut v = s.to_vec();
        if nul {
            v.push(0);
        }
        v.extend_from_slice(&strings);
        strings = v;
        top - strings.len() as u64
    };
    let execfn = push(args.execfn, true);
    let env_end = execfn;
    let mut envp: Vec<u64> = args.envp.iter().rev().map(|s| push(s, true)).collect();
    envp.reverse();
    let env_start = envp.first().copied().unwrap_or(env_end);
    let mut argv: Vec<u64> = args.argv.iter().rev().map(|s| push(s, true)).collect();
    argv.reverse();
    let arg_start = argv.first().copied().unwrap_or(env_start);
    let platform = push(b"x86_64", true);
    let random = push(&args.random, false);

    let aux: [(u64, u64); 19] = [
        (libc::AT_SYSINFO_EHDR, args.host.sysinfo_ehdr),
        (libc::AT_MINSIGSTKSZ, args.host.minsigstksz),
        (libc::AT_HWCAP, args.host.hwcap),
        (libc::AT_PAGESZ, PAGE),
        (libc::AT_CLKTCK, args.host.clktck),
        (libc::AT_PHDR, info.phdr_vaddr.map_or(0, |p| p + bias)),
        (libc::AT_PHENT, 56),
        (libc::AT_PHNUM, info.phnum as u64),
        (libc::AT_BASE, interp_base),
        (libc::AT_FLAGS, 0),
        (libc::AT_ENTRY, info.entry + bias),
        (libc::AT_UID, args.creds.uid as u64),
        (libc::AT_EUID, args.creds.euid as u64),
        (libc::AT_GID, args.creds.gid as u64),
        (libc::AT_EGID, args.creds.egid as u64),
        (libc::AT_SECURE, args.creds.secure as u64),
        (libc::AT_RANDOM, random),
        (libc::AT_HWCAP2, args.host.hwcap2),
        (libc::AT_EXECFN, execfn),
    ];
    let mut words: Vec<u64> = Vec::with_capacity(4 + argv.len() + envp.len() + 2 * (aux.len() + 2));
    words.push(argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    let mut auxv: Vec<(u64, u64)> = aux
        .iter()
        .copied()
        .filter(|(k, v)| *v != 0 || !matches!(*k, libc::AT_SYSINFO_EHDR | libc::AT_MINSIGSTKSZ))
        .collect();
    auxv.extend([(libc::AT_PLATFORM, platform), (libc::AT_NULL, 0)]);
    for (k, v) in &auxv {
        words.extend([*k, *v]);
    }

    // argc must sit on a 16-byte boundary (the x86-64 ABI's entry state).
    let strings_lo = top - strings.len() as u64;
    let sp = (strings_lo - words.len() as u64 * 8) & !15;
    let mut image = Vec::with_capacity((top - sp) as usize);
    for w in &words {
        image.extend_from_slice(&w.to_le_bytes());
    }
    image.resize((strings_lo - sp) as usize, 0);
    image.extend_from_slice(&strings);
    let layout =
        Layout { start_stack: sp, arg_start, arg_end: env_start, env_start, env_end, auxv, ..Default::default() };
    (sp, image, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_layout_matches_the_abi() {
        let info = ElfInfo {
            pie: false,
            entry: 0x401000,
            segments: vec![],
            phdr_vaddr: Some(0x400040),
            phnum: 4,
            exec_stack: false,
            interp: None,
        };
        let argv = [b"/bin/x".to_vec(), b"arg".to_vec()];
        let envp = [b"A=1".to_vec()];
        let args = ExecArgs {
            argv: &argv,
            envp: &envp,
            execfn: b"/bin/x",
            host: HostAux { sysinfo_ehdr: 0x7fff_0000_0000, hwcap: 1, ..Default::default() },
            creds: AuxCreds::default(),
            random: [7; 16],
        };
        let top = 0x7000_0000_0000;
        let (sp, img, layout) = build_stack(top, &info, 0, 0x7f00_0000_0000, &args);
        assert_eq!(sp % 16, 0);
        assert_eq!(sp + img.len() as u64, top);
        let word = |i: usize| u64::from_le_bytes(img[i * 8..i * 8 + 8].try_into().unwrap());
        let string_at = |addr: u64| {
            let off = (addr - sp) as usize;
            let end = img[off..].iter().position(|&b| b == 0).unwrap();
            img[off..off + end].to_vec()
        };
        assert_eq!(word(0), 2);
        assert_eq!(string_at(word(1)), b"/bin/x");
        assert_eq!(string_at(word(2)), b"arg");
        assert_eq!(word(3), 0);
        assert_eq!(string_at(word(4)), b"A=1");
        assert_eq!(word(5), 0);
        let mut aux = std::collections::HashMap::new();
        let mut i = 6;
        while word(i) != 0 {
            aux.insert(word(i), word(i + 1));
            i += 2;
        }
        assert_eq!(aux[&libc::AT_ENTRY], 0x401000);
        assert_eq!(aux[&libc::AT_BASE], 0x7f00_0000_0000);
        assert_eq!(aux[&libc::AT_PHDR], 0x400040);
        assert_eq!(aux[&libc::AT_PAGESZ], 4096);
        assert_eq!(string_at(aux[&libc::AT_EXECFN]), b"/bin/x");
        assert_eq!(string_at(aux[&libc::AT_PLATFORM]), b"x86_64");
        let r = (aux[&libc::AT_RANDOM] - sp) as usize;
        assert_eq!(img[r..r + 16], [7; 16]);
        // What /proc/PID/cmdline, environ and auxv show.
        let bytes = |lo: u64, hi: u64| img[(lo - sp) as usize..(hi - sp) as usize].to_vec();
        assert_eq!(bytes(layout.arg_start, layout.arg_end), b"/bin/x\0arg\0");
        assert_eq!(bytes(layout.env_start, layout.env_end), b"A=1\0");
        assert_eq!(layout.start_stack, sp);
        assert_eq!(layout.auxv.len(), aux.len() + 1);
        assert_eq!(layout.auxv.last(), Some(&(libc::AT_NULL, 0)));
        assert!(layout.auxv.iter().all(|(k, v)| *k == libc::AT_NULL || aux[k] == *v));
    }
}
