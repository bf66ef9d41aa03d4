//! Running a program in a task: find it in the guest's filesystem, check
//! it, and have the loader map it into a process that just exec'd the stub.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Task;
use crate::errno::Errno;
use crate::fs::hostfs;
use crate::kernel::Kernel;
use crate::mm::elf::{ElfError, ElfInfo};
use crate::mm::loader::{self, AuxCreds, ExecArgs, HostAux, LoadError};
use crate::mm::GuestMem;
use crate::trap::inject::{inject, InjectError};
use crate::trap::Regs;

/// The largest executable the loader reads.
const MAX_EXEC_SIZE: i64 = 1 << 30;

/// Why a program could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ExecFault {
    /// The path did not resolve.
    #[error("{}", match .0 { &Errno::ENOENT => "not found".to_string(), e => e.to_string() })]
    Lookup(Errno),
    /// Not a regular file.
    #[error("not a regular file")]
    NotRegular,
    /// No execute permission.
    #[error("permission denied (not executable)")]
    NotExecutable,
    /// Reading it failed.
    #[error("reading it failed: {0}")]
    Read(Errno),
    /// Larger than the loader accepts.
    #[error("larger than {MAX_EXEC_SIZE} bytes")]
    TooLarge,
    /// Not a runnable ELF.
    #[error("{0}")]
    Elf(ElfError),
    /// Mapping it failed.
    #[error("loading it failed: {0}")]
    Load(LoadError),
}

/// A failed exec, naming the guest path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {fault}", String::from_utf8_lossy(.path))]
pub struct ExecError {
    /// The guest path as given.
    pub path: Vec<u8>,
    /// What is wrong.
    pub fault: ExecFault,
}

impl ExecError {
    /// The errno execve returns.
    pub fn errno(&self) -> Errno {
        match &self.fault {
            ExecFault::Lookup(e) | ExecFault::Read(e) => *e,
            ExecFault::NotRegular | ExecFault::NotExecutable => Errno::EACCES,
            ExecFault::TooLarge => Errno::ENOMEM,
            ExecFault::Elf(e) => e.errno(),
            ExecFault::Load(e) => e.errno(),
        }
    }
}

/// A program read from the guest's filesystem and checked.
pub struct Executable {
    /// The whole file.
    pub data: Vec<u8>,
    /// Its parsed headers.
    pub info: ElfInfo,
    /// Its canonical guest path (/proc/PID/exe).
    pub path: Vec<u8>,
}

/// Reads and checks the executable at `path`.
pub fn read_executable(k: &Kernel, cwd: &[u8], path: &[u8]) -> Result<Executable, ExecError> {
    let err = |fault| ExecError { path: path.to_vec(), fault };
    let l = k.vfs.lookup(cwd, path, true).map_err(|e| err(ExecFault::Lookup(e)))?;
    let st = l.existing().map_err(|e| err(ExecFault::Lookup(e)))?;
    if hostfs::file_type(&st) != libc::S_IFREG {
        return Err(err(ExecFault::NotRegular));
    }
    if st.st_mode & 0o111 == 0 {
        return Err(err(ExecFault::NotExecutable));
    }
    if st.st_size > MAX_EXEC_SIZE {
        return Err(err(ExecFault::TooLarge));
    }
    // SAFETY: the name is a C string; the dir fd is open.
    let fd = unsafe {
        libc::openat(
            l.dir.as_raw_fd(),
            l.name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    let fd = Errno::result(fd).map_err(|e| err(ExecFault::Read(e)))?;
    // SAFETY: openat returned a new fd that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut data = Vec::with_capacity(st.st_size as usize);
    file.by_ref().take(MAX_EXEC_SIZE as u64 + 1).read_to_end(&mut data).map_err(|e| err(ExecFault::Read(e.into())))?;
    let info = ElfInfo::parse(&data).map_err(|e| err(ExecFault::Elf(e)))?;
    Ok(Executable { data, info, path: l.path })
}

/// Maps a program into `task`, a process stopped at the stub's entry
/// (whose registers are `regs`), and returns the registers it starts with.
pub fn load_into(
    task: &mut Task,
    regs: &Regs,
    exe: Executable,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
) -> Result<Regs, ExecError> {
    let err = |fault| ExecError { path: execfn.to_vec(), fault };
    let mem = GuestMem::new(task.tid);
    let host = HostAux::read(&mem, regs.rsp)
        .map_err(|e| err(ExecFault::Load(LoadError::Host { what: "reading the stub's auxv", errno: e })))?;
    let mut random = [0u8; 16];
    // SAFETY: `random` is writable for 16 bytes.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), 16, 0) };
    let c = task.creds;
    let args = ExecArgs {
        argv,
        envp,
        execfn,
        host,
        creds: AuxCreds { uid: c.uid, euid: c.euid, gid: c.gid, egid: c.egid },
        random,
    };
    let tid = task.tid;
    let mut sys = |nr: u64, a: [u64; 6]| -> Result<i64, Errno> {
        inject(tid, regs, nr, a).map_err(|e| match e {
            InjectError::Ptrace(e) => e,
            InjectError::Gone(_) => Errno::ESRCH,
            InjectError::Fault(_) => Errno::EFAULT,
        })
    };
    let loaded = loader::load(&mem, &mut sys, &exe.info, &exe.data, &args).map_err(|e| err(ExecFault::Load(e)))?;
    task.brk = super::Brk { start: loaded.brk, cur: loaded.brk };
    task.set_comm_from_path(execfn);
    task.exe = exe.path;

    let mut r = *regs;
    for reg in [
        &mut r.rax, &mut r.rbx, &mut r.rcx, &mut r.rdx, &mut r.rsi, &mut r.rdi, &mut r.rbp, &mut r.r8, &mut r.r9,
        &mut r.r10, &mut r.r11, &mut r.r12, &mut r.r13, &mut r.r14, &mut r.r15,
    ] {
        *reg = 0;
    }
    r.rip = loaded.entry;
    r.rsp = loaded.sp;
    r.orig_rax = u64::MAX;
    r.eflags = 0x202;
    r.fs_base = 0;
    r.gs_base = 0;
    Ok(r)
}
