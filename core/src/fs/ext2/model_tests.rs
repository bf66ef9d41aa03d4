//! Random sequences of operations against an in-memory model of the tree:
//! each operation must succeed or fail (with the same errno) as the model
//! says Linux would, the tree must then read back exactly as the model
//! holds it, and the image must pass `e2fsck -fn`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use proptest::prelude::*;

use super::fs::ROOT_INO;
use super::testimg::{fsck_clean, mke2fs, Scratch};
use super::{Error, Ext2, FileType, Inode, RENAME_EXCHANGE, RENAME_NOREPLACE};
use crate::errno::Errno;

#[derive(Clone, Debug)]
enum Op {
    Create { dir: usize, name: u8 },
    Mkdir { dir: usize, name: u8 },
    Write { file: usize, off: u32, len: u16, seed: u8 },
    Truncate { file: usize, size: u32 },
    Symlink { dir: usize, name: u8, len: u8 },
    Link { file: usize, dir: usize, name: u8 },
    Unlink { dir: usize, entry: usize },
    Rmdir { dir: usize, entry: usize },
    Rename { dir: usize, entry: usize, to: usize, name: u8, flags: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0usize..64;
    let n = 0u8..6;
    prop_oneof![
        (d.clone(), n.clone()).prop_map(|(dir, name)| Op::Create { dir, name }),
        (d.clone(), n.clone()).prop_map(|(dir, name)| Op::Mkdir { dir, name }),
        (d.clone(), 0u32..300_000, 0u16..5000, any::<u8>()).prop_map(|(file, off, len, seed)| Op::Write {
            file,
            off,
            len,
            seed
        }),
        (d.clone(), 0u32..320_000).prop_map(|(file, size)| Op::Truncate { file, size }),
        (d.clone(), n.clone(), 1u8..120).prop_map(|(dir, name, len)| Op::Symlink { dir, name, len }),
        (d.clone(), d.clone(), n.clone()).prop_map(|(file, dir, name)| Op::Link { file, dir, name }),
        (d.clone(), d.clone()).prop_map(|(dir, entry)| Op::Unlink { dir, entry }),
        (d.clone(), d.clone()).prop_map(|(dir, entry)| Op::Rmdir { dir, entry }),
        (d.clone(), d.clone(), d, n, 0u8..3).prop_map(|(dir, entry, to, name, flags)| Op::Rename {
            dir,
            entry,
            to,
            name,
            flags
        }),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, u32>),
    Link(Vec<u8>),
}

/// The tree as Linux would have it, keyed by the inode numbers the image
/// gave out. lost+found is left out: no operation touches it.
struct Model {
    nodes: HashMap<u32, (Node, u16)>,
    parent: HashMap<u32, u32>,
}

impl Model {
    fn dirs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.nodes.iter().filter(|(_, n)| matches!(n.0, Node::Dir(_))).map(|(&i, _)| i).collect();
        v.sort();
        v
    }

    fn files(&self) -> Vec<u32> {
        let mut v: Vec<u32> =
            self.nodes.iter().filter(|(_, n)| matches!(n.0, Node::File(_))).map(|(&i, _)| i).collect();
        v.sort();
        v
    }

    fn entries(&self, dir: u32) -> &BTreeMap<Vec<u8>, u32> {
        match &self.nodes[&dir].0 {
            Node::Dir(e) => e,
            _ => unreachable!(),
        }
    }

    fn entries_mut(&mut self, dir: u32) -> &mut BTreeMap<Vec<u8>, u32> {
        match &mut self.nodes.get_mut(&dir).unwrap().0 {
            Node::Dir(e) => e,
            _ => unreachable!(),
        }
    }

    fn is_dir(&self, ino: u32) -> bool {
        matches!(self.nodes[&ino].0, Node::Dir(_))
    }

    fn links(&mut self, ino: u32) -> &mut u16 {
        &mut self.nodes.get_mut(&ino).unwrap().1
    }

    fn is_ancestor(&self, anc: u32, mut d: u32) -> bool {
        loop {
            if d == anc {
                return true;
            }
            if d == ROOT_INO {
                return false;
            }
            d = self.parent[&d];
        }
    }

    /// Drops a name of `ino`; returns whether its last link went.
    fn drop_link(&mut self, ino: u32, by: u16) -> bool {
        let l = self.links(ino);
        *l -= by;
        if *l == 0 {
            self.nodes.remove(&ino);
            self.parent.remove(&ino);
            return true;
        }
        false
    }
}

fn name_of(n: u8) -> Vec<u8> {
    format!("n{n}").into_bytes()
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed)).collect()
}

fn errno<T>(r: &Result<T, Error>) -> Option<Errno> {
    r.as_ref().err().map(|e| e.errno())
}

/// Applies `op` to both; panics (failing the case) on any disagreement.
fn apply(fs: &mut Ext2<Vec<u8>>, m: &mut Model, op: &Op) {
    let dirs = m.dirs();
    let files = m.files();
    let pick = |v: &Vec<u32>, i: usize| v[i % v.len()];
    match *op {
        Op::Create { dir, name } | Op::Mkdir { dir, name } | Op::Symlink { dir, name, .. } => {
            let d = pick(&dirs, dir);
            let name = name_of(name);
            let exists = m.entries(d).contains_key(&name);
            let (r, node, links) = match *op {
                Op::Create { .. } => (fs.create(d, &name, 0o644, 1, 2), Node::File(Vec::new()), 1),
                Op::Mkdir { .. } => (fs.mkdir(d, &name, 0o755, 1, 2), Node::Dir(BTreeMap::new()), 2),
                Op::Symlink { len, .. } => {
                    let target = data(len, len as usize).iter().map(|b| b'a' + b % 26).collect::<Vec<u8>>();
                    (fs.symlink(d, &name, &target, 1, 2), Node::Link(target), 1)
                }
                _ => unreachable!(),
            };
            if exists {
                assert_eq!(errno(&r), Some(Errno::EEXIST), "{op:?}");
                return;
            }
            let ino = r.unwrap_or_else(|e| panic!("{op:?}: {e}")).ino;
            if matches!(node, Node::Dir(_)) {
                *m.links(d) += 1;
                m.parent.insert(ino, d);
            }
            m.entries_mut(d).insert(name, ino);
            m.nodes.insert(ino, (node, links));
        }
        Op::Write { file, off, len, seed } => {
            if files.is_empty() {
                return;
            }
            let f = pick(&files, file);
            let mut inode = fs.inode(f).unwrap();
            let bytes = data(seed, len as usize);
            assert_eq!(fs.write(&mut inode, u64::from(off), &bytes).unwrap(), bytes.len());
            if let Node::File(content) = &mut m.nodes.get_mut(&f).unwrap().0 {
                let end = off as usize + bytes.len();
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[off as usize..end].copy_from_slice(&bytes);
            }
        }
        Op::Truncate { file, size } => {
            if files.is_empty() {
                return;
            }
            let f = pick(&files, file);
            let mut inode = fs.inode(f).unwrap();
            fs.truncate(&mut inode, u64::from(size)).unwrap();
            if let Node::File(content) = &mut m.nodes.get_mut(&f).unwrap().0 {
                content.resize(size as usize, 0);
            }
        }
        Op::Link { file, dir, name } => {
            if files.is_empty() {
                return;
            }
            let (f, d, name) = (pick(&files, file), pick(&dirs, dir), name_of(name));
            let r = fs.link(f, d, &name);
            if m.entries(d).contains_key(&name) {
                assert_eq!(errno(&r), Some(Errno::EEXIST), "{op:?}");
                return;
            }
            assert_eq!(r.unwrap_or_else(|e| panic!("{op:?}: {e}")).links, *m.links(f) + 1);
            *m.links(f) += 1;
            m.entries_mut(d).insert(name, f);
        }
        Op::Unlink { dir, entry } | Op::Rmdir { dir, entry } => {
            let d = pick(&dirs, dir);
            let entries: Vec<(Vec<u8>, u32)> = m.entries(d).iter().map(|(k, &v)| (k.clone(), v)).collect();
            if entries.is_empty() {
                return;
            }
            let (name, ino) = entries[entry % entries.len()].clone();
            let is_dir = m.is_dir(ino);
            if let Op::Unlink { .. } = op {
                let r = fs.unlink(d, &name);
                if is_dir {
                    assert_eq!(errno(&r), Some(Errno::EISDIR), "{op:?}");
                    return;
                }
                let after = r.unwrap_or_else(|e| panic!("{op:?}: {e}"));
                m.entries_mut(d).remove(&name);
                assert_eq!(after.links, *m.links(ino) - 1);
                if m.drop_link(ino, 1) {
                    fs.evict(ino).unwrap();
                }
            } else {
                let r = fs.rmdir(d, &name);
                if !is_dir {
                    assert_eq!(errno(&r), Some(Errno::ENOTDIR), "{op:?}");
                } else if !m.entries(ino).is_empty() {
                    assert_eq!(errno(&r), Some(Errno::ENOTEMPTY), "{op:?}");
                } else {
                    r.unwrap_or_else(|e| panic!("{op:?}: {e}"));
                    m.entries_mut(d).remove(&name);
                    m.drop_link(ino, 2);
                    *m.links(d) -= 1;
                }
            }
        }
        Op::Rename { dir, entry, to, name, flags } => {
            let d = pick(&dirs, dir);
            let entries: Vec<(Vec<u8>, u32)> = m.entries(d).iter().map(|(k, &v)| (k.clone(), v)).collect();
            if entries.is_empty() {
                return;
            }
            let (old_name, old) = entries[entry % entries.len()].clone();
            let (nd, new_name) = (pick(&dirs, to), name_of(name));
            let flags = [0, RENAME_NOREPLACE, RENAME_EXCHANGE][flags as usize];
            let r = fs.rename(d, &old_name, nd, &new_name, flags);
            let new = m.entries(nd).get(&new_name).copied();
            let want = model_rename(m, d, &old_name, old, nd, &new_name, new, flags);
            match want {
                Err(e) => assert_eq!(errno(&r), Some(e), "{op:?}"),
                Ok(replaced) => {
                    let got = r.unwrap_or_else(|e| panic!("{op:?}: {e}"));
                    assert_eq!(got.as_ref().map(|i| i.ino), replaced.map(|(i, _)| i), "{op:?}");
                    if let (Some(got), Some((ino, gone))) = (got, replaced) {
                        assert_eq!(got.links == 0, gone, "{op:?}");
                        if gone {
                            fs.evict(ino).unwrap();
                        }
                    }
                }
            }
        }
    }
}

/// The model's rename: the errno Linux gives, or the replaced inode and
/// whether its last link went.
#[allow(clippy::too_many_arguments)]
fn model_rename(
    m: &mut Model,
    od: u32,
    on: &[u8],
    old: u32,
    nd: u32,
    nn: &[u8],
    new: Option<u32>,
    flags: u32,
) -> Result<Option<(u32, bool)>, Errno> {
    let exchange = flags == RENAME_EXCHANGE;
    match new {
        None if exchange => return Err(Errno::ENOENT),
        Some(_) if flags == RENAME_NOREPLACE => return Err(Errno::EEXIST),
        _ => {}
    }
    if od != nd {
        if m.is_dir(old) && m.is_ancestor(old, nd) {
            return Err(Errno::EINVAL);
        }
        if let Some(n) = new {
            if m.is_dir(n) && m.is_ancestor(n, od) {
                return Err(if exchange { Errno::EINVAL } else { Errno::ENOTEMPTY });
            }
        }
    }
    if new == Some(old) {
        return Ok(None);
    }
    let old_dir = m.is_dir(old);
    if exchange {
        let n = new.unwrap();
        let new_dir = m.is_dir(n);
        m.entries_mut(od).insert(on.to_vec(), n);
        m.entries_mut(nd).insert(nn.to_vec(), old);
        if od != nd {
            if old_dir {
                m.parent.insert(old, nd);
                *m.links(od) -= 1;
                *m.links(nd) += 1;
            }
            if new_dir {
                m.parent.insert(n, od);
                *m.links(nd) -= 1;
                *m.links(od) += 1;
            }
        }
        return Ok(None);
    }
    let mut replaced = None;
    if let Some(n) = new {
        match (old_dir, m.is_dir(n)) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            (true, true) if !m.entries(n).is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        let by = if m.is_dir(n) { 2 } else { 1 };
        if m.is_dir(n) {
            *m.links(nd) -= 1;
        }
        replaced = Some((n, m.drop_link(n, by)));
    }
    m.entries_mut(od).remove(on);
    m.entries_mut(nd).insert(nn.to_vec(), old);
    if old_dir {
        m.parent.insert(old, nd);
        *m.links(od) -= 1;
        *m.links(nd) += 1;
    }
    Ok(replaced)
}

/// The image holds exactly the model's tree.
fn compare(fs: &Ext2<Vec<u8>>, m: &Model, dir: u32, seen: &mut usize) {
    let inode = fs.inode(dir).unwrap();
    assert_eq!(inode.links, m.nodes[&dir].1, "links of directory {dir}");
    let got: BTreeMap<Vec<u8>, u32> = fs
        .read_dir(&inode)
        .unwrap()
        .into_iter()
        .filter(|e| e.name != b"." && e.name != b".." && !(dir == ROOT_INO && e.name == b"lost+found"))
        .map(|e| (e.name, e.ino))
        .collect();
    assert_eq!(&got, m.entries(dir), "entries of directory {dir}");
    assert_eq!(fs.lookup(&inode, b"..").unwrap(), Some(if dir == ROOT_INO { ROOT_INO } else { m.parent[&dir] }));
    for &ino in got.values() {
        *seen += 1;
        let i: Inode = fs.inode(ino).unwrap();
        match &m.nodes[&ino] {
            (Node::Dir(_), _) => compare(fs, m, ino, seen),
            (Node::File(content), links) => {
                assert_eq!((i.file_type(), i.links, i.size), (FileType::Regular, *links, content.len() as u64));
                let mut buf = vec![0u8; content.len()];
                fs.read(&i, 0, &mut buf).unwrap();
                assert!(buf == *content, "content of {ino}");
            }
            (Node::Link(target), _) => assert_eq!(&fs.read_link(&i).unwrap(), target),
        }
    }
}

fn pristine(bs: usize) -> &'static Vec<u8> {
    static IMAGES: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    IMAGES[bs].get_or_init(|| {
        let s = Scratch::new("model-src");
        let src = s.0.join("src");
        std::fs::create_dir(&src).unwrap();
        let size = ["1024", "4096"][bs];
        mke2fs("ext2", &["-b", size, "-N", "512"], &src, &s.0.join("img"), "8M")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(bs in 0usize..2, ops in prop::collection::vec(op(), 1..80)) {
        let mut fs = Ext2::open(pristine(bs).clone()).unwrap();
        fs.mount_rw().unwrap();
        let mut m = Model { nodes: HashMap::new(), parent: HashMap::new() };
        let root_links = fs.inode(ROOT_INO).unwrap().links;
        m.nodes.insert(ROOT_INO, (Node::Dir(BTreeMap::new()), root_links));
        for op in &ops {
            apply(&mut fs, &mut m, op);
        }
        let mut seen = 0;
        compare(&fs, &m, ROOT_INO, &mut seen);
        fs.unmount().unwrap();
        let s = Scratch::new("model");
        let path = s.0.join("img");
        std::fs::write(&path, fs.into_source()).unwrap();
        fsck_clean(&path);
    }
}
