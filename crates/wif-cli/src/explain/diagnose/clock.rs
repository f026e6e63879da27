//! Clock skew: measured from a response's `Date` header against this machine's clock (as
//! `wif explain` sees it, `--clock-offset` included), and named as the cause when the server
//! complains about time or the clocks are minutes apart.

use wif::Error;
use wif::layers::core::causes::CLOCK_SKEW;

use super::{Known, d, words};
use crate::explain::report::Diagnosis;

/// How far off a clock must be before we call it the cause without the server saying so.
const SKEW_ALONE_SECONDS: i64 = 300;
/// How far off a clock must be before we mention it at all (`Date` has 1 s resolution).
const SKEW_NOTICE_SECONDS: i64 = 60;

/// A clock cause named by the failing layer (the server complained about time): its words,
/// and the skew when the server told us its time.
pub(super) fn clock_skew(err: &Error, known: &Known) -> Diagnosis {
    with_skew(err, known, words(err))
}

fn with_skew(err: &Error, known: &Known, why: String) -> Diagnosis {
    let measured = match known.skew(err) {
        Some(skew) => format!(
            "; this machine's clock is {} (from the response's Date header)",
            describe_skew(skew)
        ),
        None => String::new(),
    };
    d(
        &CLOCK_SKEW,
        format!("{why}{measured}"),
        CLOCK_SKEW.fix.to_owned(),
    )
}

/// Adds a clock cause when the server's clock is far from ours, unless one is already named.
pub(super) fn clock_notice(err: &Error, known: &Known, already: &[Diagnosis]) -> Option<Diagnosis> {
    if already.iter().any(|d| d.cause == &CLOCK_SKEW) {
        return None;
    }
    let skew = known.skew(err)?;
    (skew.abs() >= SKEW_ALONE_SECONDS).then(|| {
        with_skew(
            err,
            known,
            "signatures and tokens are only valid within minutes of the issuer's clock".to_owned(),
        )
    })
}

/// A warning about the measured skew, when it is large enough to matter.
pub(crate) fn skew_warning(skew: i64) -> Option<String> {
    (skew.abs() >= SKEW_NOTICE_SECONDS).then(|| {
        format!(
            "this machine's clock is {}: signatures and tokens only hold within minutes of the issuer's clock",
            describe_skew(skew)
        )
    })
}

/// "20 min 0 s behind the server's" / "ahead of" / "in step with".
pub(crate) fn describe_skew(skew: i64) -> String {
    let abs = skew.unsigned_abs();
    let amount = if abs >= 60 {
        format!("{} min {} s", abs / 60, abs % 60)
    } else {
        format!("{abs} s")
    };
    match skew {
        s if s.abs() <= 1 => "in step with the server's (within 1 s)".to_owned(),
        s if s > 0 => format!("{amount} behind the server's"),
        _ => format!("{amount} ahead of the server's"),
    }
}
