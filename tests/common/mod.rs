//! Helpers shared by the integration tests: temp dirs, guest root
//! directories, guest programs compiled at test time, and running umvm with
//! a timeout in every trap configuration.
//!
//! Each test binary uses a subset of these helpers.
#![allow(dead_code)]

pub mod disk;
pub mod netns;
pub mod tools;
pub mod uml;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A guest that runs longer than this is killed and its test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The host's busybox: Debian's busybox-static, a static x86-64 ELF.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// The PATH umvm gives init.
pub const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The umvm binary under test: cargo's build of it, or `UMVM_TEST_BIN` (to
/// test another build, such as target/release/umvm).
pub fn umvm() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("UMVM_TEST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_umvm")),
    })
}

/// Process-wide set-up, run once before anything else: a fixed umask, so
/// that files created natively and in the guest (which may inherit umvm's
/// umask) get the same modes whatever umask the test runner had.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: umask only changes this process's file mode mask.
        unsafe { libc::umask(0o022) };
    });
}

// ---------------------------------------------------------------------------
// Temp dirs

/// A directory under cargo's target/tmp, removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        init();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("umvm-{prefix}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        // Canonical, so that the path a native command prints is this one.
        let path = path.canonicalize().unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a failed test may have left anything in there.
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Guest root directories

/// The host busybox, read once per test process and checked to be a static
/// x86-64 ELF.
pub fn busybox_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let bytes = fs::read(HOST_BUSYBOX)
            .unwrap_or_else(|e| panic!("{HOST_BUSYBOX}: {e}: install busybox-static (./scripts/test does)"));
        let elf = Elf::parse(&bytes).expect("/bin/busybox is not a 64-bit ELF");
        assert_eq!(elf.machine, 62, "{HOST_BUSYBOX} is not an x86-64 ELF");
        assert!(
            !elf.phdrs.iter().any(|p| p.p_type == PT_INTERP),
            "{HOST_BUSYBOX} is dynamically linked: install busybox-static"
        );
        bytes
    })
}

/// Makes `dir` a minimal guest root: `dir/bin/busybox`.
pub fn make_rootfs(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    write_file(&dir.join("bin/busybox"), busybox_bytes(), 0o755);
}

/// The busybox applets a system root links in /bin (`/bin/NAME -> busybox`).
/// A fixed list, so that what a guest sees never depends on the host's
/// busybox build.
pub const APPLETS: &[&str] = &[
    "[", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dd", "echo", "env", "expr", "false", "grep", "head",
    "kill", "ls", "mkdir", "mkfifo", "mv", "od", "printf", "rm", "sed", "seq", "sh", "sleep", "sort", "stat", "tail",
    "tee", "test", "time", "timeout", "touch", "tr", "true", "uniq", "wc", "xargs", "yes",
];

/// Makes `dir` a small system root: make_rootfs, `/bin/APPLET -> busybox`
/// for each of APPLETS, and empty /dev, /proc and /tmp: where the kernel
/// mounts devfs, procfs and tmpfs (and where a native run in a private
/// namespace, run_native_root, bind-mounts the host's /dev and a procfs).
pub fn make_system_rootfs(dir: &Path) {
    make_rootfs(dir);
    for applet in APPLETS {
        symlink("busybox", &dir.join("bin").join(applet));
    }
    mkdir(&dir.join("dev"), 0o755);
    mkdir(&dir.join("proc"), 0o555);
    mkdir(&dir.join("tmp"), 0o1777);
}

/// A guest root directory (`/bin/busybox` and whatever a test adds) in a
/// temp dir of its own.
pub struct Rootfs {
    dir: TempDir,
}

impl Rootfs {
    pub fn new() -> Rootfs {
        let dir = TempDir::new("root");
        make_rootfs(dir.path());
        Rootfs { dir }
    }

    /// A system root (make_system_rootfs): busybox, its applet links in
    /// /bin, and empty /dev, /proc and /tmp.
    pub fn system() -> Rootfs {
        let dir = TempDir::new("root");
        make_system_rootfs(dir.path());
        Rootfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to guest path `guest` (parent directories made
    /// as needed) with permission bits `mode`.
    pub fn write(&self, guest: &str, content: impl AsRef<[u8]>, mode: u32) {
        let path = self.host_path(guest);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_file(&path, content, mode);
    }

    /// The host path of guest path `guest` (absolute, e.g. "/bin/x").
    pub fn host_path(&self, guest: &str) -> PathBuf {
        self.path().join(guest.trim_start_matches('/'))
    }

    /// Copies guest program `name` (tests/guest/NAME.c) to /bin/NAME and
    /// returns that guest path.
    pub fn install(&self, name: &str) -> String {
        let guest = format!("/bin/{name}");
        fs::copy(guest_program(name), self.host_path(&guest)).unwrap();
        guest
    }

    /// Copies host binary `host` to guest path `guest` with every shared
    /// library `ldd` lists for it (and its loader), at the same paths.
    pub fn install_with_libs(&self, host: &Path, guest: &str) {
        self.write(guest, fs::read(host).unwrap(), 0o755);
        let ldd = Command::new("ldd").arg(host).output().expect("ldd");
        for word in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
            if word.starts_with('/') {
                let lib = fs::read(word).unwrap_or_else(|e| panic!("{word}: {e}"));
                self.write(word, lib, 0o755);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The Debian image

/// The Debian root the tests share: a bookworm minbase tree made once by
/// scripts/debian-image in `${UMVM_CACHE:-~/.cache/umvm}` and reused by
/// every later test process (the script's first run takes about 30 s,
/// later ones milliseconds). It is shared input: tests must not change
/// it, neither natively nor through a guest; a test that writes uses
/// debian_copy.
///
/// None when the image cannot be had (building it needs root, debootstrap
/// and deb.debian.org): the test should then return early. Under CI
/// (`CI` set, as CI services do) that is a failure instead, so that CI
/// never passes with these tests silently skipped; elsewhere the test is
/// skipped with a loud message on stderr, so that `cargo test` as an
/// ordinary user or offline still runs everything else.
pub fn debian_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        init();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-image");
        // stderr inherited: the script says when it builds, and why it fails.
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({}; its stderr above says why)", script.display(), out.status));
        }
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end());
        if !path.join("usr/bin/sh").exists() {
            return Err(format!("{} printed {path:?}, which is not a root directory", script.display()));
        }
        Ok(path)
    });
    match root {
        Ok(path) => Some(path),
        Err(e) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("the Debian image is required under CI: {e}")
        }
        Err(e) => {
            // Straight to stderr: libtest captures eprintln! and shows it
            // only for failed tests.
            let test = std::thread::current().name().unwrap_or("?").to_string();
            let msg = format!("\n*** SKIPPED {test}: no Debian image: {e}; run scripts/debian-image as root once\n\n");
            let _ = std::io::stderr().write_all(msg.as_bytes());
            None
        }
    }
}

/// A private, writable copy of the Debian image (debian_root) in a temp
/// dir, or None like debian_root. `cp -a --reflink=auto`: nearly free on a
/// filesystem with reflinks (btrfs, xfs), otherwise a full copy of ~180 MB
/// (a second or two, and the disk space until the TempDir drops), so a test
/// takes one only when it must write.
pub fn debian_copy() -> Option<TempDir> {
    let root = debian_root()?;
    let dir = TempDir::new("debian");
    let out = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(root.join("."))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cp: {e}"));
    assert!(out.status.success(), "cp -a {} failed: {}", root.display(), String::from_utf8_lossy(&out.stderr));
    Some(dir)
}

// ---------------------------------------------------------------------------
// Guest programs

/// Compiles tests/guest/NAME.c with `musl-gcc -static -O2` (once per test
/// process; the result is cached in target/tmp by source hash) and returns
/// the binary's path.
pub fn guest_program(name: &str) -> PathBuf {
    compile_guest(name, "musl-gcc", "-static")
}

/// Like guest_program, but linked dynamically (against musl's loader).
pub fn guest_program_dynamic(name: &str) -> PathBuf {
    compile_guest(name, "musl-gcc", "-O2")
}

/// Like guest_program, but linked dynamically against the host's glibc.
pub fn guest_program_glibc(name: &str) -> PathBuf {
    compile_guest(name, "gcc", "-pie")
}

/// Like guest_program, but a static position-independent executable
/// (ET_DYN without an interpreter). Debian's musl-gcc cannot link those,
/// so this one is glibc's `gcc -static-pie`.
pub fn guest_program_static_pie(name: &str) -> PathBuf {
    compile_guest(name, "gcc", "-static-pie")
}

fn compile_guest(name: &str, cc: &'static str, link: &'static str) -> PathBuf {
    init();
    static BUILT: OnceLock<Mutex<HashMap<(String, &'static str), PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(p) = built.get(&(name.to_string(), link)) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(format!("{name}.c"));
    let mut source = fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    // The shared headers beside the sources count too: a change there rebuilds.
    let mut headers: Vec<PathBuf> = fs::read_dir(src.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    for h in headers {
        source.extend(fs::read(&h).unwrap_or_else(|e| panic!("{}: {e}", h.display())));
    }
    let flags = vec!["-O2", "-Wall", link];
    let hash = fnv1a(&[source.as_slice(), flags.join(" ").as_bytes()].concat());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("umvm-guests");
    fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}-{hash:016x}"));
    if !out.exists() {
        // Compile to a private name and rename, so that a concurrent test
        // process never sees a half-written binary.
        let tmp = dir.join(format!("{name}-{hash:016x}.tmp{}", std::process::id()));
        let result = Command::new(cc).args(&flags).arg("-o").arg(&tmp).arg(&src).output();
        match result {
            Err(e) => panic!("cannot run {cc} ({e}): ./scripts/deps installs it"),
            Ok(o) if !o.status.success() => {
                panic!("{cc} failed on {}:\n{}", src.display(), String::from_utf8_lossy(&o.stderr))
            }
            Ok(_) => fs::rename(&tmp, &out).unwrap(),
        }
    }
    built.insert((name.to_string(), link), out.clone());
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

// ---------------------------------------------------------------------------
// Trap configurations

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    Seccomp,
    Sysemu,
}

impl Trap {
    pub fn name(self) -> &'static str {
        match self {
            Trap::Seccomp => "seccomp",
            Trap::Sysemu => "sysemu",
        }
    }
}

/// One way to run a guest: a trap mode, with or without `--strace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub trap: Trap,
    pub strace: bool,
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--trap {}", self.trap.name())?;
        if self.strace {
            write!(f, " --strace --strace-file FILE")?;
        }
        Ok(())
    }
}

/// The trap modes under test: `UMVM_TEST_TRAP=seccomp|sysemu`, or both.
pub fn traps() -> Vec<Trap> {
    match std::env::var("UMVM_TEST_TRAP").as_deref() {
        Ok("seccomp") => vec![Trap::Seccomp],
        Ok("sysemu") => vec![Trap::Sysemu],
        Ok("") | Err(_) => vec![Trap::Seccomp, Trap::Sysemu],
        Ok(other) => panic!("UMVM_TEST_TRAP={other:?}: expected seccomp or sysemu"),
    }
}

/// Every configuration a behavioural test runs in: each trap mode, then the
/// first one again under `--strace --strace-file`.
pub fn configs() -> Vec<Config> {
    let traps = traps();
    let mut v: Vec<Config> = traps.iter().map(|&trap| Config { trap, strace: false }).collect();
    v.push(Config { trap: traps[0], strace: true });
    v
}

// ---------------------------------------------------------------------------
// Running umvm

/// What a finished umvm run left behind.
pub struct Run {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The `--strace-file` contents, for runs under `--strace`.
    pub strace: Option<String>,
}

impl Run {
    /// The exit code; panics if umvm itself died of a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| panic!("umvm died of a signal ({})\n{self}", self.status))
    }

    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.cmdline)?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "stdout: {:?}", clip(&self.out()))?;
        writeln!(f, "stderr: {:?}", clip(&self.err()))?;
        if let Some(s) = &self.strace {
            let lines: Vec<&str> = s.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            writeln!(f, "strace (last {} of {} lines):", tail.len(), lines.len())?;
            for l in tail {
                writeln!(f, "  {l}")?;
            }
        }
        Ok(())
    }
}

/// The first 4000 characters of `s`, for messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(4000) {
        Some((i, _)) => format!("{}... ({} bytes in all)", &s[..i], s.len()),
        None => s.to_string(),
    }
}

/// Runs `umvm ARGS` with `stdin` as its stdin, killing it after TIMEOUT.
/// RUST_LOG and UMVM_LOG are removed so that umvm's stderr is its default.
pub fn run_umvm<S: AsRef<OsStr>>(args: &[S], stdin: &[u8]) -> Run {
    run_umvm_timeout(args, stdin, TIMEOUT)
}

/// Like run_umvm, killing umvm (and failing) after `timeout`.
pub fn run_umvm_timeout<S: AsRef<OsStr>>(args: &[S], stdin: &[u8], timeout: Duration) -> Run {
    init();
    let mut cmd = Command::new(umvm());
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("UMVM_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cmdline = std::iter::once(umvm().as_os_str())
        .chain(args.iter().map(AsRef::as_ref))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", umvm().display()));
    let (status, stdout, stderr) = wait_with_timeout(child, stdin, timeout, &cmdline);
    let run = Run { cmdline, status, stdout, stderr, strace: None };
    assert!(!run.err().contains("panicked"), "umvm panicked\n{run}");
    run
}

/// Runs PROGRAM ARGS (`argv`, guest paths) as init on root `root` in
/// configuration `cfg`, with empty stdin.
pub fn run_guest(cfg: Config, root: &Path, argv: &[&str]) -> Run {
    run_guest_with_stdin(cfg, root, argv, b"")
}

/// Like run_guest, feeding `stdin` to the guest. Under `--strace`, checks
/// that the trace file was written and looks like a syscall trace.
pub fn run_guest_with_stdin(cfg: Config, root: &Path, argv: &[&str], stdin: &[u8]) -> Run {
    run_guest_timeout(cfg, root, argv, stdin, TIMEOUT)
}

/// Like run_guest_with_stdin, failing after `timeout` instead of TIMEOUT:
/// for tests whose guests finish in a second or two, so that a hang costs
/// little time before it fails.
pub fn run_guest_timeout(cfg: Config, root: &Path, argv: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    run_guest_opts(cfg, root, &[], argv, stdin, timeout)
}

/// Like run_guest_timeout, with extra `umvm run` options (`--console tty`).
pub fn run_guest_opts(cfg: Config, root: &Path, opts: &[&str], argv: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    let words: Vec<&str> = opts.iter().copied().chain(["--"]).chain(argv.iter().copied()).collect();
    run_umvm_words(cfg, root, &words, stdin, timeout)
}

/// Runs `umvm run --root-dir ROOT` in configuration `cfg` with `words`
/// after umvm's own options (the kernel command line, `--` and init's
/// argv, as a user types them), feeding it `stdin`.
pub fn run_umvm_words(cfg: Config, root: &Path, words: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    let trace_dir = cfg.strace.then(|| TempDir::new("strace"));
    let trace_file = trace_dir.as_ref().map(|d| d.path().join("strace.txt"));
    let mut args: Vec<OsString> =
        vec!["run".into(), "--root-dir".into(), root.into(), "--trap".into(), cfg.trap.name().into()];
    if let Some(f) = &trace_file {
        args.push("--strace".into());
        args.push("--strace-file".into());
        args.push(f.into());
    }
    args.extend(words.iter().map(OsString::from));
    let mut run = run_umvm_timeout(&args, stdin, timeout);
    if let Some(f) = &trace_file {
        let trace = fs::read(f)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| panic!("--strace-file {} not written: {e}\n{run}", f.display()));
        run.strace = Some(trace);
        check_strace(&run);
    }
    run
}

/// A trace must name the calls the guest made, one line each, and none of
/// it may have leaked into the guest's stderr.
fn check_strace(run: &Run) {
    let trace = run.strace.as_deref().unwrap();
    assert!(!trace.trim().is_empty(), "--strace-file is empty\n{run}");
    // The trace must reach the guest's end: its exit_group call, the exit
    // itself, or the reboot(2) call that ended the machine. (A guest
    // killed by a signal, status 128+N, never calls exit_group.)
    if let Some(code) = run.status.code().filter(|&c| c < 128) {
        assert!(
            trace.contains("exit_group(")
                || trace.contains(&format!("exited with {code}"))
                || trace.contains("reboot("),
            "the strace file shows neither exit_group(, reboot( nor the exit with {code}\n{run}"
        );
    }
    if !run.stdout.is_empty() || !run.stderr.is_empty() {
        assert!(
            ["write(", "writev(", "sendfile("].iter().any(|call| trace.contains(call)),
            "the guest wrote output but the strace file has no write(, writev( or sendfile( line\n{run}"
        );
    }
    assert!(!run.err().contains("exit_group("), "with --strace-file, the trace must not go to stderr\n{run}");
}

fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=+:,".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Feeds `stdin` to `child`, collects its stdout and stderr, and waits for
/// it; kills it and panics if it runs longer than `timeout`.
pub fn wait_with_timeout(
    mut child: Child,
    stdin: &[u8],
    timeout: Duration,
    what: &str,
) -> (ExitStatus, Vec<u8>, Vec<u8>) {
    let (tx, rx) = mpsc::channel();
    let reader = |mut pipe: Box<dyn Read + Send>, which: u8| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((which, buf));
        });
    };
    reader(Box::new(child.stdout.take().unwrap()), 1);
    reader(Box::new(child.stderr.take().unwrap()), 2);
    drop(tx);
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // A guest that does not read its stdin closes nothing: ignore EPIPE.
    std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((1, b)) => stdout = b,
            Ok((_, b)) => stderr = b,
            Err(_) => break,
        }
    }
    if timed_out {
        panic!(
            "timed out after {timeout:?} and killed: {what}\nstdout: {:?}\nstderr: {:?}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
    (status, stdout, stderr)
}

/// Runs the host's busybox natively: `busybox ARGS` in `cwd`, with the
/// environment the guest gets plus TZ=UTC0 (the guest has no
/// /etc/localtime, so it uses UTC too).
pub fn run_native_busybox(cwd: &Path, args: &[String]) -> (i32, Vec<u8>, Vec<u8>) {
    init();
    let child = Command::new(HOST_BUSYBOX)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("HOME", "/")
        .env("TERM", "linux")
        .env("PATH", GUEST_PATH)
        .env("TZ", "UTC0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let what = format!("native busybox {args:?}");
    let (status, out, err) = wait_with_timeout(child, b"", TIMEOUT, &what);
    (status.code().expect("native busybox killed"), out, err)
}

/// The TERM umvm gives init: the one it was started with, or "linux".
pub fn guest_term() -> String {
    std::env::var("TERM").unwrap_or_else(|_| "linux".into())
}

/// What a native run (run_native_root) left behind.
pub struct NativeRun {
    /// The exit status, or 128 + N for a death by signal N (as umvm
    /// reports a guest init's death).
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl NativeRun {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Display for NativeRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "native status: {}", self.code)?;
        writeln!(f, "native stdout: {:?}", clip(&self.out()))?;
        writeln!(f, "native stderr: {:?}", clip(&self.err()))
    }
}

/// Runs `argv` (guest paths) natively on the host as the guest would run
/// it: chrooted into `root`, as pid 1 of a new pid namespace (so that `$$`,
/// getppid() of orphans and init's immunity to unhandled signals are the
/// guest's), with the host's /dev bind-mounted on root/dev, a procfs on
/// root/proc (busybox runs applets through /proc/self/exe), a tmpfs on
/// root/tmp (as in the guest, and so that what a test writes there never
/// reaches a shared tree), umvm's default hostname, and the environment
/// umvm gives init. Uses a user namespace (`unshare -r`), so it
/// needs no privileges of its own; the mounts vanish with the namespace.
/// `root` must have /dev and /proc directories (make_system_rootfs).
pub fn run_native_root(root: &Path, argv: &[&str], stdin: &[u8], timeout: Duration) -> NativeRun {
    init();
    // `sh -c SCRIPT sh ROOT ARGV...`: the script runs as pid 1 of the new
    // namespace and execs chroot, which execs ARGV, so ARGV[0] is pid 1.
    const SETUP: &str = r#"mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
        { [ ! -d "$1/tmp" ] || mount -t tmpfs tmpfs "$1/tmp"; } && /bin/busybox hostname umvm &&
        exec /bin/busybox chroot "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "--pid", "--uts", "--fork", "--kill-child"])
        .args([HOST_BUSYBOX, "sh", "-c", SETUP, "sh"])
        .arg(root)
        .args(argv)
        .env_clear()
        .env("HOME", "/")
        .env("TERM", guest_term())
        .env("PATH", GUEST_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
    let what = format!("native {argv:?} in {}", root.display());
    let (status, stdout, stderr) = wait_with_timeout(child, stdin, timeout, &what);
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    let err = String::from_utf8_lossy(&stderr);
    assert!(
        !err.starts_with("unshare:") && !err.starts_with("mount: "),
        "{what}: cannot set up the native namespace (needs user namespaces): {err}"
    );
    NativeRun { code, stdout, stderr }
}

// ---------------------------------------------------------------------------
// Files and trees

/// Writes `content` to `path` with permission bits `mode` (exactly).
pub fn write_file(path: &Path, content: impl AsRef<[u8]>, mode: u32) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkdir(path: &Path, mode: u32) {
    fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(target.as_ref(), link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

/// Sets the access and modification times of `path` (not following a
/// symlink) to `secs` since the epoch.
pub fn set_time(path: &Path, secs: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let t = libc::timespec { tv_sec: secs, tv_nsec: 0 };
    let times = [t, t];
    // SAFETY: `c` is a NUL-terminated path and `times` two valid timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    assert_eq!(r, 0, "utimensat {}: {}", path.display(), std::io::Error::last_os_error());
}

/// Sets the times of everything under `dir` (and `dir` itself) to `secs`,
/// children before parents.
pub fn set_times_recursive(dir: &Path, secs: i64) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            set_times_recursive(&e.path(), secs);
        } else {
            set_time(&e.path(), secs);
        }
    }
    set_time(dir, secs);
}

/// One entry of a tree snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(PathBuf),
    Other(u32),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub mtime: Mtime,
}

/// A modification time as far as two copies made at slightly different
/// moments can agree on it.
#[derive(Debug, PartialEq, Eq)]
pub enum Mtime {
    /// Set explicitly (whole seconds, more than a day ago): compared.
    Set(i64),
    /// Set by the clock while the test ran: not compared.
    Recent,
}

/// Everything under `dir` (not `dir` itself), by relative path: type,
/// content or link target, permission bits, owner, link count, and the
/// mtime when it was set explicitly (see Mtime).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let day_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 - 86_400;
    fn walk(root: &Path, dir: &Path, day_ago: i64, out: &mut BTreeMap<PathBuf, Entry>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let md = fs::symlink_metadata(&path).unwrap();
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                walk(root, &path, day_ago, out);
                Kind::Dir
            } else if ft.is_symlink() {
                Kind::Symlink(fs::read_link(&path).unwrap())
            } else if ft.is_file() {
                Kind::File(fs::read(&path).unwrap())
            } else {
                Kind::Other(md.mode() & libc::S_IFMT)
            };
            let entry = Entry {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                nlink: md.nlink(),
                mtime: if md.mtime() < day_ago && md.mtime_nsec() == 0 {
                    Mtime::Set(md.mtime())
                } else {
                    Mtime::Recent
                },
            };
            out.insert(path.strip_prefix(root).unwrap().to_path_buf(), entry);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, day_ago, &mut out);
    out
}

/// Asserts that two snapshots are equal, naming the first difference.
pub fn assert_same_tree(guest: &BTreeMap<PathBuf, Entry>, native: &BTreeMap<PathBuf, Entry>, what: &str) {
    for (path, n) in native {
        match guest.get(path) {
            None => panic!("{what}: {} exists natively but not in the guest", path.display()),
            Some(g) => assert_eq!(g, n, "{what}: {} differs (left: guest)", path.display()),
        }
    }
    for path in guest.keys() {
        assert!(native.contains_key(path), "{what}: {} exists in the guest but not natively", path.display());
    }
}

// ---------------------------------------------------------------------------
// ELF

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;

pub struct Phdr {
    pub p_type: u32,
    pub offset: u64,
    pub filesz: u64,
}

/// The little of a 64-bit little-endian ELF header the tests need.
pub struct Elf {
    pub machine: u16,
    pub phdrs: Vec<Phdr>,
}

impl Elf {
    pub fn parse(b: &[u8]) -> Option<Elf> {
        if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
            return None;
        }
        let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let phoff = usize::try_from(u64_at(32)).ok()?;
        let phentsize = usize::from(u16_at(54));
        let phnum = usize::from(u16_at(56));
        let mut phdrs = Vec::new();
        for i in 0..phnum {
            let o = phoff.checked_add(i.checked_mul(phentsize)?)?;
            if o.checked_add(56)? > b.len() {
                return None;
            }
            phdrs.push(Phdr { p_type: u32_at(o), offset: u64_at(o + 8), filesz: u64_at(o + 32) });
        }
        Some(Elf { machine: u16_at(18), phdrs })
    }
}
