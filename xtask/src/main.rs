//! Project automation, run as `cargo xtask <command>`; filled in by the next commit.

fn main() {}
