//! RFC 6313 lists through the Arrow writer and the Arrow reader (house
//! rule 6): random tables with a basicList column (`list<u16>`), a
//! subTemplateList column (`list<struct>`, one set of fields per list) and a
//! subTemplateMultiList column (`list<struct>`, any fields per element),
//! with null and empty lists and null struct fields; `TableWriter` encodes
//! them (sub-templates per set of fields, a template per null pattern) and
//! the columnar reader's nested columns give back the same lists.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, StringBuilder, StructBuilder, UInt16Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt16Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Fields, Schema};
use ferrofix::columnar::{
    discover_columns, discover_list_shapes, AddressForm, ColumnarOptions, ColumnarReader,
    PrescanLimit, RecordKind,
};
use ferrofix::decode::DecoderOptions;
use ferrofix::encode::{ExportOptions, Exporter, NullPolicy, TableWriter};
use ferrofix::model::InfoModel;
use ferrofix::source::MessageStream;
use proptest::prelude::*;

/// A list element: the struct fields, any of them null.
#[derive(Debug, Clone, PartialEq)]
struct Elem {
    octets: Option<u64>,
    port: Option<u16>,
    name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    packets: u64,
    ports: Option<Vec<u16>>,
    one_template: Option<Vec<Elem>>,
    multi: Option<Vec<Elem>>,
}

/// Elements with the fields of `mask` set (bit 0 octets, 1 port, 2 name).
fn elem(mask: u8) -> impl Strategy<Value = Elem> {
    (any::<u64>(), any::<u16>(), "[a-z0-9é]{0,12}").prop_map(move |(o, p, n)| Elem {
        octets: (mask & 1 != 0).then_some(o),
        port: (mask & 2 != 0).then_some(p),
        name: (mask & 4 != 0).then_some(n),
    })
}

fn row() -> impl Strategy<Value = Row> {
    let ports = prop::option::of(prop::collection::vec(any::<u16>(), 0..6));
    // A subTemplateList holds records of one template: one mask per list.
    let one =
        prop::option::of((1u8..8).prop_flat_map(|mask| prop::collection::vec(elem(mask), 0..5)));
    let multi = prop::option::of(prop::collection::vec((1u8..8).prop_flat_map(elem), 0..6));
    (any::<u64>(), ports, one, multi).prop_map(|(packets, ports, one_template, multi)| Row {
        packets,
        ports,
        one_template,
        multi,
    })
}

fn elem_fields() -> Fields {
    Fields::from(vec![
        Field::new("octetDeltaCount", DataType::UInt64, true),
        Field::new("destinationTransportPort", DataType::UInt16, true),
        Field::new("interfaceName", DataType::Utf8, true),
    ])
}

fn struct_list(rows: &[Row], pick: fn(&Row) -> &Option<Vec<Elem>>) -> ArrayRef {
    let mut b = ListBuilder::new(StructBuilder::from_fields(elem_fields(), 0));
    for r in rows {
        match pick(r) {
            None => b.append(false),
            Some(es) => {
                let s = b.values();
                for e in es {
                    s.field_builder::<UInt64Builder>(0)
                        .unwrap()
                        .append_option(e.octets);
                    s.field_builder::<UInt16Builder>(1)
                        .unwrap()
                        .append_option(e.port);
                    s.field_builder::<StringBuilder>(2)
                        .unwrap()
                        .append_option(e.name.as_deref());
                    s.append(true);
                }
                b.append(true);
            }
        }
    }
    Arc::new(b.finish())
}

fn table(rows: &[Row]) -> RecordBatch {
    let packets: ArrayRef = Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.packets),
    ));
    let mut ports = ListBuilder::new(UInt16Builder::new()).with_field(Field::new(
        "sourceTransportPort",
        DataType::UInt16,
        false,
    ));
    for r in rows {
        match &r.ports {
            None => ports.append(false),
            Some(ps) => {
                ports.values().append_slice(ps);
                ports.append(true);
            }
        }
    }
    let ports: ArrayRef = Arc::new(ports.finish());
    let one = struct_list(rows, |r| &r.one_template);
    let multi = struct_list(rows, |r| &r.multi);
    let schema = Schema::new(vec![
        Field::new("packetDeltaCount", DataType::UInt64, false),
        Field::new("basicList", ports.data_type().clone(), true),
        Field::new("subTemplateList", one.data_type().clone(), true),
        Field::new("subTemplateMultiList", multi.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![packets, ports, one, multi]).unwrap()
}

fn write(batch: &RecordBatch, mtu: usize) -> Vec<u8> {
    let opts = ExportOptions {
        mtu,
        export_time: Some(1_700_000_000),
        ..ExportOptions::default()
    };
    let mut ex = Exporter::new(Vec::new(), opts).unwrap();
    let mut tw = TableWriter::new(
        InfoModel::iana(),
        HashMap::new(),
        7,
        256,
        NullPolicy::Template,
    );
    tw.write_batch(&mut ex, batch).unwrap();
    ex.finish().unwrap()
}

/// Every row of `bytes`, read by the columnar reader with nested columns.
fn read(bytes: Vec<u8>) -> Vec<Row> {
    let model = InfoModel::iana();
    let shared: Arc<[u8]> = bytes.into();
    let dopts = DecoderOptions::default();
    let cols = discover_columns(
        &mut MessageStream::from_shared(shared.clone()).unwrap(),
        &model,
        RecordKind::Data,
        PrescanLimit::default(),
    )
    .columns;
    let shapes = discover_list_shapes(
        &mut MessageStream::from_shared(shared.clone()).unwrap(),
        model.clone(),
        &dopts,
        &cols,
        RecordKind::Data,
        PrescanLimit::default(),
    );
    let opts = ColumnarOptions {
        addresses: AddressForm::Integer,
        list_shapes: shapes,
        ..ColumnarOptions::default()
    };
    let mut reader = ColumnarReader::new(
        MessageStream::from_shared(shared).unwrap(),
        model,
        &dopts,
        &cols,
        opts,
    );
    let mut rows = Vec::new();
    while let Some(b) = reader.next_batch() {
        rows.extend(rows_of(&b.unwrap()));
    }
    rows
}

fn text(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        other => panic!("interfaceName read as {other}"),
    })
}

fn elems(list: &dyn Array, row: usize) -> Option<Vec<Elem>> {
    let l = list.as_list::<i32>();
    if l.is_null(row) {
        return None;
    }
    let v = l.value(row);
    let s = v.as_struct();
    let col = |n: &str| s.column_by_name(n);
    Some(
        (0..s.len())
            .map(|e| Elem {
                octets: col("octetDeltaCount").and_then(|a| {
                    a.is_valid(e)
                        .then(|| a.as_primitive::<UInt64Type>().value(e))
                }),
                port: col("destinationTransportPort").and_then(|a| {
                    a.is_valid(e)
                        .then(|| a.as_primitive::<UInt16Type>().value(e))
                }),
                name: col("interfaceName").and_then(|a| text(a.as_ref(), e)),
            })
            .collect(),
    )
}

fn rows_of(b: &RecordBatch) -> Vec<Row> {
    let col = |n: &str| {
        b.column_by_name(n)
            .unwrap_or_else(|| panic!("no column {n}"))
    };
    let packets = col("packetDeltaCount").as_primitive::<UInt64Type>();
    let ports = col("basicList").as_list::<i32>();
    (0..b.num_rows())
        .map(|i| Row {
            packets: packets.value(i),
            ports: ports.is_valid(i).then(|| {
                ports
                    .value(i)
                    .as_primitive::<UInt16Type>()
                    .values()
                    .to_vec()
            }),
            one_template: elems(col("subTemplateList").as_ref(), i),
            multi: elems(col("subTemplateMultiList").as_ref(), i),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lists_round_trip(rows in prop::collection::vec(row(), 1..40), small in any::<bool>()) {
        // A column of only null or empty lists gives the reader no element
        // type to discover; one row with an element of every field avoids it.
        let mut rows = rows;
        rows[0].ports = Some(vec![1]);
        let full = Elem { octets: Some(1), port: Some(2), name: Some("x".into()) };
        rows[0].one_template = Some(vec![full.clone()]);
        rows[0].multi = Some(vec![full]);
        let bytes = write(&table(&rows), if small { 1500 } else { 65535 });
        prop_assert_eq!(read(bytes), rows);
    }
}
