//! Plain builder setters, written once: each setter keeps its own doc comment and signature,
//! and only the `mut self … self` body is generated.

/// Writes a builder's plain setters. Each entry is a setter's doc comment and signature, then
/// `=>` and the field it sets (a path such as `settings.base_url` works):
///
/// * `=> field` stores the argument;
/// * `=> Some(field)` stores `Some(argument)`.
///
/// An argument typed `impl Into<T>` is stored as `argument.into()`. Every wif crate's builders
/// and option types write their plain setters with it, and a crate that plugs its own source or
/// adapter into wif can do the same, so its builders read like wif's.
///
/// ```
/// use std::time::Duration;
///
/// #[derive(Default)]
/// pub struct Options {
///     timeout: Duration,
///     label: Option<String>,
/// }
///
/// impl Options {
///     wif_core::builder_setters! {
///         /// The timeout.
///         pub fn timeout(timeout: Duration) => timeout;
///         /// The label.
///         pub fn label(label: impl Into<String>) => Some(label);
///     }
/// }
///
/// let options = Options::default().timeout(Duration::from_secs(3)).label("l");
/// assert_eq!(options.timeout, Duration::from_secs(3));
/// assert_eq!(options.label.as_deref(), Some("l"));
/// ```
#[macro_export]
macro_rules! builder_setters {
    () => {};
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: impl Into<$ty:ty>) => Some($($field:ident).+);
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis fn $name(mut self, $arg: impl Into<$ty>) -> Self {
            self.$($field).+ = Some($arg.into());
            self
        }
        $crate::builder_setters!($($rest)*);
    };
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: impl Into<$ty:ty>) => $($field:ident).+;
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis fn $name(mut self, $arg: impl Into<$ty>) -> Self {
            self.$($field).+ = $arg.into();
            self
        }
        $crate::builder_setters!($($rest)*);
    };
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: $ty:ty) => Some($($field:ident).+);
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = Some($arg);
            self
        }
        $crate::builder_setters!($($rest)*);
    };
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: $ty:ty) => $($field:ident).+;
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = $arg;
            self
        }
        $crate::builder_setters!($($rest)*);
    };
}
