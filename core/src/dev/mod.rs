//! Devices as the guest sees them: the console (Step 1); null, zero,
//! random, ubd and NIC front ends arrive with later steps.

pub mod console;
