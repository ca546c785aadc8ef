//! The text column of Parquet row groups, decoded without copying the texts (the mixture's
//! per-document reader).
//!
//! Why not pyarrow here: `read_row_group` materialises every text of a row group into a fresh
//! Arrow buffer (a copy of every byte, plus the page faults of fresh memory when the allocator
//! has returned the previous window's pages to the OS), and the per-document iterator then copies
//! each text again into its Python `str`. The profile of the mixture over uncompressed Parquet
//! (docs/mix.md) put 35 % of the time in that first copy. Here the `parquet` crate (Apache
//! Arrow's Rust implementation, without its Arrow layer) decodes the column chunk of a
//! memory-mapped file: PLAIN values of uncompressed pages are slices of the mapping, values of a
//! dictionary-encoded chunk slices of the decoded dictionary page, and only the decompression of
//! compressed pages writes new memory. The one copy left is the one into each Python `str`.
//!
//! Only what this fast path is for is handled; everything else returns `None` so the caller
//! reads the block with pyarrow: a text column that is not a top-level, non-repeated `BYTE_ARRAY`
//! leaf, a codec other than uncompressed, snappy or lz4, or a row group with null texts.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, ConvertedType, LogicalType, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::gather::Rows;
use crate::alloc;
use crate::error::{Error, Result};

/// One Parquet file, memory-mapped, and the index of its text column.
pub struct ParquetText {
    map: Arc<memmap2::Mmap>,
    reader: SerializedFileReader<Bytes>,
    column: usize,
    max_def: i16,
    label: String,
}

/// The texts of one row group: one slice per row (no nulls), into the file's mapping or into
/// the row group's decompressed pages, which it keeps alive.
pub struct TextBlock {
    values: Vec<ByteArray>,
}

impl ParquetText {
    /// Opens `path` and finds its string column `column`; `Ok(None)` when that column is not a
    /// flat `BYTE_ARRAY` leaf holding strings or unannotated bytes (the caller reads such files
    /// with pyarrow).
    ///
    /// The file is memory-mapped: like pyarrow's `memory_map=True`, a file truncated by another
    /// process while it is open makes later reads fault.
    ///
    /// # Errors
    /// The file cannot be opened or mapped ([`Error::Io`]), or its footer is not valid Parquet
    /// ([`Error::InvalidParquet`]).
    pub fn open(path: &Path, column: &str) -> Result<Option<Self>> {
        let label = path.display().to_string();
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(Error::InvalidParquet(format!("{label}: the file is empty")));
        }
        // SAFETY: the mapping is read-only and private to this reader; what a concurrent writer
        // could do to it is documented above (the same contract as pyarrow's memory map).
        let map = Arc::new(unsafe { memmap2::Mmap::map(&file)? });
        let bytes = Bytes::from_owner(Mapping(Arc::clone(&map)));
        let reader = guarded(&label, || SerializedFileReader::new(bytes))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let found = schema.columns().iter().position(|c| {
            let parts = c.path().parts();
            // Strings (or unannotated bytes): a DECIMAL or other annotated BYTE_ARRAY column is
            // not text, and its string form is pyarrow's to make.
            let text = matches!(
                c.logical_type_ref(),
                None | Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
            ) && matches!(
                c.converted_type(),
                ConvertedType::NONE
                    | ConvertedType::UTF8
                    | ConvertedType::ENUM
                    | ConvertedType::JSON
            );
            parts.len() == 1
                && parts[0] == column
                && c.max_rep_level() == 0
                && c.physical_type() == PhysicalType::BYTE_ARRAY
                && text
        });
        Ok(found.map(|i| ParquetText {
            map,
            max_def: schema.column(i).max_def_level(),
            reader,
            column: i,
            label,
        }))
    }

    /// The number of row groups.
    pub fn n_row_groups(&self) -> usize {
        self.reader.metadata().num_row_groups()
    }

    /// The texts of row group `rg`; `Ok(None)` when it holds nulls or uses a codec other than
    /// uncompressed, snappy or lz4 (the caller reads it with pyarrow).
    ///
    /// # Errors
    /// `rg` past the last row group, pages that cannot be decoded, or fewer values than the
    /// row group's metadata announces ([`Error::InvalidParquet`] naming the file and row group).
    pub fn read(&self, rg: usize) -> Result<Option<TextBlock>> {
        let n_groups = self.n_row_groups();
        if rg >= n_groups {
            return Err(Error::param(
                "row_group",
                format!("{rg} is past the {n_groups} row groups of {}", self.label),
            ));
        }
        let meta = self.reader.metadata().row_group(rg);
        let chunk = meta.column(self.column);
        if !matches!(
            chunk.compression(),
            Compression::UNCOMPRESSED
                | Compression::SNAPPY
                | Compression::LZ4
                | Compression::LZ4_RAW
        ) {
            return Ok(None);
        }
        // Map the chunk's pages in one call rather than a page fault per 64 KiB as the decoder
        // walks them (the kernel's fault-around); only a hint: old kernels refuse it.
        #[cfg(target_os = "linux")]
        {
            let (start, len) = chunk.byte_range();
            if let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) {
                if start
                    .checked_add(len)
                    .is_some_and(|end| end <= self.map.len())
                {
                    let _ = self
                        .map
                        .advise_range(memmap2::Advice::PopulateRead, start, len);
                }
            }
        }
        let where_ = format!("{}: row group {rg}", self.label);
        let n = usize::try_from(meta.num_rows())
            .map_err(|_| Error::InvalidParquet(format!("{where_}: {} rows", meta.num_rows())))?;
        // The row count comes from the file: allocate fallibly (a corrupt count must not abort).
        let mut values =
            alloc::with_capacity::<ByteArray>(n, "row group", "the row group's texts")?;
        let mut defs = alloc::with_capacity::<i16>(n, "row group", "the definition levels")?;
        let decoded = guarded(&where_, || {
            let rg_reader = self.reader.get_row_group(rg)?;
            let ColumnReader::ByteArrayColumnReader(mut col) =
                rg_reader.get_column_reader(self.column)?
            else {
                return Ok(false); // checked at open; a physical type that changed is not ours
            };
            let mut rows = 0;
            while rows < n {
                let (got, _, _) = col.read_records(n - rows, Some(&mut defs), None, &mut values)?;
                if got == 0 {
                    break;
                }
                rows += got;
            }
            Ok(rows == n)
        })?;
        if !decoded {
            return Err(Error::InvalidParquet(format!(
                "{where_}: fewer values than its {n} rows"
            )));
        }
        if self.max_def > 0 && defs.iter().any(|&d| d < self.max_def) {
            return Ok(None); // nulls: pyarrow's path keeps them
        }
        // Every value the decoder returns is set; `ByteArray::data` would panic on one that is
        // not, so that is checked once here rather than trusted.
        if values.len() != n || values.iter().any(|v| *v == ByteArray::new()) {
            return Err(Error::InvalidParquet(format!(
                "{where_}: {} values decoded for {n} rows",
                values.len()
            )));
        }
        Ok(Some(TextBlock { values }))
    }
}

/// The file's mapping as the owner of the `Bytes` the decoder slices.
struct Mapping(Arc<memmap2::Mmap>);

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Runs a decoding step of the `parquet` crate, turning its errors, and any panic a malformed
/// file might still provoke in it, into [`Error::InvalidParquet`] naming `label`.
fn guarded<T>(label: &str, f: impl FnOnce() -> parquet::errors::Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::InvalidParquet(format!("{label}: {e}"))),
        Err(_) => Err(Error::InvalidParquet(format!(
            "{label}: the Parquet decoder failed on this data"
        ))),
    }
}

impl TextBlock {
    /// The first row that is not valid UTF-8, with the byte offset of the first invalid byte.
    pub fn first_invalid_utf8(&self) -> Option<(usize, usize)> {
        self.values.iter().enumerate().find_map(|(i, v)| {
            std::str::from_utf8(v.data())
                .err()
                .map(|e| (i, e.valid_up_to()))
        })
    }

    /// The bytes of all rows together.
    pub fn n_bytes(&self) -> usize {
        self.values.iter().map(ByteArray::len).sum()
    }
}

impl Rows for TextBlock {
    fn n_rows(&self) -> usize {
        self.values.len()
    }
    fn may_hold_nulls(&self) -> bool {
        false
    }
    fn row(&self, i: usize) -> &[u8] {
        self.values[i].data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::data_type::ByteArrayType;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    fn write(path: &Path, schema: &str, groups: &[Vec<&str>], compression: Compression) {
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(compression)
                .build(),
        );
        let mut w = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        for rows in groups {
            let mut rg = w.next_row_group().unwrap();
            while let Some(mut col) = rg.next_column().unwrap() {
                let vals: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(*r)).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&vals, None, None)
                    .unwrap();
                col.close().unwrap();
            }
            rg.close().unwrap();
        }
        w.close().unwrap();
    }

    fn texts(b: &TextBlock) -> Vec<String> {
        (0..b.n_rows())
            .map(|i| String::from_utf8(b.row(i).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn reads_each_row_group_of_the_text_column() {
        let dir = std::env::temp_dir().join(format!("tamis-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let schema = "message m { required binary id (UTF8); required binary text (UTF8); }";
        let groups = vec![vec!["a", "", "ccc"], vec!["dd"], vec![]];
        for (name, codec) in [
            ("plain", Compression::UNCOMPRESSED),
            ("snappy", Compression::SNAPPY),
        ] {
            let path = dir.join(format!("{name}.parquet"));
            write(&path, schema, &groups, codec);
            let f = ParquetText::open(&path, "text").unwrap().unwrap();
            assert_eq!(f.n_row_groups(), 3);
            for (g, rows) in groups.iter().enumerate() {
                let block = f.read(g).unwrap().unwrap();
                assert_eq!(texts(&block), *rows);
                assert_eq!(block.n_bytes(), rows.iter().map(|r| r.len()).sum::<usize>());
                assert_eq!(block.first_invalid_utf8(), None);
            }
            assert!(f.read(3).is_err());
            assert!(ParquetText::open(&path, "nope").unwrap().is_none());
        }
        // Annotated bytes that are not text are left to pyarrow; JSON and plain bytes are read.
        let path = dir.join("types.parquet");
        let schema = "message m { required binary d (DECIMAL(10,2)); required binary j (JSON); \
                      required binary b; }";
        write(&path, schema, &[vec!["x", "y"]], Compression::UNCOMPRESSED);
        assert!(ParquetText::open(&path, "d").unwrap().is_none());
        for col in ["j", "b"] {
            let f = ParquetText::open(&path, col).unwrap().unwrap();
            assert_eq!(texts(&f.read(0).unwrap().unwrap()), ["x", "y"]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let dir = std::env::temp_dir().join(format!("tamis-pq-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            ParquetText::open(&dir.join("missing.parquet"), "text"),
            Err(Error::Io(_))
        ));
        let empty = dir.join("empty.parquet");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            ParquetText::open(&empty, "text"),
            Err(Error::InvalidParquet(_))
        ));
        let junk = dir.join("junk.parquet");
        std::fs::write(&junk, b"PAR1 this is not a parquet file PAR1").unwrap();
        assert!(matches!(
            ParquetText::open(&junk, "text"),
            Err(Error::InvalidParquet(_))
        ));
        // Pages cut short: the footer is intact, the column chunk's bytes are zeroed.
        let path = dir.join("zeroed.parquet");
        let schema = "message m { required binary text (UTF8); }";
        write(
            &path,
            schema,
            &[vec!["hello world"; 50]],
            Compression::SNAPPY,
        );
        let mut bytes = std::fs::read(&path).unwrap();
        for b in &mut bytes[4..40] {
            *b = 0xff;
        }
        std::fs::write(&path, &bytes).unwrap();
        let f = ParquetText::open(&path, "text").unwrap().unwrap();
        assert!(matches!(f.read(0), Err(Error::InvalidParquet(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
