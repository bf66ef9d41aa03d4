//! Register helpers shared by the loop's users of the stub's gadget.

use crate::stub;
use crate::trap::Regs;

/// Points `r` at the gadget to make syscall `n` with no arguments.
pub fn set_syscall(r: &mut Regs, n: u64) {
    r.rip = stub::gadget();
    r.rax = n;
    r.orig_rax = u64::MAX;
}
