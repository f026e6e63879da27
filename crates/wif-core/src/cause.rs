//! [`Cause`]: a known misconfiguration or environment problem, as a typed value — its stable
//! id, what it is in a few words, the fix, and its section of `docs/troubleshooting.md`.
//!
//! Each crate that recognises a cause owns it as a `const` in its `causes` module (this crate:
//! the ones several layers recognise, in [`causes`](mod@crate::causes)) and attaches it to the
//! error with [`Error::with_known_cause`](crate::Error::with_known_cause). Programs read it
//! with [`Error::known_cause`](crate::Error::known_cause) and compare it with the constant;
//! `wif explain` renders it; a test keeps the troubleshooting pages (English and Japanese) in
//! step with the catalogue, a section per cause.

use std::fmt;

/// A known cause of a failure.
///
/// ```
/// use wif_core::{Cause, Error, Step, ErrorKind};
///
/// const NO_SNACKS: Cause = Cause::new("no_snacks", "the snack drawer is empty", "restock it");
///
/// let err = Error::new(Step::Source, ErrorKind::Io, "open /snacks").with_known_cause(&NO_SNACKS);
/// assert_eq!(err.known_cause(), Some(&NO_SNACKS));
/// assert_eq!(err.hint(), Some("restock it")); // the fix, unless a more specific hint is given
/// assert_eq!(NO_SNACKS.to_string(), "the snack drawer is empty [no_snacks]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Cause {
    /// Stable `snake_case` id (`imdsv2_required`): what programs and alerts key on, and the
    /// anchor of its section in `docs/troubleshooting.md`.
    pub id: &'static str,
    /// The cause in a few words, lower case (`the instance requires IMDSv2`); the heading of its
    /// section in `docs/troubleshooting.md`.
    pub summary: &'static str,
    /// What to change, in general terms (errors may carry a more specific hint).
    pub fix: &'static str,
}

impl Cause {
    /// A cause. Ids are `snake_case` and unique across wif-rs.
    pub const fn new(id: &'static str, summary: &'static str, fix: &'static str) -> Self {
        Cause { id, summary, fix }
    }

    /// The anchor of its section in `docs/troubleshooting.md` (`…/troubleshooting.md#ID`).
    pub fn doc_anchor(&self) -> &'static str {
        self.id
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.summary, self.id)
    }
}

/// Declares a crate's causes, one per line: a `pub const` [`Cause`] for each, and `ALL`, every
/// one of them in order (the catalogue the troubleshooting pages are checked against).
///
/// ```
/// mod causes {
///     wif_core::causes! {
///         /// The snack drawer is empty.
///         NO_SNACKS = ("no_snacks", "the snack drawer is empty", "restock it");
///         /// The coffee is cold.
///         COLD_COFFEE = ("cold_coffee", "the coffee is cold", "make more");
///     }
/// }
/// assert_eq!(causes::ALL, [causes::NO_SNACKS, causes::COLD_COFFEE]);
/// assert_eq!(causes::NO_SNACKS.id, "no_snacks");
/// ```
#[macro_export]
macro_rules! causes {
    ($($(#[$doc:meta])* $name:ident = ($id:literal, $summary:literal, $fix:literal);)+) => {
        $(
            $(#[$doc])*
            pub const $name: $crate::Cause = $crate::Cause::new($id, $summary, $fix);
        )+
        /// Every cause of this module, in the order they are declared.
        pub const ALL: &[$crate::Cause] = &[$($name),+];
    };
}
