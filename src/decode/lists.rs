//! RFC 6313 structured data: basicList (§4.5.1), subTemplateList (§4.5.2)
//! and subTemplateMultiList (§4.5.3). A record's list fields are lazy
//! [`Value::List`] views; [`decode_list`] decodes one level (nested lists stay
//! lazy), refusing depths beyond [`Limits::max_list_depth`]. A malformed list
//! is an `Err` with the reason, for the consumer's bad-record policy; it never
//! aborts the record.

use std::sync::Arc;

use super::record::split_record;
use super::value::{decode_value, ListKind, Value};
use crate::model::{IeDef, InfoModel};
use crate::session::{FieldDecoder, Limits, Template, TemplateKey, TemplateStore};
use crate::wire::{be16, be32, read_varlen, VARLEN};

/// What list decoding needs from the session: the model (for basicList
/// element IEs) and the templates of the record's scope.
#[derive(Clone, Copy)]
pub struct ListContext<'a> {
    pub model: &'a InfoModel,
    pub store: &'a TemplateStore,
    pub session: u64,
    pub observation_domain_id: u32,
    pub limits: &'a Limits,
}

/// A decoded RFC 6313 list.
#[derive(Debug, Clone, PartialEq)]
pub enum List<'a> {
    /// Values of one IE.
    Basic {
        semantic: u8,
        ie: Arc<IeDef>,
        values: Vec<Value<'a>>,
    },
    /// Records of one template.
    SubTemplate {
        semantic: u8,
        template: Arc<Template>,
        records: Vec<Vec<Value<'a>>>,
    },
    /// Blocks of records, each block of one template.
    SubTemplateMulti {
        semantic: u8,
        entries: Vec<(Arc<Template>, Vec<Vec<Value<'a>>>)>,
    },
}

type R<T> = Result<T, String>;

/// Decode one level of a list value found at nesting `depth` (0 for a
/// record's own field); elements that are lists themselves stay lazy.
pub fn decode_list<'a>(
    kind: ListKind,
    b: &'a [u8],
    ctx: &ListContext<'_>,
    depth: u32,
) -> R<List<'a>> {
    if depth >= ctx.limits.max_list_depth {
        return Err(format!(
            "lists nested deeper than {}",
            ctx.limits.max_list_depth
        ));
    }
    match kind {
        ListKind::Basic => basic(b, ctx),
        ListKind::SubTemplate => sub_template(b, ctx),
        ListKind::SubTemplateMulti => sub_template_multi(b, ctx),
    }
}

fn basic<'a>(b: &'a [u8], ctx: &ListContext<'_>) -> R<List<'a>> {
    let semantic = *b.first().ok_or("basicList header cut short")?;
    let raw_id = be16(b, 1).ok_or("basicList header cut short")?;
    let elem_len = be16(b, 3).ok_or("basicList header cut short")?;
    let (pen, mut pos) = if raw_id & 0x8000 != 0 {
        (
            be32(b, 5).ok_or("basicList enterprise number cut short")?,
            9,
        )
    } else {
        (0, 5)
    };
    let ie = ctx.model.lookup(pen, raw_id & 0x7fff);
    let dec = FieldDecoder::for_type(ie.data_type, elem_len);
    let mut values = Vec::new();
    if elem_len == 0 {
        if pos != b.len() {
            return Err("basicList of zero-length elements has content".into());
        }
        return Ok(List::Basic {
            semantic,
            ie,
            values,
        });
    }
    while pos < b.len() {
        if values.len() >= ctx.limits.max_list_elements {
            return Err(format!(
                "more than {} list elements",
                ctx.limits.max_list_elements
            ));
        }
        let (start, len) = if elem_len == VARLEN {
            read_varlen(b, pos).ok_or("basicList element overruns the list")?
        } else {
            let l = elem_len as usize;
            if pos.saturating_add(l) > b.len() {
                return Err("basicList element overruns the list".into());
            }
            (pos, l)
        };
        // start + len <= b.len(): read_varlen and the check above saw to it.
        let end = start.saturating_add(len);
        values.push(decode_value(dec, b.get(start..end).unwrap_or_default()));
        pos = end;
    }
    Ok(List::Basic {
        semantic,
        ie,
        values,
    })
}

fn template_for(ctx: &ListContext<'_>, id: u16) -> R<Arc<Template>> {
    let key = TemplateKey {
        session: ctx.session,
        observation_domain_id: ctx.observation_domain_id,
        template_id: id,
    };
    ctx.store
        .get(&key)
        .cloned()
        .ok_or_else(|| format!("sub-template {id} is not known"))
}

fn records<'a>(t: &Template, b: &'a [u8], ctx: &ListContext<'_>) -> R<Vec<Vec<Value<'a>>>> {
    let mut out = Vec::new();
    if b.is_empty() {
        return Ok(out);
    }
    if t.min_record_len == 0 {
        return Err(format!(
            "sub-template {} describes zero-length records",
            t.id
        ));
    }
    let mut spans = Vec::with_capacity(t.fields.len());
    let mut pos = 0;
    while pos < b.len() {
        if out.len() >= ctx.limits.max_list_elements {
            return Err(format!(
                "more than {} list elements",
                ctx.limits.max_list_elements
            ));
        }
        let end = split_record(t, b, pos, &mut spans)
            .ok_or_else(|| format!("record of sub-template {} overruns the list", t.id))?;
        let rec = &b[pos..end];
        let vals = t
            .fields
            .iter()
            .zip(&spans)
            .map(|(f, &(o, l))| {
                // Spans from split_record lie inside the record.
                let v = rec.get(o as usize..o.saturating_add(l) as usize);
                decode_value(f.decoder, v.unwrap_or_default())
            })
            .collect();
        out.push(vals);
        pos = end;
    }
    Ok(out)
}

fn sub_template<'a>(b: &'a [u8], ctx: &ListContext<'_>) -> R<List<'a>> {
    let semantic = *b.first().ok_or("subTemplateList header cut short")?;
    let id = be16(b, 1).ok_or("subTemplateList header cut short")?;
    let template = template_for(ctx, id)?;
    let records = records(&template, &b[3..], ctx)?;
    Ok(List::SubTemplate {
        semantic,
        template,
        records,
    })
}

fn sub_template_multi<'a>(b: &'a [u8], ctx: &ListContext<'_>) -> R<List<'a>> {
    let semantic = *b.first().ok_or("subTemplateMultiList header cut short")?;
    let mut pos = 1;
    let mut entries = Vec::new();
    while pos < b.len() {
        if entries.len() >= ctx.limits.max_list_elements {
            return Err(format!(
                "more than {} list entries",
                ctx.limits.max_list_elements
            ));
        }
        let id = be16(b, pos).ok_or("subTemplateMultiList entry header cut short")?;
        let len = be16(b, pos.saturating_add(2))
            .ok_or("subTemplateMultiList entry header cut short")? as usize;
        // pos < b.len() and len < 2^16: the sum cannot saturate.
        if len < 4 || pos.saturating_add(len) > b.len() {
            return Err(format!(
                "subTemplateMultiList entry length {len} is invalid"
            ));
        }
        let template = template_for(ctx, id)?;
        let body = b.get(pos.saturating_add(4)..pos.saturating_add(len));
        let recs = records(&template, body.unwrap_or_default(), ctx)?;
        entries.push((template, recs));
        pos = pos.saturating_add(len);
    }
    Ok(List::SubTemplateMulti { semantic, entries })
}

#[cfg(test)]
impl<'a> ListContext<'a> {
    /// The context of a list at the top level of session 0, domain 0.
    pub(crate) fn in_tests(
        model: &'a InfoModel,
        store: &'a TemplateStore,
        limits: &'a Limits,
    ) -> Self {
        ListContext {
            model,
            store,
            session: 0,
            observation_domain_id: 0,
            limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with<'a>(
        model: &'a InfoModel,
        store: &'a TemplateStore,
        limits: &'a Limits,
    ) -> ListContext<'a> {
        ListContext::in_tests(model, store, limits)
    }

    #[test]
    fn element_cap_is_enforced() {
        let model = InfoModel::iana();
        let store = TemplateStore::default();
        let limits = Limits {
            max_list_elements: 10,
            ..Limits::default()
        };
        // basicList of protocolIdentifier (id 4, 1 byte each): 10 fit, 11 do not
        let mut b = vec![3u8, 0, 4, 0, 1];
        b.extend([6u8; 10]);
        let ctx = ctx_with(&model, &store, &limits);
        match decode_list(ListKind::Basic, &b, &ctx, 0) {
            Ok(List::Basic { values, .. }) => assert_eq!(values.len(), 10),
            other => panic!("{other:?}"),
        }
        b.push(17);
        let err = decode_list(ListKind::Basic, &b, &ctx, 0).unwrap_err();
        assert!(err.contains("more than 10"), "{err}");
        // depth limit
        assert!(decode_list(ListKind::Basic, &b, &ctx, 16)
            .unwrap_err()
            .contains("deeper"));
    }
}
