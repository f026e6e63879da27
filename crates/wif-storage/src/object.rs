//! The resources the JSON API returns: the `Object` resource and list pages.
//!
//! GCS sends 64-bit integers (`generation`, `metageneration`, `size`) as JSON **strings**;
//! they are parsed into numbers here (and accepted as numbers too, which some emulators send).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An object's metadata (the JSON API's `Object` resource, the fields wif-storage uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Object {
    /// The object's name.
    pub name: String,
    /// The bucket holding it.
    pub bucket: String,
    /// The content generation: changes on every overwrite.
    #[serde(with = "int64", default)]
    pub generation: i64,
    /// The metadata generation: changes on every metadata update of this generation.
    #[serde(with = "int64", default)]
    pub metageneration: i64,
    /// Size in bytes.
    #[serde(with = "int64", default)]
    pub size: u64,
    /// `Content-Type` of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding` of the stored data (`gzip` for decompressive transcoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// MD5 of the data, base64 (absent for composite objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5_hash: Option<String>,
    /// CRC32C of the data, base64 of the big-endian value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// HTTP ETag of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Storage class (`STANDARD`, `NEARLINE`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<String>,
    /// Last metadata update, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// The download URL of this generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_link: Option<String>,
    /// User-provided metadata (`x-goog-meta-*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One entry of a listing: an object, or a "directory" prefix when a delimiter is used.
#[derive(Clone, Debug, PartialEq, Eq)]
// Entries are handed out one at a time; boxing objects would only add an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum ListEntry {
    /// An object whose name matched.
    Object(Object),
    /// A common prefix up to and including the delimiter (`photos/2024/`).
    Prefix(String),
}

impl ListEntry {
    /// The object name or the prefix.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.name,
            ListEntry::Prefix(p) => p,
        }
    }
}

/// One page of `objects.list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ListPage {
    /// Objects of this page (absent in the JSON when empty).
    #[serde(default)]
    pub items: Vec<Object>,
    /// Common prefixes of this page (absent in the JSON when empty).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// The token of the next page; `None` on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

impl ListPage {
    /// The page's prefixes and objects as entries, in name order.
    pub fn into_entries(self) -> Vec<ListEntry> {
        let mut entries: Vec<ListEntry> = self
            .prefixes
            .into_iter()
            .map(ListEntry::Prefix)
            .chain(self.items.into_iter().map(ListEntry::Object))
            .collect();
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        entries
    }
}

/// int64 as a JSON string (Google's convention), also accepting a JSON number.
mod int64 {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde_json::Number),
    }

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => n.to_string(),
        };
        text.trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("invalid integer {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_object_resource_with_string_integers() {
        let json = r#"{
            "kind": "storage#object", "id": "b/o/1700000000000000",
            "name": "dir/o.txt", "bucket": "b", "generation": "1700000000000000",
            "metageneration": "1", "size": "12", "contentType": "text/plain",
            "crc32c": "yZRlqg==", "md5Hash": "XrY7u+Ae7tCTyyK7j1rNww==", "etag": "CICt",
            "storageClass": "STANDARD", "timeCreated": "2026-01-01T00:00:00.000Z",
            "metadata": {"k": "v"}, "unknownField": {"x": 1}
        }"#;
        let o: Object = serde_json::from_str(json).expect("parses");
        assert_eq!(o.name, "dir/o.txt");
        assert_eq!(o.generation, 1_700_000_000_000_000);
        assert_eq!(o.metageneration, 1);
        assert_eq!(o.size, 12);
        assert_eq!(o.content_type.as_deref(), Some("text/plain"));
        assert_eq!(o.metadata.get("k").map(String::as_str), Some("v"));
        // Numbers are accepted too, and serializing writes Google's string form.
        let o: Object =
            serde_json::from_str(r#"{"name":"n","bucket":"b","generation":5,"size":7}"#)
                .expect("numbers parse");
        assert_eq!((o.generation, o.size), (5, 7));
        let back = serde_json::to_value(&o).expect("serializes");
        assert_eq!(back["generation"], "5");
        assert_eq!(back["size"], "7");
        assert!(
            serde_json::from_str::<Object>(r#"{"name":"n","bucket":"b","size":"-1"}"#).is_err(),
            "a negative size is not a size"
        );
    }

    #[test]
    fn list_pages_tolerate_absent_fields_and_sort_entries() {
        let page: ListPage = serde_json::from_str(r#"{"kind":"storage#objects"}"#).expect("empty");
        assert!(page.items.is_empty() && page.prefixes.is_empty());
        assert_eq!(page.next_page_token, None);
        let page: ListPage = serde_json::from_str(
            r#"{"items":[{"name":"b.txt","bucket":"x"},{"name":"d/","bucket":"x"}],
                "prefixes":["c/","a/"],"nextPageToken":"tok"}"#,
        )
        .expect("parses");
        assert_eq!(page.next_page_token.as_deref(), Some("tok"));
        let names: Vec<String> = page
            .into_entries()
            .iter()
            .map(|e| e.name().to_owned())
            .collect();
        assert_eq!(names, ["a/", "b.txt", "c/", "d/"]);
    }
}
