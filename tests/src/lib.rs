//! Workspace-level suites of wif-rs live in `tests/`. This library holds no code: it carries
//! the snippets of `docs/testing.md` ("Testing your code") as doctests, so every one of them is
//! compiled and run by `cargo test`.

#[cfg(doctest)]
#[doc = include_str!("../../docs/testing.md")]
pub struct TestingGuide;
