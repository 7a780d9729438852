//! RFC 6313 structured data as nested Arrow columns. A list IE's column is
//! `list<struct<...>>`: one struct per element, its fields the IEs seen in
//! that column's elements (the sub-template records of a subTemplateList
//! or subTemplateMultiList, §4.5.2-4.5.3, the values of a basicList,
//! §4.5.1), null where an element's template lacks one; a list inside an
//! element is a nested list column in turn. A column whose lists are all
//! basicLists of one scalar IE is simply `list<T>`, its item named by the
//! IE. The element IEs are not in the templates of the stream but in the
//! data, so they are found by a pre-scan ([`discover_list_shapes`]).
//! (subTemplateMultiList blocks are flattened: one element per record,
//! whatever its template; the list's semantic is not kept.)

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{new_empty_array, ArrayRef, ListArray, NullArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields};

use super::column::Column;
use super::prim::Strided;
use super::reader::PrescanLimit;
use super::sink::RecordKind;
use super::types::{field_for, AddressForm, ColumnKind};
use crate::decode::{
    decode_list, Decoder, DecoderOptions, List, ListContext, ListKind, Record, RecordSink, Value,
};
use crate::error::Result;
use crate::model::{ColumnIe, DataType as IeType, IeDef, InfoModel};
use crate::session::{FieldDecoder, Template, TemplateField};
use crate::source::MessageStream;
use crate::wire::{be16, be32};

/// Whether an IE's values are RFC 6313 lists.
pub fn is_list(ie: &IeDef) -> bool {
    matches!(
        ie.data_type,
        IeType::BasicList | IeType::SubTemplateList | IeType::SubTemplateMultiList
    )
}

/// The elements of a list column, as seen in the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListShape {
    /// The IEs of the elements in order of first appearance (each
    /// occurrence of an IE a sub-template repeats apart, as in top-level
    /// columns), each with its own shape when its values are lists
    /// themselves.
    pub fields: Vec<(ColumnIe, Option<ListShape>)>,
    /// Only basicLists were seen.
    pub basic_only: bool,
    /// Some list was seen.
    pub seen: bool,
}

impl ListShape {
    fn field(&mut self, ie: &Arc<IeDef>, nth: u16) -> usize {
        if let Some(i) = field_index(self, ie, nth) {
            return i;
        }
        let c = ColumnIe {
            ie: ie.clone(),
            nth,
        };
        self.fields.push((c, is_list(ie).then(ListShape::default)));
        self.fields.len() - 1
    }

    fn element(&mut self, f: &TemplateField, v: &Value<'_>, ctx: &ListContext<'_>, depth: u32) {
        let i = self.field(&f.ie, f.nth);
        if let (Some(inner), Value::List(kind, raw)) = (&mut self.fields[i].1, v) {
            inner.observe(*kind, raw, ctx, depth + 1);
        }
    }

    /// Add what one list value holds (malformed lists add nothing).
    pub fn observe(&mut self, kind: ListKind, raw: &[u8], ctx: &ListContext<'_>, depth: u32) {
        let Ok(list) = decode_list(kind, raw, ctx, depth) else {
            return;
        };
        if !self.seen {
            self.seen = true;
            self.basic_only = true;
        }
        match list {
            List::Basic { ie, values, .. } => {
                let i = self.field(&ie, 0);
                for v in &values {
                    if let (Some(inner), Value::List(kind, raw)) = (&mut self.fields[i].1, v) {
                        inner.observe(*kind, raw, ctx, depth + 1);
                    }
                }
            }
            List::SubTemplate {
                template, records, ..
            } => {
                self.basic_only = false;
                for f in &template.fields {
                    self.field(&f.ie, f.nth);
                }
                for r in &records {
                    for (f, v) in template.fields.iter().zip(r) {
                        self.element(f, v, ctx, depth);
                    }
                }
            }
            List::SubTemplateMulti { entries, .. } => {
                self.basic_only = false;
                for (template, records) in &entries {
                    for f in &template.fields {
                        self.field(&f.ie, f.nth);
                    }
                    for r in records {
                        for (f, v) in template.fields.iter().zip(r) {
                            self.element(f, v, ctx, depth);
                        }
                    }
                }
            }
        }
    }

    /// Whether the column is `list<T>` rather than `list<struct<...>>`.
    fn unwrapped(&self) -> bool {
        self.basic_only && self.fields.len() == 1 && self.fields[0].1.is_none()
    }
}

/// Finds the shapes of list columns: a sink for a pre-scan pass.
struct ShapeSink {
    shapes: HashMap<(u32, u16), ListShape>,
    kind: RecordKind,
    /// Records of the kind read so far.
    records: u64,
}

impl RecordSink for ShapeSink {
    fn record(&mut self, rec: &Record<'_>) -> Result<()> {
        let options = rec.template.is_options();
        match self.kind {
            RecordKind::Data if options => return Ok(()),
            RecordKind::Options if !options => return Ok(()),
            _ => {}
        }
        self.records = self.records.saturating_add(1);
        for (i, f) in rec.template.fields.iter().enumerate() {
            if let Some(shape) = self.shapes.get_mut(&(f.ie.pen, f.ie.id)) {
                if let Value::List(kind, raw) = rec.value(i) {
                    shape.observe(kind, raw, &rec.lists, 0);
                }
            }
        }
        Ok(())
    }
}

/// The element shapes of the list columns among `columns`, from the lists
/// of the stream (as far as `limit`). Malformed input ends the scan
/// quietly: the decoding pass reports it.
pub fn discover_list_shapes(
    stream: &mut MessageStream,
    model: InfoModel,
    opts: &DecoderOptions,
    columns: &[ColumnIe],
    kind: RecordKind,
    limit: PrescanLimit,
) -> HashMap<(u32, u16), ListShape> {
    // Every occurrence of a list IE shares one shape.
    let mut sink = ShapeSink {
        shapes: columns
            .iter()
            .map(|c| &c.ie)
            .filter(|ie| is_list(ie))
            .map(|ie| ((ie.pen, ie.id), ListShape::default()))
            .collect(),
        kind,
        records: 0,
    };
    if sink.shapes.is_empty() {
        return sink.shapes;
    }
    let mut dec = Decoder::new(model, opts);
    while stream.advance_past_errors() {
        let m = stream.current();
        if dec.decode(&m, &mut sink).is_err() {
            break;
        }
        if limit.records.is_some_and(|n| sink.records >= n) {
            break;
        }
    }
    sink.shapes
}

/// A list column of the batch in progress.
pub(crate) struct ListColumn {
    shape: ListShape,
    /// The item field (`list<item>`).
    item: Arc<Field>,
    /// The struct's fields (empty when unwrapped).
    fields: Fields,
    children: Vec<Column>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    /// Elements so far (the children's length).
    elements: usize,
}

/// The Arrow field of an element IE (occurrence), named as top-level
/// columns are.
fn element_field(c: &ColumnIe, shape: Option<&ListShape>, addresses: AddressForm) -> Field {
    let ie = &c.ie;
    match shape {
        None => field_for(ie, ColumnKind::for_ie(ie, addresses)).with_name(c.name()),
        Some(s) => {
            let md = field_for(ie, ColumnKind::Binary).metadata().clone();
            Field::new(c.name(), list_type(s, addresses), true).with_metadata(md)
        }
    }
}

fn item_field(shape: &ListShape, addresses: AddressForm) -> Field {
    if !shape.seen || shape.fields.is_empty() {
        return Field::new("item", DataType::Null, true);
    }
    if shape.unwrapped() {
        let (ie, _) = &shape.fields[0];
        return element_field(ie, None, addresses);
    }
    let fields: Fields = shape
        .fields
        .iter()
        .map(|(ie, s)| element_field(ie, s.as_ref(), addresses))
        .collect();
    Field::new("item", DataType::Struct(fields), true)
}

/// The Arrow type of a list column of this shape.
pub fn list_type(shape: &ListShape, addresses: AddressForm) -> DataType {
    DataType::List(Arc::new(item_field(shape, addresses)))
}

impl ListColumn {
    pub fn new(shape: ListShape, addresses: AddressForm) -> Self {
        let item = Arc::new(item_field(&shape, addresses));
        let fields = match item.data_type() {
            DataType::Struct(f) => f.clone(),
            _ => Fields::empty(),
        };
        let children = shape
            .fields
            .iter()
            .map(|(c, s)| match s {
                None => Column::new(ColumnKind::for_ie(&c.ie, addresses)),
                Some(s) => Column::List(Box::new(ListColumn::new(s.clone(), addresses))),
            })
            .collect();
        ListColumn {
            shape,
            item,
            fields,
            children,
            offsets: vec![0],
            nulls: NullBufferBuilder::new(0),
            elements: 0,
        }
    }

    fn push_element(&mut self, row: &[Option<Value<'_>>], ctx: &ListContext<'_>, depth: u32) {
        if self.children.is_empty() {
            self.elements += 1;
            return;
        }
        for (col, v) in self.children.iter_mut().zip(row) {
            match v {
                Some(v) => col.append_nested(v, ctx, depth + 1),
                None => col.append_null(),
            }
        }
        self.elements += 1;
    }

    /// One element per sub-template record, each field in its column.
    fn push_records<'a, 'v: 'a>(
        &mut self,
        blocks: impl IntoIterator<Item = (&'a Arc<Template>, &'a Vec<Vec<Value<'v>>>)>,
        row: &mut [Option<Value<'v>>],
        ctx: &ListContext<'_>,
        depth: u32,
    ) {
        for (template, records) in blocks {
            let map: Vec<Option<usize>> = template
                .fields
                .iter()
                .map(|f| field_index(&self.shape, &f.ie, f.nth))
                .collect();
            for r in records {
                fill_row(row, &map, r);
                self.push_element(row, ctx, depth);
            }
        }
    }

    /// Append a list value (a null when it does not decode).
    pub fn append(&mut self, v: &Value<'_>, ctx: &ListContext<'_>, depth: u32) {
        if let Value::List(ListKind::Basic, raw) = v {
            if self.append_basic_fixed(raw, ctx, depth) {
                return;
            }
        }
        self.append_decoded(v, ctx, depth);
    }

    /// Append a list value decoded into values first (the general way).
    fn append_decoded(&mut self, v: &Value<'_>, ctx: &ListContext<'_>, depth: u32) {
        let list = match v {
            Value::List(kind, raw) => decode_list(*kind, raw, ctx, depth).ok(),
            _ => None,
        };
        let Some(list) = list else {
            self.append_null();
            return;
        };
        let mut row: Vec<Option<Value<'_>>> = vec![None; self.children.len()];
        match &list {
            List::Basic { ie, values, .. } => {
                let at = field_index(&self.shape, ie, 0);
                for v in values {
                    row.fill(None);
                    if let Some(c) = at.and_then(|i| row.get_mut(i)) {
                        *c = Some(*v);
                    }
                    self.push_element(&row, ctx, depth);
                }
            }
            List::SubTemplate {
                template, records, ..
            } => self.push_records([(template, records)], &mut row, ctx, depth),
            List::SubTemplateMulti { entries, .. } => {
                self.push_records(entries.iter().map(|(t, r)| (t, r)), &mut row, ctx, depth);
            }
        }
        self.offsets
            .push(i32::try_from(self.elements).unwrap_or(i32::MAX));
        self.nulls.append_non_null();
    }

    /// A basicList (RFC 6313 §4.5.1) of fixed-length elements of the
    /// column's one scalar IE (the meter's RTT histograms), its elements
    /// appended straight from their bytes in one run, as the bulk path
    /// fills top-level columns: the values [`ListColumn::append`] gives by
    /// decoding the list, without the list decoded into values first.
    /// False, with nothing appended, for any other list (another IE,
    /// variable- or zero-length elements, a body that is no whole number
    /// of elements, too many or too deep, a value the column cannot hold),
    /// which then goes the general way.
    fn append_basic_fixed(&mut self, raw: &[u8], ctx: &ListContext<'_>, depth: u32) -> bool {
        let ([child], [(c, None)]) = (self.children.as_mut_slice(), self.shape.fields.as_slice())
        else {
            return false;
        };
        let (Some(raw_id), Some(elem_len)) = (be16(raw, 1), be16(raw, 3)) else {
            return false;
        };
        let (pen, at) = if raw_id & 0x8000 == 0 {
            (0, 5)
        } else {
            match be32(raw, 5) {
                Some(pen) => (pen, 9),
                None => return false,
            }
        };
        let id = raw_id & 0x7fff;
        let len = usize::from(elem_len);
        let body = raw.get(at..).unwrap_or_default();
        if depth >= ctx.limits.max_list_depth
            || c.key() != (pen, id, 0)
            || !(1..=8).contains(&len)
            || body.len() % len != 0
            || body.len() / len > ctx.limits.max_list_elements
        {
            return false;
        }
        let decoder = FieldDecoder::for_type(ctx.model.lookup(pen, id).data_type, elem_len);
        let elements = Strided {
            records: body,
            stride: len,
            at: 0,
            len,
        };
        if !child.fixed_fit(decoder, elements) {
            return false;
        }
        child.append_fixed(decoder, elements);
        self.elements += body.len() / len;
        self.offsets
            .push(i32::try_from(self.elements).unwrap_or(i32::MAX));
        self.nulls.append_non_null();
        true
    }

    pub fn append_null(&mut self) {
        self.offsets
            .push(i32::try_from(self.elements).unwrap_or(i32::MAX));
        self.nulls.append_null();
    }

    pub fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let elements = std::mem::take(&mut self.elements);
        let values: ArrayRef = if self.children.is_empty() {
            Arc::new(NullArray::new(elements))
        } else if self.shape.unwrapped() {
            self.children[0].finish()
        } else {
            let arrays: Vec<ArrayRef> = self.children.iter_mut().map(Column::finish).collect();
            match StructArray::try_new(self.fields.clone(), arrays, None) {
                Ok(s) => Arc::new(s),
                Err(_) => new_empty_array(self.item.data_type()),
            }
        };
        let nulls = self.nulls.finish();
        ListArray::try_new(
            self.item.clone(),
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values,
            nulls,
        )
        .map_or_else(
            |_| new_empty_array(&DataType::List(self.item.clone())),
            |a| Arc::new(a) as ArrayRef,
        )
    }
}

/// Check that `v` is a list that decodes, at every level, within the
/// limits (before a row is appended, for the bad-record policy); the
/// reason when it does not.
pub fn check_list(
    v: &Value<'_>,
    ctx: &ListContext<'_>,
    depth: u32,
) -> std::result::Result<(), String> {
    let Value::List(kind, raw) = v else {
        return Err("not a list".into());
    };
    let list = decode_list(*kind, raw, ctx, depth)?;
    let check = |v: &Value<'_>| match v {
        Value::List(..) => check_list(v, ctx, depth + 1),
        _ => Ok(()),
    };
    match &list {
        List::Basic { values, .. } => values.iter().try_for_each(check),
        List::SubTemplate { records, .. } => records.iter().flatten().try_for_each(check),
        List::SubTemplateMulti { entries, .. } => entries
            .iter()
            .flat_map(|(_, r)| r.iter().flatten())
            .try_for_each(check),
    }
}

/// The column of occurrence `nth` of IE `ie` among a list's element fields.
fn field_index(shape: &ListShape, ie: &IeDef, nth: u16) -> Option<usize> {
    shape
        .fields
        .iter()
        .position(|(f, _)| f.key() == (ie.pen, ie.id, nth))
}

/// The element row of a sub-template record: each field in its column.
fn fill_row<'a>(row: &mut [Option<Value<'a>>], map: &[Option<usize>], rec: &[Value<'a>]) {
    row.fill(None);
    for (to, v) in map.iter().zip(rec) {
        if let Some(c) = to.and_then(|i| row.get_mut(i)) {
            *c = Some(*v);
        }
    }
}

#[cfg(test)]
#[path = "nested_tests.rs"]
mod tests;
