//! The HTTP `Date` header (RFC 9110 §5.6.7), read so a failed call can say how far this machine's
//! clock is from the server's. Clock skew breaks both kinds of subject token: AWS refuses a SigV4
//! signature more than 15 minutes off, and JWT validators refuse tokens "issued in the future" or
//! already expired. Servers date every response, so the skew can be measured from any answer.

use std::time::{Duration, SystemTime};

use time::PrimitiveDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Parses an HTTP date in the IMF-fixdate form every current server sends
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). The obsolete RFC 850 and asctime forms, and anything else,
/// give `None`: a diagnosis then simply has no server time to compare with.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use wif_core::http::parse_http_date;
///
/// assert_eq!(
///     parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
///     Some(UNIX_EPOCH + Duration::from_secs(784_111_777)),
/// );
/// assert_eq!(parse_http_date("yesterday"), None);
/// ```
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT": the weekday is redundant and not checked.
    let (_weekday, rest) = value.trim().split_once(", ")?;
    let at = PrimitiveDateTime::parse(rest, IMF_FIXDATE)
        .ok()?
        .assume_utc();
    // Every server's clock is past 1970; an earlier date is a broken header, not a skew.
    (at.year() >= 1970).then(|| at.into())
}

/// IMF-fixdate after the weekday: two-digit day, English month abbreviation, four-digit year,
/// 24-hour time, and the literal `GMT`.
const IMF_FIXDATE: &[BorrowedFormatItem<'_>] =
    format_description!("[day] [month repr:short] [year repr:full] [hour]:[minute]:[second] GMT");

/// How far the server's clock is ahead of the local one, in whole seconds: positive when the
/// local clock is behind, negative when it is ahead. `Date` has one-second resolution, so a
/// healthy pair of clocks reads -1, 0 or 1.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let server = UNIX_EPOCH + Duration::from_secs(1_000);
/// assert_eq!(wif_core::http::clock_skew_seconds(server, UNIX_EPOCH + Duration::from_secs(400)), 600);
/// assert_eq!(wif_core::http::clock_skew_seconds(server, UNIX_EPOCH + Duration::from_secs(1_030)), -30);
/// ```
pub fn clock_skew_seconds(server: SystemTime, local: SystemTime) -> i64 {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match server.duration_since(local) {
        Ok(ahead) => secs(ahead),
        Err(behind) => -secs(behind.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn imf_fixdates_parse() {
        let table = [
            ("Thu, 01 Jan 1970 00:00:00 GMT", at(0)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", at(784_111_777)),
            ("Tue, 29 Feb 2000 12:00:00 GMT", at(951_825_600)),
            ("Wed, 01 Jan 2025 00:00:00 GMT", at(1_735_689_600)),
            ("  Fri, 31 Dec 2100 23:59:59 GMT ", at(4_133_980_799)),
        ];
        for (text, want) in table {
            assert_eq!(parse_http_date(text), want, "{text}");
        }
    }

    #[test]
    fn anything_else_is_none() {
        for text in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(text), None, "{text:?}");
        }
    }

    #[test]
    fn http_errors_keep_the_server_date() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::DATE,
            http::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let response = crate::http::Response {
            status: 400,
            headers,
            body: br#"{"error":"invalid_grant"}"#.to_vec(),
        };
        assert_eq!(response.date(), at(784_111_777));
        let err = response
            .error_for_status(crate::Step::Exchange)
            .expect_err("400 is an error");
        assert_eq!(err.server_date(), at(784_111_777));
        // Copy-on-write keeps it too.
        let shared = err.clone();
        assert_eq!(shared.context("x").server_date(), at(784_111_777));
    }

    #[test]
    fn skew_is_signed() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(clock_skew_seconds(t, t), 0);
        assert_eq!(clock_skew_seconds(t + Duration::from_secs(1200), t), 1200);
        assert_eq!(clock_skew_seconds(t, t + Duration::from_millis(1500)), -1);
    }
}
