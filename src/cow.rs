//! `umvm cow create|info|merge`: UML's uml_mkcow and uml_moo, plus an
//! inspector, over umvm-cow. Errors come back as one line naming the file
//! and the fault (main prints them).

use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use umvm_cow::{MergeOptions, MergeTarget};

/// The `cow` subcommands.
#[derive(clap::Subcommand)]
pub enum CowCmd {
    /// Create COW over BACKING (like uml_mkcow): a sparse file that reads as
    /// BACKING until written.
    Create {
        /// The COW file to create.
        cow: PathBuf,
        /// The backing image it records (absolute name, size and mtime).
        backing: PathBuf,
        /// Replace COW if it exists (its old contents are discarded).
        #[arg(short, long)]
        force: bool,
    },
    /// Show a COW file's header, backing file, and used sectors and bytes.
    Info {
        /// The COW file.
        cow: PathBuf,
    },
    /// Merge COW into a full image (like uml_moo): into a new image with
    /// -o, else in place into the backing file.
    Merge {
        /// The COW file.
        cow: PathBuf,
        /// Write the merged image to NEW (which must not exist) instead of
        /// changing the backing file.
        #[arg(short, value_name = "NEW")]
        output: Option<PathBuf>,
        /// Use this backing file instead of the header's (uml_moo -b).
        #[arg(short, long, value_name = "FILE")]
        backing: Option<PathBuf>,
        /// Merge even if the backing file's size or mtime differs from the
        /// header's (only if you know it holds the same data).
        #[arg(long)]
        force_backing: bool,
    },
}

/// Runs one `cow` subcommand.
pub fn run(cmd: CowCmd) -> Result<i32> {
    match cmd {
        CowCmd::Create { cow, backing, force } => {
            let h = umvm_cow::create(&cow, &backing, force)?;
            let g = h.geometry()?;
            println!(
                "created {} over {} ({} bytes; data area at {})",
                cow.display(),
                String::from_utf8_lossy(&h.backing),
                h.size,
                g.data_offset
            );
        }
        CowCmd::Info { cow } => {
            let i = umvm_cow::inspect(&cow)?;
            let h = &i.header;
            println!("file:           {}", cow.display());
            println!("version:        {}", h.version);
            println!("backing file:   {}", i.backing.display());
            println!("backing size:   {} bytes", h.size);
            println!("backing mtime:  {}", h.mtime);
            println!("sector size:    {}", h.sector_size);
            println!("alignment:      {}", h.alignment);
            println!("bitmap:         {} bytes at {}", i.geometry.bitmap_len, i.geometry.bitmap_offset);
            println!("data offset:    {}", i.geometry.data_offset);
            let sectors = i.geometry.disk_size / 512;
            println!(
                "used:           {} of {} sectors ({} bytes, {:.1}%)",
                i.used_sectors,
                sectors,
                i.used_sectors * 512,
                if sectors == 0 { 0.0 } else { i.used_sectors as f64 * 100.0 / sectors as f64 }
            );
            println!("file size:      {} bytes ({} allocated)", i.file_len, i.allocated);
            match &i.backing_problem {
                None => println!("backing check:  ok"),
                Some(p) => println!("backing check:  FAILS: {p}"),
            }
        }
        CowCmd::Merge { cow, output, backing, force_backing } => {
            let target = match output {
                Some(o) => MergeTarget::NewImage(o),
                None => {
                    eprintln!(
                        "umvm: warning: merging {} in place into its backing file; every COW file made over \
                         that backing file is invalid afterwards (use -o NEW to write a new image instead)",
                        cow.display()
                    );
                    MergeTarget::InPlace
                }
            };
            let bar = ProgressBar::hidden();
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .context("progress bar template")?,
            );
            let stats = umvm_cow::merge(&cow, &target, &MergeOptions { backing, force_backing }, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            });
            bar.finish_and_clear();
            let stats = stats?;
            let dest = match &target {
                MergeTarget::NewImage(p) => p.display().to_string(),
                MergeTarget::InPlace => "the backing file".to_string(),
            };
            println!("merged {} bytes ({} sectors from the COW file) into {dest}", stats.bytes, stats.cow_sectors);
        }
    }
    Ok(0)
}
