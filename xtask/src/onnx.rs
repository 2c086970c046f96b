//! Rewrites an ONNX model with a fixed batch dimension into one with a dynamic batch
//! (`cargo xtask onnx-dynamic-batch IN OUT`; setup runs it on the default model).
//!
//! The default YOLOv12n ships with batch 1 baked into its graph inputs and outputs and into the
//! constant shape tensors of its `Reshape` nodes (one is `[4, 400, 2, 96]`: 4 = batch × 4
//! attention areas). For each `Reshape` whose shape input is a constant, the leading dimension
//! becomes 0 (copy it from the input) when the shape already holds a -1, else -1 (infer it);
//! the first dimension of every graph input and output becomes the symbol `batch`;
//! `value_info` (stale shapes) is cleared.
//!
//! A protobuf wire-format editor of a hundred lines does it: no code generation, no protoc.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

/// One protobuf field: its number and its value as on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    num: u32,
    value: Value,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).context("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("varint too long")
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn parse(buf: &[u8]) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let num = u32::try_from(key >> 3).context("field number")?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 => {
                let b = buf.get(pos..pos + 8).context("truncated fixed64")?;
                pos += 8;
                Value::Fixed64(u64::from_le_bytes(b.try_into()?))
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?)?;
                let b = buf.get(pos..pos + len).context("truncated bytes")?;
                pos += len;
                Value::Bytes(b.to_vec())
            }
            5 => {
                let b = buf.get(pos..pos + 4).context("truncated fixed32")?;
                pos += 4;
                Value::Fixed32(u32::from_le_bytes(b.try_into()?))
            }
            w => bail!("unsupported wire type {w}"),
        };
        fields.push(Field { num, value });
    }
    Ok(fields)
}

fn write(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let wire = match f.value {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        };
        write_varint(&mut out, (u64::from(f.num) << 3) | wire);
        match &f.value {
            Value::Varint(v) => write_varint(&mut out, *v),
            Value::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Bytes(b) => {
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

fn bytes(fields: &[Field], num: u32) -> impl Iterator<Item = &[u8]> {
    fields
        .iter()
        .filter(move |f| f.num == num)
        .filter_map(|f| match &f.value {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })
}

fn string(fields: &[Field], num: u32) -> Option<String> {
    bytes(fields, num)
        .next()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Applies `edit` to each length-delimited field `num` parsed as a message.
fn edit_each(
    fields: &mut [Field],
    num: u32,
    mut edit: impl FnMut(&mut Vec<Field>) -> Result<()>,
) -> Result<()> {
    for f in fields.iter_mut().filter(|f| f.num == num) {
        if let Value::Bytes(b) = &mut f.value {
            let mut sub = parse(b)?;
            edit(&mut sub)?;
            *b = write(&sub);
        }
    }
    Ok(())
}

// ONNX field numbers (onnx.proto).
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const GRAPH_VALUE_INFO: u32 = 13;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const ATTR_NAME: u32 = 1;
const ATTR_TENSOR: u32 = 5;
const ATTR_INT: u32 = 3;
const TENSOR_INT64_DATA: u32 = 7;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_TYPE_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_PARAM: u32 = 2;

/// The int64 values of a shape tensor, however they are stored.
fn shape_values(tensor: &[Field]) -> Result<Vec<i64>> {
    if let Some(raw) = bytes(tensor, TENSOR_RAW_DATA).next() {
        ensure!(raw.len() % 8 == 0, "raw shape data of {} bytes", raw.len());
        return Ok(raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect());
    }
    let mut out = Vec::new();
    for f in tensor.iter().filter(|f| f.num == TENSOR_INT64_DATA) {
        match &f.value {
            Value::Varint(v) => out.push(*v as i64),
            Value::Bytes(packed) => {
                let mut pos = 0;
                while pos < packed.len() {
                    out.push(read_varint(packed, &mut pos)? as i64);
                }
            }
            _ => bail!("odd int64_data"),
        }
    }
    Ok(out)
}

fn set_shape_values(tensor: &mut Vec<Field>, values: &[i64]) {
    if let Some(f) = tensor.iter_mut().find(|f| f.num == TENSOR_RAW_DATA) {
        f.value = Value::Bytes(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        return;
    }
    tensor.retain(|f| f.num != TENSOR_INT64_DATA);
    let mut packed = Vec::new();
    for v in values {
        write_varint(&mut packed, *v as u64);
    }
    tensor.push(Field {
        num: TENSOR_INT64_DATA,
        value: Value::Bytes(packed),
    });
}

/// The batch-independent form of a Reshape target shape.
fn free_batch(values: &mut [i64]) {
    let has_infer = values.contains(&-1);
    if let Some(first) = values.first_mut() {
        *first = if has_infer { 0 } else { -1 };
    }
}

/// What the rewrite changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) reshapes: usize,
    pub(crate) io: usize,
}

/// Rewrites `model` (ONNX bytes) for a dynamic batch.
pub(crate) fn dynamic_batch(model: &[u8]) -> Result<(Vec<u8>, Report)> {
    let mut model = parse(model).context("not a protobuf")?;
    let mut report = Report::default();
    edit_each(&mut model, MODEL_GRAPH, |graph| {
        // Shape inputs of Reshape nodes, and how Reshape treats zeros.
        let mut shapes = HashSet::new();
        for node in bytes(graph, GRAPH_NODE) {
            let node = parse(node)?;
            if string(&node, NODE_OP_TYPE).as_deref() != Some("Reshape") {
                continue;
            }
            for attr in bytes(&node, NODE_ATTRIBUTE) {
                let attr = parse(attr)?;
                let allowzero = attr
                    .iter()
                    .any(|f| f.num == ATTR_INT && f.value == Value::Varint(1));
                ensure!(
                    !(string(&attr, ATTR_NAME).as_deref() == Some("allowzero") && allowzero),
                    "a Reshape with allowzero=1: 0 would not mean 'copy'"
                );
            }
            if let Some(shape) = bytes(&node, NODE_INPUT).nth(1) {
                shapes.insert(String::from_utf8_lossy(shape).into_owned());
            }
        }
        let mut edit_tensor = |tensor: &mut Vec<Field>| -> Result<()> {
            let mut values = shape_values(tensor)?;
            free_batch(&mut values);
            set_shape_values(tensor, &values);
            report.reshapes += 1;
            Ok(())
        };
        // Constant shapes held as initializers …
        edit_each(graph, GRAPH_INITIALIZER, |tensor| {
            match string(tensor, TENSOR_NAME) {
                Some(name) if shapes.contains(&name) => edit_tensor(tensor),
                _ => Ok(()),
            }
        })?;
        // … or made by Constant nodes.
        edit_each(graph, GRAPH_NODE, |node| {
            let is_shape = string(node, NODE_OP_TYPE).as_deref() == Some("Constant")
                && bytes(node, NODE_OUTPUT).any(|o| shapes.contains(&*String::from_utf8_lossy(o)));
            if !is_shape {
                return Ok(());
            }
            edit_each(node, NODE_ATTRIBUTE, |attr| {
                if string(attr, ATTR_NAME).as_deref() == Some("value") {
                    edit_each(attr, ATTR_TENSOR, &mut edit_tensor)?;
                }
                Ok(())
            })
        })?;
        // Graph inputs and outputs: the first dimension becomes `batch`.
        for num in [GRAPH_INPUT, GRAPH_OUTPUT] {
            edit_each(graph, num, |info| {
                edit_each(info, VALUE_INFO_TYPE, |ty| {
                    edit_each(ty, TYPE_TENSOR, |tensor_type| {
                        edit_each(tensor_type, TENSOR_TYPE_SHAPE, |shape| {
                            if let Some(dim) = shape.iter_mut().find(|f| f.num == SHAPE_DIM) {
                                dim.value = Value::Bytes(write(&[Field {
                                    num: DIM_PARAM,
                                    value: Value::Bytes(b"batch".to_vec()),
                                }]));
                                report.io += 1;
                            }
                            Ok(())
                        })
                    })
                })
            })?;
        }
        graph.retain(|f| f.num != GRAPH_VALUE_INFO);
        Ok(())
    })?;
    ensure!(
        report.io > 0,
        "no graph inputs or outputs found: is this an ONNX model?"
    );
    Ok((write(&model), report))
}

/// `cargo xtask onnx-dynamic-batch IN OUT`.
pub(crate) fn rewrite_file(input: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let (out, report) =
        dynamic_batch(&bytes).with_context(|| format!("rewriting {}", input.display()))?;
    std::fs::write(output, out).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "onnx: {} -> {}: {} Reshape shapes, {} graph inputs/outputs made batch-dynamic",
        input.display(),
        output.display(),
        report.reshapes,
        report.io
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let fields = vec![
            Field {
                num: 1,
                value: Value::Varint(300),
            },
            Field {
                num: 2,
                value: Value::Bytes(b"abc".to_vec()),
            },
            Field {
                num: 3,
                value: Value::Fixed64(7),
            },
            Field {
                num: 4,
                value: Value::Fixed32(9),
            },
            Field {
                num: 5,
                value: Value::Varint(u64::MAX),
            },
        ];
        assert_eq!(parse(&write(&fields)).unwrap(), fields);
        assert!(parse(&[0x0a, 0x05, 1]).is_err(), "truncated");
    }

    #[test]
    fn leading_dims_are_freed() {
        let mut v = vec![4, 400, 2, 96];
        free_batch(&mut v);
        assert_eq!(v, vec![-1, 400, 2, 96]);
        let mut v = vec![1, -1, 84];
        free_batch(&mut v);
        assert_eq!(v, vec![0, -1, 84]);
    }

    #[test]
    fn shape_tensors_in_both_encodings() {
        for raw in [true, false] {
            let mut t = vec![Field {
                num: TENSOR_NAME,
                value: Value::Bytes(b"s".to_vec()),
            }];
            if raw {
                t.push(Field {
                    num: TENSOR_RAW_DATA,
                    value: Value::Bytes(
                        [1i64, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
                    ),
                });
            } else {
                t.push(Field {
                    num: TENSOR_INT64_DATA,
                    value: Value::Varint(1),
                });
                t.push(Field {
                    num: TENSOR_INT64_DATA,
                    value: Value::Varint(2),
                });
            }
            let mut values = shape_values(&t).unwrap();
            free_batch(&mut values);
            set_shape_values(&mut t, &values);
            let back = shape_values(&parse(&write(&t)).unwrap()).unwrap();
            assert_eq!(back[0], -1, "raw {raw}");
        }
    }
}
