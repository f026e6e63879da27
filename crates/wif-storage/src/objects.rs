//! Reading object metadata, listing and deleting: `objects.get`, `objects.list`, `objects.delete`.
//!
//! Gets and lists are always idempotent and retried; a delete is retried only when a
//! `generation` or `ifGenerationMatch` pins what it deletes (otherwise a retry after a lost
//! response could delete a newer object written in between).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;
use wif_core::Error;

use crate::client::{Call, Storage};
use crate::names::{check_bucket, check_object};
use crate::object::{ListEntry, ListPage, Object};

/// Conditions a write or delete must meet, checked by the server (412 when they fail).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preconditions {
    /// Act on this generation only.
    pub generation: Option<i64>,
    /// Only if the live object's generation is this (`0`: only if there is no live object).
    pub if_generation_match: Option<i64>,
    /// Only if the live object's metageneration is this.
    pub if_metageneration_match: Option<i64>,
}

impl Preconditions {
    /// No conditions.
    pub fn none() -> Self {
        Self::default()
    }

    wif_core::builder_setters! {
        /// Only if the live object has `generation`.
        pub fn if_generation_match(generation: i64) => Some(if_generation_match);

        /// Only if the live object has `metageneration`.
        pub fn if_metageneration_match(metageneration: i64) => Some(if_metageneration_match);

        /// Act on exactly this generation.
        pub fn generation(generation: i64) => Some(generation);
    }

    /// True when the request names what it acts on precisely enough to be repeated safely.
    pub(crate) fn pins_generation(&self) -> bool {
        self.generation.is_some() || self.if_generation_match.is_some()
    }

    pub(crate) fn apply(&self, url: &mut url::Url) {
        let mut q = url.query_pairs_mut();
        if let Some(g) = self.generation {
            q.append_pair("generation", &g.to_string());
        }
        if let Some(g) = self.if_generation_match {
            q.append_pair("ifGenerationMatch", &g.to_string());
        }
        if let Some(m) = self.if_metageneration_match {
            q.append_pair("ifMetagenerationMatch", &m.to_string());
        }
    }
}

/// What to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Only objects whose names start with this.
    pub prefix: Option<String>,
    /// Group names containing this after the prefix into [`ListEntry::Prefix`] entries
    /// (`/` lists one "directory" level).
    pub delimiter: Option<String>,
    /// Results per page (the server caps it at 1,000 and may return fewer).
    pub page_size: Option<u32>,
}

impl ListOptions {
    /// Everything in the bucket.
    pub fn new() -> Self {
        Self::default()
    }

    wif_core::builder_setters! {
        /// Only names starting with `prefix`.
        pub fn prefix(prefix: impl Into<String>) => Some(prefix);

        /// Groups names by `delimiter` (usually `/`).
        pub fn delimiter(delimiter: impl Into<String>) => Some(delimiter);

        /// Asks for `n` results per page.
        pub fn page_size(n: u32) => Some(page_size);
    }
}

impl Storage {
    /// The metadata of `bucket/name` (`objects.get`).
    pub async fn metadata(&self, bucket: &str, name: &str) -> Result<Object, Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let url = self.inner.endpoints.object(bucket, name);
        let call = Call::new("GET", &url, true);
        let span = tracing::debug_span!("gcs.metadata", method = "GET", bucket, object = name);
        self.execute_json(&call, &|c| c.get(url.clone()))
            .instrument(span)
            .await
    }

    /// Deletes `bucket/name` (`objects.delete`, 204). Retried only when `preconditions` pin a
    /// generation.
    pub async fn delete(
        &self,
        bucket: &str,
        name: &str,
        preconditions: Preconditions,
    ) -> Result<(), Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let mut url = self.inner.endpoints.object(bucket, name);
        preconditions.apply(&mut url);
        let call = Call::new("DELETE", &url, preconditions.pins_generation());
        let span = tracing::debug_span!("gcs.delete", method = "DELETE", bucket, object = name);
        self.execute(&call, &|c| c.delete(url.clone()))
            .instrument(span)
            .await?;
        Ok(())
    }

    /// One page of `objects.list`; pass the previous page's `next_page_token` to continue.
    pub async fn list_page(
        &self,
        bucket: &str,
        options: &ListOptions,
        page_token: Option<&str>,
    ) -> Result<ListPage, Error> {
        check_bucket(bucket)?;
        let mut url = self.inner.endpoints.objects(bucket);
        {
            let mut q = url.query_pairs_mut();
            if let Some(p) = &options.prefix {
                q.append_pair("prefix", p);
            }
            if let Some(d) = &options.delimiter {
                q.append_pair("delimiter", d);
            }
            if let Some(n) = options.page_size {
                q.append_pair("maxResults", &n.to_string());
            }
            if let Some(t) = page_token {
                q.append_pair("pageToken", t);
            }
        }
        let call = Call::new("GET", &url, true);
        let span = tracing::debug_span!("gcs.list", method = "GET", bucket);
        self.execute_json(&call, &|c| c.get(url.clone()))
            .instrument(span)
            .await
    }

    /// Lists `bucket`: objects and prefixes, fetching pages as they are consumed. An error
    /// ends the listing.
    ///
    /// ```no_run
    /// # async fn run(storage: wif_storage::Storage) -> Result<(), wif_storage::Error> {
    /// use wif_storage::{ListEntry, ListOptions};
    ///
    /// let mut entries = storage.list("my-bucket", ListOptions::new().prefix("logs/").delimiter("/"));
    /// while let Some(entry) = entries.next_entry().await? {
    ///     match entry {
    ///         ListEntry::Prefix(p) => println!("{p}"),
    ///         ListEntry::Object(o) => println!("{} {} bytes", o.name, o.size),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&self, bucket: &str, options: ListOptions) -> Listing {
        let storage = self.clone();
        let bucket = bucket.to_owned();
        // State: `Some(token)` = fetch the page after `token` (`None` = the first page);
        // the outer `None` = done.
        let entries = futures::stream::try_unfold(Some(None::<String>), move |state| {
            let storage = storage.clone();
            let bucket = bucket.clone();
            let options = options.clone();
            async move {
                let Some(token) = state else {
                    return Ok(None);
                };
                let mut page = storage
                    .list_page(&bucket, &options, token.as_deref())
                    .await?;
                // A server repeating the same token would page forever.
                let next = page
                    .next_page_token
                    .take()
                    .filter(|t| !t.is_empty() && Some(t) != token.as_ref());
                let entries = page.into_entries();
                Ok(Some((entries, next.map(Some))))
            }
        })
        .map_ok(|entries| futures::stream::iter(entries.into_iter().map(Ok)))
        .try_flatten()
        .boxed();
        Listing { entries }
    }
}

/// The entries of a listing, fetched page by page as they are consumed. A [`Stream`]; or call
/// [`next_entry`](Self::next_entry) without any stream combinators.
#[must_use = "a listing does nothing until its entries are read"]
pub struct Listing {
    entries: BoxStream<'static, Result<ListEntry, Error>>,
}

impl Listing {
    /// The next entry; `Ok(None)` after the last page.
    pub async fn next_entry(&mut self) -> Result<Option<ListEntry>, Error> {
        self.entries.try_next().await
    }
}

impl Stream for Listing {
    type Item = Result<ListEntry, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.entries.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing").finish_non_exhaustive()
    }
}
