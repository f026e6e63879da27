//! The HTTP `Date` header (RFC 9110 §5.6.7), read so a failed call can say how far this machine's
//! clock is from the server's. Clock skew breaks both kinds of subject token: AWS refuses a SigV4
//! signature more than 15 minutes off, and JWT validators refuse tokens "issued in the future" or
//! already expired. Servers date every response, so the skew can be measured from any answer.

use std::time::{Duration, SystemTime};

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
    let mut parts = rest.split(' ');
    let day: u32 = number(parts.next()?, 2)?;
    let month = month(parts.next()?)?;
    let year: i64 = number(parts.next()?, 4)?.into();
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let mut hms = time.split(':');
    let hour: u32 = number(hms.next()?, 2)?;
    let minute: u32 = number(hms.next()?, 2)?;
    let second: u32 = number(hms.next()?, 2)?;
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

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

/// Exactly `width` ASCII digits.
fn number(text: &str, width: usize) -> Option<u32> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn month(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
