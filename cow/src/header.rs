//! The COW header: a typed view over its bytes (specs/uml-interop.md §1).
//!
//! `Header::parse` reads versions 1, 2 and 3 (including the "broken" 64-bit
//! v3 layout); `Header::emit` writes any of them back (umvm itself writes
//! only v3, the others exist for tests and tools). Every field comes from a
//! file and is untrusted: parsing never panics, and `Header::geometry` does
//! all its arithmetic checked, refusing what UML itself could not address
//! (offsets at or above 2^31, which UML keeps in a C `int`).

use crate::error::HeaderError;

/// `COW_MAGIC`, stored big-endian by v2 and v3 ("OOOM") and in host order
/// by v1 ("MOOO" on x86).
pub const MAGIC: u32 = 0x4F4F_4F4D;
/// The version umvm writes.
pub const VERSION: u32 = 3;
/// The only sector size UML does I/O in; the bitmap has one bit per 512
/// bytes whatever the header says, so any other value is refused.
pub const SECTOR: u32 = 512;
/// The data-area alignment umvm (and both UML tools, on x86-64) writes.
pub const DEFAULT_ALIGNMENT: u32 = 4096;
/// `COW_BITMAP`, the only cow_format UML defines.
pub const COW_BITMAP: u32 = 0;

/// Size of the packed v3 header.
pub const V3_LEN: usize = 4128;
/// Size of the "broken" (unpacked, 64-bit pre-2006) v3 header.
pub const V3_BROKEN_LEN: usize = 4136;
/// Size of the v2 header.
pub const V2_LEN: usize = 4120;
/// Size of the v1 header.
pub const V1_LEN: usize = 280;
/// The most bytes any header occupies: what a reader should load.
pub const MAX_LEN: usize = V3_BROKEN_LEN;

/// v3 and v2 hold a 4096-byte path field, v1 a 256-byte one (each with
/// its terminating NUL).
const PATH_LEN: usize = 4096;
const V1_PATH_LEN: usize = 256;
/// UML keeps the bitmap and data offsets in a C `int`.
const OFFSET_LIMIT: u64 = 1 << 31;
/// The largest alignment we accept: a page multiple no host needs more of,
/// and small enough that no rounding overflows.
const MAX_ALIGNMENT: u32 = 1 << 20;

/// Which on-disk layout a header uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1: host order (little-endian), 256-byte path.
    V1,
    /// v2: big-endian, path first.
    V2,
    /// v3, packed (what everything writes today).
    V3,
    /// v3 from unpacked 64-bit builds: an 8-byte mtime slot shifts the rest.
    V3Broken,
}

impl Version {
    /// The header's size in bytes.
    pub fn header_len(self) -> usize {
        match self {
            Version::V1 => V1_LEN,
            Version::V2 => V2_LEN,
            Version::V3 => V3_LEN,
            Version::V3Broken => V3_BROKEN_LEN,
        }
    }

    /// The version number stored in the file.
    pub fn number(self) -> u32 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 | Version::V3Broken => 3,
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::V3Broken => f.write_str("3 (unpacked 64-bit layout)"),
            v => write!(f, "{}", v.number()),
        }
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The layout.
    pub version: Version,
    /// The backing file's path as stored (bytes up to the first NUL).
    pub backing: Vec<u8>,
    /// The backing file's mtime in seconds, truncated to 32 bits.
    pub mtime: u32,
    /// The backing file's size in bytes.
    pub size: u64,
    /// The sector size (always 512 once validated).
    pub sector_size: u32,
    /// The data-area alignment (v1/v2: the sector size).
    pub alignment: u32,
    /// The format of the sector map (always `COW_BITMAP`).
    pub cow_format: u32,
}

/// Where the bitmap and the data area lie in a COW file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Byte offset of the bitmap.
    pub bitmap_offset: u64,
    /// Bitmap length in bytes (v1/v2 reproduce UML's historic one-byte-short
    /// rounding; sectors past it are never marked).
    pub bitmap_len: u64,
    /// Byte offset of sector 0's copy.
    pub data_offset: u64,
    /// The disk size: the backing size rounded up to a sector.
    pub disk_size: u64,
    /// Sectors the bitmap can describe: `min(disk sectors, bitmap_len*8)`.
    pub mapped_sectors: u64,
}

impl Geometry {
    /// The length a freshly created COW file has: the whole data area.
    pub fn file_len(&self) -> u64 {
        self.data_offset + self.disk_size
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The bytes of a NUL-terminated path field; a field with no NUL is
/// refused (UML would run off its end).
fn path_field(field: &[u8]) -> Result<Vec<u8>, HeaderError> {
    match field.iter().position(|&c| c == 0) {
        Some(0) => Err(HeaderError::EmptyBackingPath),
        Some(n) => Ok(field[..n].to_vec()),
        None => Err(HeaderError::UnterminatedPath),
    }
}

fn round_up(x: u64, a: u64) -> Option<u64> {
    x.checked_next_multiple_of(a)
}

impl Header {
    /// A new v3 header for a backing file of `size` bytes and `mtime`.
    pub fn new_v3(backing: &[u8], mtime: u32, size: u64) -> Result<Header, HeaderError> {
        if backing.is_empty() {
            return Err(HeaderError::EmptyBackingPath);
        }
        if backing.len() >= PATH_LEN || backing.contains(&0) {
            return Err(HeaderError::PathTooLong { len: backing.len(), max: PATH_LEN - 1 });
        }
        let h = Header {
            version: Version::V3,
            backing: backing.to_vec(),
            mtime,
            size,
            sector_size: SECTOR,
            alignment: DEFAULT_ALIGNMENT,
            cow_format: COW_BITMAP,
        };
        h.geometry()?;
        Ok(h)
    }

    /// Parses the start of a file. `Ok(None)`: no COW magic, a plain image
    /// (UML's auto-detection says nothing about those). Otherwise the header
    /// or why it is unusable; the fields are checked (`geometry` must also
    /// succeed) but not against the backing file.
    pub fn parse(b: &[u8]) -> Result<Option<Header>, HeaderError> {
        if b.len() < 8 {
            return if b.len() >= 4 && le32(b, 0) != MAGIC && be32(b, 0) != MAGIC {
                Ok(None)
            } else {
                Err(HeaderError::Short { len: b.len(), need: 8 })
            };
        }
        let version = if le32(b, 0) == MAGIC {
            // Native (little-endian) order: only v1 was ever written so.
            match le32(b, 4) {
                1 => Version::V1,
                v => return Err(HeaderError::Version(v)),
            }
        } else if be32(b, 0) == MAGIC {
            match be32(b, 4) {
                2 => Version::V2,
                3 if b.len() >= 36 && be32(b, 32) == 0 => Version::V3Broken,
                3 => Version::V3,
                v => return Err(HeaderError::Version(v)),
            }
        } else {
            return Ok(None);
        };
        if b.len() < version.header_len() {
            return Err(HeaderError::Short { len: b.len(), need: version.header_len() });
        }
        let h = match version {
            Version::V1 => {
                let sector_size = le32(b, 276);
                Header {
                    version,
                    backing: path_field(&b[8..8 + V1_PATH_LEN])?,
                    mtime: le32(b, 264),
                    size: le64(b, 268),
                    sector_size,
                    alignment: sector_size,
                    cow_format: COW_BITMAP,
                }
            }
            Version::V2 => {
                let sector_size = be32(b, 4116);
                Header {
                    version,
                    backing: path_field(&b[8..8 + PATH_LEN])?,
                    mtime: be32(b, 4104),
                    size: be64(b, 4108),
                    sector_size,
                    alignment: sector_size,
                    cow_format: COW_BITMAP,
                }
            }
            Version::V3 => Header {
                version,
                mtime: be32(b, 8),
                size: be64(b, 12),
                sector_size: be32(b, 20),
                alignment: be32(b, 24),
                // UML writes it without a swap; it is 0 either way.
                cow_format: be32(b, 28),
                backing: path_field(&b[32..32 + PATH_LEN])?,
            },
            Version::V3Broken => Header {
                version,
                mtime: be32(b, 8),
                size: be64(b, 16),
                sector_size: be32(b, 24),
                alignment: be32(b, 28),
                cow_format: be32(b, 32),
                backing: path_field(&b[36..36 + PATH_LEN])?,
            },
        };
        h.geometry()?;
        Ok(Some(h))
    }

    /// The header's bytes in its own layout (`self.version`).
    pub fn emit(&self) -> Result<Vec<u8>, HeaderError> {
        let v = self.version;
        let path_max = if v == Version::V1 { V1_PATH_LEN } else { PATH_LEN };
        if self.backing.len() >= path_max || self.backing.contains(&0) {
            return Err(HeaderError::PathTooLong { len: self.backing.len(), max: path_max - 1 });
        }
        let mut b = vec![0u8; v.header_len()];
        let put = |b: &mut [u8], at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        match v {
            Version::V1 => {
                put(&mut b, 0, &MAGIC.to_le_bytes());
                put(&mut b, 4, &1u32.to_le_bytes());
                put(&mut b, 8, &self.backing);
                put(&mut b, 264, &self.mtime.to_le_bytes());
                put(&mut b, 268, &self.size.to_le_bytes());
                put(&mut b, 276, &self.sector_size.to_le_bytes());
            }
            Version::V2 => {
                put(&mut b, 0, &MAGIC.to_be_bytes());
                put(&mut b, 4, &2u32.to_be_bytes());
                put(&mut b, 8, &self.backing);
                put(&mut b, 4104, &self.mtime.to_be_bytes());
                put(&mut b, 4108, &self.size.to_be_bytes());
                put(&mut b, 4116, &self.sector_size.to_be_bytes());
            }
            Version::V3 => {
                put(&mut b, 0, &MAGIC.to_be_bytes());
                put(&mut b, 4, &3u32.to_be_bytes());
                put(&mut b, 8, &self.mtime.to_be_bytes());
                put(&mut b, 12, &self.size.to_be_bytes());
                put(&mut b, 20, &self.sector_size.to_be_bytes());
                put(&mut b, 24, &self.alignment.to_be_bytes());
                put(&mut b, 28, &self.cow_format.to_be_bytes());
                put(&mut b, 32, &self.backing);
            }
            Version::V3Broken => {
                put(&mut b, 0, &MAGIC.to_be_bytes());
                put(&mut b, 4, &3u32.to_be_bytes());
                put(&mut b, 8, &self.mtime.to_be_bytes());
                put(&mut b, 16, &self.size.to_be_bytes());
                put(&mut b, 24, &self.sector_size.to_be_bytes());
                put(&mut b, 28, &self.alignment.to_be_bytes());
                put(&mut b, 32, &self.cow_format.to_be_bytes());
                put(&mut b, 36, &self.backing);
            }
        }
        Ok(b)
    }

    /// The bitmap and data offsets, per UML's formulas (spec §1.6), after
    /// checking every field they depend on.
    pub fn geometry(&self) -> Result<Geometry, HeaderError> {
        if self.sector_size != SECTOR {
            return Err(HeaderError::SectorSize(self.sector_size));
        }
        let a = self.alignment;
        if !a.is_power_of_two() || !(SECTOR..=MAX_ALIGNMENT).contains(&a) {
            return Err(HeaderError::Alignment(a));
        }
        if self.cow_format != COW_BITMAP {
            return Err(HeaderError::Format(self.cow_format));
        }
        let too_big = HeaderError::TooLarge { size: self.size };
        let ss = u64::from(self.sector_size);
        let disk_size = round_up(self.size, ss).ok_or(too_big.clone())?;
        let sectors = disk_size / ss;
        let (bitmap_offset, bitmap_len, data_offset) = match self.version {
            Version::V3 | Version::V3Broken => {
                let bitmap_offset = round_up(self.version.header_len() as u64, u64::from(a)).ok_or(too_big.clone())?;
                let bitmap_len = sectors.div_ceil(8);
                let end = bitmap_offset.checked_add(bitmap_len).ok_or(too_big.clone())?;
                (bitmap_offset, bitmap_len, round_up(end, u64::from(a)).ok_or(too_big.clone())?)
            }
            Version::V1 | Version::V2 => {
                let bitmap_offset = self.version.header_len() as u64;
                // UML's historic rounding: one byte short when the sector
                // count is not a multiple of 8.
                let bitmap_len = self.size.checked_add(ss - 1).ok_or(too_big.clone())? / (8 * ss);
                let end = bitmap_offset + bitmap_len;
                (bitmap_offset, bitmap_len, round_up(end, ss).ok_or(too_big.clone())?)
            }
        };
        if data_offset >= OFFSET_LIMIT {
            return Err(too_big);
        }
        data_offset.checked_add(disk_size).ok_or(too_big)?;
        Ok(Geometry { bitmap_offset, bitmap_len, data_offset, disk_size, mapped_sectors: sectors.min(bitmap_len * 8) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first 64 bytes of the spec's worked example (§1.11), made by
    /// the real uml_mkcow.
    const EXAMPLE: &str = "4f4f4f4d000000036553f1000000000000100000000002000000100000000000\
                           2f7372762f636f77782f6261636b2e696d670000000000000000000000000000";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_the_spec_example_and_derives_its_geometry() {
        let mut b = unhex(EXAMPLE);
        b.resize(V3_LEN, 0);
        let h = Header::parse(&b).unwrap().unwrap();
        assert_eq!(h.version, Version::V3);
        assert_eq!(h.backing, b"/srv/cowx/back.img");
        assert_eq!((h.mtime, h.size, h.sector_size, h.alignment), (1_700_000_000, 1 << 20, 512, 4096));
        let g = h.geometry().unwrap();
        assert_eq!((g.bitmap_offset, g.bitmap_len, g.data_offset), (8192, 256, 12288));
        assert_eq!(g.file_len(), 1_060_864);
        assert_eq!(h.emit().unwrap(), b, "emit gives uml_mkcow's bytes back");
        assert_eq!(Header::new_v3(b"/srv/cowx/back.img", 1_700_000_000, 1 << 20).unwrap(), h);
    }

    #[test]
    fn every_version_round_trips() {
        for version in [Version::V1, Version::V2, Version::V3, Version::V3Broken] {
            let h = Header {
                version,
                backing: b"/b/img".to_vec(),
                mtime: 7,
                size: 10_000,
                sector_size: 512,
                alignment: if matches!(version, Version::V1 | Version::V2) { 512 } else { 4096 },
                cow_format: 0,
            };
            let bytes = h.emit().unwrap();
            assert_eq!(bytes.len(), version.header_len());
            assert_eq!(Header::parse(&bytes).unwrap().unwrap(), h, "{version:?}");
        }
    }

    #[test]
    fn old_versions_keep_umls_short_bitmap() {
        // 17 sectors: v3 has 3 bitmap bytes, v1/v2 historically 2.
        let mut h = Header::new_v3(b"/x", 0, 17 * 512).unwrap();
        assert_eq!(h.geometry().unwrap().bitmap_len, 3);
        h.version = Version::V2;
        h.alignment = 512;
        let g = h.geometry().unwrap();
        assert_eq!((g.bitmap_offset, g.bitmap_len, g.data_offset, g.mapped_sectors), (4120, 2, 4608, 16));
    }

    #[test]
    fn plain_images_are_not_errors_and_bad_headers_are() {
        assert_eq!(Header::parse(&[0u8; 512]).unwrap(), None);
        assert_eq!(Header::parse(b"\x7fELF").unwrap(), None);
        assert!(matches!(Header::parse(b"OOOM"), Err(HeaderError::Short { .. })));
        assert!(matches!(Header::parse(b"OOOM\0\0\0\x03"), Err(HeaderError::Short { need: V3_LEN, .. })));
        assert!(matches!(Header::parse(b"OOOM\0\0\0\x09"), Err(HeaderError::Version(9))));
        let mut b = Header::new_v3(b"/x", 0, 4096).unwrap().emit().unwrap();
        b[20..24].copy_from_slice(&4096u32.to_be_bytes());
        assert!(matches!(Header::parse(&b), Err(HeaderError::SectorSize(4096))));
        b[20..24].copy_from_slice(&512u32.to_be_bytes());
        b[24..28].copy_from_slice(&3u32.to_be_bytes());
        assert!(matches!(Header::parse(&b), Err(HeaderError::Alignment(3))));
        b[24..28].copy_from_slice(&4096u32.to_be_bytes());
        b[12..20].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(Header::parse(&b), Err(HeaderError::TooLarge { .. })));
        b[12..20].copy_from_slice(&0u64.to_be_bytes());
        b[32..].fill(b'a');
        assert!(matches!(Header::parse(&b), Err(HeaderError::UnterminatedPath)));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4200), magic in 0u8..4) {
            let mut bytes = bytes;
            // Steer most inputs past the magic check.
            if bytes.len() >= 8 && magic > 0 {
                bytes[..4].copy_from_slice(b"OOOM");
                bytes[4..8].copy_from_slice(&u32::from(magic).to_be_bytes());
            }
            if let Ok(Some(h)) = Header::parse(&bytes) {
                let again = Header::parse(&h.emit().unwrap()).unwrap().unwrap();
                prop_assert_eq!(again, h);
            }
        }
    }
}
