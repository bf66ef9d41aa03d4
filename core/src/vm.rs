//! `Vm` and `VmBuilder`: configuration in, a running machine, its exit
//! status out. The CLI is a thin client of this API.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use crate::cmdline::{Cmdline, CmdlineError};
use crate::dev::console::{ConsoleMode, TerminalGuard};
use crate::dev::net::{NicTable, PortLink};
use crate::dev::ubd::Ubd;
use crate::errno::Errno;
use crate::fs::do_mounts::{mount_root, RootError, RootSpec};
use crate::fs::ext2_mount::Ext2Mount;
use crate::fs::hostfs::HostFs;
use crate::fs::Vfs;
use crate::kernel::{Kernel, MachineSpec};
use crate::mconsole::commands::Commands;
use crate::mconsole::nic_plug::NicPlug;
use crate::mconsole::server::{Location, Server};
use crate::power::PowerAction;
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
    /// `ip=` cannot be applied.
    #[error("ip={value}: {why}")]
    Ip {
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// The NIC receive thread could not start.
    #[error("network: cannot start the receive thread: {0}")]
    NetThread(std::io::Error),
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

/// The guest's memory unless `mem=` says otherwise (UML's default).
pub const DEFAULT_MEM: u64 = 256 << 20;

/// Configures a VM.
pub struct VmBuilder {
    root_dir: Option<PathBuf>,
    root_disk: Option<Arc<Ext2Mount>>,
    disks: Vec<Arc<Ubd>>,
    nics: Vec<(String, umvm_netio::Port)>,
    root: RootSpec,
    hostfs_prefix: Option<PathBuf>,
    trap: TrapMode,
    strace: Option<Box<dyn Write + Send>>,
    cmdline: Cmdline,
    env: Vec<Vec<u8>>,
    pin: bool,
    mem_bytes: u64,
    console: ConsoleMode,
    mconsole: bool,
}

/// The mconsole a VM serves (see [`VmBuilder::mconsole`]).
struct MconsoleSpec {
    location: Location,
    notify: Option<PathBuf>,
    disks: Vec<(Vec<u8>, Vec<u8>)>,
    /// The `ethN=` words, for `config ethN`.
    nics: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            root_dir: None,
            root_disk: None,
            disks: Vec::new(),
            nics: Vec::new(),
            root: RootSpec::default(),
            hostfs_prefix: None,
            trap: TrapMode::default(),
            strace: None,
            cmdline: Cmdline::default(),
            env: vec![b"HOME=/".to_vec(), b"TERM=linux".to_vec()],
            pin: true,
            mem_bytes: DEFAULT_MEM,
            console: ConsoleMode::Auto,
            mconsole: false,
        }
    }
}

impl VmBuilder {
    /// A VM with umvm's defaults: an empty kernel command line (so init
    /// is the first of /sbin/init, /etc/init, /bin/init and /bin/sh), 256
    /// MiB of memory, host name "umvm".
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

    /// The kernel command line: UML-style words (`mem=256M`,
    /// `init=/bin/sh`, `hostname=NAME`, `ro`, ...), then optionally `--`
    /// and init's program and arguments (see [`Cmdline::parse`]). They are
    /// /proc/cmdline; `mem=` overrides [`VmBuilder::mem`]. Unknown
    /// `key=value` words join init's environment, unknown bare words its
    /// argv, as in Linux.
    pub fn cmdline<W: AsRef<[u8]>>(mut self, words: &[W]) -> Result<Self, CmdlineError> {
        self.cmdline = Cmdline::parse(words)?;
        Ok(self)
    }

    /// init's environment before the command line's `key=value` words.
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

    /// Serves UML's management console while the VM runs (off by
    /// default): the socket `<uml_dir>/<umid>/mconsole`, from the command
    /// line's `umid=` (else a random one, said on stderr when it is a
    /// terminal) and `uml_dir=`
    /// (else `$HOME/.uml`), with a `pid` file beside it, all removed when
    /// the VM ends; `mconsole=notify:PATH` is told the socket's path at
    /// boot. A socket that cannot be made is said on stderr, as UML does,
    /// and the VM runs without it.
    pub fn mconsole(mut self, on: bool) -> Self {
        self.mconsole = on;
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

    /// Gives the VM a network card `name` (`eth0`) over a host transport (`ethN=`); cards are named in
    /// the order given, after `lo`. It starts down, unless `ip=` configures it.
    pub fn nic(mut self, name: &str, port: umvm_netio::Port) -> Self {
        self.nics.push((name.to_string(), port));
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
        crate::mm::oom::set_machine_mem(self.cmdline.mem.unwrap_or(self.mem_bytes));
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
        let machine = MachineSpec {
            mem_bytes: self.cmdline.mem.unwrap_or(self.mem_bytes),
            cmdline: self.cmdline.proc_text(),
            hostname: self.cmdline.hostname.clone().unwrap_or_else(|| b"umvm".to_vec()),
        };
        let ip = match &self.cmdline.ip {
            Some(v) => {
                let value = String::from_utf8_lossy(v).into_owned();
                crate::net::ipconfig::parse(&value).map_err(|why| VmError::Ip { value, why: why.into() })?
            }
            None => None,
        };
        let mut machine = machine;
        if let (Some(h), None) = (ip.as_ref().and_then(|c| c.hostname.as_ref()), &self.cmdline.hostname) {
            machine.hostname = h.clone().into_bytes();
        }
        let kernel = Kernel::new(vfs, self.trap.platform(), filter, strace, machine, cpus.clone(), tty);
        let nics = attach_nics(&kernel, std::mem::take(&mut self.nics))?;
        if let Some(c) = ip {
            configure_ip(&kernel, &c).map_err(|why| VmError::Ip {
                value: String::from_utf8_lossy(self.cmdline.ip.as_deref().unwrap_or_default()).into_owned(),
                why,
            })?;
        }
        let init = InitSpec {
            choice: self.cmdline.init_choice(),
            args: self.cmdline.init_args.clone(),
            envp: self.cmdline.merge_env(&self.env),
        };
        let mconsole = self.mconsole.then(|| MconsoleSpec {
            location: Location {
                uml_dir: self.cmdline.uml_dir.as_deref().map(|d| PathBuf::from(std::ffi::OsStr::from_bytes(d))),
                umid: self.cmdline.umid.as_deref().map(|u| String::from_utf8_lossy(u).into_owned()),
            },
            notify: self.cmdline.mconsole_notify.as_deref().map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p))),
            disks: self.cmdline.disks.clone(),
            nics: self.cmdline.nics.clone(),
        });
        Ok(Vm { kernel, init: Some(init), pin: self.pin, cpus, nics, mconsole, mconsole_server: None })
    }
}

/// Adds each card to the guest's stack and to the table the NIC thread will serve.
fn attach_nics(k: &Kernel, nics: Vec<(String, umvm_netio::Port)>) -> Result<NicLinks, VmError> {
    let table = Arc::new(NicTable::new().map_err(VmError::NetThread)?);
    let mut boot = Vec::new();
    for (name, port) in nics {
        let mac = port.mac().0;
        let link = Arc::new(PortLink::new(Arc::new(port), table.bell().clone()));
        k.inet.configure(|st| st.add_ethernet(&name, mac, link.clone()));
        table.add(link.clone());
        boot.push((name, link));
    }
    Ok(NicLinks { table, boot })
}

/// The network cards' host sides, for the NIC thread and the mconsole.
struct NicLinks {
    table: Arc<NicTable>,
    /// The boot cards, by name.
    boot: Vec<(String, Arc<PortLink>)>,
}

/// Applies `ip=`: the address, the link up, the default gateway, as `ip addr add`, `ip link set up` and
/// `ip route add default via` would.
fn configure_ip(k: &Kernel, c: &crate::net::ipconfig::IpConfig) -> Result<(), String> {
    k.inet.configure(|st| {
        let id =
            st.nic_by_name(&c.device).ok_or_else(|| format!("no network card {} (give {}=...)", c.device, c.device))?;
        // Linux's ipconfig gives an IPv4 address its subnet's broadcast address.
        let brd = match c.addr {
            std::net::IpAddr::V4(a) => crate::net::stack::netdev::v4_broadcast(a, c.prefix),
            std::net::IpAddr::V6(_) => None,
        };
        st.add_if_addr(id, c.addr, c.prefix, brd, None).map_err(|e| format!("{}: {e}", c.device))?;
        st.set_if_up(id, true).map_err(|e| format!("{}: {e}", c.device))?;
        if let Some(g) = c.gateway {
            if !st.nics()[id].on_link(g) {
                return Err(format!("the gateway {g} is not on {}/{}", c.addr, c.prefix));
            }
            st.add_default_route(g, Some(id), false).map_err(|e| format!("{}: {e}", c.device))?;
        }
        Ok(())
    })
}

/// How a VM's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Init ended, with this exit status (128+N if signal N killed it).
    InitExited(i32),
    /// The guest halted the machine (reboot(2) LINUX_REBOOT_CMD_HALT).
    Halted,
    /// The guest powered it off (LINUX_REBOOT_CMD_POWER_OFF).
    PoweredOff,
    /// The guest restarted it (LINUX_REBOOT_CMD_RESTART, RESTART2): the
    /// caller boots the same configuration again.
    Restart,
    /// The kernel panicked (mconsole `sysrq c`).
    Panicked,
}

impl Ending {
    /// umvm's exit status for this ending: init's, 0 after a halt or
    /// power-off (as UML's), 1 after a panic (UML's uml_exitcode). Restart
    /// has none (the VM boots again).
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::InitExited(status) => status,
            Ending::Halted | Ending::PoweredOff | Ending::Restart => 0,
            Ending::Panicked => 1,
        }
    }
}

/// A configured machine. Dropping it (after [`Vm::run`] returns, whatever
/// it returns) removes what the VM kept on the host, such as its tmpfs
/// files: the kernel itself lives on in threads that never end.
pub struct Vm {
    kernel: Arc<Kernel>,
    init: Option<InitSpec>,
    pin: bool,
    cpus: Vec<usize>,
    /// The network cards' host sides.
    nics: NicLinks,
    /// The mconsole to serve, until it is started.
    mconsole: Option<MconsoleSpec>,
    /// The mconsole being served: its directory goes with the VM.
    mconsole_server: Option<Server>,
}

impl Vm {
    /// Starts the mconsole thread (UML's mconsole_init): the socket's
    /// path on stderr, as UML's boot message, and to the notify socket.
    fn start_mconsole(&mut self) {
        let Some(spec) = self.mconsole.take() else { return };
        if let Some(n) = &spec.notify {
            // /proc/mconsole, whether or not the mconsole socket comes up.
            let _ = self.kernel.mconsole_notify.set(n.clone());
        }
        let nics = NicPlug::new(self.nics.table.clone(), &self.nics.boot, &spec.nics);
        let handler = Arc::new(Commands::new(&self.kernel, &spec.disks, nics));
        let home = std::env::var_os("HOME").map(PathBuf::from);
        match Server::start(&spec.location, home.as_deref(), handler) {
            Ok(s) => {
                // UML's boot message; on a terminal (where a person needs
                // the random umid) or when umid= was given, so that a
                // script's view of umvm's stderr stays its errors alone.
                if spec.location.umid.is_some() || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprintln!("mconsole (version 2) initialized on {}", s.socket().display());
                } else {
                    tracing::info!("mconsole (version 2) initialized on {}", s.socket().display());
                }
                if let Some(n) = &spec.notify {
                    if let Err(e) = crate::mconsole::server::notify_socket(n, s.socket()) {
                        eprintln!("umvm: mconsole=notify:{}: {e}", n.display());
                    }
                }
                self.mconsole_server = Some(s);
            }
            Err(e) => eprintln!("umvm: mconsole: {e}"),
        }
    }

    /// Boots the VM and runs it until init ends or the guest halts,
    /// powers off or restarts it (reboot(2)); then every guest process
    /// is killed and the filesystems are released (power::shut_down).
    /// A restart is the caller's to do: boot the same configuration again
    /// in a fresh VM (the CLI re-executes itself, as UML does).
    pub fn run(mut self) -> Result<Ending, VmError> {
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
            .name("umvm-oom".into())
            .spawn(move || crate::mm::oom::run(&k))
            .map_err(|_| VmError::Lost)?;
        let k = self.kernel.clone();
        std::thread::Builder::new()
            .name("umvm-console".into())
            .spawn(move || match &k.tty {
                Some(tty) => tty.run_input(&k),
                None => k.console_input.watch(&k),
            })
            .map_err(|_| VmError::Lost)?;
        // Without cards, the thread is needed only if the mconsole may plug some in.
        if !self.nics.table.is_empty() || self.mconsole.is_some() {
            let cpu = self.pin.then(|| self.cpus.first().copied()).flatten();
            crate::dev::net::receiver::spawn(self.kernel.clone(), self.nics.table.clone(), cpu)
                .map_err(VmError::NetThread)?;
        }
        self.kernel.power.connect(events_tx);
        self.start_mconsole();
        let spec = self.init.take().ok_or(VmError::Lost)?;
        self.kernel.post(0, Msg::StartInit(spec));
        let result = match events.recv() {
            Ok(Event::Halted(status)) => Ok(Ending::InitExited(status)),
            Ok(Event::Power(PowerAction::Halt)) => Ok(Ending::Halted),
            Ok(Event::Power(PowerAction::PowerOff)) => Ok(Ending::PoweredOff),
            Ok(Event::Power(PowerAction::Restart)) => Ok(Ending::Restart),
            Ok(Event::Panicked) => Ok(Ending::Panicked),
            Ok(Event::InitFailed(e)) => Err(VmError::Init(e)),
            Err(_) => Err(VmError::Lost),
        };
        self.kernel.oom.stop();
        if result.is_ok() {
            crate::power::shut_down(&self.kernel);
        }
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
