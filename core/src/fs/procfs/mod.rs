//! procfs (Linux's fs/proc): /proc/self, /proc/thread-self, /proc/PID
//! and /proc/PID/task/TID (stat, statm, status, cmdline, environ, auxv,
//! comm, exe, cwd, root, fd/, maps, mounts, mountinfo), the machine-wide
//! files (meminfo, stat, uptime, loadavg, cpuinfo, mounts, version,
//! filesystems) and /proc/sys.
//!
//! procfs is mounted on /proc (fs/mount.rs); where a path walk enters it,
//! the rest of the path is classified here. A node is computed from the
//! process table when looked up; a file's contents are a snapshot taken
//! when it is opened.

mod host;
pub mod machine;
pub mod net;
pub mod pid;

use std::sync::Arc;

use crate::fs::file::OpenFile;
use crate::fs::mount::FsType;
use crate::kernel::Kernel;
use crate::task::{Process, Task};
use pid::View;

/// What a /proc path names.
pub enum ProcNode {
    /// A directory and its entries (name, DT_* type).
    Dir(Vec<(Vec<u8>, u8)>),
    /// A symlink and its target, a namespace path (readlink shows it as
    /// the reader sees it: `path::view`).
    Link(Vec<u8>),
    /// A /proc/PID/fd/N link: what readlink shows (a namespace path or a
    /// name such as `pipe:[N]`, viewed from the reader's root like a
    /// link's target), and the open file it leads to when followed (Linux
    /// jumps to the file itself, whatever its path has become).
    Fd(Vec<u8>, Arc<OpenFile>),
    /// A path that goes through a symlink: its target, then the rest of
    /// the path (always followed, like any symlink before the last
    /// component).
    Through(Vec<u8>, Vec<u8>),
    /// A file and its contents.
    File(Vec<u8>),
    /// A file the caller may not read (another user's environ).
    Denied,
    /// /proc/mconsole: write-only, each write a notification to the host
    /// (`mconsole=notify:`) through the socket it names.
    Notify(std::path::PathBuf),
    /// Under /proc but no such entry.
    Missing,
}

const PID_ENTRIES: [(&str, u8); 15] = [
    ("auxv", libc::DT_REG),
    ("cmdline", libc::DT_REG),
    ("comm", libc::DT_REG),
    ("cwd", libc::DT_LNK),
    ("environ", libc::DT_REG),
    ("exe", libc::DT_LNK),
    ("fd", libc::DT_DIR),
    ("maps", libc::DT_REG),
    ("mountinfo", libc::DT_REG),
    ("mounts", libc::DT_REG),
    ("root", libc::DT_LNK),
    ("stat", libc::DT_REG),
    ("statm", libc::DT_REG),
    ("status", libc::DT_REG),
    ("task", libc::DT_DIR),
];

/// Classifies an absolute path for `caller`; None when it is not under
/// /proc. Components are taken one at a time, as the kernel walks them: a
/// link followed by more components is jumped through at once, so `..`
/// after /proc/PID/root means the parent of that root, not of /proc/PID.
/// `..` at the caller's root directory stays there.
///
/// A link's target is a namespace path: /proc/PID/root, cwd, exe and
/// fd/N lead to the object itself, wherever it is, even outside the
/// caller's root (Linux's "magic links"); readlink shows the target as
/// the caller sees it (`path::view`).
pub fn classify(k: &Kernel, caller: &Task, abs: &[u8]) -> Option<ProcNode> {
    let root_path = caller.fs.lock().root.clone();
    let root = crate::fs::path::split(&root_path);
    let comps: Vec<&[u8]> = abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let mut stack: Vec<&[u8]> = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if *c == b".." {
            crate::fs::path::dotdot(&mut stack, &root);
            continue;
        }
        stack.push(c);
        if i + 1 < comps.len() && stack.first() == Some(&&b"proc"[..]) {
            let rest = comps[i + 1..].join(&b'/');
            match link_of(k, caller, &stack[1..]) {
                Some(ProcNode::Link(target)) => return Some(ProcNode::Through(target, rest)),
                // Only a directory's path can be walked further.
                Some(ProcNode::Fd(_, f)) if f.is_dir() => return Some(ProcNode::Through(f.path.clone(), rest)),
                Some(_) => return Some(ProcNode::Missing),
                None => {}
            }
        }
    }
    if stack.first() != Some(&&b"proc"[..]) {
        return None;
    }
    Some(match &stack[1..] {
        [] => root_dir(k),
        [b"sys", rest @ ..] => machine::sys_node(k, rest),
        [b"net", rest @ ..] => net::node(k, rest),
        [name] if machine::FILES.iter().any(|f| f.as_bytes() == *name) => {
            ProcNode::File(machine::file(k, &root_path, name))
        }
        [b"mconsole"] if k.mconsole_notify.get().is_some() => {
            ProcNode::Notify(k.mconsole_notify.get().cloned().unwrap_or_default())
        }
        rest => link_of(k, caller, rest).unwrap_or_else(|| pid_node(k, caller, &root_path, rest)),
    })
}

/// The file at `/proc/REL` as the kernel itself reads it (mconsole's
/// `proc`): from the namespace's root, with init's credentials, so that
/// every process's files can be read, as UML's mconsole reads its own
/// procfs. None when REL is not a file (a directory, a link, or nothing).
pub fn read_as_kernel(k: &Kernel, rel: &[u8]) -> Option<Vec<u8>> {
    let init = k.procs().process(1)?;
    let files = init.state().files.clone().unwrap_or_else(|| crate::task::Shared::new(Default::default()));
    // A reader that is no task of the guest's (tid 0 matches none), so
    // that every /proc/PID is read as another process's.
    let reader = Task {
        tid: 0,
        vtid: 0,
        process: init,
        files,
        fs: crate::task::Shared::new(crate::task::FsContext::new()),
        mm: crate::task::Shared::new(Default::default()),
        comm: [0; 16],
        vfork_child: None,
        fifo_wait: None,
        sig_pending: Default::default(),
    };
    let mut abs = b"/proc/".to_vec();
    abs.extend_from_slice(rel);
    match classify(k, &reader, &abs)? {
        ProcNode::File(data) => Some(data),
        _ => None,
    }
}

fn pid_of(caller: &Task, c: &[u8]) -> Option<i32> {
    if c == b"self" {
        return Some(caller.vpid());
    }
    std::str::from_utf8(c).ok()?.parse().ok().filter(|&p: &i32| p > 0)
}

/// The process with pid `id`, or the one whose thread `id` is (Linux
/// serves /proc/TID for any thread, though it lists only processes).
fn find_process(k: &Kernel, id: i32) -> Option<Arc<Process>> {
    if let Some(p) = k.procs().process(id) {
        return Some(p);
    }
    machine::processes(k).into_iter().find(|p| p.state().threads.contains(&id))
}

/// The task a path under /proc starts with (PID, or PID/task/TID), and
/// how many components name it.
fn view(k: &Kernel, caller: &Task, rel: &[&[u8]]) -> Option<(View, usize)> {
    let id = pid_of(caller, rel.first()?)?;
    let p = find_process(k, id)?;
    if rel.get(1) == Some(&&b"task"[..]) && rel.len() >= 3 {
        let tid = std::str::from_utf8(rel[2]).ok()?.parse::<i32>().ok()?;
        let ours = tid == p.vpid || p.state().threads.contains(&tid);
        return ours.then_some((View { p, tid }, 3));
    }
    Some((View { p, tid: id }, 1))
}

/// Whether `caller` may see another process's environment, auxv, fds and
/// addresses: root, or a reader whose ids are all the target's (Linux's
/// ptrace read check, with virtual credentials).
fn may_read(caller: &Task, p: &Process) -> bool {
    let me = caller.process.state().creds;
    if me.euid == 0 {
        return true;
    }
    let them = p.state().creds;
    me.euid == them.uid && me.euid == them.euid && me.egid == them.gid && me.egid == them.egid
}

/// The link at /proc/`rel`, if that is a link.
fn link_of(k: &Kernel, caller: &Task, rel: &[&[u8]]) -> Option<ProcNode> {
    match rel {
        [b"self"] => return Some(ProcNode::Link(format!("/proc/{}", caller.vpid()).into_bytes())),
        [b"thread-self"] => {
            return Some(ProcNode::Link(format!("/proc/{}/task/{}", caller.vpid(), caller.vtid).into_bytes()))
        }
        _ => {}
    }
    let (v, n) = view(k, caller, rel)?;
    let own = v.tid == caller.vtid || (n == 1 && v.p.vpid == caller.vpid());
    let fs = || if own { Some(caller.fs.clone()) } else { v.p.state().fs.clone() };
    match &rel[n..] {
        [b"root"] => fs().map(|fs| ProcNode::Link(fs.lock().root.clone())),
        [b"exe"] => Some(v.p.state().exe.clone()).filter(|e| !e.is_empty()).map(ProcNode::Link),
        [b"cwd"] => fs().map(|fs| ProcNode::Link(fs.lock().cwd.clone())),
        [b"fd", n] => {
            let fd = std::str::from_utf8(n).ok()?.parse::<i32>().ok()?;
            let files = if own { Some(caller.files.clone()) } else { v.p.state().files.clone() };
            let f = files?.lock().get(fd).ok()?;
            Some(ProcNode::Fd(f.link_text(), f))
        }
        _ => None,
    }
}

fn dot_dirs() -> Vec<(Vec<u8>, u8)> {
    vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)]
}

fn root_dir(k: &Kernel) -> ProcNode {
    let mut e = dot_dirs();
    e.push((b"self".to_vec(), libc::DT_LNK));
    e.push((b"thread-self".to_vec(), libc::DT_LNK));
    e.push((b"sys".to_vec(), libc::DT_DIR));
    e.push((b"net".to_vec(), libc::DT_DIR));
    let mut pids: Vec<i32> = k.procs().processes().map(|p| p.vpid).collect();
    pids.sort_unstable();
    e.extend(pids.into_iter().map(|p| (p.to_string().into_bytes(), libc::DT_DIR)));
    e.extend(machine::FILES.iter().map(|f| (f.as_bytes().to_vec(), libc::DT_REG)));
    if k.mconsole_notify.get().is_some() {
        e.push((b"mconsole".to_vec(), libc::DT_REG));
    }
    ProcNode::Dir(e)
}

/// Files under /proc/PID and /proc/PID/task/TID, for `caller`, whose root
/// directory is `root` (paths in maps and mounts are shown from there).
fn pid_node(k: &Kernel, caller: &Task, root: &[u8], rel: &[&[u8]]) -> ProcNode {
    let Some((v, n)) = view(k, caller, rel) else { return ProcNode::Missing };
    let permitted = || may_read(caller, &v.p);
    let guarded =
        |contents: &dyn Fn() -> Vec<u8>| if permitted() { ProcNode::File(contents()) } else { ProcNode::Denied };
    match &rel[n..] {
        [] => {
            let mut e = dot_dirs();
            // A thread's directory has no task/ of its own.
            let entries = PID_ENTRIES.iter().filter(|(name, _)| n == 1 || *name != "task");
            e.extend(entries.map(|(name, t)| (name.as_bytes().to_vec(), *t)));
            ProcNode::Dir(e)
        }
        [b"auxv"] => guarded(&|| pid::auxv(&v.p)),
        [b"cmdline"] => ProcNode::File(pid::cmdline(&v.p)),
        [b"comm"] => ProcNode::File(format!("{}\n", pid::comm(&v.p)).into_bytes()),
        [b"environ"] => guarded(&|| pid::environ(&v.p)),
        [b"maps"] => guarded(&|| pid::maps(k, &v.p, root)),
        [b"mountinfo"] => ProcNode::File(k.vfs.mounts().mountinfo(root).into_bytes()),
        [b"mounts"] => ProcNode::File(k.vfs.mounts().proc_mounts(root).into_bytes()),
        [b"stat"] => ProcNode::File(pid::stat(k, &v, caller, permitted())),
        [b"statm"] => ProcNode::File(pid::statm(&v.p)),
        [b"status"] => ProcNode::File(pid::status(k, &v, caller)),
        [b"fd"] if !permitted() => ProcNode::Denied,
        [b"fd"] => {
            let own = v.tid == caller.vtid || (n == 1 && v.p.vpid == caller.vpid());
            let files = if own { Some(caller.files.clone()) } else { v.p.state().files.clone() };
            let mut e = dot_dirs();
            if let Some(files) = files {
                e.extend(files.lock().fds().into_iter().map(|fd| (fd.to_string().into_bytes(), libc::DT_LNK)));
            }
            ProcNode::Dir(e)
        }
        [b"task"] if n == 1 => {
            let mut e = dot_dirs();
            let mut tids: Vec<i32> = v.p.state().threads.iter().copied().collect();
            // A zombie's directory still holds its main thread.
            if tids.is_empty() {
                tids.push(v.p.vpid);
            }
            e.extend(tids.iter().map(|t| (t.to_string().into_bytes(), libc::DT_DIR)));
            ProcNode::Dir(e)
        }
        _ => ProcNode::Missing,
    }
}

/// The getdents64 records of a listing from entry `from`, fitting `room`
/// bytes; returns the bytes and the next index.
pub fn dirents(entries: &[(Vec<u8>, u8)], from: usize, room: usize) -> (Vec<u8>, usize) {
    let list: Vec<crate::fs::dirent::Entry<'_>> =
        entries.iter().enumerate().map(|(i, (n, t))| (n.as_slice(), 0x1000 + i as u64, *t)).collect();
    crate::fs::dirent::records(&list, from, room)
}

/// A stat for a procfs node (Linux shows files with size 0). An fd's
/// link shows the access the fd has (lr-x, l-wx or lrwx for its owner).
pub fn node_stat(node: &ProcNode) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_dev = FsType::Proc.synthetic_dev().unwrap_or_default();
    st.st_nlink = 1;
    st.st_blksize = 1024;
    st.st_mode = match node {
        ProcNode::Dir(_) => libc::S_IFDIR | 0o555,
        ProcNode::Link(_) | ProcNode::Through(..) => libc::S_IFLNK | 0o777,
        ProcNode::Fd(_, f) => {
            libc::S_IFLNK | if f.readable() { 0o500 } else { 0 } | if f.writable() { 0o300 } else { 0 }
        }
        ProcNode::Denied => libc::S_IFREG | 0o400,
        ProcNode::Notify(_) => libc::S_IFREG | 0o200,
        _ => libc::S_IFREG | 0o444,
    };
    st
}
