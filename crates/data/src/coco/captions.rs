//! `captions_{train,val}{2014,2017}.json`: image ids, file names and their captions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::CocoError;

/// One image and all its captions (5 to 7 in MS-COCO).
#[derive(Clone, Debug, PartialEq)]
pub struct CocoEntry {
    pub id: u64,
    pub file_name: String,
    pub captions: Vec<String>,
}

/// The parsed captions file: images in file order, each with its captions in file order.
#[derive(Clone, Debug)]
pub struct CocoCaptions {
    pub path: PathBuf,
    pub entries: Vec<CocoEntry>,
    /// Images listed without any caption (left out of `entries`).
    pub uncaptioned_images: usize,
    /// Annotations whose `image_id` is not in `images` (ignored).
    pub orphan_captions: usize,
}

#[derive(Deserialize)]
struct RawFile {
    images: Option<Vec<RawImage>>,
    annotations: Option<Vec<RawAnnotation>>,
}

#[derive(Deserialize)]
struct RawImage {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct RawAnnotation {
    image_id: u64,
    caption: String,
}

impl CocoCaptions {
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CocoError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| CocoError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses the JSON text; `path` names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, CocoError> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            // serde_json appends " at line L column C"; we state them ourselves.
            let message = match full.rfind(" at line ") {
                Some(i) => full[..i].to_string(),
                None => full,
            };
            CocoError::Json {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message,
            }
        })?;
        let missing = |field| CocoError::MissingField {
            path: path.to_path_buf(),
            field,
        };
        let images = raw.images.ok_or_else(|| missing("images"))?;
        let annotations = raw.annotations.ok_or_else(|| missing("annotations"))?;

        let mut entries: Vec<CocoEntry> = Vec::with_capacity(images.len());
        let mut index: HashMap<u64, usize> = HashMap::with_capacity(images.len());
        for im in images {
            index.entry(im.id).or_insert_with(|| {
                entries.push(CocoEntry {
                    id: im.id,
                    file_name: im.file_name,
                    captions: Vec::new(),
                });
                entries.len() - 1
            });
        }
        let mut orphan_captions = 0;
        for a in annotations {
            match index.get(&a.image_id) {
                Some(&i) => entries[i].captions.push(a.caption),
                None => orphan_captions += 1,
            }
        }
        let before = entries.len();
        entries.retain(|e| !e.captions.is_empty());
        Ok(Self {
            path: path.to_path_buf(),
            uncaptioned_images: before - entries.len(),
            entries,
            orphan_captions,
        })
    }

    pub fn num_captions(&self) -> usize {
        self.entries.iter().map(|e| e.captions.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CocoCaptions, CocoError> {
        CocoCaptions::from_json(text, Path::new("ann.json"))
    }

    #[test]
    fn groups_captions_by_image_in_file_order() {
        let c = parse(
            r#"{"info": {}, "images": [{"id": 7, "file_name": "b.jpg"}, {"id": 3, "file_name": "a.jpg"},
                {"id": 9, "file_name": "none.jpg"}],
               "annotations": [{"image_id": 3, "id": 1, "caption": "x"}, {"image_id": 7, "id": 2, "caption": "y"},
                {"image_id": 3, "id": 3, "caption": "z"}, {"image_id": 99, "id": 4, "caption": "orphan"}]}"#,
        )
        .unwrap();
        let ids: Vec<u64> = c.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![7, 3]);
        assert_eq!(c.entries[1].captions, vec!["x", "z"]);
        assert_eq!(
            (c.uncaptioned_images, c.orphan_captions, c.num_captions()),
            (1, 1, 3)
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse(
            "{\"images\": [],\n \"annotations\": [\n  {\"image_id\": 1 \"caption\": \"a\"}]}",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                CocoError::Json {
                    line: 3,
                    column: 18,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.starts_with("captions file ann.json: line 3 column 18: expected `,` or `}`"),
            "{msg}"
        );
    }

    #[test]
    fn not_json_and_missing_fields_are_named() {
        let msg = parse("hello").unwrap_err().to_string();
        assert!(msg.contains("ann.json: line 1 column 1"), "{msg}");
        let msg = parse(r#"{"images": []}"#).unwrap_err().to_string();
        assert!(msg.contains("no `annotations` array"), "{msg}");
        let msg = parse(r#"{"annotations": []}"#).unwrap_err().to_string();
        assert!(msg.contains("no `images` array"), "{msg}");
        // A field of the wrong type inside an annotation: named with its position.
        let msg = parse(r#"{"images": [], "annotations": [{"image_id": 1, "caption": 5}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 1 column") && msg.contains("expected a string"),
            "{msg}"
        );
    }
}
