//! `umvm lab`: many guests from one lab file (docs/lab.md), each a
//! background `umvm run` over a COW file of one shared backing image, on
//! multicast groups or `umvm switch`es the lab starts.

pub mod file;
