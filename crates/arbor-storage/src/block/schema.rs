//! Column names and Arrow schemas of the v1 block files (documented in `docs/format.md`).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

/// File names inside a block directory.
pub const SPANS_FILE: &str = "spans.parquet";
pub const RESOURCES_FILE: &str = "resources.parquet";
pub const SCOPES_FILE: &str = "scopes.parquet";
pub const TRACES_FILE: &str = "traces.parquet";
pub const INDEX_FILE: &str = "index.parquet";

/// Parquet key-value metadata keys every Arbor file carries.
pub const KV_FORMAT: &str = "arbor.format";
pub const KV_VERSION: &str = "arbor.version";
pub const KV_FILE: &str = "arbor.file";
/// JSON array of `{scope, key, column}`, the same as `meta.dedicated_columns` for the file.
pub const KV_DEDICATED: &str = "arbor.dedicated_columns";

/// Prefix of dedicated span-attribute columns: `span.<attribute key>`.
pub const SPAN_DEDICATED_PREFIX: &str = "span.";
/// Prefix of dedicated resource-attribute columns: `resource.<attribute key>`.
pub const RESOURCE_DEDICATED_PREFIX: &str = "resource.";

/// The resource attributes that always get their own column in `resources.parquet`.
pub const RESOURCE_DEDICATED_KEYS: [&str; 4] = [
    "service.name",
    "service.namespace",
    "deployment.environment",
    "deployment.environment.name",
];

// Span columns.
pub const TRACE_ID: &str = "trace_id";
pub const SPAN_ID: &str = "span_id";
pub const PARENT_SPAN_ID: &str = "parent_span_id";
pub const TRACE_STATE: &str = "trace_state";
pub const FLAGS: &str = "flags";
pub const NAME: &str = "name";
pub const KIND: &str = "kind";
pub const START: &str = "start_unix_nano";
pub const DURATION: &str = "duration_nano";
pub const STATUS_CODE: &str = "status_code";
pub const STATUS_MESSAGE: &str = "status_message";
pub const RESOURCE_INDEX: &str = "resource_index";
pub const SCOPE_INDEX: &str = "scope_index";
pub const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
pub const DROPPED_EVENTS: &str = "dropped_events_count";
pub const DROPPED_LINKS: &str = "dropped_links_count";
pub const DEDICATED_POSITIONS: &str = "dedicated_positions";
pub const ATTRIBUTES: &str = "attributes";
pub const EVENTS: &str = "events";
pub const LINKS: &str = "links";

// Fields of the generic attribute struct.
pub const A_KEY: &str = "key";
pub const A_TYPE: &str = "type";
pub const A_STR: &str = "str";
pub const A_INT: &str = "int";
pub const A_DOUBLE: &str = "double";
pub const A_BOOL: &str = "bool";
pub const A_BYTES: &str = "bytes";

// Event and link fields.
pub const TIME: &str = "time_unix_nano";

// Resource and scope tables.
pub const INDEX: &str = "index";
pub const PRESENT: &str = "present";
pub const SCHEMA_URL: &str = "schema_url";
pub const ENTITY_REFS: &str = "entity_refs";
pub const VERSION_COL: &str = "version";

// Trace table.
pub const ROOT_SERVICE: &str = "root_service";
pub const ROOT_NAME: &str = "root_name";
pub const END: &str = "end_unix_nano";
pub const SPAN_COUNT: &str = "span_count";
pub const ERROR_COUNT: &str = "error_count";

// Index table.
pub const I_SCOPE: &str = "scope";
pub const I_KEY: &str = "key";
pub const I_VALUE: &str = "value";
pub const I_ROW_GROUPS: &str = "row_groups";

/// Attribute type codes (the `type` field of the generic attribute struct). Where OTLP's
/// `AnyValue` has a oneof field for the value, the code is that field's number.
pub mod ty {
    /// The whole `KeyValue` message, protobuf-encoded, in `bytes`: for anything the typed
    /// fields cannot say exactly (no value at all, `key_strindex`, `string_value_strindex`).
    pub const RAW: i8 = -1;
    /// An `AnyValue` with no value set.
    pub const EMPTY: i8 = 0;
    pub const STRING: i8 = 1;
    pub const BOOL: i8 = 2;
    pub const INT: i8 = 3;
    pub const DOUBLE: i8 = 4;
    /// `ArrayValue`, protobuf-encoded, in `bytes`.
    pub const ARRAY: i8 = 5;
    /// `KeyValueList`, protobuf-encoded, in `bytes`.
    pub const KVLIST: i8 = 6;
    pub const BYTES: i8 = 7;
}

pub fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The struct of one generic attribute.
pub fn attr_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new(A_KEY, dict_utf8(), false),
        Field::new(A_TYPE, DataType::Int8, false),
        Field::new(A_STR, DataType::Utf8, true),
        Field::new(A_INT, DataType::Int64, true),
        Field::new(A_DOUBLE, DataType::Float64, true),
        Field::new(A_BOOL, DataType::Boolean, true),
        Field::new(A_BYTES, DataType::Binary, true),
    ])
}

/// The element field of an attribute list.
pub fn attr_item_field() -> FieldRef {
    Arc::new(Field::new(
        "item",
        DataType::Struct(attr_struct_fields()),
        false,
    ))
}

pub fn attr_list_type() -> DataType {
    DataType::List(attr_item_field())
}

pub fn attributes_field() -> Field {
    Field::new(ATTRIBUTES, attr_list_type(), false)
}

pub fn event_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new(TIME, DataType::UInt64, false),
        Field::new(NAME, DataType::Utf8, false),
        attributes_field(),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
    ])
}

pub fn event_item_field() -> FieldRef {
    Arc::new(Field::new(
        "item",
        DataType::Struct(event_struct_fields()),
        false,
    ))
}

pub fn link_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        attributes_field(),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
    ])
}

pub fn link_item_field() -> FieldRef {
    Arc::new(Field::new(
        "item",
        DataType::Struct(link_struct_fields()),
        false,
    ))
}

/// The schema of `spans.parquet` for the given dedicated span-attribute columns, each with
/// whether it is dictionary-encoded (`Dictionary(Int32, Utf8)`) or plain (`Utf8`, for
/// high-cardinality values).
pub fn spans_schema(dedicated_columns: &[(String, bool)]) -> SchemaRef {
    let mut fields = vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(NAME, dict_utf8(), false),
        Field::new(KIND, DataType::Int32, false),
        Field::new(START, DataType::UInt64, false),
        Field::new(DURATION, DataType::UInt64, false),
        Field::new(STATUS_CODE, DataType::Int32, true),
        Field::new(STATUS_MESSAGE, DataType::Utf8, true),
        Field::new(RESOURCE_INDEX, DataType::UInt32, false),
        Field::new(SCOPE_INDEX, DataType::UInt32, false),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
        Field::new(DROPPED_EVENTS, DataType::UInt32, false),
        Field::new(DROPPED_LINKS, DataType::UInt32, false),
    ];
    for (c, dictionary) in dedicated_columns {
        let ty = if *dictionary {
            dict_utf8()
        } else {
            DataType::Utf8
        };
        fields.push(Field::new(c, ty, true));
    }
    fields.push(Field::new(DEDICATED_POSITIONS, DataType::Binary, true));
    fields.push(attributes_field());
    fields.push(Field::new(
        EVENTS,
        DataType::List(event_item_field()),
        false,
    ));
    fields.push(Field::new(LINKS, DataType::List(link_item_field()), false));
    Arc::new(Schema::new(fields))
}

pub fn resources_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(INDEX, DataType::UInt32, false),
        Field::new(PRESENT, DataType::Boolean, false),
        Field::new(SCHEMA_URL, DataType::Utf8, false),
    ];
    for k in RESOURCE_DEDICATED_KEYS {
        fields.push(Field::new(
            format!("{RESOURCE_DEDICATED_PREFIX}{k}"),
            DataType::Utf8,
            true,
        ));
    }
    fields.push(Field::new(DEDICATED_POSITIONS, DataType::Binary, true));
    fields.push(attributes_field());
    fields.push(Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false));
    fields.push(Field::new(
        ENTITY_REFS,
        DataType::List(Arc::new(Field::new("item", DataType::Binary, false))),
        false,
    ));
    Arc::new(Schema::new(fields))
}

pub fn scopes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(INDEX, DataType::UInt32, false),
        Field::new(PRESENT, DataType::Boolean, false),
        Field::new(SCHEMA_URL, DataType::Utf8, false),
        Field::new(NAME, DataType::Utf8, false),
        Field::new(VERSION_COL, DataType::Utf8, false),
        attributes_field(),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
    ]))
}

pub fn traces_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(ROOT_SERVICE, DataType::Utf8, true),
        Field::new(ROOT_NAME, DataType::Utf8, true),
        Field::new(START, DataType::UInt64, false),
        Field::new(END, DataType::UInt64, false),
        Field::new(SPAN_COUNT, DataType::UInt32, false),
        Field::new(ERROR_COUNT, DataType::UInt32, false),
    ]))
}

pub fn index_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(I_SCOPE, dict_utf8(), false),
        Field::new(I_KEY, DataType::Utf8, true),
        Field::new(I_VALUE, DataType::Utf8, true),
        Field::new(
            I_ROW_GROUPS,
            DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
            false,
        ),
    ]))
}

/// Whether an attribute key may get a dedicated column: non-empty, at most 100 bytes of
/// ASCII letters, digits and `_ . - / : @`, so the column name needs no escaping anywhere.
pub fn dedicable_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 100
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/:@".contains(&b))
}
