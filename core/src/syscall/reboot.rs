//! reboot(2) (Linux's kernel/reboot.c): halting, powering off and
//! restarting the machine, and what ctrl-alt-del does.

use std::io::Write as _;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::power::{self, PowerAction};
use crate::task::caps::CAP_SYS_BOOT;

/// LINUX_REBOOT_MAGIC1.
pub const MAGIC1: u32 = 0xfee1_dead;
/// LINUX_REBOOT_MAGIC2, 2A, 2B and 2C (Linus's and his daughters'
/// birthdays): any of them is accepted.
pub const MAGIC2: [u32; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];

/// LINUX_REBOOT_CMD_RESTART.
pub const CMD_RESTART: u32 = 0x0123_4567;
/// LINUX_REBOOT_CMD_HALT.
pub const CMD_HALT: u32 = 0xcdef_0123;
/// LINUX_REBOOT_CMD_CAD_ON.
pub const CMD_CAD_ON: u32 = 0x89ab_cdef;
/// LINUX_REBOOT_CMD_CAD_OFF.
pub const CMD_CAD_OFF: u32 = 0x0000_0000;
/// LINUX_REBOOT_CMD_POWER_OFF.
pub const CMD_POWER_OFF: u32 = 0x4321_fedc;
/// LINUX_REBOOT_CMD_RESTART2: restart with a command string for the
/// firmware (which umvm only prints).
pub const CMD_RESTART2: u32 = 0xa1b2_c3d4;

/// The longest RESTART2 command Linux copies (its buffer less the NUL).
const RESTART2_MAX: usize = 255;

/// `reboot(magic1, magic2, cmd, arg)`: EPERM without CAP_SYS_BOOT (checked
/// first, as in Linux), EINVAL for wrong magic numbers or an unknown
/// command (KEXEC and SW_SUSPEND included: the VM has neither). A halt,
/// power-off or restart prints Linux's console line and never returns:
/// the VM ends (or boots again) and kills the caller with everything else.
pub fn reboot(ctx: &mut Ctx<'_>) -> SysResult {
    if !ctx.task.process.state().creds.capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    let (magic1, magic2, cmd) = (ctx.args[0] as u32, ctx.args[1] as u32, ctx.args[2] as u32);
    if magic1 != MAGIC1 || !MAGIC2.contains(&magic2) {
        return Err(Errno::EINVAL);
    }
    let (action, restart_cmd) = match cmd {
        CMD_CAD_ON | CMD_CAD_OFF => {
            ctx.k.power.set_cad_reboots(cmd == CMD_CAD_ON);
            return Ok(0);
        }
        CMD_HALT => (PowerAction::Halt, None),
        CMD_POWER_OFF => (PowerAction::PowerOff, None),
        CMD_RESTART => (PowerAction::Restart, None),
        CMD_RESTART2 => (PowerAction::Restart, Some(restart_command(ctx, ctx.args[3])?)),
        _ => return Err(Errno::EINVAL),
    };
    if let Some(sink) = &ctx.k.strace {
        // The call never returns: strace shows it with `= ?`, before the
        // VM kills the caller.
        let call = super::strace::format_call(&ctx.mem, ctx.regs.orig_rax, &ctx.args);
        if let Ok(mut w) = sink.lock() {
            let _ = writeln!(w, "[pid {}] {call} = ?", ctx.task.vtid);
        }
    }
    ctx.k.console_message(&power::message(action, restart_cmd.as_deref()));
    // The request first (the VM then ends for it, not for init's death),
    // then every other process stops at once, as the machine does.
    ctx.k.power.request(action);
    let me = ctx.task.process.state().host_pid;
    power::kill_others(ctx.k, me);
    // The caller waits, unkillable in effect, until the VM kills it; a
    // signal meanwhile would only end the wait early (EINTR).
    Err(ctx.block_forever())
}

/// RESTART2's argument: a string, cut at 255 bytes as Linux's
/// strncpy_from_user cuts it; EFAULT when unreadable.
fn restart_command(ctx: &Ctx<'_>, addr: u64) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; RESTART2_MAX];
    let n = ctx.mem.read_partial(addr, &mut buf)?;
    match buf[..n].iter().position(|&b| b == 0) {
        Some(end) => Ok(buf[..end].to_vec()),
        None if n == RESTART2_MAX => Ok(buf.to_vec()),
        // Unreadable before its end.
        None => Err(Errno::EFAULT),
    }
}
