//! The `wif` command.
fn main() {}
