//! RFC 6313 lists from nested Arrow columns, the inverse of the reader's
//! nested columns: `list<T>` into a basicList (§4.5.1) of the item's IE
//! (named by the item field, or its `ipfix.*` metadata), `list<struct<...>>`
//! into a subTemplateList (§4.5.2: every element of one list under one
//! template) or a subTemplateMultiList (§4.5.3: consecutive elements with
//! the same set fields in one block). Each struct element goes under the
//! template of its non-null fields; those sub-templates are defined through
//! [`SubTemplates`] before the records that use them. The list's semantic
//! is written as 0xFF, "undefined" (§4.5.1).

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field};

use super::columns::{column_field, ColumnEncoder};
use super::value::{put_varlen_len, Refusal};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DataType as IeType, InfoModel};
use crate::session::{Template, TemplateField};
use crate::wire::{FieldSpec, VARLEN};

/// "undefined" list semantic (RFC 6313 §4.5.1).
const UNDEFINED: u8 = 0xFF;

/// Where list encoders get their IEs and define their sub-templates.
pub trait SubTemplates {
    fn model(&mut self) -> &mut InfoModel;
    /// The id of a template of these fields, defined on first use.
    fn define(&mut self, specs: Vec<FieldSpec>) -> Result<u16>;
}

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Encode(msg))
}

enum Elements {
    /// `list<null>` (a list column whose elements the reader never saw):
    /// only null rows can be written.
    Nothing,
    /// basicList: the header after the semantic, and the items' encoder.
    Basic(Vec<u8>, Box<ColumnEncoder>),
    /// Struct elements: an encoder per struct field, and the template of
    /// each pattern of set fields.
    Records {
        fields: Vec<ColumnEncoder>,
        children: Vec<ArrayRef>,
        templates: HashMap<u64, u16>,
        multi: bool,
    },
}

/// One list column of a batch.
pub struct ListEncoder {
    offsets: Vec<usize>,
    elements: Elements,
}

/// Template fields of `specs` (their codecs), through a throwaway template.
fn fields_of(specs: Vec<FieldSpec>, model: &InfoModel) -> Vec<TemplateField> {
    Template::new(0, 0, None, specs, model).fields
}

fn item_spec(model: &mut InfoModel, item: &Field) -> Result<FieldSpec> {
    column_field(model, item, None)
}

impl ListEncoder {
    /// The encoder of list column `name` into the list IE `field`.
    pub fn new(
        name: &str,
        field: &TemplateField,
        array: &ArrayRef,
        defs: &mut dyn SubTemplates,
    ) -> Result<Self> {
        let (offsets, values, item): (Vec<usize>, ArrayRef, Field) =
            if let Some(l) = array.as_list_opt::<i32>() {
                let o = l
                    .value_offsets()
                    .iter()
                    .map(|&x| usize::try_from(x).unwrap_or(0))
                    .collect();
                let ArrowType::List(f) = array.data_type() else {
                    return Err(refuse(format!("column {name:?}: not a list")));
                };
                (o, l.values().clone(), f.as_ref().clone())
            } else if let Some(l) = array.as_list_opt::<i64>() {
                let o = l
                    .value_offsets()
                    .iter()
                    .map(|&x| usize::try_from(x).unwrap_or(0))
                    .collect();
                let ArrowType::LargeList(f) = array.data_type() else {
                    return Err(refuse(format!("column {name:?}: not a list")));
                };
                (o, l.values().clone(), f.as_ref().clone())
            } else {
                return Err(refuse(format!("column {name:?}: not a list")));
            };
        let elements = match field.ie.data_type {
            _ if item.data_type() == &ArrowType::Null => Elements::Nothing,
            IeType::BasicList => {
                let spec = item_spec(defs.model(), &item)
                    .map_err(|e| refuse(format!("column {name:?}, list item: {}", e.kind)))?;
                let tf = fields_of(vec![spec], defs.model()).remove(0);
                let mut header = Vec::with_capacity(8);
                put_basic_list_field(spec, &mut header);
                let enc = ColumnEncoder::new(&format!("{name}[]"), tf, values, defs)?;
                Elements::Basic(header, Box::new(enc))
            }
            _ => {
                let Some(s) = values.as_struct_opt() else {
                    return Err(refuse(format!(
                        "column {name:?}: a {} needs a list of structs",
                        field.ie.data_type.name()
                    )));
                };
                let ArrowType::Struct(child_fields) = values.data_type() else {
                    return Err(refuse(format!("column {name:?}: not a list of structs")));
                };
                if child_fields.len() > 64 {
                    return Err(refuse(format!(
                        "column {name:?}: list elements of more than 64 fields"
                    )));
                }
                let specs = child_fields
                    .iter()
                    .map(|f| item_spec(defs.model(), f))
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| refuse(format!("column {name:?}, list element: {}", e.kind)))?;
                let tfs = fields_of(specs.clone(), defs.model());
                let children: Vec<ArrayRef> = s.columns().to_vec();
                let fields = child_fields
                    .iter()
                    .zip(tfs)
                    .zip(&children)
                    .map(|((f, tf), a)| {
                        ColumnEncoder::new(&format!("{name}.{}", f.name()), tf, a.clone(), defs)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let all = if specs.len() == 64 {
                    u64::MAX
                } else {
                    // specs.len() < 64 here: 1 << len >= 1.
                    (1u64 << specs.len()).saturating_sub(1)
                };
                let mut patterns = vec![all];
                for e in 0..values.len() {
                    patterns.push(pattern(&children, e));
                }
                patterns.sort_unstable();
                patterns.dedup();
                let mut templates = HashMap::new();
                for p in patterns.into_iter().filter(|&p| p != 0) {
                    let subset = specs
                        .iter()
                        .enumerate()
                        .filter(|(c, _)| p >> c & 1 == 1)
                        .map(|(_, s)| *s)
                        .collect();
                    templates.insert(p, defs.define(subset)?);
                }
                Elements::Records {
                    fields,
                    children,
                    templates,
                    multi: field.ie.data_type == IeType::SubTemplateMultiList,
                }
            }
        };
        Ok(ListEncoder { offsets, elements })
    }

    /// The encoded list of row `row` (without the field's length prefix).
    pub fn encode(&self, row: usize, out: &mut Vec<u8>) -> std::result::Result<(), Refusal> {
        let (Some(&lo), Some(&hi)) = (
            self.offsets.get(row),
            self.offsets.get(row.saturating_add(1)),
        ) else {
            return Err(format!("row {row} is not in the column"));
        };
        out.push(UNDEFINED);
        match &self.elements {
            Elements::Nothing => {
                return Err("a list of null items has nothing to write".into());
            }
            Elements::Basic(header, enc) => {
                out.extend_from_slice(header);
                for e in lo..hi {
                    if enc.is_null(e) {
                        return Err(format!(
                            "element {} of the basicList is null",
                            e.saturating_sub(lo)
                        ));
                    }
                    enc.encode(e, out)
                        .map_err(|why| format!("element {}: {why}", e.saturating_sub(lo)))?;
                }
            }
            Elements::Records {
                fields,
                children,
                templates,
                multi,
            } => {
                let pat = |e: usize| pattern(children, e);
                if !multi {
                    let p = if lo < hi {
                        pat(lo)
                    } else {
                        templates.keys().copied().max().unwrap_or(0)
                    };
                    if let Some(e) = (lo..hi).find(|&e| pat(e) != p) {
                        return Err(format!(
                            "elements {} and 0 have different fields set: a subTemplateList \
                             holds records of one template (use subTemplateMultiList)",
                            e.saturating_sub(lo)
                        ));
                    }
                    let tid = template(templates, p, lo)?;
                    out.extend_from_slice(&tid.to_be_bytes());
                    for e in lo..hi {
                        put_record(fields, p, e, lo, out)?;
                    }
                    return Ok(());
                }
                let mut e = lo;
                while e < hi {
                    let p = pat(e);
                    let tid = template(templates, p, e.saturating_sub(lo))?;
                    let start = out.len();
                    out.extend_from_slice(&tid.to_be_bytes());
                    out.extend_from_slice(&[0, 0]);
                    while e < hi && pat(e) == p {
                        put_record(fields, p, e, lo, out)?;
                        e = e.saturating_add(1);
                    }
                    let len = u16::try_from(out.len().saturating_sub(start)).map_err(|_| {
                        "a subTemplateMultiList block over 65535 octets".to_string()
                    })?;
                    if let Some(d) = out.get_mut(start.saturating_add(2)..start.saturating_add(4)) {
                        d.copy_from_slice(&len.to_be_bytes());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The element's field specifier in a basicList header, after the
/// semantic (RFC 6313 §4.5.1): the IE id (enterprise bit set for an
/// enterprise IE), the element length, the PEN if any.
pub fn put_basic_list_field(spec: FieldSpec, out: &mut Vec<u8>) {
    let id = if spec.pen == 0 {
        spec.id
    } else {
        spec.id | 0x8000
    };
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&spec.length.to_be_bytes());
    if spec.pen != 0 {
        out.extend_from_slice(&spec.pen.to_be_bytes());
    }
}

/// The fields set in element `e` (a bit per struct field).
fn pattern(children: &[ArrayRef], e: usize) -> u64 {
    children
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_valid(e))
        .fold(0, |p, (c, _)| p | 1 << c)
}

fn template(templates: &HashMap<u64, u16>, p: u64, at: usize) -> std::result::Result<u16, Refusal> {
    if p == 0 {
        return Err(format!("element {at} has no field set"));
    }
    templates
        .get(&p)
        .copied()
        .ok_or_else(|| format!("element {at}: no template for its fields"))
}

fn put_record(
    fields: &[ColumnEncoder],
    p: u64,
    e: usize,
    lo: usize,
    out: &mut Vec<u8>,
) -> std::result::Result<(), Refusal> {
    for (c, f) in fields.iter().enumerate() {
        if p >> c & 1 == 1 {
            f.encode(e, out).map_err(|why| {
                format!(
                    "element {}, {}: {why}",
                    e.saturating_sub(lo),
                    f.field.ie.name
                )
            })?;
        }
    }
    Ok(())
}

/// Append a list value as a field of `length` (variable: with its prefix).
pub fn put_list(list: &[u8], length: u16, out: &mut Vec<u8>) -> std::result::Result<(), Refusal> {
    if length == VARLEN {
        put_varlen_len(list.len(), out)?;
        out.extend_from_slice(list);
        return Ok(());
    }
    if list.len() != usize::from(length) {
        return Err(format!(
            "a list of {} octets for a {length}-octet field",
            list.len()
        ));
    }
    out.extend_from_slice(list);
    Ok(())
}
