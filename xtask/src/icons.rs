//! `cargo xtask icons`: every platform's icons from one source image, `icons/source.png` (1024×1024 RGBA).
//! The result is committed; run this only when the source changes. Needs Debian's python3-pil.

use std::process::Command;

use anyhow::Result;

use crate::util::{self, project_root};

pub fn run() -> Result<()> {
    let root = project_root();
    util::run(Command::new("/usr/bin/python3").arg(root.join("xtask/icons.py")).arg(root.join("icons")))
}
