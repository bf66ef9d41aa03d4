//! The write side against images made by mke2fs: files created and
//! written here must pass `e2fsck -fn` and read back through debugfs and
//! through the read side; full and inconsistent images fail cleanly.

use std::path::Path;

use super::fs::ROOT_INO;
use super::testimg::{debugfs_cat, fsck_clean, mke2fs, small_tree, Scratch};
use super::{Error, Ext2, FileSource, FileType};
use crate::errno::Errno;

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(37).wrapping_add(seed * 11) % 253) as u8).collect()
}

fn open_rw(path: &Path) -> Ext2<FileSource> {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    Ext2::open(FileSource::new(f)).unwrap()
}

/// Creates and writes `name` in directory `dir`, in pieces of `chunk`.
fn create_with(fs: &mut Ext2<FileSource>, dir: u32, name: &str, data: &[u8], chunk: usize) -> u32 {
    let mut inode = fs.create(dir, name.as_bytes(), 0o644, 1000, 1000).unwrap();
    for (i, piece) in data.chunks(chunk.max(1)).enumerate() {
        assert_eq!(fs.write(&mut inode, (i * chunk) as u64, piece).unwrap(), piece.len());
    }
    inode.ino
}

#[test]
fn created_files_pass_fsck_and_read_back() {
    for (bs, isize) in [("1024", "128"), ("4096", "128"), ("1024", "256")] {
        let s = Scratch::new("write");
        let src = s.0.join("src");
        std::fs::create_dir(&src).unwrap();
        small_tree(&src);
        let image = s.0.join("img");
        mke2fs("ext2", &["-b", bs, "-I", isize], &src, &image, "20M");
        let mut fs = open_rw(&image);
        assert_eq!(fs.geometry().block_size.to_string(), bs);
        let d = fs.lookup(&fs.inode(ROOT_INO).unwrap(), b"d").unwrap().unwrap();
        let mut files: Vec<(String, u32, Vec<u8>)> = Vec::new();
        let mut add = |fs: &mut Ext2<FileSource>, dir: u32, path: &str, data: Vec<u8>, chunk: usize| {
            let name = path.rsplit('/').next().unwrap();
            let ino = create_with(fs, dir, name, &data, chunk);
            files.push((path.to_string(), ino, data));
        };
        add(&mut fs, ROOT_INO, "/hello", b"hello, written by umvm\n".to_vec(), 4096);
        add(&mut fs, ROOT_INO, "/empty-new", Vec::new(), 1);
        add(&mut fs, d, "/d/in-subdir", pattern(1, 5000), 777);
        // Past the single-indirect range at 1 KiB blocks (12 + 256 blocks).
        add(&mut fs, ROOT_INO, "/big", pattern(2, 400_000), 65536);
        // Enough names to need new directory blocks.
        for i in 0..120 {
            let path = format!("/d/a-rather-long-file-name-to-fill-directory-blocks-{i:03}");
            add(&mut fs, d, &path, pattern(i, i * 13), 100);
        }
        // The inode goes to the parent's group, as ext2 does.
        let sub = files.iter().find(|f| f.0 == "/d/in-subdir").unwrap().1;
        let ipg = fs.geometry().inodes_per_group;
        assert_eq!((sub - 1) / ipg, (d - 1) / ipg);
        // A sparse file with data in the triple-indirect range at 1 KiB.
        let mut inode = fs.create(ROOT_INO, b"sparse", 0o600, 0, 0).unwrap();
        let far = 70u64 << 20;
        fs.write(&mut inode, far, &pattern(9, 3000)).unwrap();
        assert_eq!(fs.inode(inode.ino).unwrap().size, far + 3000);
        let mut back = vec![1u8; 3000];
        assert_eq!(fs.read(&inode, far, &mut back).unwrap(), 3000);
        assert_eq!(back, pattern(9, 3000));
        assert_eq!(fs.read(&inode, 5 << 20, &mut back).unwrap(), 3000);
        assert!(back.iter().all(|&b| b == 0));
        let err = fs.create(ROOT_INO, b"hello", 0o644, 0, 0).unwrap_err();
        assert_eq!(err.errno(), Errno::EEXIST);
        assert_eq!(fs.create(ROOT_INO, &[b'x'; 256], 0o644, 0, 0).unwrap_err().errno(), Errno::ENAMETOOLONG);
        assert_eq!(fs.create(ROOT_INO, b"a/b", 0o644, 0, 0).unwrap_err().errno(), Errno::EINVAL);
        // Overwriting the middle of an existing file keeps its blocks.
        let big = files.iter().position(|f| f.0 == "/big").unwrap();
        let mut inode = fs.inode(files[big].1).unwrap();
        let blocks = inode.blocks;
        fs.write(&mut inode, 100_000, b"OVERWRITE").unwrap();
        files[big].2[100_000..100_009].copy_from_slice(b"OVERWRITE");
        assert_eq!(fs.inode(files[big].1).unwrap().blocks, blocks);

        // The read side sees them all, in the right groups.
        for (path, ino, data) in &files {
            let inode = fs.inode(*ino).unwrap();
            assert_eq!(inode.file_type(), FileType::Regular);
            assert_eq!(inode.size, data.len() as u64, "{path}");
            let mut buf = vec![0u8; data.len()];
            assert_eq!(fs.read(&inode, 0, &mut buf).unwrap(), data.len());
            assert!(buf == *data, "{path}: read side");
        }
        drop(fs);
        let summary = fsck_clean(&image);
        for (path, _, data) in &files {
            assert!(debugfs_cat(&image, path) == *data, "{path}: debugfs cat ({bs}-byte blocks)\n{summary}");
        }
        let tail = debugfs_cat(&image, "/sparse");
        assert_eq!(tail.len() as u64, (70 << 20) + 3000);
        assert!(tail[70 << 20..] == pattern(9, 3000)[..]);
    }
}

#[test]
fn full_image_gives_enospc_and_stays_consistent() {
    let s = Scratch::new("full");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    let image = s.0.join("img");
    mke2fs("ext2", &["-b", "1024", "-N", "64"], &src, &image, "300K");
    let mut fs = open_rw(&image);
    let mut inode = fs.create(ROOT_INO, b"filler", 0o600, 0, 0).unwrap();
    let chunk = pattern(3, 8192);
    let mut off = 0u64;
    let err = loop {
        match fs.write(&mut inode, off, &chunk) {
            Ok(n) => off += n as u64,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::NoSpace(_)), "{err}");
    assert_eq!(err.errno(), Errno::ENOSPC);
    // Inodes run out too, with a typed error and no damage.
    let mut made = 0;
    let err = loop {
        match fs.create(ROOT_INO, format!("f{made}").as_bytes(), 0o600, 0, 0) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 1000);
    };
    assert_eq!(err.errno(), Errno::ENOSPC, "{err}");
    drop(fs);
    fsck_clean(&image);
}

#[test]
fn no_block_for_a_directory_entry_leaves_no_orphan() {
    let s = Scratch::new("dirfull");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    let image = s.0.join("img");
    mke2fs("ext2", &["-b", "1024", "-N", "128"], &src, &image, "200K");
    let mut fs = open_rw(&image);
    let mut filler = fs.create(ROOT_INO, b"filler", 0o600, 0, 0).unwrap();
    loop {
        let end = filler.size;
        if fs.write(&mut filler, end, &[7u8; 1024]).is_err() {
            break;
        }
    }
    // Long names fill the root's blocks; then a new block cannot be had.
    let mut made = 0;
    let err = loop {
        let name = format!("{made:03}-{}", "n".repeat(200));
        match fs.create(ROOT_INO, name.as_bytes(), 0o600, 0, 0) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 100);
    };
    assert!(matches!(err, Error::NoSpace("blocks")), "{err}");
    assert!(made > 0);
    drop(fs);
    // Reserved inodes 1-11 (lost+found is 11), the filler, the files made.
    let summary = fsck_clean(&image);
    assert!(summary.contains(&format!(": {}/128 files", 12 + made)), "{summary}");
}

#[test]
fn disagreeing_counts_and_bitmaps_are_euclean() {
    let s = Scratch::new("bad");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    let image = s.0.join("img");
    let pristine = mke2fs("ext2", &["-b", "1024"], &src, &image, "2M");
    let fs = Ext2::open(pristine.clone()).unwrap();
    let g = fs.groups()[0];
    drop(fs);
    // A block bitmap all set while the group counts free blocks.
    let mut img = pristine.clone();
    let bb = g.block_bitmap as usize * 1024;
    img[bb..bb + 1024].fill(0xff);
    let mut fs = Ext2::open(img).unwrap();
    assert_eq!(fs.alloc_block(0).unwrap_err().errno(), Errno::EUCLEAN);
    // An inode bitmap all set while the group counts free inodes.
    let mut img = pristine.clone();
    let ib = g.inode_bitmap as usize * 1024;
    img[ib..ib + 1024].fill(0xff);
    let mut fs = Ext2::open(img).unwrap();
    assert_eq!(fs.create(ROOT_INO, b"x", 0o644, 0, 0).unwrap_err().errno(), Errno::EUCLEAN);
    // The superblock says nothing is free while the group says otherwise.
    let mut img = pristine.clone();
    img[1024 + 12..1024 + 20].fill(0);
    let mut fs = Ext2::open(img).unwrap();
    assert_eq!(fs.alloc_block(0).unwrap_err().errno(), Errno::EUCLEAN);
    assert_eq!(fs.alloc_inode(0, false).unwrap_err().errno(), Errno::EUCLEAN);
    // A bitmap that shows the inode table free.
    let mut img = pristine.clone();
    let t = g.inode_table as usize - 1; // first block of the group is block 1
    img[bb..bb + 1024].fill(0xff);
    img[bb + t / 8] &= !(1 << (t % 8));
    let mut fs = Ext2::open(img).unwrap();
    assert_eq!(fs.alloc_block(0).unwrap_err().errno(), Errno::EUCLEAN);
    // Free counts all zero: ENOSPC, not a scan.
    let mut img = pristine;
    img[1024 + 12..1024 + 20].fill(0);
    let gd = 2048;
    img[gd + 12..gd + 16].fill(0);
    let mut fs = Ext2::open(img).unwrap();
    assert_eq!(fs.alloc_block(0).unwrap_err().errno(), Errno::ENOSPC);
    assert_eq!(fs.alloc_inode(0, true).unwrap_err().errno(), Errno::ENOSPC);
}
