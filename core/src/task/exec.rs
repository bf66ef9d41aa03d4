//! Running a program in a task: find it in the guest's filesystem, check
//! it, and have the loader map it into a process that just exec'd the stub.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Task;
use crate::errno::Errno;
use crate::fs::hostfs;
use crate::fs::path::Search;
use crate::fs::perm::{self, Attr, Who};
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
    /// Its PT_INTERP loader cannot be used.
    #[error("interpreter {}: {}", String::from_utf8_lossy(.0), .1)]
    Interp(Vec<u8>, Box<ExecFault>),
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
            // A loader that is there but unusable is ELIBBAD, as in Linux.
            ExecFault::Interp(_, f) => match **f {
                ExecFault::Lookup(e) | ExecFault::Read(e) => e,
                ExecFault::Elf(_) => Errno::ELIBBAD,
                _ => Errno::EACCES,
            },
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
    /// Its st_dev and st_ino as the guest sees them (/proc/PID/maps).
    pub dev_ino: (u64, u64),
    /// Its mode, owner and group: a set-user-ID or set-group-ID program
    /// changes the effective ids of whoever runs it.
    pub owner: Owner,
}

/// A program file's mode and owner, as exec reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// st_mode.
    pub mode: u32,
    /// st_uid.
    pub uid: u32,
    /// st_gid.
    pub gid: u32,
}

impl Owner {
    /// The effective (uid, gid) a process with effective ids `euid` and
    /// `egid` runs this program with (Linux's bprm_fill_uid): the owner
    /// for S_ISUID, the group for S_ISGID with group execute (without it,
    /// S_ISGID means mandatory locking), unless `no_new_privs`.
    pub fn exec_ids(&self, euid: u32, egid: u32, no_new_privs: bool) -> (u32, u32) {
        if no_new_privs {
            return (euid, egid);
        }
        let uid = if self.mode & libc::S_ISUID != 0 { self.uid } else { euid };
        let setgid = libc::S_ISGID | libc::S_IXGRP;
        let gid = if self.mode & setgid == setgid { self.gid } else { egid };
        (uid, gid)
    }
}

/// An executable with the argv it runs with (after `#!` rewriting) and
/// the path it was asked for (AT_EXECFN).
pub struct Resolved {
    /// The ELF that is loaded.
    pub exe: Executable,
    /// Its dynamic loader (PT_INTERP), which is where it starts.
    pub interp: Option<Executable>,
    /// Its argv.
    pub argv: Vec<Vec<u8>>,
    /// The path execve was given.
    pub execfn: Vec<u8>,
}

/// Linux's limit on nested interpreters (exec_binprm gives up past 5).
const MAX_INTERP_DEPTH: usize = 5;
/// Linux reads this much of a script's first line (BINPRM_BUF_SIZE).
const SHEBANG_MAX: usize = 256;

/// Where the executing process is in the namespace: the interpreters a
/// program names (PT_INTERP, `#!`) are looked up from its root directory
/// and cwd, as Linux's open_exec does.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    /// The root directory (chroot(2)), a canonical namespace path.
    pub root: &'a [u8],
    /// The working directory, a canonical namespace path.
    pub cwd: &'a [u8],
}

impl Place<'_> {
    /// `/` as root and cwd (init's).
    pub const TOP: Place<'static> = Place { root: b"/", cwd: b"/" };
}

/// Finds what `path` (a canonical namespace path, already looked up by
/// the caller) runs: an ELF, or a `#!` script's interpreter (with its
/// optional argument), nested up to Linux's depth.
///
/// `who` is the caller when unprivileged: the program, its loader and
/// its interpreters need execute permission (Linux's may_open with
/// MAY_EXEC), and the loader and interpreters, looked up from `at`,
/// search permission on the directories walked (the caller's own lookup
/// checked the program's); EACCES otherwise.
pub fn resolve(
    k: &Kernel,
    at: Place<'_>,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    who: Option<&Who>,
) -> Result<Resolved, ExecError> {
    let execfn = path.to_vec();
    let mut argv = argv;
    let mut path = path.to_vec();
    for depth in 0..=MAX_INTERP_DEPTH {
        let err = |fault| ExecError { path: path.clone(), fault };
        let ReadFile { data, path: canonical, dev_ino, owner } = read_file(k, at, &path, depth == 0, who)?;
        match ElfInfo::parse(&data) {
            Ok(info) => {
                let interp = match &info.interp {
                    Some(ip) => {
                        Some(read_interp(k, at, ip, who).map_err(|f| err(ExecFault::Interp(ip.clone(), Box::new(f))))?)
                    }
                    None => None,
                };
                let exe = Executable { data, info, path: canonical, dev_ino, owner };
                return Ok(Resolved { exe, interp, argv, execfn });
            }
            Err(ElfError::Script) => {
                let (interp, arg) = parse_shebang(&data).ok_or_else(|| err(ExecFault::Elf(ElfError::NotElf)))?;
                let mut new = vec![interp.clone()];
                new.extend(arg);
                new.push(path.clone());
                new.extend(argv.into_iter().skip(1));
                argv = new;
                path = interp;
            }
            Err(e) => return Err(err(ExecFault::Elf(e))),
        }
    }
    Err(ExecError { path, fault: ExecFault::Lookup(Errno::ELOOP) })
}

/// Reads and checks a program's dynamic loader. Its own PT_INTERP, if
/// any, is ignored, as Linux does.
fn read_interp(k: &Kernel, at: Place<'_>, path: &[u8], who: Option<&Who>) -> Result<Executable, ExecFault> {
    let ReadFile { data, path: canonical, dev_ino, owner } = read_file(k, at, path, false, who).map_err(|e| e.fault)?;
    let mut info = ElfInfo::parse(&data).map_err(ExecFault::Elf)?;
    info.interp = None;
    Ok(Executable { data, info, path: canonical, dev_ino, owner })
}

/// Splits a `#!` line into the interpreter and its optional single
/// argument, as binfmt_script does.
fn parse_shebang(data: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let line = &data[2..data.len().min(SHEBANG_MAX)];
    let line = match line.iter().position(|&b| b == b'\n') {
        Some(end) => &line[..end],
        None if data.len() > SHEBANG_MAX => return None,
        None => line,
    };
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let line = trim(line, blank);
    if line.is_empty() {
        return None;
    }
    let end = line.iter().position(blank).unwrap_or(line.len());
    let interp = line[..end].to_vec();
    let rest = trim(&line[end..], blank);
    Some((interp, (!rest.is_empty()).then(|| rest.to_vec())))
}

fn trim(mut s: &[u8], blank: impl Fn(&u8) -> bool) -> &[u8] {
    while s.first().is_some_and(&blank) {
        s = &s[1..];
    }
    while s.last().is_some_and(&blank) {
        s = &s[..s.len() - 1];
    }
    s
}

/// An executable file as read.
struct ReadFile {
    data: Vec<u8>,
    /// Its canonical guest path.
    path: Vec<u8>,
    /// Its st_dev and st_ino as the guest sees them.
    dev_ino: (u64, u64),
    owner: Owner,
}

/// Reads the executable file at `path`, checking it may be executed (by
/// `who`, when unprivileged): a namespace path when `canonical` (the
/// caller's lookup has checked the walk), else a path as the process at
/// `at` names it (walked with search permission checked).
fn read_file(
    k: &Kernel,
    at: Place<'_>,
    path: &[u8],
    canonical: bool,
    who: Option<&Who>,
) -> Result<ReadFile, ExecError> {
    let err = |fault| ExecError { path: path.to_vec(), fault };
    let r = if canonical {
        k.vfs.resolve_from(at.root, path.to_vec(), true)
    } else {
        let mut search = who.map(|w| Search::new(w, at.root, at.cwd, path));
        let full = if path.first() == Some(&b'/') {
            crate::fs::path::join_root(at.root, path)
        } else {
            crate::fs::path::join_base(at.cwd, path)
        };
        k.vfs.resolve_from_as(at.root, full, true, search.as_mut())
    };
    let l = match r.map_err(|e| err(ExecFault::Lookup(e)))? {
        crate::fs::path::Resolved::Found(l) => l,
        crate::fs::path::Resolved::Ext2(l) => return read_ext2_file(l, who).map_err(err),
        crate::fs::path::Resolved::Synthetic(..) => return Err(err(ExecFault::Lookup(Errno::EACCES))),
    };
    let st = l.existing().map_err(|e| err(ExecFault::Lookup(e)))?;
    if hostfs::file_type(&st) != libc::S_IFREG {
        return Err(err(ExecFault::NotRegular));
    }
    if st.st_mode & 0o111 == 0 {
        return Err(err(ExecFault::NotExecutable));
    }
    if let Some(w) = who {
        perm::may_exec(&Attr::from(&st), w).map_err(|_| err(ExecFault::NotExecutable))?;
    }
    if st.st_size > MAX_EXEC_SIZE {
        return Err(err(ExecFault::TooLarge));
    }
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: the name is a C string; the dir fd is open.
    let fd = unsafe { libc::openat(l.dir.as_raw_fd(), l.name.as_ptr(), flags) };
    let fd = Errno::result(fd).map_err(|e| err(ExecFault::Read(e)))?;
    // SAFETY: openat returned a new fd that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut data = Vec::with_capacity(st.st_size as usize);
    file.by_ref().take(MAX_EXEC_SIZE as u64 + 1).read_to_end(&mut data).map_err(|e| err(ExecFault::Read(e.into())))?;
    let owner = Owner { mode: st.st_mode, uid: st.st_uid, gid: st.st_gid };
    Ok(ReadFile { data, path: l.path, dev_ino: (st.st_dev, st.st_ino), owner })
}

/// [`read_file`] of a file on an ext2 mount.
fn read_ext2_file(l: crate::fs::path::Ext2Lookup, who: Option<&Who>) -> Result<ReadFile, ExecFault> {
    let st = l.stat().map_err(ExecFault::Lookup)?;
    if hostfs::file_type(&st) != libc::S_IFREG {
        return Err(ExecFault::NotRegular);
    }
    if st.st_mode & 0o111 == 0 {
        return Err(ExecFault::NotExecutable);
    }
    if let Some(w) = who {
        perm::may_exec(&Attr::from(&st), w).map_err(|_| ExecFault::NotExecutable)?;
    }
    if st.st_size > MAX_EXEC_SIZE {
        return Err(ExecFault::TooLarge);
    }
    let mut data = vec![0u8; st.st_size as usize];
    let ino = st.st_ino as u32;
    let n = l.fs.read_data(ino, 0, &mut data).map_err(ExecFault::Read)?;
    data.truncate(n);
    let owner = Owner { mode: st.st_mode, uid: st.st_uid, gid: st.st_gid };
    Ok(ReadFile { data, path: l.path, dev_ino: (st.st_dev, st.st_ino), owner })
}

/// Maps a program into `task`, a process stopped at the stub's entry
/// (whose registers are `regs`), and returns the registers it starts with.
pub fn load_into(task: &mut Task, regs: &Regs, r: Resolved, envp: &[Vec<u8>]) -> Result<Regs, ExecError> {
    let err = |fault| ExecError { path: r.execfn.clone(), fault };
    let mem = GuestMem::new(task.tid);
    let host = HostAux::read(&mem, regs.rsp)
        .map_err(|e| err(ExecFault::Load(LoadError::Host { what: "reading the stub's auxv", errno: e })))?;
    let mut random = [0u8; 16];
    // SAFETY: `random` is writable for 16 bytes.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), 16, 0) };
    let c = task.process.state().creds;
    let args = ExecArgs {
        argv: &r.argv,
        envp,
        execfn: &r.execfn,
        host,
        // Linux's secureexec for a change of ids (the loader then ignores
        // LD_PRELOAD and the like).
        creds: AuxCreds {
            uid: c.uid,
            euid: c.euid,
            gid: c.gid,
            egid: c.egid,
            secure: c.euid != c.uid || c.egid != c.gid,
        },
        random,
    };
    let tid = task.tid;
    let mut sys = |nr: u64, a: [u64; 6]| -> Result<i64, Errno> {
        inject(tid, regs, nr, a).map_err(|e| match e {
            InjectError::Ptrace(e) => e,
            InjectError::Gone(_) => Errno::ESRCH,
        })
    };
    let interp = r.interp.as_ref().map(|i| (&i.info, i.data.as_slice()));
    let loaded =
        loader::load(&mem, &mut sys, (&r.exe.info, &r.exe.data), interp, &args).map_err(|e| err(ExecFault::Load(e)))?;
    task.mm.lock().brk = super::Brk { start: loaded.brk, cur: loaded.brk };
    task.set_comm_from_path(&r.execfn);
    let file = |e: &Executable| super::ImageFile { path: e.path.clone(), dev: e.dev_ino.0, ino: e.dev_ino.1 };
    let mut files = vec![file(&r.exe)];
    files.extend(r.interp.as_ref().map(file));
    {
        let mut st = task.process.state();
        st.exe = r.exe.path;
        st.image = std::sync::Arc::new(super::ExecImage { layout: loaded.layout, files });
        st.comm = task.comm;
        st.fs = Some(task.fs.clone());
        st.files = Some(task.files.clone());
        st.mm = Some(task.mm.clone());
    }

    let mut regs = *regs;
    for reg in [
        &mut regs.rax,
        &mut regs.rbx,
        &mut regs.rcx,
        &mut regs.rdx,
        &mut regs.rsi,
        &mut regs.rdi,
        &mut regs.rbp,
        &mut regs.r8,
        &mut regs.r9,
        &mut regs.r10,
        &mut regs.r11,
        &mut regs.r12,
        &mut regs.r13,
        &mut regs.r14,
        &mut regs.r15,
    ] {
        *reg = 0;
    }
    regs.rip = loaded.entry;
    regs.rsp = loaded.sp;
    regs.orig_rax = u64::MAX;
    regs.eflags = 0x202;
    regs.fs_base = 0;
    regs.gs_base = 0;
    Ok(regs)
}

#[cfg(test)]
mod tests {
    use super::parse_shebang;

    #[test]
    fn shebang_lines_split_as_linux_does() {
        let p = |s: &str| {
            parse_shebang(s.as_bytes())
                .map(|(i, a)| (String::from_utf8(i).unwrap(), a.map(|a| String::from_utf8(a).unwrap())))
        };
        assert_eq!(p("#!/bin/sh\necho"), Some(("/bin/sh".into(), None)));
        assert_eq!(p("#! /bin/busybox sh -e \n"), Some(("/bin/busybox".into(), Some("sh -e".into()))));
        assert_eq!(p("#!\t/x\ty"), Some(("/x".into(), Some("y".into()))));
        assert_eq!(p("#!\n"), None);
        let long = format!("#!/{}", "a".repeat(400));
        assert_eq!(p(&long), None);
    }
}
