//! `Vm` and `VmBuilder`: configuration in, a running machine, its exit
//! status out. The CLI is a thin client of this API.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use crate::dev::console::{ConsoleMode, TerminalGuard};
use crate::dev::ubd::Ubd;
use crate::errno::Errno;
use crate::fs::do_mounts::{mount_root, RootError, RootSpec};
use crate::fs::ext2_mount::Ext2Mount;
use crate::fs::hostfs::HostFs;
use crate::fs::Vfs;
use crate::kernel::Kernel;
use crate::sched::{self, Event, InitError, InitSpec, Msg, TracerLoop};
use crate::trap::{seccomp, TrapMode};

/// Why a VM could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The host directory for the root filesystem is unusable.
    #[error("--root-dir {}: {errno}", .path.display())]
    RootDir {
        /// The directory given.
        path: PathBuf,
        /// What is wrong with it.
        errno: Errno,
    },
    /// The host directory for the tmpfs mounts could not be made.
    #[error(transparent)]
    Tmpfs(#[from] crate::fs::tmpfs::BackingError),
    /// The `hostfs=` directory is unusable.
    #[error("hostfs={}: {errno}", .path.display())]
    HostfsPrefix {
        /// The directory given.
        path: PathBuf,
        /// Why it cannot be used.
        errno: Errno,
    },
    /// No root filesystem was given.
    #[error("no root filesystem: give ubd0=IMAGE or --root-dir DIR")]
    NoRoot,
    /// The root filesystem could not be mounted from its disk.
    #[error(transparent)]
    Root(#[from] RootError),
    /// The seccomp filter could not be built.
    #[error(transparent)]
    Filter(#[from] seccomp::FilterError),
    /// Init could not be started.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The kernel's threads stopped without an answer.
    #[error("the tracer loops stopped unexpectedly")]
    Lost,
}

/// Configures a VM.
pub struct VmBuilder {
    root_dir: Option<PathBuf>,
    root_disk: Option<Arc<Ext2Mount>>,
    disks: Vec<Arc<Ubd>>,
    root: RootSpec,
    hostfs_prefix: Option<PathBuf>,
    trap: TrapMode,
    strace: Option<Box<dyn Write + Send>>,
    init: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    pin: bool,
    mem_bytes: u64,
    console: ConsoleMode,
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            root_dir: None,
            root_disk: None,
            disks: Vec::new(),
            root: RootSpec::default(),
            hostfs_prefix: None,
            trap: TrapMode::default(),
            strace: None,
            init: vec![b"/sbin/init".to_vec()],
            env: vec![b"HOME=/".to_vec(), b"TERM=linux".to_vec()],
            pin: true,
            mem_bytes: 256 << 20,
            console: ConsoleMode::Auto,
        }
    }
}

impl VmBuilder {
    /// A VM with UML's defaults: init is /sbin/init, 256 MiB of memory.
    pub fn new() -> VmBuilder {
        VmBuilder::default()
    }

    /// Uses host directory `dir` as the guest's `/` (hostfs, jailed).
    pub fn root_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.root_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Confines the guest's hostfs mounts to the host directory `dir`
    /// (UML's `hostfs=` switch): `mount -t hostfs none DIR -o PATH` then
    /// mounts `dir/PATH`, and no PATH leaves `dir`. Without it a guest's
    /// root may mount any host directory umvm can read, as in UML.
    pub fn hostfs_prefix(mut self, dir: impl AsRef<Path>) -> Self {
        self.hostfs_prefix = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Chooses the trap back end.
    pub fn trap(mut self, mode: TrapMode) -> Self {
        self.trap = mode;
        self
    }

    /// Prints every guest syscall to `sink`.
    pub fn strace(mut self, sink: Box<dyn Write + Send>) -> Self {
        self.strace = Some(sink);
        self
    }

    /// init's argv; `argv[0]` is the program's guest path.
    pub fn init(mut self, argv: Vec<Vec<u8>>) -> Self {
        if !argv.is_empty() {
            self.init = argv;
        }
        self
    }

    /// init's environment.
    pub fn env(mut self, env: Vec<Vec<u8>>) -> Self {
        self.env = env;
        self
    }

    /// Pins tracer loops to CPUs (default); off is for measurements.
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// The memory the guest is told it has (`mem=`).
    pub fn mem(mut self, bytes: u64) -> Self {
        self.mem_bytes = bytes;
        self
    }

    /// Chooses what the console is (a terminal, or umvm's streams).
    pub fn console(mut self, mode: ConsoleMode) -> Self {
        self.console = mode;
        self
    }

    /// Boots from a disk: `fs`, mounted, is the root filesystem (instead
    /// of a `root_dir`).
    pub fn root_disk(mut self, fs: Arc<Ext2Mount>) -> Self {
        self.root_disk = Some(fs);
        self
    }

    /// Gives the VM a ubd disk (`ubdN=`): without a root directory, the
    /// root filesystem is on one of them (see [`VmBuilder::root`]).
    pub fn disk(mut self, disk: Arc<Ubd>) -> Self {
        self.disks.push(disk);
        self
    }

    /// Where the root filesystem is, when the VM boots from a disk
    /// (`root=`, `rootfstype=`, `ro`, `rw`).
    pub fn root(mut self, spec: RootSpec) -> Self {
        self.root = spec;
        self
    }

    /// The guest's namespace: the root disk's, else the root directory's.
    fn vfs(&mut self) -> Result<Vfs, VmError> {
        if self.root_disk.is_none() && self.root_dir.is_none() && !self.disks.is_empty() {
            self.root_disk = Some(mount_root(&self.disks, &self.root)?);
        }
        if let Some(disk) = self.root_disk.take() {
            let mut vfs = Vfs::new_on_disk(disk)?;
            vfs.attach_disks(std::mem::take(&mut self.disks));
            return Ok(vfs);
        }
        let root_dir = self.root_dir.take();
        let dir = root_dir.ok_or(VmError::NoRoot)?;
        let bad = |e: std::io::Error| VmError::RootDir { path: dir.clone(), errno: e.into() };
        let meta = std::fs::metadata(&dir).map_err(bad)?;
        if !meta.is_dir() {
            return Err(VmError::RootDir { path: dir, errno: Errno::ENOTDIR });
        }
        let fs = HostFs::open(&dir).map_err(bad)?;
        let mut vfs = Vfs::new(fs)?;
        vfs.attach_disks(std::mem::take(&mut self.disks));
        Ok(vfs)
    }

    /// Checks the configuration and builds the VM.
    pub fn build(mut self) -> Result<Vm, VmError> {
        let mut vfs = self.vfs()?;
        let filter = match self.trap {
            TrapMode::Seccomp => Some(seccomp::filter()?),
            TrapMode::Sysemu => None,
        };
        let strace = self.strace.map(Mutex::new);
        let cpus = sched::allowed_cpus();
        if let Some(prefix) = self.hostfs_prefix.take() {
            let bad = |errno: Errno| VmError::HostfsPrefix { path: prefix.clone(), errno };
            let meta = std::fs::metadata(&prefix).map_err(|e| bad(e.into()))?;
            if !meta.is_dir() {
                return Err(bad(Errno::ENOTDIR));
            }
            let abs = std::fs::canonicalize(&prefix).map_err(|e| bad(e.into()))?;
            vfs.set_hostfs_prefix(abs);
        }
        let tty = if self.console.is_tty() { crate::dev::tty::Tty::new() } else { None };
        let kernel = Kernel::new(vfs, self.trap.platform(), filter, strace, self.mem_bytes, cpus.clone(), tty);
        Ok(Vm { kernel, init: self.init, env: self.env, pin: self.pin, cpus })
    }
}

/// A configured machine. Dropping it (after [`Vm::run`] returns, whatever
/// it returns) removes what the VM kept on the host, such as its tmpfs
/// files: the kernel itself lives on in threads that never end.
pub struct Vm {
    kernel: Arc<Kernel>,
    init: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    pin: bool,
    cpus: Vec<usize>,
}

impl Vm {
    /// Boots the VM and runs it until init ends; returns init's exit
    /// status (128+N when a signal N killed it).
    pub fn run(mut self) -> Result<i32, VmError> {
        let terminal = TerminalGuard::save();
        if self.kernel.tty.as_ref().is_some_and(|t| t.on_host_terminal()) {
            terminal.raw();
        }
        // The guest's umask alone decides the modes of files it creates.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0) };
        // ^C at the host terminal is for the guest's foreground job: every
        // thread started from here on blocks the terminal signals, and one
        // thread takes and forwards them.
        crate::dev::console::block_terminal_signals();
        let k = self.kernel.clone();
        std::thread::Builder::new()
            .name("umvm-tty-signals".into())
            .spawn(move || crate::dev::console::forward_terminal_signals(&k))
            .map_err(|_| VmError::Lost)?;
        let (events_tx, events) = mpsc::channel();
        for (id, &cpu) in self.cpus.iter().enumerate() {
            let l = TracerLoop::new(id, self.kernel.clone(), self.pin.then_some(cpu), events_tx.clone());
            std::thread::Builder::new()
                .name(format!("umvm-cpu{cpu}"))
                .spawn(move || l.run())
                .map_err(|_| VmError::Lost)?;
        }
        let k = self.kernel.clone();
        std::thread::Builder::new()
            .name("umvm-timers".into())
            .spawn(move || k.timers.run(&k))
            .map_err(|_| VmError::Lost)?;
        let k = self.kernel.clone();
        std::thread::Builder::new()
            .name("umvm-console".into())
            .spawn(move || match &k.tty {
                Some(tty) => tty.run_input(&k),
                None => k.console_input.watch(&k),
            })
            .map_err(|_| VmError::Lost)?;
        drop(events_tx);
        let argv = std::mem::take(&mut self.init);
        let spec = InitSpec { path: argv[0].clone(), argv, envp: std::mem::take(&mut self.env) };
        self.kernel.post(0, Msg::StartInit(spec));
        let result = match events.recv() {
            Ok(Event::Halted(status)) => Ok(status),
            Ok(Event::InitFailed(e)) => Err(VmError::Init(e)),
            Err(_) => Err(VmError::Lost),
        };
        if let Some(sink) = &self.kernel.strace {
            if let Ok(mut w) = sink.lock() {
                let _ = w.flush();
            }
        }
        result
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kernel.vfs.release();
    }
}
