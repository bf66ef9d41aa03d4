//! `umvm lab start`: makes the COW files (or keeps those of an earlier
//! start) and the control directories, starts
//! the switches and then every guest at once (background `umvm run`s of
//! this very binary), and waits until all are ready.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::boot;
use super::file::{Lab, NetKind};
use super::state::{self, GuestState, State, SwitchState};
use super::stop;

/// How long a switch may take to make its control socket.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often start looks whether guests are ready.
const POLL: Duration = Duration::from_millis(20);

/// Starts `lab`; fails (having stopped what it started) if a guest is not
/// ready within `timeout`.
pub fn start(lab: &Lab, timeout: Duration) -> Result<i32> {
    if let Ok(old) = state::read(lab) {
        if old.guests.iter().any(|g| g.alive()) || old.switches.iter().any(|s| s.alive()) {
            anyhow::bail!("lab {} is already running (umvm lab stop {} first)", lab.name, lab.file.display());
        }
    }
    std::fs::create_dir_all(&lab.dir).with_context(|| format!("lab directory {}", lab.dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the umvm binary (current_exe)")?;
    let t0 = Instant::now();
    let mut st =
        State { lab: lab.name.clone(), file: lab.file.clone(), startup_secs: 0.0, switches: vec![], guests: vec![] };

    // Switches first: a guest's card connects at boot.
    let mut ctls: Vec<Option<PathBuf>> = Vec::new();
    for net in &lab.networks {
        let NetKind::Switch { hub } = net.kind else {
            ctls.push(None);
            continue;
        };
        let ctl = lab.dir.join(format!("{}.ctl", net.name));
        let log = lab.dir.join(format!("{}.switch.log", net.name));
        let mut cmd = Command::new(&exe);
        cmd.arg("switch").arg("--unix").arg(&ctl);
        if hub {
            cmd.arg("--hub");
        }
        let child = spawn(cmd, &log).with_context(|| format!("network {}: starting umvm switch", net.name))?;
        st.switches.push(SwitchState { network: net.name.clone(), pid: child.id() as i32, ctl: ctl.clone(), log });
        state::write(lab, &st)?;
        if let Err(e) = wait_for_socket(child, &ctl) {
            let _ = stop::stop_state(lab, &st, false);
            return Err(e.context(format!("network {}: umvm switch did not start", net.name)));
        }
        ctls.push(Some(ctl));
    }
    let switches_secs = t0.elapsed().as_secs_f64();

    let mut children = Vec::new();
    for gi in 0..lab.guests.len() {
        match launch(lab, gi, &exe, &ctls) {
            Ok((g, child)) => {
                st.guests.push(g);
                children.push(child);
            }
            Err(e) => {
                let _ = stop::stop_state(lab, &st, false);
                return Err(e);
            }
        }
    }
    state::write(lab, &st)?;

    if let Err(e) = wait_ready(&st.guests, &mut children, t0 + timeout) {
        let _ = stop::stop_state(lab, &st, false);
        return Err(e.context(format!("lab {} did not start (stopped)", lab.name)));
    }
    st.startup_secs = t0.elapsed().as_secs_f64();
    state::write(lab, &st)?;
    println!(
        "lab {}: {} ready in {:.2} s ({} started in {:.2} s; state in {})",
        lab.name,
        plural(st.guests.len(), "guest"),
        st.startup_secs,
        plural(st.switches.len(), "switch"),
        switches_secs,
        state::path(lab).display()
    );
    Ok(0)
}

/// Boots guest number `gi` of `lab` (a background `umvm run` of `exe`): its control directory made
/// afresh, its disk kept or made, its cards on the lab's networks (`ctls`: each switch network's
/// control socket). Returns its state and the child.
fn launch(lab: &Lab, gi: usize, exe: &Path, ctls: &[Option<PathBuf>]) -> Result<(GuestState, Child)> {
    let g = &lab.guests[gi];
    let control = lab.dir.join(&g.name);
    let cow = lab.dir.join(format!("{}.cow", g.name));
    let console = lab.dir.join(format!("{}.console", g.name));
    prepare_control(lab, gi, &control)?;
    guest_disk(lab, &g.name, &cow)?;
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--console", "pipe"]);
    let mut ubd = std::ffi::OsString::from("ubd0=");
    ubd.push(&cow);
    ubd.push(",");
    ubd.push(&lab.backing);
    cmd.arg(ubd);
    for (n, nic) in g.nics.iter().enumerate() {
        let mac = boot::mac_text(boot::mac(lab, gi, nic.network));
        let eth = match (&lab.networks[nic.network].kind, &ctls[nic.network]) {
            (NetKind::Mcast { group, port }, _) => format!("eth{n}=mcast,{mac},{group},{port},1"),
            (NetKind::Switch { .. }, Some(ctl)) => format!("eth{n}=daemon,{mac},unix,{}", ctl.display()),
            (NetKind::Switch { .. }, None) => {
                anyhow::bail!("guest {}: network {} has no switch", g.name, lab.networks[nic.network].name)
            }
        };
        cmd.arg(eth);
    }
    if let Some(nic) = g.nics.first() {
        cmd.arg(format!("ip={}/{}", nic.addr, nic.prefix));
    }
    cmd.arg(format!("hostname={}", g.name));
    if let Some(mem) = &g.mem {
        cmd.arg(format!("mem={mem}"));
    }
    let mut hostfs = std::ffi::OsString::from("hostfs=");
    hostfs.push(&lab.dir);
    cmd.arg(hostfs);
    cmd.arg("--").args(boot::init_argv(g));
    let child = spawn(cmd, &console).with_context(|| format!("guest {}: starting umvm run", g.name))?;
    let state = GuestState {
        name: g.name.clone(),
        pid: child.id() as i32,
        cow,
        console,
        control,
        addresses: g.nics.iter().map(|n| format!("{}/{}", n.addr, n.prefix)).collect(),
    };
    Ok((state, child))
}

/// `umvm lab restart LABFILE GUEST`: ends one guest of the running lab as stop does (SIGTERM, its
/// disk written back; SIGKILL after a while), boots it again over the same disk on the same
/// networks, and waits until it is ready (Netkit's vhalt then vstart). A guest that had died is
/// just started.
pub fn restart(lab: &Lab, guest: &str, timeout: Duration) -> Result<i32> {
    let mut st = state::read(lab)?;
    let gi = lab.guests.iter().position(|g| g.name == guest);
    let si = st.guests.iter().position(|g| g.name == guest);
    let (Some(gi), Some(si)) = (gi, si) else {
        let names: Vec<&str> = st.guests.iter().map(|g| g.name.as_str()).collect();
        anyhow::bail!("lab {} has no guest {guest:?} (it has {})", lab.name, names.join(", "));
    };
    let mut ctls = Vec::new();
    for net in &lab.networks {
        ctls.push(match net.kind {
            NetKind::Switch { .. } => {
                let sw = st.switches.iter().find(|s| s.network == net.name && s.alive());
                let sw = sw.with_context(|| format!("network {}: its switch is not running", net.name))?;
                Some(sw.ctl.clone())
            }
            NetKind::Mcast { .. } => None,
        });
    }
    let t0 = Instant::now();
    stop::stop_guest(&st.guests[si]);
    let exe = std::env::current_exe().context("cannot find the umvm binary (current_exe)")?;
    let (g, child) = launch(lab, gi, &exe, &ctls)?;
    st.guests[si] = g;
    state::write(lab, &st)?;
    wait_ready(std::slice::from_ref(&st.guests[si]), &mut [child], t0 + timeout)?;
    println!("lab {}: guest {guest} ready again in {:.2} s", lab.name, t0.elapsed().as_secs_f64());
    Ok(0)
}

/// A background process of this binary: stdin /dev/null, stdout and
/// stderr to `log`, in a process group of its own (a ^C at the terminal
/// that started the lab is not for it).
fn spawn(mut cmd: Command, log: &Path) -> Result<Child> {
    let out = File::create(log).with_context(|| log.display().to_string())?;
    let err = out.try_clone().with_context(|| log.display().to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    cmd.spawn().context("cannot run umvm")
}

/// Waits until the switch `child` listens on `ctl`.
fn wait_for_socket(mut child: Child, ctl: &Path) -> Result<()> {
    let deadline = Instant::now() + SWITCH_TIMEOUT;
    loop {
        if std::fs::symlink_metadata(ctl).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("it exited ({status})");
        }
        if Instant::now() > deadline {
            anyhow::bail!("no control socket {} after {:?}", ctl.display(), SWITCH_TIMEOUT);
        }
        std::thread::sleep(POLL);
    }
}

/// Guest `name`'s disk, the COW file `cow`: the one an earlier start made,
/// kept with what the guest wrote (as Netkit keeps a machine's .disk until
/// lclean, and as a UML COW file is the machine's disk), or a new one over
/// the lab's backing image. A kept file over another image, or over one
/// that changed since (UML's size and mtime checks), is an error naming
/// both and `umvm lab clean`, never silently replaced.
fn guest_disk(lab: &Lab, name: &str, cow: &Path) -> Result<()> {
    let ctx = || format!("guest {name}: COW file {}", cow.display());
    if std::fs::symlink_metadata(cow).is_err() {
        return umvm_cow::create(cow, &lab.backing, false).map(|_| ()).with_context(ctx);
    }
    let clean = format!("`umvm lab clean {}` discards the guests' disks", lab.file.display());
    let info = umvm_cow::inspect(cow).with_context(|| format!("{} ({clean})", ctx()))?;
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(&info.backing, &lab.backing) {
        anyhow::bail!(
            "{}: it is over {}, not the lab's backing image {} ({clean})",
            ctx(),
            info.backing.display(),
            lab.backing.display()
        );
    }
    if let Some(problem) = info.backing_problem {
        anyhow::bail!("{}: the backing image changed since it was made: {problem} ({clean})", ctx());
    }
    Ok(())
}

/// Makes guest number `gi`'s control directory afresh: boot script,
/// startup script, files to copy in, request and answer directories.
fn prepare_control(lab: &Lab, gi: usize, control: &Path) -> Result<()> {
    let g = &lab.guests[gi];
    let ctx = || format!("guest {}: control directory {}", g.name, control.display());
    match std::fs::remove_dir_all(control) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).with_context(ctx),
        _ => {}
    }
    for d in ["req", "out", "files"] {
        std::fs::create_dir_all(control.join(d)).with_context(ctx)?;
    }
    std::fs::write(control.join("boot.sh"), boot::script(lab, g)).with_context(ctx)?;
    if let Some(s) = &g.startup {
        std::fs::write(control.join("startup.sh"), s).with_context(ctx)?;
    }
    for (i, (_, host)) in g.files.iter().enumerate() {
        std::fs::copy(host, control.join("files").join(i.to_string()))
            .with_context(|| format!("guest {}: files: {}", g.name, host.display()))?;
    }
    Ok(())
}

/// Waits until every guest of `guests` (started as `children`) is ready; a
/// guest that exits first, or the deadline, is an error naming the guest
/// and its console.
fn wait_ready(guests: &[GuestState], children: &mut [Child], deadline: Instant) -> Result<()> {
    let mut waiting: Vec<usize> = (0..guests.len()).collect();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for i in waiting {
            let g = &guests[i];
            if g.ready() {
                continue;
            }
            if let Some(status) = children[i].try_wait()? {
                anyhow::bail!(
                    "guest {} exited during boot ({status}){}; its console is {}",
                    g.name,
                    last_line(&g.console),
                    g.console.display()
                );
            }
            still.push(i);
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = waiting.iter().map(|&i| guests[i].name.as_str()).collect();
            anyhow::bail!(
                "{} not ready in time: {} (consoles in {})",
                names.len(),
                names.join(" "),
                guests[waiting[0]].console.parent().unwrap_or(Path::new(".")).display()
            );
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// `: LAST LINE` of a console, or nothing.
pub fn last_line(console: &Path) -> String {
    let text = std::fs::read(console).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => format!(": {}", l.trim()),
        None => String::new(),
    }
}

/// `N THING` or `N THINGs` (`N switches`).
pub fn plural(n: usize, thing: &str) -> String {
    match (n, thing.ends_with("ch")) {
        (1, _) => format!("{n} {thing}"),
        (_, true) => format!("{n} {thing}es"),
        (_, false) => format!("{n} {thing}s"),
    }
}
