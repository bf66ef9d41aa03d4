//! What runs in a lab guest: the shell line umvm runs as init (mount the
//! control directory, run its boot script) and the boot script itself —
//! set the guest up, say it is ready, then serve `umvm lab exec`
//! requests — and the MAC address of each of its cards.

use super::file::{Guest, Lab};

/// Where a guest sees its control directory (hostfs).
pub const CONTROL_MOUNT: &str = "/lab";

/// What a guest's boot script prints on its console when ready.
pub const READY: &str = "LAB-READY";

/// init's program and arguments for guest `g`: a shell that mounts the
/// guest's control directory (under the `hostfs=` prefix, the lab's
/// directory) and runs the boot script from it.
pub fn init_argv(g: &Guest) -> Vec<String> {
    let line = format!(
        "mkdir -p {m} && mount -t hostfs none {m} -o /{name} && exec /bin/sh {m}/boot.sh; \
         echo 'umvm lab: cannot mount the control directory {m}'; exit 1",
        m = CONTROL_MOUNT,
        name = g.name
    );
    vec!["/bin/sh".into(), "-c".into(), line]
}

/// The guest's boot script. Its requests: `req/ID.sh` (shell text),
/// answered by `out/ID.out` and `out/ID.err` (standard output and error)
/// and then
/// `out/ID.status` (the exit status), made by a rename so that a reader
/// never sees half of it.
pub fn script(lab: &Lab, g: &Guest) -> String {
    let mut s = format!("# umvm lab {}: guest {} (written by umvm lab start)\n", lab.name, g.name);
    s.push_str("[ -e /proc/self ] || { mkdir -p /proc; mount -t proc proc /proc; }\n");
    for (i, (guest_path, _)) in g.files.iter().enumerate() {
        // Guest paths are absolute, without quotes or newlines (the lab
        // file's checks).
        s.push_str(&format!(
            "f='{guest_path}'; mkdir -p \"${{f%/*}}\" 2>/dev/null; cp {m}/files/{i} \"$f\" || echo \"umvm lab: cannot copy $f\"\n",
            m = CONTROL_MOUNT
        ));
    }
    // eth0 is configured by the ip= switch.
    for (n, nic) in g.nics.iter().enumerate().skip(1) {
        s.push_str(&format!(
            "ifconfig eth{n} {} netmask {} up || echo 'umvm lab: cannot configure eth{n}'\n",
            nic.addr,
            nic.netmask()
        ));
    }
    if g.startup.is_some() {
        s.push_str(&format!(
            "/bin/sh {m}/startup.sh; echo \"umvm lab: startup script exit status $?\"\n",
            m = CONTROL_MOUNT
        ));
    }
    s.push_str(&format!(
        r#"echo {READY} {name}
: > {m}/ready
# The loop pauses without a process per pause: its standard input is a
# pipe nobody writes to (a sleep that never ends holds it open), and a
# read with a timeout from it is the pause.
sleep 2147483647 | while :; do
  for f in {m}/req/*.sh; do
    [ -f "$f" ] || continue
    id=${{f##*/}}; id=${{id%.sh}}
    /bin/sh "$f" > {m}/out/$id.out 2> {m}/out/$id.err < /dev/null
    echo $? > {m}/out/$id.st
    rm -f "$f"
    mv {m}/out/$id.st {m}/out/$id.status
  done
  read -t 0.1 x
done
"#,
        name = g.name,
        m = CONTROL_MOUNT
    ));
    s
}

/// The MAC address of guest number `guest`'s card on network number
/// `network` of `lab`: locally administered, unicast, and made from the
/// lab's name so that two labs on one wire do not clash.
pub fn mac(lab: &Lab, guest: usize, network: usize) -> [u8; 6] {
    // FNV-1a of the name.
    let h = lab.name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    [0x02, (h >> 8) as u8, h as u8, (guest >> 8) as u8, guest as u8, network as u8]
}

/// `mac` as `aa:bb:...`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
