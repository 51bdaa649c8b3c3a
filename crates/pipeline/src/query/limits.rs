//! The bounds of a `maskforge sql` query. datafusion's operators (sorts, joins, aggregations
//! such as `array_agg`) take their memory from a pool of [`QueryLimits::memory_bytes`], so a
//! query that needs more fails with a clear error instead of taking the machine's memory. The
//! functions that build values of a size their arguments choose (`repeat`, `lpad`, `rpad`,
//! `array_repeat`, `array_resize`, `range`, `generate_series`) allocate outside that pool: they
//! are wrapped so that a call whose output would pass a quarter of that limit fails before it
//! allocates.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// How much memory one query may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// The memory pool of datafusion's operators, in bytes; a sizing function may build a
    /// quarter of it in one call (what it builds is copied again when the result is printed).
    pub memory_bytes: usize,
}

impl Default for QueryLimits {
    /// A quarter of the memory this process may have: the least of the machine's
    /// (`MemTotal`), the address-space limit (`ulimit -v`) and the cgroup's `memory.max`;
    /// 2 GiB where none is known.
    fn default() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let machine = read("/proc/meminfo").and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
        let address_space = read("/proc/self/limits").and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max address space"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        });
        let cgroup = read("/sys/fs/cgroup/memory.max").and_then(|text| text.trim().parse().ok());
        let least = [machine, address_space, cgroup].into_iter().flatten().min();
        Self {
            memory_bytes: least.map_or(2 << 30, |bytes: usize| (bytes / 4).max(1 << 20)),
        }
    }
}

impl QueryLimits {
    /// Reads a size: a number of bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024,
    /// with or without `iB`/`B`), e.g. `512MiB`, `4G`, `1.5GiB`; from 1 MiB to 1 PiB.
    pub fn parse_size(text: &str) -> Result<usize, String> {
        let trimmed = text.trim();
        let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = trimmed[digits.len()..].to_ascii_uppercase();
        let scale: f64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
            "" => 1.0,
            "K" => 1024.0,
            "M" => 1024.0 * 1024.0,
            "G" => 1024.0 * 1024.0 * 1024.0,
            "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(format!("`{text}` is not a size (bytes, or a number with K, M, G or T)")),
        };
        let value: f64 = digits
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a size (bytes, or a number with K, M, G or T)"))?;
        let bytes = value * scale;
        if !(bytes >= (1u64 << 20) as f64 && bytes <= (1u64 << 50) as f64) {
            return Err(format!("`{text}` is outside 1 MiB to 1 PiB"));
        }
        Ok(bytes as usize)
    }

    /// The runtime of a session: datafusion's memory pool of this size.
    pub(super) fn runtime(&self) -> DfResult<Arc<RuntimeEnv>> {
        RuntimeEnvBuilder::new()
            .with_memory_limit(self.memory_bytes, 1.0)
            .build_arc()
    }

    /// Replaces the sizing functions of `ctx` with checked ones.
    pub(super) fn bound_functions(&self, ctx: &SessionContext) -> DfResult<()> {
        for (name, growth) in [
            ("repeat", Growth::Repeat),
            ("lpad", Growth::Pad),
            ("rpad", Growth::Pad),
            ("array_repeat", Growth::Elements),
            ("array_resize", Growth::Elements),
            ("range", Growth::Range),
            ("generate_series", Growth::Range),
        ] {
            let inner = ctx.udf(name)?;
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner,
                growth,
                limit: self.memory_bytes / 4,
            }));
        }
        Ok(())
    }
}

/// How a sizing function's output grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: `len(text) * n` bytes.
    Repeat,
    /// `lpad/rpad(text, n[, fill])`: `n` characters, up to 4 bytes each.
    Pad,
    /// `array_repeat(value, n)`, `array_resize(list, n[, value])`: `n` elements.
    Elements,
    /// `range/generate_series([start,] stop[, step])` on integers: `(stop - start) / step`
    /// elements.
    Range,
}

/// A sizing function that checks the size of what it would build first.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    limit: usize,
}

/// An argument as one Int64 value per row (`None` when it is not an integer column or value).
fn integers(arg: &ColumnarValue, rows: usize) -> Option<Vec<i64>> {
    let array: ArrayRef = arg.to_array(rows).ok()?;
    if !array.data_type().is_integer() {
        return None;
    }
    let array = datafusion::arrow::compute::cast(&array, &DataType::Int64).ok()?;
    let values = array.as_primitive::<Int64Type>();
    Some(
        (0..values.len())
            .map(|i| if values.is_null(i) { 0 } else { values.value(i) })
            .collect(),
    )
}

/// The byte length of each row's text.
fn text_lengths(arg: &ColumnarValue, rows: usize) -> Option<Vec<i64>> {
    let array = arg.to_array(rows).ok()?;
    let lengths = datafusion::arrow::compute::kernels::length::length(&array).ok()?;
    integers(&ColumnarValue::Array(lengths), rows)
}

impl Bounded {
    /// The bytes the call would build at the most (`None`: not estimated, e.g. date ranges).
    fn output_bytes(&self, args: &[ColumnarValue], rows: usize) -> Option<u128> {
        let positive = |n: i64| n.max(0) as u128;
        match self.growth {
            Growth::Repeat => {
                let (lengths, counts) = (text_lengths(args.first()?, rows)?, integers(args.get(1)?, rows)?);
                Some(
                    lengths
                        .iter()
                        .zip(&counts)
                        .map(|(&l, &n)| positive(l) * positive(n))
                        .sum(),
                )
            }
            Growth::Pad => Some(integers(args.get(1)?, rows)?.into_iter().map(|n| positive(n) * 4).sum()),
            Growth::Elements => Some(integers(args.get(1)?, rows)?.into_iter().map(|n| positive(n) * 8).sum()),
            Growth::Range => {
                let columns: Vec<Vec<i64>> = args.iter().map(|a| integers(a, rows)).collect::<Option<_>>()?;
                let elements = (0..rows).map(|r| {
                    let (start, stop, step) = match columns.as_slice() {
                        [stop] => (0, stop[r], 1),
                        [start, stop] => (start[r], stop[r], 1),
                        [start, stop, step, ..] => (start[r], stop[r], step[r]),
                        [] => (0, 0, 1),
                    };
                    (i128::from(stop) - i128::from(start)).unsigned_abs() / i128::from(step).unsigned_abs().max(1)
                });
                Some(elements.sum::<u128>() * 8)
            }
        }
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if let Some(bytes) = self.output_bytes(&args.args, args.number_rows)
            && bytes > self.limit as u128
        {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would build {bytes} bytes, more than a quarter of the query memory limit ({} bytes; maskforge sql --memory-limit)",
                self.inner.name(),
                self.limit * 4
            )));
        }
        self.inner.invoke_with_args(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_units_and_bounds() {
        assert_eq!(QueryLimits::parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(QueryLimits::parse_size("4G"), Ok(4 << 30));
        assert_eq!(QueryLimits::parse_size("1.5gib"), Ok(3 << 29));
        assert_eq!(QueryLimits::parse_size("1048576"), Ok(1 << 20));
        for bad in ["", "lots", "-1G", "12Q", "1KiB", "2PiB", "nanG"] {
            assert!(QueryLimits::parse_size(bad).is_err(), "{bad}");
        }
        assert!(QueryLimits::default().memory_bytes >= 1 << 20);
    }
}
