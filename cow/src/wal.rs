//! The write-ahead log beside a disk image (`<image>.umvm-log`), which
//! makes a commit of dirty pages atomic against a crash of umvm.
//!
//! A commit writes every page it carries to the log first, sequentially,
//! and makes the log durable; only then are the pages written in place
//! (data, and for a COW file the bitmap), the image made durable, and the
//! log emptied. A crash before the log is complete leaves the image as of
//! the previous commit (the log is torn, and discarded at the next open);
//! a crash after it leaves a complete log, which the next open applies
//! again ([`replay`]): writing the same bytes twice is harmless.
//!
//! Layout, little-endian:
//! - header: magic `UMVMLOG\0`, version (u32), zero (u32), the disk's size
//!   in bytes (u64);
//! - records: disk offset (u64), length (u64), that many bytes;
//! - the commit record: magic `UMVMCMT\0`, the number of records (u64),
//!   the bytes before the commit record (u64), and a checksum (u64) of
//!   everything before it.
//!
//! A log that does not end in a commit record matching its contents is
//! torn: nothing of it is applied.
//!
//! The log is written and applied only under the image's own lock (the
//! device's exclusive lock, or the one [`replay`] takes).

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::header::SECTOR;
use crate::{image, lock};

const MAGIC: [u8; 8] = *b"UMVMLOG\0";
const COMMIT_MAGIC: [u8; 8] = *b"UMVMCMT\0";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
const RECORD_LEN: usize = 16;
const COMMIT_LEN: usize = 32;

/// The log of the disk image (or COW file) `image`.
pub fn log_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_owned();
    name.push(".umvm-log");
    PathBuf::from(name)
}

/// A 64-bit checksum of a sequence of byte strings (their boundaries
/// count). Four independent lanes of multiply-rotate over 8-byte words:
/// several GB/s, and any torn or stale block changes it. It guards against
/// crashes, not against an adversary.
#[derive(Clone)]
struct Checksum {
    lanes: [u64; 4],
}

const K: [u64; 4] = [0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f, 0x1656_67b1_9e37_79f9, 0x27d4_eb2f_1656_67c5];

impl Checksum {
    fn new() -> Checksum {
        Checksum { lanes: K }
    }

    fn mix(lane: u64, word: u64, k: u64) -> u64 {
        (lane ^ word).wrapping_mul(k).rotate_left(29)
    }

    fn update(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(32);
        for b in &mut blocks {
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                let w = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                *lane = Checksum::mix(*lane, w, K[i]);
            }
        }
        let rest = blocks.remainder();
        for (i, w) in rest.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..w.len()].copy_from_slice(w);
            self.lanes[i] = Checksum::mix(self.lanes[i], u64::from_le_bytes(word), K[i]);
        }
        // The length ends each string, so that moving bytes between
        // strings (or padding one) changes the sum.
        self.lanes[0] = Checksum::mix(self.lanes[0], data.len() as u64, K[3]);
    }

    fn finish(&self) -> u64 {
        self.lanes.iter().zip(K).fold(0u64, |h, (&l, k)| Checksum::mix(h, l, k))
    }
}

fn header(disk_size: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&disk_size.to_le_bytes());
    h
}

fn record(offset: u64, len: usize) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..8].copy_from_slice(&offset.to_le_bytes());
    r[8..].copy_from_slice(&(len as u64).to_le_bytes());
    r
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The encoded log of a commit of `extents` (disk offset, bytes) to a disk
/// of `disk_size` bytes, as the pieces to write one after the other.
fn encode<'a>(
    disk_size: u64,
    extents: &'a [(u64, &'a [u8])],
    heads: &'a mut Vec<[u8; RECORD_LEN]>,
    start: &'a mut [u8; HEADER_LEN],
    end: &'a mut [u8; COMMIT_LEN],
) -> Vec<IoSlice<'a>> {
    *start = header(disk_size);
    heads.clear();
    heads.extend(extents.iter().map(|&(off, data)| record(off, data.len())));
    let (start, heads): (&'a [u8; HEADER_LEN], &'a [[u8; RECORD_LEN]]) = (start, heads);
    let mut sum = Checksum::new();
    sum.update(start);
    let mut body = HEADER_LEN as u64;
    for (head, &(_, data)) in heads.iter().zip(extents) {
        sum.update(head);
        sum.update(data);
        body += (RECORD_LEN + data.len()) as u64;
    }
    end[..8].copy_from_slice(&COMMIT_MAGIC);
    end[8..16].copy_from_slice(&(extents.len() as u64).to_le_bytes());
    end[16..24].copy_from_slice(&body.to_le_bytes());
    end[24..32].copy_from_slice(&sum.finish().to_le_bytes());
    let end: &'a [u8; COMMIT_LEN] = end;
    let mut slices = Vec::with_capacity(2 + 2 * extents.len());
    slices.push(IoSlice::new(&start[..]));
    for (head, &(_, data)) in heads.iter().zip(extents) {
        slices.push(IoSlice::new(head));
        slices.push(IoSlice::new(data));
    }
    slices.push(IoSlice::new(&end[..]));
    slices
}

/// A complete log: the disk size it was written for and its records, as
/// (disk offset, byte range in the log).
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The disk's size when the log was written.
    pub disk_size: u64,
    /// Each record's disk offset and where its bytes lie in the log.
    pub records: Vec<(u64, std::ops::Range<usize>)>,
}

/// Why a log is not applied: it was torn by a crash while it was written
/// (or is not a log at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Torn(String);

/// Parses a whole log. Never panics, whatever the bytes.
pub fn parse(log: &[u8]) -> std::result::Result<Parsed, Torn> {
    let torn = |why: String| Err(Torn(why));
    if log.len() < HEADER_LEN + COMMIT_LEN {
        return torn(format!("{} bytes, shorter than an empty commit", log.len()));
    }
    if log[..8] != MAGIC {
        return torn("no log magic".into());
    }
    let version = u32::from_le_bytes(log[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return torn(format!("version {version}, this umvm reads {VERSION}"));
    }
    let disk_size = u64_at(log, 16);
    let mut sum = Checksum::new();
    sum.update(&log[..HEADER_LEN]);
    let mut pos = HEADER_LEN;
    let mut records = Vec::new();
    loop {
        let rest = &log[pos..];
        if rest.len() >= COMMIT_LEN && rest[..8] == COMMIT_MAGIC {
            let (count, body, want) = (u64_at(rest, 8), u64_at(rest, 16), u64_at(rest, 24));
            if count == records.len() as u64 && body == pos as u64 && want == sum.finish() {
                return Ok(Parsed { disk_size, records });
            }
            // Data that happens to start with the commit magic reads on as
            // a record; a real but mismatched commit record fails there.
        }
        if rest.len() < RECORD_LEN {
            return torn(format!("no commit record after {} records", records.len()));
        }
        let (offset, len) = (u64_at(rest, 0), u64_at(rest, 8));
        let data_at = pos + RECORD_LEN;
        let Some(end) = usize::try_from(len).ok().and_then(|l| data_at.checked_add(l)).filter(|&e| e <= log.len())
        else {
            return torn(format!("record {} of {len} bytes runs past the end", records.len()));
        };
        sum.update(&rest[..RECORD_LEN]);
        sum.update(&log[data_at..end]);
        records.push((offset, data_at..end));
        pos = end;
    }
}

/// The log of one open disk, written by its commits.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    heads: Vec<[u8; RECORD_LEN]>,
}

impl LogFile {
    /// The log of `image`, created at the first commit.
    pub fn new(image: &Path) -> LogFile {
        LogFile { path: log_path(image), file: None, heads: Vec::new() }
    }

    /// Where it lies.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the log of a commit of `extents` (disk offset, bytes) to a
    /// disk of `disk_size` bytes, from its start, in as few writes as the
    /// host allows (one writev of up to IOV_MAX pieces each), and makes
    /// it durable. When it returns Ok, the commit survives a crash.
    pub fn write(&mut self, disk_size: u64, extents: &[(u64, &[u8])]) -> Result<()> {
        let io = Error::io(&self.path);
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&self.path)
                    .map_err(Error::io(&self.path))?;
                self.file.insert(f)
            }
        };
        let (mut start, mut end) = ([0u8; HEADER_LEN], [0u8; COMMIT_LEN]);
        let mut heads = std::mem::take(&mut self.heads);
        let r = (|| {
            let mut slices = encode(disk_size, extents, &mut heads, &mut start, &mut end);
            let total: usize = slices.iter().map(|s| s.len()).sum();
            // A shorter log left by a failed commit must not keep a tail.
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            let mut left = &mut slices[..];
            while !left.is_empty() {
                match file.write_vectored(left) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut left, n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            debug_assert_eq!(file.stream_position().ok(), Some(total as u64));
            file.sync_data()
        })();
        self.heads = heads;
        r.map_err(io)
    }

    /// Empties the log: the commit it held is in place and durable. Not
    /// synced: until it is, the log still holds that commit, whose replay
    /// is harmless, and the next commit overwrites it anyway.
    pub fn clear(&mut self) -> Result<()> {
        match &self.file {
            Some(f) => f.set_len(0).map_err(Error::io(&self.path)),
            None => Ok(()),
        }
    }

    /// Removes the log at a clean close, durably emptied first: another
    /// program may write the image in place next, and a stale log must not
    /// undo that later. A log this disk never wrote goes only if empty
    /// (left by a replay at open).
    pub fn remove(&mut self) -> Result<()> {
        let io = Error::io(&self.path);
        let r = match self.file.take() {
            Some(f) => f.set_len(0).and_then(|()| f.sync_all()),
            None => match std::fs::metadata(&self.path) {
                Ok(m) if m.len() == 0 => Ok(()),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => Err(e),
            },
        };
        r.and_then(|()| std::fs::remove_file(&self.path)).map_err(io)
    }
}

/// What [`replay`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    /// No log, or an empty one.
    Nothing,
    /// A complete log: its records were applied (this many bytes).
    Applied {
        /// Records applied.
        records: usize,
        /// Bytes written.
        bytes: u64,
    },
    /// A torn log (a crash while it was written): discarded; the image is
    /// as of the commit before it.
    Discarded,
}

/// Applies the log of `image` (a plain image or a COW file), if it holds
/// a complete commit, and empties it; discards a torn one with a warning.
/// Takes the image's exclusive lock meanwhile (it fails if another process
/// has the image open). A log written for a disk of another size is an
/// error, and is left in place.
pub fn replay(image: &Path) -> Result<Replayed> {
    let log_path = log_path(image);
    let mut log = match OpenOptions::new().read(true).write(true).open(&log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replayed::Nothing),
        Err(e) => return Err(Error::Io { path: log_path, source: e }),
    };
    let mut bytes = Vec::new();
    log.read_to_end(&mut bytes).map_err(Error::io(&log_path))?;
    if bytes.is_empty() {
        return Ok(Replayed::Nothing);
    }
    let file = OpenOptions::new().read(true).write(true).open(image).map_err(Error::io(image))?;
    lock::lock(&file, true).map_err(Error::io(image))?;
    let outcome = match parse(&bytes) {
        Err(torn) => {
            tracing::warn!(
                "{}: discarding an incomplete log (umvm was stopped while writing it: {torn}); \
                 the disk is as of the commit before it",
                log_path.display()
            );
            Replayed::Discarded
        }
        Ok(parsed) => apply(image, &file, &bytes, &parsed)?,
    };
    // Durably empty: another program may write the image in place next.
    log.set_len(0).and_then(|()| log.sync_all()).map_err(Error::io(&log_path))?;
    lock::unlock(&file).map_err(Error::io(image))?;
    Ok(outcome)
}

/// Writes the records of `parsed` into `file` (the image `image`, locked),
/// as a COW file's data and bitmap when it is one, and makes them durable.
fn apply(image: &Path, file: &File, log: &[u8], parsed: &Parsed) -> Result<Replayed> {
    let io = |e| Error::Io { path: image.to_path_buf(), source: e };
    let len = file.metadata().map_err(io)?.len();
    let mut meta = image::load(image, len, |off, dst| file.read_exact_at(dst, off).map_err(Error::io(image)))?;
    let size = match &meta {
        Some(m) => m.header.size,
        None => len,
    };
    let bad = |why: String| Error::Log { path: log_path(image), why };
    if parsed.disk_size != size {
        return Err(bad(format!(
            "written for a disk of {} bytes, but {} holds {size}: not this disk's log (remove it to go on)",
            parsed.disk_size,
            image.display()
        )));
    }
    let sector = SECTOR as u64;
    let mut bytes = 0;
    for (offset, range) in &parsed.records {
        let n = range.len() as u64;
        let end = offset.checked_add(n).filter(|&e| e <= size);
        // Records are whole cache pages: whole sectors, but for the last
        // one of a disk whose size is not a multiple of the sector.
        let Some(end) = end.filter(|&e| offset % sector == 0 && (e % sector == 0 || e == size)) else {
            return Err(bad(format!("a record of {n} bytes at {offset} does not fit the {size}-byte disk")));
        };
        let data = &log[range.clone()];
        match &mut meta {
            Some(m) => {
                file.write_all_at(data, m.geometry.data_offset + offset).map_err(io)?;
                let sectors = m.bitmap.sectors();
                m.bitmap.set((offset / sector).min(sectors)..end.div_ceil(sector).min(sectors));
            }
            None => file.write_all_at(data, *offset).map_err(io)?,
        }
        bytes += n;
    }
    if let Some(m) = &mut meta {
        if let Some(dirty) = m.bitmap.take_dirty() {
            file.write_all_at(&m.bitmap.meta()[dirty.clone()], dirty.start as u64).map_err(io)?;
        }
    }
    file.sync_data().map_err(io)?;
    tracing::warn!("{}: applied the log of a commit umvm was stopped in ({bytes} bytes)", image.display());
    Ok(Replayed::Applied { records: parsed.records.len(), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(disk_size: u64, extents: &[(u64, &[u8])]) -> Vec<u8> {
        let (mut heads, mut start, mut end) = (Vec::new(), [0u8; HEADER_LEN], [0u8; COMMIT_LEN]);
        encode(disk_size, extents, &mut heads, &mut start, &mut end).iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn a_complete_log_parses_back_and_any_cut_or_flip_is_torn() {
        let a = vec![1u8; 4096];
        let b: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
        let log = encoded(1 << 20, &[(4096, &a), (65536, &b)]);
        let p = parse(&log).unwrap();
        assert_eq!(p.disk_size, 1 << 20);
        assert_eq!(p.records.len(), 2);
        assert_eq!((p.records[0].0, &log[p.records[0].1.clone()]), (4096, &a[..]));
        assert_eq!((p.records[1].0, &log[p.records[1].1.clone()]), (65536, &b[..]));
        for cut in [0, 1, 23, 24, 100, 4096 + 40, log.len() - 32, log.len() - 1] {
            assert!(parse(&log[..cut]).is_err(), "cut at {cut}");
        }
        for flip in [0, 9, 17, 30, 2000, 4096 + 50, log.len() - 20, log.len() - 1] {
            let mut bad = log.clone();
            bad[flip] ^= 0x10;
            assert!(parse(&bad).is_err(), "flip at {flip}");
        }
        // A tail of zeroes (a crash after the size grew) is torn too.
        let mut zeroed = log.clone();
        zeroed[log.len() - 5000..].fill(0);
        assert!(parse(&zeroed).is_err());
        assert_eq!(parse(&encoded(512, &[])).unwrap().records, vec![]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x1234_5678u32;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse(&junk);
            let mut framed = header(1 << 30).to_vec();
            framed.extend_from_slice(&junk);
            let _ = parse(&framed);
        }
        let mut huge = header(1 << 30).to_vec();
        huge.extend_from_slice(&record(0, usize::MAX));
        huge.extend_from_slice(&[0; 64]);
        assert!(parse(&huge).is_err());
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("umvm-wal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replay_applies_a_complete_log_once_and_again_harmlessly() {
        let dir = scratch("plain");
        let img = dir.join("disk.img");
        std::fs::write(&img, vec![0u8; 64 << 10]).unwrap();
        let page = vec![0xabu8; 4096];
        let mut log = LogFile::new(&img);
        log.write(64 << 10, &[(8192, &page), (60 << 10, &page)]).unwrap();
        // The crash: the log is durable, nothing is in place yet.
        let applied = replay(&img).unwrap();
        assert_eq!(applied, Replayed::Applied { records: 2, bytes: 8192 });
        let disk = std::fs::read(&img).unwrap();
        assert!(disk[8192..12288] == page[..] && disk[60 << 10..] == page[..]);
        assert!(disk[..8192].iter().chain(&disk[12288..60 << 10]).all(|&b| b == 0));
        assert_eq!(std::fs::metadata(log_path(&img)).unwrap().len(), 0);
        assert_eq!(replay(&img).unwrap(), Replayed::Nothing);
        // A log left complete after it was applied (a crash before it was
        // emptied): applying it again changes nothing.
        log.write(64 << 10, &[(8192, &page)]).unwrap();
        assert_eq!(replay(&img).unwrap(), Replayed::Applied { records: 1, bytes: 4096 });
        assert_eq!(std::fs::read(&img).unwrap(), disk);
        log.remove().unwrap();
        assert!(!log_path(&img).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_discards_a_torn_log_and_refuses_another_disks() {
        let dir = scratch("torn");
        let img = dir.join("disk.img");
        std::fs::write(&img, vec![7u8; 32 << 10]).unwrap();
        let page = vec![1u8; 4096];
        let full = encoded(32 << 10, &[(0, &page), (4096, &page)]);
        std::fs::write(log_path(&img), &full[..full.len() - 10]).unwrap();
        assert_eq!(replay(&img).unwrap(), Replayed::Discarded);
        assert!(std::fs::read(&img).unwrap().iter().all(|&b| b == 7));
        assert_eq!(std::fs::metadata(log_path(&img)).unwrap().len(), 0);
        std::fs::write(log_path(&img), encoded(64 << 10, &[(0, &page)])).unwrap();
        let e = replay(&img).unwrap_err().to_string();
        assert!(e.contains("not this disk's log"), "{e}");
        assert!(std::fs::read(&img).unwrap().iter().all(|&b| b == 7));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_into_a_cow_file_sets_the_bitmap_after_the_data() {
        let dir = scratch("cow");
        let backing = dir.join("backing.img");
        std::fs::write(&backing, vec![5u8; 1 << 20]).unwrap();
        let cow = dir.join("disk.cow");
        let h = crate::tools::create(&cow, &backing, false).unwrap();
        let g = h.geometry().unwrap();
        let page = vec![9u8; 4096];
        LogFile::new(&cow).write(1 << 20, &[(12288, &page)]).unwrap();
        assert_eq!(replay(&cow).unwrap(), Replayed::Applied { records: 1, bytes: 4096 });
        let file = std::fs::read(&cow).unwrap();
        let at = (g.data_offset + 12288) as usize;
        assert!(file[at..at + 4096].iter().all(|&b| b == 9));
        // inspect (`umvm cow info`) and merge replay a log themselves.
        LogFile::new(&cow).write(1 << 20, &[(0, &page)]).unwrap();
        assert_eq!(crate::tools::inspect(&cow).unwrap().used_sectors, 16);
        LogFile::new(&cow).write(1 << 20, &[(1 << 19, &page)]).unwrap();
        let out = dir.join("merged.img");
        crate::tools::merge(
            &cow,
            &crate::tools::MergeTarget::NewImage(out.clone()),
            &crate::tools::MergeOptions::default(),
            |_, _| {},
        )
        .unwrap();
        let merged = std::fs::read(&out).unwrap();
        let ours = |i: usize| i < 4096 || (12288..16384).contains(&i) || (1 << 19..(1 << 19) + 4096).contains(&i);
        assert!(merged.iter().enumerate().all(|(i, &b)| b == if ours(i) { 9 } else { 5 }));
        assert_eq!(std::fs::metadata(log_path(&cow)).unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
