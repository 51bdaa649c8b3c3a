//! Typed access to the columns of a record batch, with errors naming the column instead of
//! panics: what the contracts' `decode` functions are written with.

use arrow::array::{Array, AsArray, ListArray, PrimitiveArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Schema};
use arrow::record_batch::RecordBatch;

/// The columns of one batch, looked up by name.
pub(crate) struct Columns<'a>(pub(crate) &'a RecordBatch);

impl<'a> Columns<'a> {
    /// A primitive column of type `T`.
    pub(crate) fn primitive<T: ArrowPrimitiveType>(&self, name: &str) -> Result<&'a PrimitiveArray<T>, String> {
        self.column(name)?
            .as_primitive_opt::<T>()
            .ok_or_else(|| format!("`{name}` is not of the schema's type"))
    }

    /// A list column.
    pub(crate) fn list(&self, name: &str) -> Result<&'a ListArray, String> {
        self.column(name)?
            .as_list_opt::<i32>()
            .ok_or_else(|| format!("`{name}` is not a list"))
    }

    fn column(&self, name: &str) -> Result<&'a dyn Array, String> {
        self.0
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| format!("no column `{name}`"))
    }
}

/// The primitive items of row `row` of a list column.
pub(crate) fn values<T: ArrowPrimitiveType>(
    list: &ListArray,
    row: usize,
    name: &str,
) -> Result<Vec<T::Native>, String> {
    Ok(list
        .value(row)
        .as_primitive_opt::<T>()
        .ok_or_else(|| format!("items of `{name}` are not of the schema's type"))?
        .values()
        .to_vec())
}

/// The boolean items of row `row` of a list column.
pub(crate) fn booleans(list: &ListArray, row: usize, name: &str) -> Result<Vec<bool>, String> {
    let items = list.value(row);
    let items = items
        .as_boolean_opt()
        .ok_or_else(|| format!("items of `{name}` are not booleans"))?;
    Ok((0..items.len()).map(|i| items.value(i)).collect())
}

/// Checks that every column of `expected` is in `actual` with its type (up to the names and
/// nullability of list items); `dataset` names the contract in errors.
pub(crate) fn check_columns(expected: &Schema, actual: &Schema, dataset: &str) -> Result<(), String> {
    for field in expected.fields() {
        let found = actual
            .field_with_name(field.name())
            .map_err(|_| format!("no column `{}`", field.name()))?;
        if !same_type(found.data_type(), field.data_type()) {
            return Err(format!(
                "column `{}` is {}, the {dataset} schema says {}",
                field.name(),
                found.data_type(),
                field.data_type()
            ));
        }
    }
    Ok(())
}

/// Types equal up to the names and nullability of list items.
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => same_type(x.data_type(), y.data_type()),
        _ => a == b,
    }
}
