//! The lab file: a small TOML file (documented in docs/lab.md) read into
//! a [`Lab`], every name, address and path checked. A fault is one
//! [`LabFileError`] line naming the file, the line and the field.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// UML's default multicast group and port (`ethN=mcast` with neither).
pub const MCAST_GROUP: Ipv4Addr = Ipv4Addr::new(239, 192, 168, 1);
/// See [`MCAST_GROUP`].
pub const MCAST_PORT: u16 = 1102;

/// Most guests one lab may have: each is a umvm process of its own.
pub const MAX_GUESTS: u32 = 1000;

/// A fault in a lab file: `FILE:LINE: what` on one line.
#[derive(Debug)]
pub struct LabFileError {
    /// The lab file.
    pub file: PathBuf,
    /// The 1-based line of the fault, when it has one.
    pub line: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl fmt::Display for LabFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LabFileError {}

// ---------------------------------------------------------------------------
// The file as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    lab: RawLab,
    #[serde(default)]
    network: Vec<RawNetwork>,
    #[serde(default)]
    guest: Vec<RawGuest>,
    guests: Option<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    name: Spanned<String>,
    backing: Spanned<String>,
    dir: Option<Spanned<String>>,
    mem: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Mcast,
    Switch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Spanned<String>,
    kind: Spanned<RawKind>,
    group: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    hub: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuest {
    name: Spanned<String>,
    #[serde(default)]
    addresses: BTreeMap<Spanned<String>, Spanned<String>>,
    startup: Option<String>,
    #[serde(default)]
    files: BTreeMap<Spanned<String>, Spanned<String>>,
    mem: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    count: Spanned<u32>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    subnet: Spanned<String>,
    network: Option<Spanned<String>>,
    first: Option<Spanned<u32>>,
    startup: Option<String>,
    #[serde(default)]
    files: BTreeMap<Spanned<String>, Spanned<String>>,
    mem: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------
// The lab as umvm runs it

/// A lab: what `umvm lab start` starts.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The lab file, as given.
    pub file: PathBuf,
    /// `[lab] name`.
    pub name: String,
    /// Where COW files, consoles, control directories and the state go.
    pub dir: PathBuf,
    /// The shared backing image (absolute).
    pub backing: PathBuf,
    /// The networks, in file order.
    pub networks: Vec<Network>,
    /// The guests: `[[guest]]` entries in file order, then `[guests]`.
    pub guests: Vec<Guest>,
}

/// One network of a lab.
#[derive(Debug, Clone)]
pub struct Network {
    /// Its name in the lab file.
    pub name: String,
    /// Its transport.
    pub kind: NetKind,
}

/// How a lab network's frames travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetKind {
    /// A UDP multicast group, UML's `ethN=mcast`.
    Mcast {
        /// The group.
        group: Ipv4Addr,
        /// The UDP port.
        port: u16,
    },
    /// An `umvm switch` the lab starts (a hub with `hub`).
    Switch {
        /// Flood every frame, as a hub.
        hub: bool,
    },
}

/// One guest of a lab.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Its name (also its host name).
    pub name: String,
    /// Its network cards: eth0, eth1, ... in the lab's network order.
    pub nics: Vec<Nic>,
    /// Shell text run at boot, after the network is up.
    pub startup: Option<String>,
    /// Files copied in at boot: (guest path, host path).
    pub files: Vec<(String, PathBuf)>,
    /// `mem=`, when set.
    pub mem: Option<String>,
}

/// A guest's card on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// Index into [`Lab::networks`].
    pub network: usize,
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
}

impl Nic {
    /// The netmask of [`Nic::prefix`].
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0))
    }
}

/// Reads and checks the lab file `file`.
pub fn load(file: &Path) -> Result<Lab, LabFileError> {
    let text = std::fs::read_to_string(file).map_err(|e| LabFileError {
        file: file.to_path_buf(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(file, &text)
}

/// Checks the lab file `file` whose text is `text`.
pub fn parse(file: &Path, text: &str) -> Result<Lab, LabFileError> {
    let cx = Cx { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| cx.line(&s));
        cx.err_line(line, e.message().trim().replace('\n', " "))
    })?;
    let base =
        file.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).unwrap_or(Path::new("."));
    let name = raw.lab.name.get_ref().clone();
    check_name(&cx, &raw.lab.name, "[lab] name")?;
    let dir = match &raw.lab.dir {
        Some(d) if d.get_ref().is_empty() => return Err(cx.err(d, "[lab] dir: empty")),
        Some(d) => base.join(d.get_ref()),
        None => base.join(format!("lab-{name}")),
    };
    let backing = base.join(raw.lab.backing.get_ref());
    match std::fs::metadata(&backing) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(cx.err(&raw.lab.backing, format!("backing: {}: not a regular file", backing.display()))),
        Err(e) => return Err(cx.err(&raw.lab.backing, format!("backing: {}: {e}", backing.display()))),
    }
    let backing = std::path::absolute(&backing)
        .map_err(|e| cx.err(&raw.lab.backing, format!("backing: {}: {e}", backing.display())))?;
    let dir = std::path::absolute(&dir).map_err(|e| cx.err_line(None, format!("[lab] dir: {}: {e}", dir.display())))?;
    if let Some(m) = &raw.lab.mem {
        check_mem(&cx, m, "[lab] mem")?;
    }
    let lab_mem = raw.lab.mem.as_ref().map(|m| m.get_ref().clone());

    let mut networks = Vec::new();
    let mut seen = HashSet::new();
    let mut mcast_seen = HashSet::new();
    for (i, n) in raw.network.iter().enumerate() {
        check_name(&cx, &n.name, "[[network]] name")?;
        if !seen.insert(n.name.get_ref().clone()) {
            return Err(cx.err(&n.name, format!("[[network]] name: {:?} is used twice", n.name.get_ref())));
        }
        let kind = match *n.kind.get_ref() {
            RawKind::Mcast => {
                if let Some(h) = &n.hub {
                    return Err(cx.err(h, "[[network]] hub: only for kind = \"switch\""));
                }
                let group = match &n.group {
                    Some(g) => {
                        let a: Ipv4Addr = g.get_ref().parse().map_err(|_| {
                            cx.err(g, format!("[[network]] group: {:?} is not an IPv4 address", g.get_ref()))
                        })?;
                        if !a.is_multicast() {
                            return Err(cx.err(g, format!("[[network]] group: {a} is not a multicast address")));
                        }
                        a
                    }
                    None => MCAST_GROUP,
                };
                // Two networks left at UML's default would be one wire:
                // each later one gets the next port.
                let port = match &n.port {
                    Some(p) if *p.get_ref() == 0 => return Err(cx.err(p, "[[network]] port: 0 is not a port")),
                    Some(p) => *p.get_ref(),
                    None => MCAST_PORT.saturating_add(i as u16),
                };
                if !mcast_seen.insert((group, port)) {
                    return Err(cx.err(&n.name, format!("[[network]]: {group}:{port} is another network's too")));
                }
                NetKind::Mcast { group, port }
            }
            RawKind::Switch => {
                if let Some(g) = &n.group {
                    return Err(cx.err(g, "[[network]] group: only for kind = \"mcast\""));
                }
                if let Some(p) = &n.port {
                    return Err(cx.err(p, "[[network]] port: only for kind = \"mcast\""));
                }
                NetKind::Switch { hub: n.hub.as_ref().is_some_and(|h| *h.get_ref()) }
            }
        };
        networks.push(Network { name: n.name.get_ref().clone(), kind });
    }
    let net_index = |n: &Spanned<String>, field: &str| -> Result<usize, LabFileError> {
        networks
            .iter()
            .position(|x| &x.name == n.get_ref())
            .ok_or_else(|| cx.err(n, format!("{field}: no [[network]] is named {:?}", n.get_ref())))
    };

    let mut guests = Vec::new();
    let mut names = HashSet::new();
    // (network, address) -> the guest that has it.
    let mut used: BTreeMap<(usize, Ipv4Addr), String> = BTreeMap::new();
    let mut claim = |nic: &Nic, guest: &str, at: &Range<usize>| -> Result<(), LabFileError> {
        if let Some(other) = used.insert((nic.network, nic.addr), guest.to_string()) {
            return Err(
                cx.err_at(at, format!("addresses: {} on {:?} is {other}'s too", nic.addr, networks[nic.network].name))
            );
        }
        Ok(())
    };
    for g in &raw.guest {
        check_name(&cx, &g.name, "[[guest]] name")?;
        let gname = g.name.get_ref().clone();
        if !names.insert(gname.clone()) {
            return Err(cx.err(&g.name, format!("[[guest]] name: {gname:?} is used twice")));
        }
        let mut nics = Vec::new();
        for (net, addr) in &g.addresses {
            let network = net_index(net, "[[guest]] addresses")?;
            let (a, prefix) =
                parse_cidr(addr.get_ref()).map_err(|m| cx.err(addr, format!("[[guest]] addresses: {m}")))?;
            let nic = Nic { network, addr: a, prefix };
            claim(&nic, &gname, &addr.span())?;
            nics.push(nic);
        }
        nics.sort_by_key(|n| n.network);
        if let Some(m) = &g.mem {
            check_mem(&cx, m, "[[guest]] mem")?;
        }
        let files = files(&cx, base, &g.files, "[[guest]] files")?;
        let mem = g.mem.as_ref().map(|m| m.get_ref().clone()).or_else(|| lab_mem.clone());
        guests.push(Guest { name: gname, nics, startup: g.startup.clone(), files, mem });
    }
    if let Some(group) = &raw.guests {
        let span = group.span();
        let group = group.get_ref();
        let count = *group.count.get_ref();
        if count == 0 || count > MAX_GUESTS {
            return Err(cx.err(&group.count, format!("[guests] count: {count}: expected 1 to {MAX_GUESTS}")));
        }
        let prefix = group.prefix.as_ref().map(|p| p.get_ref().clone()).unwrap_or_else(|| "g".into());
        let network = match &group.network {
            Some(n) => net_index(n, "[guests] network")?,
            None if networks.len() == 1 => 0,
            None => {
                return Err(
                    cx.err_at(&span, "[guests]: say which network with network = \"NAME\" (the lab has not one)")
                )
            }
        };
        let (net, plen) =
            parse_cidr(group.subnet.get_ref()).map_err(|m| cx.err(&group.subnet, format!("[guests] subnet: {m}")))?;
        let mask = u32::MAX.checked_shl(32 - u32::from(plen)).unwrap_or(0);
        if u32::from(net) & !mask != 0 {
            return Err(cx.err(&group.subnet, format!("[guests] subnet: {net}/{plen} has host bits set")));
        }
        let first = group.first.as_ref().map(|f| *f.get_ref()).unwrap_or(1);
        // The hosts of the subnet are 1 ..= size-2 (not the network nor
        // the broadcast address).
        let size = 1u64 << (32 - plen);
        let last = u64::from(first) + u64::from(count) - 1;
        if first == 0 || size < 4 || last > size - 2 {
            return Err(
                cx.err(&group.count, format!("[guests]: {count} guests from host {first} do not fit in {net}/{plen}"))
            );
        }
        if let Some(m) = &group.mem {
            check_mem(&cx, m, "[guests] mem")?;
        }
        let files = files(&cx, base, &group.files, "[guests] files")?;
        let mem = group.mem.as_ref().map(|m| m.get_ref().clone()).or_else(|| lab_mem.clone());
        let width = count.to_string().len();
        for k in 0..count {
            let gname = format!("{prefix}{:0width$}", k + 1);
            if let Some(p) = &group.prefix {
                check_name(&cx, &Spanned::new(p.span(), gname.clone()), "[guests] prefix")?;
            }
            if !names.insert(gname.clone()) {
                return Err(cx.err_at(&span, format!("[guests]: {gname:?} is a [[guest]]'s name too")));
            }
            let addr = Ipv4Addr::from(u32::from(net) + first + k);
            let nic = Nic { network, addr, prefix: plen };
            claim(&nic, &gname, &group.subnet.span())?;
            guests.push(Guest {
                name: gname,
                nics: vec![nic],
                startup: group.startup.clone(),
                files: files.clone(),
                mem: mem.clone(),
            });
        }
    }
    if guests.is_empty() {
        return Err(cx.err_line(None, "no guests: add [[guest]] entries or a [guests] group"));
    }
    if guests.len() > MAX_GUESTS as usize {
        return Err(cx.err_line(None, format!("{} guests: at most {MAX_GUESTS}", guests.len())));
    }
    Ok(Lab { file: file.to_path_buf(), name, dir, backing, networks, guests })
}

/// The file and its text, to turn spans into line numbers.
struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let at = span.start.min(self.text.len());
        self.text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn err_line(&self, line: Option<usize>, message: impl Into<String>) -> LabFileError {
        LabFileError { file: self.file.to_path_buf(), line, message: message.into() }
    }

    fn err_at(&self, span: &Range<usize>, message: impl Into<String>) -> LabFileError {
        self.err_line(Some(self.line(span)), message)
    }

    fn err<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> LabFileError {
        self.err_at(&at.span(), message)
    }
}

/// Guest and network names become host names, file names and parts of
/// switches: letters, digits, `-` and `_`, at most 32.
fn check_name(cx: &Cx, name: &Spanned<String>, field: &str) -> Result<(), LabFileError> {
    let n = name.get_ref();
    let ok = !n.is_empty()
        && n.len() <= 32
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !n.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(cx.err(name, format!("{field}: {n:?}: expected 1 to 32 letters, digits, '-' or '_'")))
    }
}

/// `mem=`'s syntax: a number with K, M or G.
fn check_mem(cx: &Cx, mem: &Spanned<String>, field: &str) -> Result<(), LabFileError> {
    let m = mem.get_ref();
    let digits = m.trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g']);
    let ok = !digits.is_empty() && m.len() - digits.len() <= 1 && digits.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(cx.err(mem, format!("{field}: {m:?}: expected a size such as 64M")))
    }
}

/// `A.B.C.D/PREFIX` with a prefix of 1 to 30 (a network of two hosts).
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected ADDRESS/PREFIX, e.g. 10.0.0.1/24"))?;
    let addr: Ipv4Addr = a.parse().map_err(|_| format!("{s:?}: {a:?} is not an IPv4 address"))?;
    let prefix: u8 =
        p.parse().ok().filter(|p| (1..=30).contains(p)).ok_or_else(|| format!("{s:?}: prefix {p:?} is not 1 to 30"))?;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() || addr.is_loopback() {
        return Err(format!("{s:?}: {addr} cannot be a guest's address"));
    }
    Ok((addr, prefix))
}

/// A `files` table: guest path (absolute) -> host path (relative to the
/// lab file, a regular file that exists).
fn files(
    cx: &Cx,
    base: &Path,
    table: &BTreeMap<Spanned<String>, Spanned<String>>,
    field: &str,
) -> Result<Vec<(String, PathBuf)>, LabFileError> {
    let mut out = Vec::new();
    for (guest, host) in table {
        let g = guest.get_ref();
        if !g.starts_with('/') || g.ends_with('/') || g.split('/').any(|c| c == "..") || g.contains(['\'', '\n']) {
            return Err(cx.err(guest, format!("{field}: {g:?}: expected an absolute guest file name")));
        }
        let h = base.join(host.get_ref());
        match std::fs::metadata(&h) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(cx.err(host, format!("{field}: {}: not a regular file", h.display()))),
            Err(e) => return Err(cx.err(host, format!("{field}: {}: {e}", h.display()))),
        }
        out.push((g.clone(), h));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab_in(dir: &Path, text: &str) -> Result<Lab, String> {
        std::fs::write(dir.join("backing.img"), b"x").unwrap();
        std::fs::write(dir.join("motd"), b"hi").unwrap();
        parse(&dir.join("lab.toml"), text).map_err(|e| e.to_string())
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("umvm-labfile-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const GOOD: &str = r#"
[lab]
name = "demo"
backing = "backing.img"

[[network]]
name = "lan"
kind = "mcast"

[[network]]
name = "back"
kind = "switch"

[[guest]]
name = "router"
addresses = { lan = "10.0.0.254/24", back = "10.1.0.1/24" }
files = { "/etc/motd" = "motd" }
startup = "echo hi"
mem = "64M"

[guests]
count = 12
subnet = "10.0.0.0/24"
network = "lan"
"#;

    #[test]
    fn a_lab_file_expands_to_guests() {
        let d = tmp("good");
        let lab = lab_in(&d, GOOD).unwrap();
        assert_eq!(lab.name, "demo");
        assert_eq!(lab.dir, std::path::absolute(d.join("lab-demo")).unwrap());
        assert_eq!(lab.networks[0].kind, NetKind::Mcast { group: MCAST_GROUP, port: 1102 });
        assert_eq!(lab.networks[1].kind, NetKind::Switch { hub: false });
        assert_eq!(lab.guests.len(), 13);
        let r = &lab.guests[0];
        assert_eq!(r.nics.len(), 2);
        assert_eq!((r.nics[1].network, r.nics[1].addr, r.nics[1].prefix), (1, Ipv4Addr::new(10, 1, 0, 1), 24));
        assert_eq!(r.nics[0].netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(r.files, vec![("/etc/motd".to_string(), d.join("motd"))]);
        assert_eq!(lab.guests[1].name, "g01");
        assert_eq!(lab.guests[12].name, "g12");
        assert_eq!(lab.guests[12].nics[0].addr, Ipv4Addr::new(10, 0, 0, 12));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_documented_example_is_a_good_lab_file() {
        let d = tmp("example");
        std::fs::write(d.join("rootfs.img"), b"x").unwrap();
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/motd.txt"), d.join("motd.txt")).unwrap();
        let text = include_str!("../../examples/lab.toml");
        let lab = parse(&d.join("lab.toml"), text).unwrap();
        assert_eq!((lab.name.as_str(), lab.networks.len(), lab.guests.len()), ("demo", 2, 11));
        assert_eq!(lab.guests[10].name, "c10");
        assert_eq!(lab.guests[10].mem.as_deref(), Some("64M"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn faults_name_the_file_line_and_field() {
        let d = tmp("bad");
        let file = d.join("lab.toml").display().to_string();
        let cases = [
            ("[lab]\nbacking = \"backing.img\"\n", ":1: missing field `name`"),
            ("[lab]\nname = \"x\"\nbacking = \"backing.img\"\ncolour = 1\n", ":4: unknown field `colour`"),
            ("[lab]\nname = \"x\"\nbacking = \"nope.img\"\n", ":3: backing: "),
            (
                "[lab]\nname = \"x\"\nbacking = \"backing.img\"\n[[network]]\nname = \"n\"\nkind = \"mcast\"\n\
                 [[guest]]\nname = \"a\"\naddresses = { n = \"10.0.0.300/24\" }\n",
                ":9: [[guest]] addresses: \"10.0.0.300/24\": \"10.0.0.300\" is not an IPv4 address",
            ),
            (
                "[lab]\nname = \"x\"\nbacking = \"backing.img\"\n[[network]]\nname = \"n\"\nkind = \"tap\"\n",
                ":6: unknown variant `tap`",
            ),
            (
                "[lab]\nname = \"x\"\nbacking = \"backing.img\"\n[[guest]]\nname = \"a\"\naddresses = { m = \"10.0.0.1/24\" }\n",
                ":6: [[guest]] addresses: no [[network]] is named \"m\"",
            ),
            (
                "[lab]\nname = \"x\"\nbacking = \"backing.img\"\n[[network]]\nname = \"n\"\nkind = \"mcast\"\n\
                 [guests]\ncount = 300\nsubnet = \"10.0.0.0/24\"\n",
                ":8: [guests]: 300 guests from host 1 do not fit in 10.0.0.0/24",
            ),
            ("[lab]\nname = \"x y\"\nbacking = \"backing.img\"\n", ":2: [lab] name: \"x y\""),
            ("[lab]\nname = \"x\"\nbacking = \"backing.img\"\n", ": no guests"),
            ("[lab\n", ":1: "),
        ];
        for (text, want) in cases {
            let e = lab_in(&d, text).unwrap_err();
            assert!(e.starts_with(&file) && e.contains(want), "{text:?}: got {e:?}, want {want:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
