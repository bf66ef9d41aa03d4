//! `umvm lab`: many guests from one lab file (docs/lab.md), each a
//! background `umvm run` over a COW file of one shared backing image, on
//! multicast groups or `umvm switch`es the lab starts.

mod boot;
mod clean;
mod exec;
pub mod file;
mod start;
mod state;
mod status;
mod stop;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

/// `umvm lab` arguments: a subcommand, or just the lab file (= start).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "The lab file's format, and what each command does: docs/lab.md.")]
pub struct LabArgs {
    #[command(subcommand)]
    cmd: Option<LabCmd>,

    /// The lab file (`umvm lab LABFILE` is `umvm lab start LABFILE`).
    #[arg(value_name = "LABFILE", required = true)]
    file: Option<PathBuf>,
}

/// The `lab` subcommands.
#[derive(clap::Subcommand)]
enum LabCmd {
    /// Start every guest and switch of the lab, and wait until all are ready.
    Start {
        /// The lab file.
        file: PathBuf,
        /// Seconds to wait for every guest to be ready.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
    },
    /// Each guest: ready, booting or dead; its addresses and console file.
    Status {
        /// The lab file.
        file: PathBuf,
    },
    /// Run a shell command in a guest; print its output and exit with its status.
    Exec {
        /// Seconds to wait for the command to finish.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
        /// The lab file.
        file: PathBuf,
        /// The guest's name.
        guest: String,
        /// The command (its words are joined with spaces and run by /bin/sh).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Stop every guest (SIGTERM: a clean shutdown) and switch of the lab.
    Stop {
        /// The lab file.
        file: PathBuf,
    },
    /// Stop one guest of the running lab and boot it again over its disk.
    Restart {
        /// Seconds to wait for the guest to be ready.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
        /// The lab file.
        file: PathBuf,
        /// The guest's name.
        guest: String,
    },
    /// Discard a stopped lab's guest disks (COW files), consoles and logs.
    Clean {
        /// The lab file.
        file: PathBuf,
    },
}

/// Runs one `lab` command.
pub fn run(args: LabArgs) -> Result<i32> {
    let cmd = match (args.cmd, args.file) {
        (Some(cmd), _) => cmd,
        (None, Some(file)) => LabCmd::Start { file, timeout: 300 },
        (None, None) => anyhow::bail!("umvm lab: give a lab file"),
    };
    match cmd {
        LabCmd::Start { file, timeout } => start::start(&file::load(&file)?, Duration::from_secs(timeout)),
        LabCmd::Status { file } => status::status(&file::load(&file)?),
        LabCmd::Exec { timeout, file, guest, cmd } => {
            exec::exec(&file::load(&file)?, &guest, &cmd, Duration::from_secs(timeout))
        }
        LabCmd::Stop { file } => stop::stop(&file::load(&file)?),
        LabCmd::Clean { file } => clean::clean(&file::load(&file)?),
        LabCmd::Restart { timeout, file, guest } => {
            start::restart(&file::load(&file)?, &guest, Duration::from_secs(timeout))
        }
    }
}
