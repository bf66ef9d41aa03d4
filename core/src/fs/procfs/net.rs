//! /proc/net: the guest stack's tables, in Linux's formats (net/core/net-procfs.c and friends).

use super::ProcNode;
use crate::kernel::Kernel;

/// The files of /proc/net.
pub const FILES: [&str; 1] = ["dev"];

/// /proc/net and what is under it.
pub fn node(k: &Kernel, rest: &[&[u8]]) -> ProcNode {
    match rest {
        [] => {
            let mut e = super::dot_dirs();
            e.extend(FILES.iter().map(|f| (f.as_bytes().to_vec(), libc::DT_REG)));
            ProcNode::Dir(e)
        }
        [b"dev"] => ProcNode::File(k.inet.configure(|st| st.proc_net_dev()).into_bytes()),
        _ => ProcNode::Missing,
    }
}
