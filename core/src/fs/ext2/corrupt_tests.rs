//! The fuzz target's pass ([`super::exercise::exercise`]) over hundreds of
//! mke2fs images with bytes flipped where the metadata lives: the
//! superblock, the group descriptors, the inode table, the bitmaps and the
//! root directory's block. None may panic.

use super::exercise::exercise;
use super::fs::ROOT_INO;
use super::testimg::{mke2fs, small_tree, Scratch};
use super::Ext2;

/// xorshift64*: a fixed sequence, so a failure names its case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn corrupted_images_never_panic() {
    let s = Scratch::new("corrupt");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    small_tree(&src);
    let images = [
        mke2fs("ext2", &["-b", "1024"], &src, &s.0.join("a"), "1M"),
        mke2fs("ext2", &["-b", "4096"], &src, &s.0.join("b"), "2M"),
        mke2fs("ext2", &["-b", "1024", "-r", "0"], &src, &s.0.join("c"), "1M"),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = 0;
    for image in &images {
        // The pristine image goes through the whole pass too.
        exercise(image.clone());
        let fs = Ext2::open(image.clone()).unwrap();
        let bs = fs.geometry().block_size as usize;
        let g = fs.groups()[0];
        let root_block = fs.inode(ROOT_INO).unwrap().block[0] as usize;
        let gdt = (fs.geometry().first_data_block as usize + 1) * bs;
        let regions = [
            (1024, 1024),
            (gdt, 32),
            (g.inode_table as usize * bs, 4 * bs),
            (g.block_bitmap as usize * bs, bs),
            (g.inode_bitmap as usize * bs, bs),
            (root_block * bs, bs),
        ];
        for _ in 0..100 {
            let mut bad = image.clone();
            let (start, len) = regions[rng.below(regions.len())];
            for _ in 0..1 + rng.below(8) {
                let at = start + rng.below(len);
                bad[at] = match rng.below(3) {
                    0 => bad[at] ^ (1 << rng.below(8)),
                    1 => rng.next() as u8,
                    _ => 0xff,
                };
            }
            let case = cases;
            let r = std::panic::catch_unwind(move || exercise(bad));
            assert!(r.is_ok(), "case {case} panicked");
            cases += 1;
        }
    }
    assert_eq!(cases, 300);
}

#[test]
fn random_and_short_images_never_panic() {
    let mut rng = Rng(7);
    for len in [0, 100, 1024, 2048, 4096, 65536] {
        for _ in 0..20 {
            let mut img: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 2048 {
                // A plausible magic, so opening gets past the first check.
                img[1024 + 56] = 0x53;
                img[1024 + 57] = 0xef;
            }
            exercise(img);
        }
    }
}
