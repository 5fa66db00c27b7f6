//! Source locations: the YAML read a second time as a tree of [`Spanned`] nodes, so that
//! a field path (`tenants[0].users[2].email`) can be turned into a line and column for
//! semantic errors, and the line and column of a serde error into a field path.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::DeclError;

/// One YAML node, with the location of each key and child.
#[derive(Debug)]
pub(crate) enum Node {
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

/// A mapping key read as text, whatever its scalar type.
#[derive(Debug)]
pub(crate) struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// The parsed source of a document, if it came from YAML. Compares equal to any other
/// `Source`: locations are not part of a document's value.
#[derive(Clone, Default)]
pub(crate) struct Source(Option<Arc<Spanned<Node>>>);

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Source(yaml)"
        } else {
            "Source(none)"
        })
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(Cow<'static, str>),
    Index(usize),
}

/// A field path inside a document: `tenants[0].organizations[1].slug`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(Vec<Seg>);

impl Path {
    pub(crate) fn tenant(ti: usize) -> Self {
        Self(vec![Seg::Key(Cow::Borrowed("tenants")), Seg::Index(ti)])
    }
    /// This path followed by field `key`.
    pub(crate) fn key(&self, key: &'static str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(Cow::Borrowed(key)));
        p
    }
    /// This path followed by list item `i`.
    pub(crate) fn idx(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    /// This path followed by field `key`, item `i`.
    pub(crate) fn at(&self, key: &'static str, i: usize) -> Self {
        self.key(key).idx(i)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

fn pos(l: &Location) -> (u64, u64) {
    (l.line(), l.column())
}

fn known(l: &Location) -> bool {
    l.line() > 0
}

impl Source {
    pub(crate) fn from_tree(tree: Spanned<Node>) -> Self {
        Self(Some(Arc::new(tree)))
    }

    /// An error at `path`, located when the document came from YAML.
    pub(crate) fn error(&self, path: &Path, reason: impl Into<String>) -> DeclError {
        let loc = self.0.as_deref().and_then(|root| locate(root, path));
        DeclError {
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    /// The path of the node a serde error at `loc` is about. `message` breaks the tie when
    /// the location is both a mapping's start and its first key (an unknown first field).
    pub(crate) fn path_at(&self, loc: &Location, message: &str) -> Path {
        let mut path = Path::default();
        if let Some(root) = self.0.as_deref() {
            descend(root, pos(loc), message, &mut path);
        }
        path
    }
}

/// The location of the deepest node of `path` that exists (the value of a field, the item
/// of a list).
fn locate(root: &Spanned<Node>, path: &Path) -> Option<Location> {
    let mut node = root;
    for seg in &path.0 {
        let next = match (&node.value, seg) {
            (Node::Map(entries), Seg::Key(k)) => entries
                .iter()
                .find(|(key, _)| key.value.0 == *k)
                .map(|(_, v)| v),
            (Node::Seq(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) if known(&n.referenced) => node = n,
            _ => break,
        }
    }
    known(&node.referenced).then_some(node.referenced)
}

fn descend(node: &Spanned<Node>, at: (u64, u64), message: &str, path: &mut Path) {
    let starts_here = pos(&node.referenced) == at;
    match &node.value {
        Node::Map(entries) => {
            let Some((key, value)) = entries
                .iter()
                .rev()
                .find(|(k, _)| known(&k.referenced) && pos(&k.referenced) <= at)
            else {
                return;
            };
            if starts_here && !message.contains(&format!("`{}`", key.value.0)) {
                return;
            }
            path.0.push(Seg::Key(Cow::Owned(key.value.0.clone())));
            if known(&value.referenced) && pos(&value.referenced) <= at {
                descend(value, at, message, path);
            }
        }
        Node::Seq(items) => {
            if starts_here && items.first().is_none_or(|i| pos(&i.referenced) != at) {
                return;
            }
            if let Some((i, item)) = items
                .iter()
                .enumerate()
                .rev()
                .find(|(_, it)| known(&it.referenced) && pos(&it.referenced) <= at)
            {
                path.0.push(Seg::Index(i));
                descend(item, at, message, path);
            }
        }
        Node::Scalar => {}
    }
}
