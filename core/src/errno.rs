//! Linux error numbers as the guest sees them.

use std::fmt;

/// A Linux errno, returned to the guest as `-errno` in `rax`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// What every syscall handler returns: the value for `rax`, or an errno.
pub type SysResult = Result<i64, Errno>;

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[allow(missing_docs)]
                pub const $name: Errno = Errno(libc::$name);
            )*

            /// The symbolic name (`"ENOENT"`), as strace prints it.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(libc::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    ENOTBLK,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    ERANGE,
    ENAMETOOLONG,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    EOVERFLOW,
    ELIBBAD,
    ETXTBSY,
    EOPNOTSUPP,
    EAFNOSUPPORT,
    ENOTSOCK,
    ENODATA,
    ENOLCK,
    EUCLEAN,
    // sockets
    EADDRINUSE,
    EADDRNOTAVAIL,
    ECONNREFUSED,
    ECONNRESET,
    EDESTADDRREQ,
    EISCONN,
    EMSGSIZE,
    ENOBUFS,
    ENOPROTOOPT,
    ENOTCONN,
    EPROTONOSUPPORT,
    EPROTOTYPE,
    ESOCKTNOSUPPORT,
);

impl Errno {
    /// Kernel-internal (Linux's ERESTARTSYS): the syscall registered what
    /// it waits for and must be re-run when woken. Never reaches a guest.
    pub const BLOCK: Errno = Errno(512);

    /// Kernel-internal (Linux's ERESTARTNOINTR): the syscall is to be
    /// made again from the start once the signals just sent to the caller
    /// are handled (a background read after SIGTTIN). Never reaches a guest.
    pub const RESTART: Errno = Errno(513);

    /// The calling thread's current `errno`, after a failed libc call.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    }

    /// Wraps a libc return value: `-1` becomes the current errno.
    pub fn result<T: PartialOrd + Default>(ret: T) -> Result<T, Errno> {
        if ret < T::default() {
            Err(Errno::last())
        } else {
            Ok(ret)
        }
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl fmt::Display for Errno {
    /// The C library's message ("No such file or directory").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: strerror_r writes a NUL-terminated string into `buf`.
        let ok = unsafe { libc::strerror_r(self.0, buf.as_mut_ptr(), buf.len()) } == 0;
        if !ok {
            return write!(f, "errno {}", self.0);
        }
        // SAFETY: strerror_r succeeded, so `buf` holds a C string.
        let msg = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        f.write_str(&msg.to_string_lossy())
    }
}

impl std::error::Error for Errno {}
