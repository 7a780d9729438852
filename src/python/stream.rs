//! Arrow C streams (house rule 7) of any batch source of the extension
//! (an IPFIX scan, the meter): the batches go to the consumer as struct
//! arrays through `__arrow_c_stream__`, with panics caught in the
//! consumer's `get_next` callback.

use std::sync::Arc;

use arrow_array::{ArrayRef, StructArray};
use arrow_schema::Field;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::ffi::{to_stream_pycapsule, ArrayIterator};

use crate::columnar::ColumnarReader;

/// Hand `reader`'s batches to an Arrow consumer as a C stream of struct
/// arrays (whose fields are the columns), panics caught.
pub(super) fn arrow_stream<'py, R: BatchSource>(
    py: Python<'py>,
    reader: R,
    label: String,
    requested_schema: Option<Bound<'py, PyCapsule>>,
) -> PyArrowResult<Bound<'py, PyCapsule>> {
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let field = Field::new_struct("", schema.fields().clone(), false)
        .with_metadata(schema.metadata.clone());
    let arrays = GuardedBatches {
        reader: Some(reader),
        label,
    };
    let stream = Box::new(ArrayIterator::new(arrays, Arc::new(field)));
    to_stream_pycapsule(py, stream, requested_schema)
}

/// A source of record batches that can say how far into its input it is.
pub(super) trait BatchSource: arrow_array::RecordBatchReader + Send + 'static {
    /// Bytes of the input read so far.
    fn offset(&self) -> u64;
}

impl BatchSource for ColumnarReader {
    fn offset(&self) -> u64 {
        self.stream().offset()
    }
}

impl BatchSource for crate::meter::batches::MeterBatches {
    fn offset(&self) -> u64 {
        self.bytes_read()
    }
}

/// The batches of a scan as the struct arrays of an Arrow C stream, with
/// panics caught: the consumer's `get_next` is a C callback, and a panic
/// unwinding into it aborts the process. A panic ends the stream with an
/// error naming the input and the byte offset; the reader it interrupted is
/// dropped (under the guard too) and not used again.
struct GuardedBatches<R: BatchSource> {
    reader: Option<R>,
    label: String,
}

impl<R: BatchSource> Iterator for GuardedBatches<R> {
    type Item = Result<ArrayRef, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::testhook::panic_point("scanner.stream_next");
            reader.next()
        }));
        match step {
            Ok(b) => b.map(|b| Ok(Arc::new(StructArray::from(b?)) as ArrayRef)),
            Err(payload) => {
                let offset = self.reader.as_ref().map_or(0, BatchSource::offset);
                self.drop_reader();
                let e = crate::Error::new(crate::ErrorKind::Internal(format!(
                    "reading {} at byte offset {offset} stopped: {}",
                    self.label,
                    crate::error::panic_text(payload.as_ref())
                )));
                Some(Err(arrow_schema::ArrowError::ExternalError(Box::new(e))))
            }
        }
    }
}

impl<R: BatchSource> GuardedBatches<R> {
    /// Drop the reader; a panic while dropping is caught too.
    fn drop_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = crate::error::catch_panic(String::new, move || drop(r));
        }
    }
}

impl<R: BatchSource> Drop for GuardedBatches<R> {
    fn drop(&mut self) {
        self.drop_reader();
    }
}
