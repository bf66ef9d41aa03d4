//! The offline tools: create (UML's uml_mkcow), inspect, and merge (UML's
//! uml_moo). They use plain buffered reads and writes: they run once over
//! a file, where the page cache's read-ahead is what helps.

use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::backing::file_size;
use crate::error::{Error, Result};
use crate::header::{Geometry, Header, SECTOR};
use crate::image::{self, CowMeta};
use crate::lock;

const SECTOR64: u64 = SECTOR as u64;
/// Merge works in chunks of this many bytes (a multiple of the sector).
const CHUNK: usize = 1 << 20;

/// Creates the COW file `cow` over `backing`, as uml_mkcow and UML's
/// auto-creation do: a v3 header (the backing's absolute name, size and
/// mtime; sector size 512; alignment 4096) and a sparse file the length of
/// the whole data area. An existing `cow` is an error unless `force`, which
/// (unlike uml_mkcow -f, which keeps the old bitmap and data) empties it.
pub fn create(cow: &Path, backing: &Path, force: bool) -> Result<Header> {
    let backing_err = |source| Error::Backing { cow: cow.to_path_buf(), backing: backing.to_path_buf(), source };
    let bfile = File::open(backing).map_err(backing_err)?;
    let bmeta = bfile.metadata().map_err(backing_err)?;
    let size = file_size(&bfile, &bmeta).map_err(backing_err)?;
    let name = image::absolute_backing_name(backing).map_err(backing_err)?;
    let header = Header::new_v3(name.as_os_str().as_bytes(), bmeta.mtime() as u32, size)
        .map_err(|source| Error::Header { path: cow.to_path_buf(), source })?;
    let geometry = header.geometry().map_err(|source| Error::Header { path: cow.to_path_buf(), source })?;
    let mut o = OpenOptions::new();
    o.read(true).write(true).mode(0o644).custom_flags(libc::O_CLOEXEC);
    if force {
        o.create(true);
    } else {
        o.create_new(true);
    }
    let file = o.open(cow).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Exists { path: cow.to_path_buf() },
        _ => Error::Io { path: cow.to_path_buf(), source: e },
    })?;
    // Never clobber a file a running VM holds.
    lock::lock(&file, true).map_err(Error::io(cow))?;
    let io = Error::io(cow);
    let r = (|| {
        if force {
            file.set_len(0)?;
        }
        file.write_all_at(&header.emit().map_err(std::io::Error::other)?, 0)?;
        file.set_len(geometry.file_len())?;
        file.sync_all()?;
        lock::unlock(&file)
    })();
    r.map_err(io)?;
    Ok(header)
}

/// What `inspect` finds in a COW file.
#[derive(Debug, Clone)]
pub struct Info {
    /// The header.
    pub header: Header,
    /// The layout.
    pub geometry: Geometry,
    /// The backing file as UML would resolve it.
    pub backing: PathBuf,
    /// Why that backing file would be refused, if it would.
    pub backing_problem: Option<String>,
    /// Sectors held in the COW file.
    pub used_sectors: u64,
    /// The COW file's length.
    pub file_len: u64,
    /// Bytes the host has allocated for it (it is sparse).
    pub allocated: u64,
}

/// Reads a COW file's header and bitmap, and checks its backing file.
pub fn inspect(cow: &Path) -> Result<Info> {
    let (file, meta) = open_cow(cow)?;
    let st = file.metadata().map_err(Error::io(cow))?;
    lock::unlock(&file).map_err(Error::io(cow))?;
    let backing = image::header_backing_path(cow, &meta.header);
    let backing_problem = match std::fs::metadata(&backing) {
        Err(e) => Some(format!("backing file {}: {e}", backing.display())),
        Ok(m) => image::check_backing(cow, &backing, &meta.header, m.len(), m.mtime()).err().map(|e| e.to_string()),
    };
    Ok(Info {
        used_sectors: meta.bitmap.count(),
        header: meta.header,
        geometry: meta.geometry,
        backing,
        backing_problem,
        file_len: st.len(),
        allocated: st.blocks() * 512,
    })
}

/// Opens a COW file read-only, share-locked, and loads its metadata,
/// once the log of a commit umvm was stopped in is applied (`wal`).
fn open_cow(cow: &Path) -> Result<(File, CowMeta)> {
    crate::wal::replay(cow)?;
    let file = File::open(cow).map_err(Error::io(cow))?;
    lock::lock(&file, false).map_err(Error::io(cow))?;
    let len = file.metadata().map_err(Error::io(cow))?.len();
    let meta = image::load(cow, len, |off, dst| file.read_exact_at(dst, off).map_err(Error::io(cow)))?
        .ok_or_else(|| Error::NotCow { path: cow.to_path_buf() })?;
    Ok((file, meta))
}

/// Where a merge goes.
#[derive(Debug, Clone)]
pub enum MergeTarget {
    /// Into the backing file itself (uml_moo -d). Every COW file made over
    /// that backing file is invalid afterwards (its mtime changes).
    InPlace,
    /// Into a new image file, which must not exist.
    NewImage(PathBuf),
}

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The backing file to use instead of the header's (uml_moo -b); it
    /// must still pass the checks unless `force_backing`.
    pub backing: Option<PathBuf>,
    /// Skip the size and mtime checks.
    pub force_backing: bool,
}

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Bytes of the disk processed.
    pub bytes: u64,
    /// Sectors taken from the COW file.
    pub cow_sectors: u64,
}

/// Merges the COW file into a full image, as uml_moo does: each sector
/// from the COW file if its bit is set, else from the backing file. A new
/// image is sparse (all-zero sectors are skipped, except the last, which
/// sets the length); in place, only COW sectors are written, and an
/// all-zero one only over non-zero data. Unlike uml_moo, a trailing partial
/// sector is kept, so the image is exactly as long as the backing file.
/// `progress(done, total)` is called after each chunk.
pub fn merge(
    cow: &Path,
    target: &MergeTarget,
    opts: &MergeOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<MergeStats> {
    let (cow_file, meta) = open_cow(cow)?;
    let backing = match &opts.backing {
        Some(b) => b.clone(),
        None => image::header_backing_path(cow, &meta.header),
    };
    let in_place = matches!(target, MergeTarget::InPlace);
    let backing_err = |source| Error::Backing { cow: cow.to_path_buf(), backing: backing.clone(), source };
    let bfile = OpenOptions::new().read(true).write(in_place).open(&backing).map_err(backing_err)?;
    lock::lock(&bfile, in_place).map_err(backing_err)?;
    let bmeta = bfile.metadata().map_err(backing_err)?;
    if !opts.force_backing {
        image::check_backing(
            cow,
            &backing,
            &meta.header,
            file_size(&bfile, &bmeta).map_err(backing_err)?,
            bmeta.mtime(),
        )?;
    }
    let out = match target {
        MergeTarget::InPlace => None,
        MergeTarget::NewImage(p) => Some((
            OpenOptions::new().write(true).create_new(true).mode(0o644).open(p).map_err(Error::io(p))?,
            p.clone(),
        )),
    };
    let size = meta.header.size;
    let data_offset = meta.geometry.data_offset;
    let mut stats = MergeStats::default();
    let mut disk = vec![0u8; CHUNK];
    let mut old = vec![0u8; CHUNK];
    let mut pos = 0u64;
    while pos < size {
        let n = (size - pos).min(CHUNK as u64) as usize;
        let chunk = &mut disk[..n];
        read_full(&bfile, pos, chunk).map_err(backing_err)?;
        if in_place {
            old[..n].copy_from_slice(chunk);
        }
        // Overlay the COW file's sectors, in runs.
        let first = pos / SECTOR64;
        let last = (pos + n as u64).div_ceil(SECTOR64);
        let mut s = first;
        while s < last {
            let bit = meta.bitmap.get(s);
            let e = meta.bitmap.run_end(s, last, bit);
            if bit {
                let from = ((s - first) * SECTOR64) as usize;
                let to = (((e - first) * SECTOR64) as usize).min(n);
                cow_file.read_exact_at(&mut chunk[from..to], data_offset + s * SECTOR64).map_err(Error::io(cow))?;
                stats.cow_sectors += e - s;
            }
            s = e;
        }
        match &out {
            Some((f, p)) => write_sparse(f, pos, chunk, pos + n as u64 == size).map_err(Error::io(p))?,
            None => {
                // Only COW sectors, and a zero one only over non-zero data.
                for s in first..last {
                    if !meta.bitmap.get(s) {
                        continue;
                    }
                    let from = ((s - first) * SECTOR64) as usize;
                    let to = (from + SECTOR as usize).min(n);
                    let new = &chunk[from..to];
                    if is_zero(new) && is_zero(&old[from..to]) {
                        continue;
                    }
                    bfile.write_all_at(new, pos + from as u64).map_err(Error::io(&backing))?;
                }
            }
        }
        pos += n as u64;
        stats.bytes = pos;
        progress(pos, size);
    }
    match &out {
        Some((f, p)) => {
            // An empty backing file: the image is empty too.
            f.set_len(size).map_err(Error::io(p))?;
            f.sync_all().map_err(Error::io(p))?;
        }
        None => bfile.sync_all().map_err(Error::io(&backing))?,
    }
    lock::unlock(&bfile).map_err(backing_err)?;
    lock::unlock(&cow_file).map_err(Error::io(cow))?;
    Ok(stats)
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Reads `dst.len()` bytes at `off`; past the end of the file reads zero.
fn read_full(f: &File, off: u64, dst: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < dst.len() {
        match f.read_at(&mut dst[done..], off + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    dst[done..].fill(0);
    Ok(())
}

/// Writes the non-zero sectors of `chunk` (and the very last sector, so
/// the file gets its length) at `off`, in runs.
fn write_sparse(f: &File, off: u64, chunk: &[u8], last_chunk: bool) -> std::io::Result<()> {
    let sectors: Vec<&[u8]> = chunk.chunks(SECTOR as usize).collect();
    let count = sectors.len();
    let keep = |i: usize| !is_zero(sectors[i]) || (last_chunk && i + 1 == count);
    let mut i = 0;
    while i < count {
        if !keep(i) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < count && keep(j) {
            j += 1;
        }
        let from = i * SECTOR as usize;
        let to = (j * SECTOR as usize).min(chunk.len());
        f.write_all_at(&chunk[from..to], off + from as u64)?;
        i = j;
    }
    Ok(())
}
