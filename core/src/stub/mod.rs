//! The stub: the tiny static program every guest process execs into
//! (ARCHITECTURE §4).
//!
//! It is a one-page ELF, generated here and handed to the host kernel
//! from a sealed memfd, mapped at the lowest address a process may map
//! (vm.mmap_min_addr). It holds two things: an entry point that traps at
//! once (`int3`: the tracer takes over a clean, freshly exec'd process) and
//! the `syscall; int3` gadget through which the kernel injects host
//! syscalls.
//!
//! Being the lowest mapping matters: a guest must never change the stub's
//! page (or code it chose would run inside an injection), and any range a
//! memory syscall touches starts at its address and grows upwards, so one
//! comparison, `addr >= stub::end()`, proves a native mprotect, munmap,
//! mremap or fixed mmap cannot reach it (see trap/seccomp.rs).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use crate::errno::Errno;

/// The stub's address when the host allows it (Linux's default
/// vm.mmap_min_addr).
const DEFAULT_BASE: u64 = 0x10000;
/// One page.
pub const SIZE: u64 = 0x1000;
/// Offset of the entry point, `int3; ud2`.
const ENTRY_OFFSET: u64 = 0xc0;
/// Offset of the injection gadget, `syscall; int3`.
const GADGET_OFFSET: u64 = 0xc8;
/// Offset of "/proc/self/exe": a process re-execs the stub through its
/// own exe link (it holds no host fd of the stub).
const SELF_EXE_OFFSET: u64 = 0xd0;
/// Offset of the argv array for that exec: { name, NULL }.
const ARGV_OFFSET: u64 = 0xe0;
/// Offset of the empty envp array: { NULL }.
const ENVP_OFFSET: u64 = 0xf0;
/// Offset of the stub's argv[0] string.
const NAME_OFFSET: u64 = 0xf8;
/// Offset of a zero `struct timespec` (a non-blocking timed wait).
const ZERO_TIMESPEC_OFFSET: u64 = 0x108;

/// Where the stub's page is mapped in every guest process: the lowest
/// page the host lets a process map.
pub fn base() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    *BASE.get_or_init(|| {
        let min = std::fs::read_to_string("/proc/sys/vm/mmap_min_addr")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_BASE);
        min.max(DEFAULT_BASE).div_ceil(SIZE) * SIZE
    })
}

/// The first address above the stub: guest memory starts here.
pub fn end() -> u64 {
    base() + SIZE
}

/// The entry point of a freshly exec'd stub.
pub fn entry() -> u64 {
    base() + ENTRY_OFFSET
}

/// The injection gadget.
pub fn gadget() -> u64 {
    base() + GADGET_OFFSET
}

/// The three arguments of an execve that re-execs the stub.
pub fn reexec_args() -> [u64; 3] {
    [base() + SELF_EXE_OFFSET, base() + ARGV_OFFSET, base() + ENVP_OFFSET]
}

/// A zero `struct timespec` every guest process can read.
pub fn zero_timespec() -> u64 {
    base() + ZERO_TIMESPEC_OFFSET
}

/// The top of the guest's address space (x86-64's 47-bit TASK_SIZE).
pub const USER_TOP: u64 = 0x7fff_ffff_f000;

/// Past the ELF header (64 bytes) and two program headers (2 x 56).
const CODE_OFFSET: usize = ENTRY_OFFSET as usize;
const CODE: [u8; 16] = [
    0xcc, 0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90, // ENTRY: int3; ud2
    0x0f, 0x05, 0xcc, 0x0f, 0x0b, 0x90, 0x90, 0x90, // GADGET: syscall; int3; ud2
];

/// The stub's ELF image: an ELF header, a PT_LOAD (R+X) covering the
/// file, a PT_GNU_STACK (no executable stack) and the code.
pub fn image() -> Vec<u8> {
    const EHDR: usize = 64;
    const PHDR: usize = 56;
    let len = ZERO_TIMESPEC_OFFSET as usize + 16;
    let mut f = vec![0u8; len];
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_SYSV.
    f[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
    let put16 = |f: &mut Vec<u8>, o: usize, v: u16| f[o..o + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |f: &mut Vec<u8>, o: usize, v: u32| f[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |f: &mut Vec<u8>, o: usize, v: u64| f[o..o + 8].copy_from_slice(&v.to_le_bytes());
    put16(&mut f, 16, 2); // e_type = ET_EXEC
    put16(&mut f, 18, 62); // e_machine = EM_X86_64
    put32(&mut f, 20, 1); // e_version
    put64(&mut f, 24, entry()); // e_entry
    put64(&mut f, 32, EHDR as u64); // e_phoff
    put16(&mut f, 52, EHDR as u16); // e_ehsize
    put16(&mut f, 54, PHDR as u16); // e_phentsize
    put16(&mut f, 56, 2); // e_phnum
                          // PT_LOAD, PF_R|PF_X, the whole file at BASE.
    let p = EHDR;
    put32(&mut f, p, 1);
    put32(&mut f, p + 4, 5);
    put64(&mut f, p + 16, base());
    put64(&mut f, p + 24, base());
    put64(&mut f, p + 32, len as u64);
    put64(&mut f, p + 40, len as u64);
    put64(&mut f, p + 48, 0x1000);
    // PT_GNU_STACK, PF_R|PF_W.
    let p = EHDR + PHDR;
    put32(&mut f, p, 0x6474_e551);
    put32(&mut f, p + 4, 6);
    f[CODE_OFFSET..CODE_OFFSET + CODE.len()].copy_from_slice(&CODE);
    let self_exe = b"/proc/self/exe\0";
    f[SELF_EXE_OFFSET as usize..][..self_exe.len()].copy_from_slice(self_exe);
    put64(&mut f, ARGV_OFFSET as usize, base() + NAME_OFFSET);
    f[NAME_OFFSET as usize..][..10].copy_from_slice(b"umvm-stub\0");
    f
}

static MEMFD: OnceLock<Result<OwnedFd, Errno>> = OnceLock::new();

/// The sealed, close-on-exec memfd holding the stub, created once per
/// umvm process and shared by every VM in it.
pub fn memfd() -> Result<RawFd, Errno> {
    MEMFD
        .get_or_init(|| {
            let img = image();
            // SAFETY: the name is a valid C string; flags are constants.
            let fd = unsafe { libc::memfd_create(c"umvm-stub".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
            let fd = Errno::result(fd)?;
            // SAFETY: memfd_create just returned this fd and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let raw = fd.as_raw_fd();
            // SAFETY: `img` is a live buffer of the given length.
            let n = unsafe { libc::write(raw, img.as_ptr().cast(), img.len()) };
            if n != img.len() as isize {
                return Err(Errno::last());
            }
            let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
            // SAFETY: plain fcntl on an fd we own.
            Errno::result(unsafe { libc::fcntl(raw, libc::F_ADD_SEALS, seals) })?;
            Ok(fd)
        })
        .as_ref()
        .map(|fd| fd.as_raw_fd())
        .map_err(|e| *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_valid_x86_64_executable() {
        use object::read::elf::{FileHeader, ProgramHeader};
        let img = image();
        let hdr = object::elf::FileHeader64::<object::LittleEndian>::parse(&*img).unwrap();
        let e = hdr.endian().unwrap();
        assert_eq!(hdr.e_machine(e), object::elf::EM_X86_64);
        assert_eq!(hdr.e_entry(e), entry());
        let ph = hdr.program_headers(e, &*img).unwrap();
        assert_eq!(ph[0].p_type(e), object::elf::PT_LOAD);
        assert_eq!(ph[0].p_vaddr(e), base());
        assert_eq!(img[(gadget() - base()) as usize..][..3], [0x0f, 0x05, 0xcc]);
        assert_eq!(img[(entry() - base()) as usize], 0xcc);
        assert!(ph.len() == 2 && 64 + 2 * 56 <= CODE_OFFSET);
        assert!(CODE_OFFSET + CODE.len() <= SELF_EXE_OFFSET as usize);
        let [path, argv, envp] = reexec_args();
        assert_eq!(&img[(path - base()) as usize..][..15], b"/proc/self/exe\0");
        let argv0 = u64::from_le_bytes(img[(argv - base()) as usize..][..8].try_into().unwrap());
        assert_eq!(&img[(argv0 - base()) as usize..][..10], b"umvm-stub\0");
        assert_eq!(img[(zero_timespec() - base()) as usize..], [0; 16]);
        assert_eq!(img[(envp - base()) as usize..][..8], [0; 8]);
    }
}
