//! What every reader of a COW file does first, whatever it reads with
//! (the device through blockio, the tools through plain reads): load and
//! check the header and metadata region, find the backing file as UML
//! does, and check it against the header.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::header::{Geometry, Header, MAX_LEN};

/// A COW file's parsed metadata.
#[derive(Debug, Clone)]
pub struct CowMeta {
    /// The header.
    pub header: Header,
    /// Where things lie.
    pub geometry: Geometry,
    /// The bitmap, with the whole metadata region.
    pub bitmap: Bitmap,
}

/// Loads the metadata of the COW file `path`, `len` bytes long, through
/// `read` (exact reads at an offset). `Ok(None)`: no COW magic.
pub fn load(path: &Path, len: u64, mut read: impl FnMut(u64, &mut [u8]) -> Result<()>) -> Result<Option<CowMeta>> {
    let mut head = vec![0u8; (MAX_LEN as u64).min(len) as usize];
    read(0, &mut head)?;
    let header = match Header::parse(&head) {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(None),
        Err(source) => return Err(Error::Header { path: path.to_path_buf(), source }),
    };
    let geometry = header.geometry().map_err(|source| Error::Header { path: path.to_path_buf(), source })?;
    let past_end = |what, offset, end| Error::PastEnd { path: path.to_path_buf(), what, offset, end, len };
    let bitmap_end = geometry.bitmap_offset + geometry.bitmap_len;
    if len < bitmap_end {
        return Err(past_end("bitmap", geometry.bitmap_offset, bitmap_end));
    }
    if len < geometry.file_len() {
        return Err(past_end("data area", geometry.data_offset, geometry.file_len()));
    }
    // data_offset < 2^31 (checked by geometry) and the file holds it: the
    // allocation is bounded by the file itself.
    let mut meta = vec![0u8; geometry.data_offset as usize];
    meta[..head.len().min(geometry.data_offset as usize)]
        .copy_from_slice(&head[..head.len().min(geometry.data_offset as usize)]);
    if meta.len() > head.len() {
        let at = head.len();
        read(at as u64, &mut meta[at..])?;
    }
    let bitmap =
        Bitmap::new(meta, geometry.bitmap_offset as usize, geometry.bitmap_len as usize, geometry.mapped_sectors);
    Ok(Some(CowMeta { header, geometry, bitmap }))
}

/// The header's backing path as UML resolves it: absolute as is, relative
/// to the COW file's directory otherwise.
pub fn header_backing_path(cow: &Path, header: &Header) -> PathBuf {
    let p = Path::new(OsStr::from_bytes(&header.backing));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cow.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// Checks a backing file's size and mtime against the header, naming
/// both files in the error.
pub fn check_backing(cow: &Path, backing: &Path, header: &Header, size: u64, mtime: i64) -> Result<()> {
    if size != header.size {
        return Err(Error::SizeMismatch {
            cow: cow.to_path_buf(),
            backing: backing.to_path_buf(),
            expected: header.size,
            actual: size,
        });
    }
    // UML compares the u32 it stored with the host's time_t truncated.
    let actual = mtime as u32;
    if actual != header.mtime {
        return Err(Error::MtimeMismatch {
            cow: cow.to_path_buf(),
            backing: backing.to_path_buf(),
            expected: header.mtime,
            actual,
        });
    }
    Ok(())
}

/// Which backing file to use, as UML decides (spec §1.8): the header's,
/// unless the caller names another. Another name for the same file is
/// accepted silently; a different file that passes the size and mtime
/// checks replaces the header's (`true`: the header should be rewritten);
/// one that fails them is ignored in favour of the header's.
pub fn choose_backing(cow: &Path, header: &Header, given: Option<&Path>) -> Result<(PathBuf, bool)> {
    let from_header = header_backing_path(cow, header);
    let Some(given) = given else { return Ok((from_header, false)) };
    let given_meta = std::fs::metadata(given).map_err(|source| Error::Backing {
        cow: cow.to_path_buf(),
        backing: given.to_path_buf(),
        source,
    })?;
    if let Ok(m) = std::fs::metadata(&from_header) {
        if (m.dev(), m.ino()) == (given_meta.dev(), given_meta.ino()) {
            return Ok((given.to_path_buf(), false));
        }
    }
    if check_backing(cow, given, header, given_meta.len(), given_meta.mtime()).is_ok() {
        tracing::warn!("{}: switching backing file to {}", cow.display(), given.display());
        return Ok((given.to_path_buf(), true));
    }
    tracing::warn!(
        "{}: {} does not match the COW header; using the header's backing file {}",
        cow.display(),
        given.display(),
        from_header.display()
    );
    Ok((from_header, false))
}

/// The absolute name UML's tools store for `backing`: the canonical
/// directory (symlinks resolved, as chdir + getcwd does) plus the base name.
pub fn absolute_backing_name(backing: &Path) -> std::io::Result<PathBuf> {
    let name = backing.file_name().ok_or_else(|| std::io::Error::other("not a file name"))?;
    let dir = match backing.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize()?,
        _ => std::env::current_dir()?,
    };
    Ok(dir.join(name))
}
