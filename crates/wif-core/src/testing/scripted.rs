//! Scripted wiremock answers: the mechanism under every wif-rs crate's fake server. A fake
//! answers by turns — "the first 2 requests get 503, then success", "the first token is already
//! expired, the next ones are valid" — and may answer slowly; [`Scripted`] is that, for any
//! [`Respond`]. The crates' own responders (`wif_sts::testing::StsResponder`, …) give it the
//! service's words.
//!
//! ```
//! use std::time::Duration;
//! use wif_core::testing::Scripted;
//! use wiremock::ResponseTemplate;
//!
//! // Two answers of 503, then 200 forever, each after 10 ms.
//! let flaky = Scripted::new(ResponseTemplate::new(200))
//!     .first(2, ResponseTemplate::new(503))
//!     .delayed(Duration::from_millis(10));
//! # let _ = flaky;
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wiremock::{Request, Respond, ResponseTemplate};

use crate::AccessToken;

/// The turn-taking methods of a service's responder whose answers come from a [`Scripted`]
/// held in its `script` field: `failing_first(n, error)` (the next `n` requests get the service's
/// `error`), `slow(delay)` and `answered()`. The argument is the service's error type (a
/// [`Respond`]). With `flaky: error`, also `flaky(failures)`: the next `failures` requests get
/// that error, the service's own "try again later" (a 503), which clients retry.
///
/// The responder still implements [`Respond`] itself: with
/// [`scripted_respond!`](crate::scripted_respond) where the script is all it plays.
///
/// ```
/// use wif_core::testing::Scripted;
/// use wiremock::ResponseTemplate;
///
/// /// A fake of some service.
/// pub struct SomeResponder {
///     script: Scripted,
/// }
///
/// impl SomeResponder {
///     wif_core::scripted_turns!(ResponseTemplate);
/// }
///
/// let flaky = SomeResponder { script: Scripted::new(ResponseTemplate::new(200)) }
///     .failing_first(2, ResponseTemplate::new(503));
/// assert_eq!(flaky.answered(), 0);
///
/// /// A fake of a service whose errors are a type of their own.
/// pub struct OtherResponder {
///     script: Scripted,
/// }
///
/// /// The other service's errors.
/// #[derive(Clone, Copy)]
/// pub enum OtherError {
///     /// 503: try again later.
///     Unavailable,
/// }
///
/// impl wiremock::Respond for OtherError {
///     fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
///         ResponseTemplate::new(503)
///     }
/// }
///
/// impl OtherResponder {
///     wif_core::scripted_turns!(OtherError, flaky: OtherError::Unavailable);
/// }
///
/// let twice = OtherResponder { script: Scripted::new(ResponseTemplate::new(200)) }.flaky(2);
/// assert!(format!("{:?}", twice.script).contains("steps: [2]"));
/// ```
#[macro_export]
macro_rules! scripted_turns {
    ($error:ty, flaky: $unavailable:expr) => {
        #[doc = concat!(
                    "Answers the next `failures` requests (after the steps added before) with `",
                    stringify!($unavailable),
                    "`, which clients retry."
                )]
        pub fn flaky(self, failures: u64) -> Self {
            self.failing_first(failures, $unavailable)
        }

        $crate::scripted_turns!($error);
    };
    ($error:ty) => {
        /// Answers the next `n` requests (after the steps added before) with `error`.
        pub fn failing_first(mut self, n: u64, error: $error) -> Self {
            self.script = self.script.first(n, error);
            self
        }

        /// Sends every answer after `delay`.
        pub fn slow(mut self, delay: ::std::time::Duration) -> Self {
            self.script = self.script.delayed(delay);
            self
        }

        /// Requests answered so far, successes and errors.
        pub fn answered(&self) -> u64 {
            self.script.answered()
        }
    };
}

/// The [`Respond`] impl of a service's responder (the argument) that plays the [`Scripted`] held
/// in its `script` field and nothing else: what goes with
/// [`scripted_turns!`](crate::scripted_turns). The calling crate names `wiremock` among its
/// dependencies.
///
/// ```
/// use wif_core::testing::Scripted;
/// use wiremock::ResponseTemplate;
///
/// /// A fake of some service.
/// pub struct SomeResponder {
///     script: Scripted,
/// }
///
/// wif_core::scripted_respond!(SomeResponder);
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = wiremock::MockServer::start().await;
/// wiremock::Mock::given(wiremock::matchers::any())
///     .respond_with(SomeResponder { script: Scripted::new(ResponseTemplate::new(204)) })
///     .mount(&server)
///     .await;
/// let client = wif_core::http::default_client().expect("the default client");
/// let answer = client.get(server.uri()).send().await.expect("answered");
/// assert_eq!(answer.status(), 204);
/// # }
/// ```
#[macro_export]
macro_rules! scripted_respond {
    ($responder:ty) => {
        impl ::wiremock::Respond for $responder {
            fn respond(&self, request: &::wiremock::Request) -> ::wiremock::ResponseTemplate {
                ::wiremock::Respond::respond(&self.script, request)
            }
        }
    };
}

/// A [`Respond`] that plays steps in order — each for a number of requests — and then answers
/// every further request with its last responder. Clones share their count of answered
/// requests, so a clone kept by a test sees what the mounted one did.
#[derive(Clone)]
pub struct Scripted {
    steps: Vec<(u64, Arc<dyn Respond>)>,
    then: Arc<dyn Respond>,
    delay: Option<Duration>,
    answered: Arc<AtomicU64>,
}

impl Scripted {
    /// Answers every request with `then` (until steps are added with [`first`](Self::first)).
    pub fn new(then: impl Respond + 'static) -> Self {
        Scripted {
            steps: Vec::new(),
            then: Arc::new(then),
            delay: None,
            answered: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Answers the next `n` requests — after those of the steps added before — with
    /// `responder`. `n = 0` adds nothing.
    pub fn first(mut self, n: u64, responder: impl Respond + 'static) -> Self {
        if n > 0 {
            self.steps.push((n, Arc::new(responder)));
        }
        self
    }

    /// Answers every request after the steps with `then`, in place of the answer given before
    /// (for a responder whose usual answer is still being set up after its steps were added);
    /// the steps, the delay and the count stay.
    pub fn answering(mut self, then: impl Respond + 'static) -> Self {
        self.then = Arc::new(then);
        self
    }

    /// Sends every answer after `delay` (a slow server; with a client timeout shorter than
    /// `delay`, a timed-out one).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// How many requests this responder (or a clone) has answered.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }

    /// The responder for the request numbered `index` (from 0).
    fn responder(&self, index: u64) -> &dyn Respond {
        let mut left = index;
        for (count, responder) in &self.steps {
            if left < *count {
                return responder.as_ref();
            }
            left -= count;
        }
        self.then.as_ref()
    }
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let index = self.answered.fetch_add(1, Ordering::SeqCst);
        let answer = self.responder(index).respond(request);
        match self.delay {
            Some(delay) => answer.set_delay(delay),
            None => answer,
        }
    }
}

impl fmt::Debug for Scripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scripted")
            .field(
                "steps",
                &self.steps.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .field("delay", &self.delay)
            .field("answered", &self.answered())
            .finish_non_exhaustive()
    }
}

/// The bearer token a recorded request carried (`Authorization: Bearer …`), kept secret: what
/// the recorders of the crates' fakes put in their parsed requests.
pub fn bearer_token(request: &Request) -> Option<AccessToken> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| AccessToken::new(token))
}

/// A header of a recorded request as text, if it is present and readable.
pub fn header_text(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer};

    async fn statuses(server: &MockServer, n: usize) -> Vec<u16> {
        let client = crate::http::default_client().expect("the default client");
        let mut out = Vec::new();
        for _ in 0..n {
            let response = client
                .get(server.uri())
                .send()
                .await
                .expect("the fake answers");
            out.push(response.status().as_u16());
        }
        out
    }

    #[tokio::test]
    async fn steps_play_in_order_then_the_last_answer_repeats() {
        let server = MockServer::start().await;
        let script = Scripted::new(ResponseTemplate::new(200))
            .first(2, ResponseTemplate::new(503))
            .first(0, ResponseTemplate::new(418))
            .first(1, ResponseTemplate::new(429));
        let kept = script.clone();
        Mock::given(any()).respond_with(script).mount(&server).await;
        assert_eq!(statuses(&server, 5).await, [503, 503, 429, 200, 200]);
        assert_eq!(kept.answered(), 5, "clones share the count");
        assert!(format!("{kept:?}").contains("steps: [2, 1]"), "{kept:?}");
    }

    #[tokio::test]
    async fn answering_replaces_the_last_answer_and_keeps_the_steps() {
        let server = MockServer::start().await;
        let script = Scripted::new(ResponseTemplate::new(500))
            .first(1, ResponseTemplate::new(503))
            .answering(ResponseTemplate::new(200));
        Mock::given(any()).respond_with(script).mount(&server).await;
        assert_eq!(statuses(&server, 3).await, [503, 200, 200]);
    }

    #[tokio::test]
    async fn a_delayed_script_times_out_a_shorter_client() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                Scripted::new(ResponseTemplate::new(200)).delayed(Duration::from_secs(30)),
            )
            .mount(&server)
            .await;
        let err = crate::http::default_client()
            .expect("the default client")
            .get(server.uri())
            .timeout(Duration::from_millis(50))
            .send()
            .await
            .expect_err("the answer comes after the client's timeout");
        assert!(err.is_timeout(), "{err}");
    }

    #[tokio::test]
    async fn bearer_tokens_are_read_secretly() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let client = crate::http::default_client().expect("the default client");
        for auth in ["Bearer ya29.secret-token", "Basic abc", "Bearer "] {
            client
                .get(server.uri())
                .header("authorization", auth)
                .header("x-goog-user-project", "billing")
                .send()
                .await
                .expect("answered");
        }
        let requests = server.received_requests().await.expect("recorded");
        let token = bearer_token(&requests[0]).expect("a bearer token");
        assert_eq!(token.secret().expose_secret(), "ya29.secret-token");
        assert!(!format!("{token:?}").contains("secret-token"));
        assert!(bearer_token(&requests[1]).is_none(), "Basic is not Bearer");
        assert!(bearer_token(&requests[2]).is_none(), "empty");
        assert_eq!(
            header_text(&requests[0], "x-goog-user-project").as_deref(),
            Some("billing")
        );
        assert_eq!(header_text(&requests[0], "x-missing"), None);
    }
}
