//! `--strace`: one line per guest syscall, with decoded arguments and the
//! result, in strace's format (`[pid 1] openat(AT_FDCWD, "/etc", O_RDONLY)
//! = 3`).

use std::fmt::Write as _;

use super::names::{self, nr};
use crate::errno::Errno;
use crate::mm::GuestMem;

/// How one argument is printed.
#[derive(Clone, Copy)]
enum Arg {
    Int,
    Hex,
    Fd,
    DirFd,
    Path,
    /// A buffer the guest passes in, its length in argument N.
    BufIn(usize),
    Oct,
    OpenFlags,
}

fn spec(n: u64) -> Option<&'static [Arg]> {
    use Arg::*;
    Some(match n {
        nr::READ => &[Fd, Hex, Int],
        nr::PREAD64 => &[Fd, Hex, Int, Int],
        nr::WRITE => &[Fd, BufIn(2), Int],
        nr::PWRITE64 => &[Fd, BufIn(2), Int, Int],
        nr::READV | nr::WRITEV => &[Fd, Hex, Int],
        nr::OPEN => &[Path, OpenFlags, Oct],
        nr::OPENAT => &[DirFd, Path, OpenFlags, Oct],
        nr::CREAT | nr::MKDIR | nr::CHMOD => &[Path, Oct],
        nr::MKDIRAT | nr::FCHMODAT => &[DirFd, Path, Oct],
        nr::CLOSE | nr::DUP | nr::FSYNC | nr::FDATASYNC | nr::FCHDIR => &[Fd],
        nr::DUP2 => &[Fd, Fd],
        nr::DUP3 => &[Fd, Fd, Hex],
        nr::FCNTL | nr::IOCTL => &[Fd, Hex, Hex],
        nr::LSEEK => &[Fd, Int, Int],
        nr::SENDFILE => &[Fd, Fd, Hex, Int],
        nr::SPLICE => &[Fd, Hex, Fd, Hex, Int, Hex],
        nr::TEE => &[Fd, Fd, Int, Hex],
        nr::VMSPLICE => &[Fd, Hex, Int, Hex],
        nr::CAPGET | nr::CAPSET => &[Hex, Hex],
        nr::GETDENTS64 => &[Fd, Hex, Int],
        nr::STAT | nr::LSTAT | nr::ACCESS => &[Path, Hex],
        nr::FSTAT => &[Fd, Hex],
        nr::NEWFSTATAT => &[DirFd, Path, Hex, Hex],
        nr::STATX => &[DirFd, Path, Hex, Hex, Hex],
        nr::STATFS => &[Path, Hex],
        nr::FSTATFS => &[Fd, Hex],
        nr::READLINK => &[Path, Hex, Int],
        nr::READLINKAT => &[DirFd, Path, Hex, Int],
        nr::FACCESSAT | nr::FACCESSAT2 => &[DirFd, Path, Oct, Hex],
        nr::CHDIR | nr::RMDIR | nr::UNLINK | nr::CHROOT => &[Path],
        nr::UNLINKAT => &[DirFd, Path, Hex],
        nr::RENAME | nr::SYMLINK | nr::LINK => &[Path, Path],
        nr::RENAMEAT | nr::RENAMEAT2 | nr::LINKAT => &[DirFd, Path, DirFd, Path, Hex],
        nr::SYMLINKAT => &[Path, DirFd, Path],
        nr::CHOWN | nr::LCHOWN => &[Path, Int, Int],
        nr::FCHOWNAT => &[DirFd, Path, Int, Int, Hex],
        nr::UTIMENSAT => &[DirFd, Path, Hex, Hex],
        nr::TRUNCATE => &[Path, Int],
        nr::FTRUNCATE | nr::FCHMOD => &[Fd, Int],
        nr::GETCWD => &[Hex, Int],
        nr::UMASK => &[Oct],
        nr::EXIT | nr::EXIT_GROUP => &[Int],
        nr::BRK | nr::SET_TID_ADDRESS => &[Hex],
        nr::MMAP => &[Hex, Int, Hex, Hex, Fd, Hex],
        nr::MUNMAP | nr::MPROTECT => &[Hex, Int, Hex],
        nr::ARCH_PRCTL | nr::PRCTL => &[Hex, Hex],
        nr::PRLIMIT64 => &[Int, Int, Hex, Hex],
        nr::GETRANDOM => &[Hex, Int, Hex],
        nr::SETHOSTNAME => &[BufIn(1), Int],
        nr::POLL => &[Hex, Int, Int],
        nr::PPOLL => &[Hex, Int, Hex, Hex, Int],
        nr::SETPGID => &[Int, Int],
        nr::GETPGID | nr::GETSID => &[Int],
        nr::RT_SIGACTION | nr::RT_SIGPROCMASK => &[Int, Hex, Hex, Int],
        nr::SIGALTSTACK | nr::CLOCK_GETTIME | nr::CLOCK_GETRES | nr::GETTIMEOFDAY => &[Hex, Hex],
        nr::SET_ROBUST_LIST => &[Hex, Int],
        nr::RSEQ => &[Hex, Int, Hex, Hex],
        nr::UNAME | nr::SYSINFO | nr::TIME => &[Hex],
        nr::NANOSLEEP => &[Hex, Hex],
        nr::CLOCK_NANOSLEEP => &[Int, Hex, Hex, Hex],
        nr::GETRLIMIT | nr::SETRLIMIT => &[Int, Hex],
        nr::MREMAP => &[Hex, Int, Int, Hex, Hex],
        nr::MADVISE => &[Hex, Int, Int],
        nr::FUTEX => &[Hex, Int, Int, Hex, Hex, Int],
        nr::GETPGRP | nr::SCHED_YIELD | nr::RT_SIGRETURN => &[],
        nr::GETPID | nr::GETPPID | nr::GETTID | nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => &[],
        _ => return None,
    })
}

fn quote(out: &mut String, bytes: &[u8], max: usize) {
    out.push('"');
    for &b in bytes.iter().take(max) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    if bytes.len() > max {
        out.push_str("...");
    }
}

fn open_flags(out: &mut String, f: i32) {
    out.push_str(match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    });
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        (libc::O_NOCTTY, "O_NOCTTY"),
    ] {
        if f & bit != 0 {
            out.push('|');
            out.push_str(name);
        }
    }
}

/// Formats a call: `name(arg, ...)`. Reads the guest's memory for paths
/// and input buffers.
pub fn format_call(mem: &GuestMem, n: u64, args: &[u64; 6]) -> String {
    let mut out = String::new();
    match names::name(n) {
        Some(name) => out.push_str(name),
        None => {
            let _ = write!(out, "syscall_{n}");
        }
    }
    out.push('(');
    let kinds = spec(n).unwrap_or(&[Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex]);
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let a = args[i];
        match *kind {
            Arg::Int => {
                let _ = write!(out, "{}", a as i64);
            }
            Arg::Hex => {
                let _ = write!(out, "{a:#x}");
            }
            Arg::Oct => {
                let _ = write!(out, "{a:#o}");
            }
            Arg::Fd => {
                let _ = write!(out, "{}", a as i32);
            }
            Arg::DirFd if a as i32 == libc::AT_FDCWD => out.push_str("AT_FDCWD"),
            Arg::DirFd => {
                let _ = write!(out, "{}", a as i32);
            }
            Arg::OpenFlags => open_flags(&mut out, a as i32),
            Arg::Path => match mem.read_cstr(a, 4095) {
                Ok(p) => quote(&mut out, &p, 4096),
                Err(_) => {
                    let _ = write!(out, "{a:#x}");
                }
            },
            Arg::BufIn(len_arg) => {
                let len = (args[len_arg] as usize).min(32);
                match mem.read_vec(a, len) {
                    Ok(b) => {
                        quote(&mut out, &b, 32);
                        if (args[len_arg] as usize) > 32 {
                            out.push_str("...");
                        }
                    }
                    Err(_) => {
                        let _ = write!(out, "{a:#x}");
                    }
                }
            }
        }
    }
    out.push(')');
    out
}

/// Formats a result: `= 3`, or `= -1 ENOENT (No such file or directory)`.
pub fn format_result(ret: i64) -> String {
    if (-4095..0).contains(&ret) {
        let e = Errno(-ret as i32);
        format!("= -1 {} ({e})", e.name().unwrap_or("E?"))
    } else if ret > 0xffff {
        format!("= {ret:#x}")
    } else {
        format!("= {ret}")
    }
}
