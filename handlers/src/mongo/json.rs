//! JSON text written straight to BSON bytes, as the stored form writes a parsed JSON tree (see
//! `append_json`), without building the tree: one pass over the text, one buffer.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use mongodb::bson::spec::ElementType;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Above this many fields, an object's names are checked for repeats with a hash set.
const LINEAR_NAME_CHECK: usize = 16;

/// Why JSON text was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unwritten {
    /// The text is not one JSON value.
    NotJson,
    /// An object repeats a field name: a parsed tree keeps the first position and the last value,
    /// which one pass cannot write, so the caller builds the tree instead.
    RepeatedName,
}

/// Appends JSON `text` to `out` as one BSON value and returns its element type; on failure `out`
/// is as it was.
pub(super) fn write_json(text: &[u8], out: &mut Vec<u8>) -> Result<ElementType, Unwritten> {
    let start = out.len();
    let repeated = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let written = JsonValue {
        out: &mut *out,
        repeated: &repeated,
    }
    .deserialize(&mut deserializer)
    .and_then(|element| deserializer.end().map(|()| element));
    written.map_err(|_| {
        out.truncate(start);
        if repeated.get() {
            Unwritten::RepeatedName
        } else {
            Unwritten::NotJson
        }
    })
}

/// Writes `name` as a BSON field name: a NUL character (which would end it) as U+FFFD.
pub(super) fn write_field_name(out: &mut Vec<u8>, name: &str) {
    for (index, part) in name.split('\0').enumerate() {
        if index > 0 {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(0);
}

/// A document or array begun at `start` (its length still a placeholder) is ended there.
fn end_container(out: &mut Vec<u8>, start: usize) {
    out.push(0);
    let length = i32::try_from(out.len() - start).expect("a body is far below 2 GiB");
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
}

fn write_integer(out: &mut Vec<u8>, integer: i64) -> ElementType {
    match i32::try_from(integer) {
        Ok(small) => {
            out.extend_from_slice(&small.to_le_bytes());
            ElementType::Int32
        }
        Err(_) => {
            out.extend_from_slice(&integer.to_le_bytes());
            ElementType::Int64
        }
    }
}

fn write_double(out: &mut Vec<u8>, number: f64) -> ElementType {
    out.extend_from_slice(&number.to_le_bytes());
    ElementType::Double
}

/// One JSON value, written where the deserializer finds it.
struct JsonValue<'a> {
    out: &'a mut Vec<u8>,
    repeated: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for JsonValue<'_> {
    type Value = ElementType;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ElementType, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonValue<'_> {
    type Value = ElementType;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<ElementType, E> {
        Ok(ElementType::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<ElementType, E> {
        self.out.push(u8::from(flag));
        Ok(ElementType::Boolean)
    }

    fn visit_i64<E>(self, integer: i64) -> Result<ElementType, E> {
        Ok(write_integer(self.out, integer))
    }

    fn visit_u64<E>(self, integer: u64) -> Result<ElementType, E> {
        Ok(match i64::try_from(integer) {
            Ok(integer) => write_integer(self.out, integer),
            Err(_) => write_double(self.out, integer as f64),
        })
    }

    fn visit_f64<E>(self, number: f64) -> Result<ElementType, E> {
        Ok(write_double(self.out, number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ElementType, E> {
        let length = i32::try_from(text.len() + 1).map_err(|_| E::custom("string too long"))?;
        self.out.extend_from_slice(&length.to_le_bytes());
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(0);
        Ok(ElementType::String)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<ElementType, A::Error> {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        let mut names = FieldNames::default();
        while let Some(name) = fields.next_key_seed(FieldName)? {
            if !names.insert(name.clone()) {
                self.repeated.set(true);
                return Err(de::Error::custom("repeated field name"));
            }
            let type_at = self.out.len();
            self.out.push(0);
            write_field_name(self.out, &name);
            let element = fields.next_value_seed(JsonValue {
                out: &mut *self.out,
                repeated: self.repeated,
            })?;
            self.out[type_at] = element as u8;
        }
        end_container(self.out, start);
        Ok(ElementType::EmbeddedDocument)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<ElementType, A::Error> {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        let mut index = 0usize;
        let mut digits = String::new();
        loop {
            let type_at = self.out.len();
            self.out.push(0);
            digits.clear();
            fmt::Write::write_fmt(&mut digits, format_args!("{index}")).expect("to a String");
            self.out.extend_from_slice(digits.as_bytes());
            self.out.push(0);
            let item = items.next_element_seed(JsonValue {
                out: &mut *self.out,
                repeated: self.repeated,
            })?;
            let Some(element) = item else {
                self.out.truncate(type_at);
                break;
            };
            self.out[type_at] = element as u8;
            index += 1;
        }
        end_container(self.out, start);
        Ok(ElementType::Array)
    }
}

/// An object's field name, borrowed from the text when it has no escapes.
struct FieldName;

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

/// The field names of one object so far: a list while it is short, a hash set beyond.
#[derive(Default)]
struct FieldNames<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> FieldNames<'de> {
    /// Adds `name`; `false` when the object already has it.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.few.len() < LINEAR_NAME_CHECK {
            if self.few.contains(&name) {
                return false;
            }
            self.few.push(name);
            return true;
        }
        if self.many.is_empty() {
            self.many.extend(self.few.iter().cloned());
        }
        self.many.insert(name)
    }
}
