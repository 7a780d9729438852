//! The basicList fast path of list columns against the general way.

use super::*;
use crate::session::{Limits, TemplateStore};
use arrow_array::Array;
use proptest::prelude::*;

/// A basicList value: semantic, the element IE's number (its PEN after
/// it when `pen` is given, with the enterprise bit set), the element
/// length, then `body`.
fn basic_list(id: u16, pen: Option<u32>, elem_len: u16, body: &[u8]) -> Vec<u8> {
    let mut b = vec![3];
    let raw_id = if pen.is_some() { id | 0x8000 } else { id };
    b.extend_from_slice(&raw_id.to_be_bytes());
    b.extend_from_slice(&elem_len.to_be_bytes());
    if let Some(p) = pen {
        b.extend_from_slice(&p.to_be_bytes());
    }
    b.extend_from_slice(body);
    b
}

/// A list column of `ie`'s values alone (as the meter's histograms are).
fn column_of(ie: &Arc<IeDef>) -> ListColumn {
    let shape = ListShape {
        fields: vec![(ColumnIe::first(ie.clone()), None)],
        basic_only: true,
        seen: true,
    };
    ListColumn::new(shape, AddressForm::default())
}

/// One generated list: which IE (0-1 another, else the column's), its PEN
/// written out or not, the element length (an index into `LENGTHS`),
/// whole elements and a byte more or not, a cut, the depth, the bytes.
type Case = (u8, bool, usize, usize, bool, Option<usize>, u32, Vec<u8>);

const LENGTHS: [u16; 8] = [0, 1, 2, 3, 4, 8, 9, 0xffff];

fn case() -> impl Strategy<Value = Case> {
    (
        0u8..6,
        any::<bool>(),
        0usize..LENGTHS.len(),
        0usize..10,
        prop::bool::weighted(0.1),
        prop::option::weighted(0.05, 0usize..60),
        0u32..2,
        prop::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 90),
    )
}

proptest! {
    #[test]
    fn a_fixed_basic_list_appends_what_decoding_it_would(
        column in 0usize..3,
        small_limits in any::<bool>(),
        cases in prop::collection::vec(case(), 1..100),
    ) {
        let model = InfoModel::new();
        let store = TemplateStore::default();
        let limits = if small_limits {
            Limits { max_list_elements: 3, max_list_depth: 1, ..Limits::default() }
        } else {
            Limits::default()
        };
        let ctx = ListContext::in_tests(&model, &store, &limits);
        let bins = model.by_name("tcpRttBinCount").expect("tcpRttBinCount");
        let protocol = model.lookup(0, 4); // unsigned8
        let octets = model.lookup(0, 1); // unsigned64
        let column_ie = [&bins, &protocol, &octets][column];
        let (mut fast, mut general) = (column_of(column_ie), column_of(column_ie));
        for (which, pen, len, whole, extra, cut, depth, bytes) in cases {
            let ie = match which {
                0 => &protocol,
                1 => &octets,
                _ => column_ie,
            };
            let pen = (ie.pen != 0 || pen).then_some(ie.pen);
            let elem_len = LENGTHS[len];
            let n = usize::from(elem_len.min(9)) * whole + usize::from(extra);
            let mut raw = basic_list(ie.id, pen, elem_len, &bytes[..n.min(bytes.len())]);
            if let Some(c) = cut {
                raw.truncate(c);
            }
            let v = Value::List(ListKind::Basic, &raw);
            fast.append(&v, &ctx, depth);
            general.append_decoded(&v, &ctx, depth);
        }
        prop_assert_eq!(fast.finish().to_data(), general.finish().to_data());
    }
}

#[test]
fn the_fast_path_takes_the_meters_histograms_and_refuses_the_rest() {
    let model = InfoModel::new();
    let store = TemplateStore::default();
    let limits = Limits::default();
    let ctx = ListContext::in_tests(&model, &store, &limits);
    let bins = model.by_name("tcpRttBinCount").expect("tcpRttBinCount");
    let mut col = column_of(&bins);
    let body: Vec<u8> = [7u32, 0, 1 << 31]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let pen = Some(bins.pen);
    // Four-byte counts of the column's IE: taken.
    assert!(col.append_basic_fixed(&basic_list(bins.id, pen, 4, &body), &ctx, 0));
    // Another IE, variable-length or zero-length elements, a body that is
    // no whole number of elements, a list at the depth limit: refused.
    assert!(!col.append_basic_fixed(&basic_list(4, None, 4, &body), &ctx, 0));
    assert!(!col.append_basic_fixed(&basic_list(bins.id, pen, 0xffff, &body), &ctx, 0));
    assert!(!col.append_basic_fixed(&basic_list(bins.id, pen, 0, &[]), &ctx, 0));
    assert!(!col.append_basic_fixed(&basic_list(bins.id, pen, 4, &body[..11]), &ctx, 0));
    assert!(!col.append_basic_fixed(&basic_list(bins.id, pen, 4, &body), &ctx, 16));
    let list = col.finish();
    let list = list.as_any().downcast_ref::<ListArray>().unwrap();
    assert_eq!(list.len(), 1);
    let values = list.value(0);
    let values = values
        .as_any()
        .downcast_ref::<arrow_array::UInt32Array>()
        .unwrap();
    assert_eq!(values.values().to_vec(), vec![7, 0, 1 << 31]);
}
