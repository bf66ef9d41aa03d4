//! The host side of the mconsole (UML's mconsole_user.c and umid.c): the
//! umid directory with its `pid` file, the datagram socket in it, the
//! thread that answers requests, and the notify channel. It knows nothing
//! of guests: each request's text goes to a [`Handler`].

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::wire::{self, NotifyType, Received, Reply};

/// UML's limit on a umid's length (UMID_LEN - 1).
pub const MAX_UMID: usize = 63;

/// Why the mconsole could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MconsoleError {
    /// The umid is not a usable directory name.
    #[error("umid={0}: a umid is 1 to 63 characters, without `/`")]
    BadUmid(String),
    /// No uml_dir= and no $HOME to find ~/.uml in.
    #[error("no uml_dir= and $HOME is not set: nowhere to put the mconsole socket")]
    NoHome,
    /// A file or the socket could not be made.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MconsoleError + '_ {
    move |source| MconsoleError::Io { path: path.to_path_buf(), source }
}

/// Where the socket goes: `uml_dir=` (default `~/.uml`) and `umid=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// `uml_dir=`: None for `$HOME/.uml`.
    pub uml_dir: Option<PathBuf>,
    /// `umid=`: None for a random one.
    pub umid: Option<String>,
}

impl Location {
    /// The base directory, with `~` expanded from `home` as UML does.
    pub fn base(&self, home: Option<&Path>) -> Result<PathBuf, MconsoleError> {
        match &self.uml_dir {
            Some(d) => match d.strip_prefix("~") {
                Ok(rest) => Ok(home.ok_or(MconsoleError::NoHome)?.join(rest)),
                Err(_) => Ok(d.clone()),
            },
            None => Ok(home.ok_or(MconsoleError::NoHome)?.join(".uml")),
        }
    }
}

/// Checks a umid: a directory name of at most [`MAX_UMID`] bytes.
pub fn check_umid(umid: &str) -> Result<(), MconsoleError> {
    if umid.is_empty() || umid.len() > MAX_UMID || umid.contains('/') || umid == "." || umid == ".." {
        return Err(MconsoleError::BadUmid(umid.to_string()));
    }
    Ok(())
}

/// A random umid of 6 characters, as UML's mkstemp("XXXXXX") makes.
pub fn random_umid() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 6];
    // SAFETY: getrandom writes at most len bytes into the buffer.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        // No entropy: the time and pid still make a name unlikely to clash.
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                ^ u128::from(std::process::id());
        bytes = (seed as u64).to_le_bytes()[..6].try_into().unwrap_or_default();
    }
    bytes.iter().map(|b| CHARS[usize::from(*b) % CHARS.len()] as char).collect()
}

/// Whether the process whose pid the umid directory's `pid` file holds
/// is alive (UML's not_dead_yet: kill(pid, 0) succeeding, or failing
/// with anything but ESRCH).
fn in_use(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("pid")) else { return false };
    let Ok(pid) = text.trim().parse::<i32>() else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks the pid.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The directories to remove when umvm ends without unwinding (SIGTERM).
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every umid directory this process made (its end, on a signal).
pub fn remove_dirs() {
    for d in DIRS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The umid directory: `<uml_dir>/<umid>/` with `pid` in it, removed
/// when dropped.
#[derive(Debug)]
pub struct UmidDir {
    umid: String,
    dir: PathBuf,
}

impl UmidDir {
    /// Makes the directory (UML's make_umid_dir and create_pid_file): a
    /// umid in use by a live process gives way to a random one (said on
    /// stderr), a stale one is taken over.
    pub fn create(loc: &Location, home: Option<&Path>) -> Result<UmidDir, MconsoleError> {
        let base = loc.base(home)?;
        std::fs::DirBuilder::new().recursive(true).mode(0o777).create(&base).map_err(io(&base))?;
        let mut umid = match &loc.umid {
            Some(u) => {
                check_umid(u)?;
                u.clone()
            }
            None => random_umid(),
        };
        for _ in 0..16 {
            let dir = base.join(&umid);
            if dir.exists() {
                if in_use(&dir) {
                    eprintln!("umvm: umid {umid} is in use (by pid in {}); using a random one", dir.display());
                    umid = random_umid();
                    continue;
                }
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
            }
            match std::fs::DirBuilder::new().mode(0o777).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    umid = random_umid();
                    continue;
                }
                Err(e) => return Err(io(&dir)(e)),
            }
            let pid_path = dir.join("pid");
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&pid_path)
                .map_err(io(&pid_path))?;
            writeln!(f, "{}", std::process::id()).map_err(io(&pid_path))?;
            DIRS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.clone());
            return Ok(UmidDir { umid, dir });
        }
        Err(io(&base)(std::io::Error::from_raw_os_error(libc::EEXIST)))
    }

    /// The umid.
    pub fn umid(&self) -> &str {
        &self.umid
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for UmidDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        DIRS.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| *d != self.dir);
    }
}

/// Sends one logical reply (in as many datagrams as it needs) to the
/// request's sender.
pub trait ReplySink {
    /// Sends `reply`; an error (the client went away) is not the
    /// command's concern.
    fn send(&mut self, reply: Reply);
}

/// What serves the commands: given a request's text (without a NUL), it
/// sends its replies, the last with `more` false.
pub trait Handler: Send + Sync {
    /// Serves one request.
    fn serve(&self, text: &[u8], out: &mut dyn ReplySink);
}

struct Peer<'a> {
    sock: &'a UnixDatagram,
    to: &'a SocketAddr,
}

impl ReplySink for Peer<'_> {
    fn send(&mut self, reply: Reply) {
        for d in reply.datagrams() {
            if let Err(e) = self.sock.send_to_addr(&d, self.to) {
                tracing::debug!("mconsole: reply lost: {e}");
                return;
            }
        }
    }
}

/// A running mconsole: its directory and socket (removed when dropped).
pub struct Server {
    dir: UmidDir,
    socket: PathBuf,
}

impl Server {
    /// Makes the umid directory and binds its `mconsole` socket.
    pub fn bind(loc: &Location, home: Option<&Path>) -> Result<(Server, UnixDatagram), MconsoleError> {
        let dir = UmidDir::create(loc, home)?;
        let socket = dir.path().join("mconsole");
        let sock = UnixDatagram::bind(&socket).map_err(io(&socket))?;
        Ok((Server { dir, socket }, sock))
    }

    /// Binds the socket and serves it with `handler` on a thread of its
    /// own, for the life of the process.
    pub fn start(loc: &Location, home: Option<&Path>, handler: Arc<dyn Handler>) -> Result<Server, MconsoleError> {
        let (server, sock) = Server::bind(loc, home)?;
        std::thread::Builder::new()
            .name("umvm-mconsole".into())
            .spawn(move || serve(&sock, &*handler))
            .map_err(io(&server.socket))?;
        Ok(server)
    }

    /// The umid.
    pub fn umid(&self) -> &str {
        self.dir.umid()
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Answers requests on `sock` until it fails (UML's mconsole_get_request
/// and mconsole_interrupt, in the order of §6.3).
pub fn serve(sock: &UnixDatagram, handler: &dyn Handler) {
    let mut buf = [0u8; wire::REQUEST_SIZE];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!("mconsole: receive failed: {e}");
                return;
            }
        };
        // An unbound sender cannot be answered.
        if from.is_unnamed() {
            continue;
        }
        let mut peer = Peer { sock, to: &from };
        match Received::parse(&buf[..n]) {
            Received::Version0 => {
                let _ = sock.send_to_addr(wire::VERSION0_REPLY, &from);
            }
            Received::Truncated => {}
            Received::TooLarge => peer.send(Reply::error("Request too large")),
            Received::Request(req) => {
                if req.version != wire::VERSION {
                    peer.send(Reply::error("This driver only supports version 2 clients"));
                }
                handler.serve(req.text, &mut peer);
            }
        }
    }
}

/// Sends a notification to the socket at `path` from an unbound socket
/// (`mconsole=notify:PATH`).
pub fn notify(path: &Path, kind: NotifyType, data: &[u8]) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    sock.send_to(&wire::notification(kind, data), path).map(drop)
}

/// Sends the boot notification: the socket's path with its NUL.
pub fn notify_socket(notify_path: &Path, socket: &Path) -> std::io::Result<()> {
    let mut data = socket.as_os_str().as_encoded_bytes().to_vec();
    data.push(0);
    notify(notify_path, NotifyType::Socket, &data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mconsole::wire::ReplyView;

    struct Echo;
    impl Handler for Echo {
        fn serve(&self, text: &[u8], out: &mut dyn ReplySink) {
            if text == b"long" {
                out.send(Reply::partial(vec![b'x'; 600]));
            }
            out.send(Reply::ok(text.to_vec()));
        }
    }

    fn replies(client: &UnixDatagram) -> Vec<(u32, bool, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = client.recv(&mut buf).unwrap();
            let v = ReplyView::parse(&buf[..n]).unwrap();
            out.push((v.err, v.more, v.text.to_vec()));
            if !v.more {
                return out;
            }
        }
    }

    #[test]
    fn the_directory_socket_and_pid_file_are_made_and_removed() {
        let tmp = std::env::temp_dir().join(format!("umvm-mconsole-test-{}", std::process::id()));
        let loc = Location { uml_dir: Some(tmp.clone()), umid: Some("t1".into()) };
        let s = Server::start(&loc, None, Arc::new(Echo)).unwrap();
        assert_eq!(s.socket(), tmp.join("t1/mconsole"));
        let pid = std::fs::read_to_string(tmp.join("t1/pid")).unwrap();
        assert_eq!(pid, format!("{}\n", std::process::id()));
        // In use by a live process: a random umid instead.
        let other = UmidDir::create(&loc, None).unwrap();
        assert_ne!(other.umid(), "t1");
        assert_eq!(other.umid().len(), 6);
        drop(other);

        let client = UnixDatagram::bind(tmp.join("client")).unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        client.connect(s.socket()).unwrap();
        client.send(&wire::request(b"hello").unwrap()).unwrap();
        assert_eq!(replies(&client), [(0, false, b"hello".to_vec())]);
        client.send(&wire::request(b"long").unwrap()).unwrap();
        let r = replies(&client);
        assert_eq!(r.iter().map(|x| (x.1, x.2.len())).collect::<Vec<_>>(), [(true, 511), (true, 89), (false, 4)]);
        client.send(b"garbage").unwrap();
        let mut buf = [0u8; 128];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], wire::VERSION0_REPLY);
        let mut big = wire::request(b"x").unwrap();
        big[8..12].copy_from_slice(&600u32.to_ne_bytes());
        client.send(&big).unwrap();
        assert_eq!(replies(&client), [(1, false, b"Request too large".to_vec())]);
        let mut v1 = wire::request(b"v").unwrap();
        v1[4] = 1;
        client.send(&v1).unwrap();
        assert_eq!(replies(&client), [(1, false, b"This driver only supports version 2 clients".to_vec())]);
        assert_eq!(replies(&client), [(0, false, b"v".to_vec())]);
        // A truncated header is dropped; the server goes on.
        client.send(&v1[..6]).unwrap();
        client.send(&wire::request(b"still").unwrap()).unwrap();
        assert_eq!(replies(&client), [(0, false, b"still".to_vec())]);

        // A stale directory (its process gone) is taken over.
        drop(s);
        assert!(!tmp.join("t1").exists());
        std::fs::create_dir_all(tmp.join("t1")).unwrap();
        std::fs::write(tmp.join("t1/pid"), "999999999\n").unwrap();
        let again = UmidDir::create(&loc, None).unwrap();
        assert_eq!(again.umid(), "t1");
        drop(again);
        assert!(check_umid(&"x".repeat(64)).is_err() && check_umid("a/b").is_err() && check_umid("").is_err());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn uml_dir_expands_home() {
        let home = Path::new("/home/u");
        assert_eq!(Location::default().base(Some(home)).unwrap(), Path::new("/home/u/.uml"));
        let l = Location { uml_dir: Some("~/x".into()), umid: None };
        assert_eq!(l.base(Some(home)).unwrap(), Path::new("/home/u/x"));
        assert!(Location::default().base(None).is_err());
    }
}
