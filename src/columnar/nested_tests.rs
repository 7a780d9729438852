//! The basicList fast path of list columns against the general way.

use super::*;
use crate::session::{Limits, TemplateStore};
use arrow_array::Array;

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

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn a_fixed_basic_list_appends_what_decoding_it_would() {
    let model = InfoModel::new();
    let store = TemplateStore::default();
    let bins = model.by_name("tcpRttBinCount").expect("tcpRttBinCount");
    let protocol = model.lookup(0, 4); // unsigned8
    let octets = model.lookup(0, 1); // unsigned64
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for limits in [
        Limits::default(),
        Limits {
            max_list_elements: 3,
            max_list_depth: 1,
            ..Limits::default()
        },
    ] {
        let ctx = ListContext {
            model: &model,
            store: &store,
            session: 0,
            observation_domain_id: 0,
            limits: &limits,
        };
        for column_ie in [&bins, &protocol, &octets] {
            let (mut fast, mut general) = (column_of(column_ie), column_of(column_ie));
            let (mut taken, mut refused) = (0, 0);
            for _ in 0..3000 {
                // Mostly the column's own IE, sometimes another.
                let ie = match rng.below(6) {
                    0 => &protocol,
                    1 => &octets,
                    _ => column_ie,
                };
                let pen = (ie.pen != 0 || rng.below(4) == 0).then_some(ie.pen);
                let elem_len: u16 = [0, 1, 2, 3, 4, 8, 9, 0xffff][rng.below(8) as usize];
                // Mostly a whole number of elements, sometimes a byte over.
                let whole = u64::from(elem_len.min(9)) * rng.below(10);
                let body: Vec<u8> = (0..whole + u64::from(rng.below(8) == 0))
                    .map(|_| match rng.below(3) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    })
                    .collect();
                let mut raw = basic_list(ie.id, pen, elem_len, &body);
                if rng.below(20) == 0 {
                    raw.truncate(rng.below(raw.len() as u64 + 1) as usize);
                }
                let depth = rng.below(2) as u32;
                let v = Value::List(ListKind::Basic, &raw);
                if fast.append_basic_fixed(&raw, &ctx, depth) {
                    taken += 1;
                } else {
                    refused += 1;
                    fast.append(&v, &ctx, depth);
                }
                general.append_decoded(&v, &ctx, depth);
            }
            // Both ways were taken, and they built the same column.
            assert!(
                taken > 100 && refused > 100,
                "{taken} taken, {refused} refused"
            );
            assert_eq!(fast.finish().to_data(), general.finish().to_data());
        }
    }
}

#[test]
fn the_fast_path_takes_the_meters_histograms_and_refuses_the_rest() {
    let model = InfoModel::new();
    let store = TemplateStore::default();
    let limits = Limits::default();
    let ctx = ListContext {
        model: &model,
        store: &store,
        session: 0,
        observation_domain_id: 0,
        limits: &limits,
    };
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
