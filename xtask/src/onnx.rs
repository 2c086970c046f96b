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

/// Applies `edit` to the shape of each graph input or output (`num`: `GRAPH_INPUT` or
/// `GRAPH_OUTPUT`), through its value info, type and tensor type.
fn edit_io_shape(
    graph: &mut [Field],
    num: u32,
    mut edit: impl FnMut(&mut Vec<Field>) -> Result<()>,
) -> Result<()> {
    edit_each(graph, num, |info| {
        edit_each(info, VALUE_INFO_TYPE, |ty| {
            edit_each(ty, TYPE_TENSOR, |tensor_type| {
                edit_each(tensor_type, TENSOR_TYPE_SHAPE, &mut edit)
            })
        })
    })
}

/// A shape's dimension holding one field: `dim_value` or `dim_param`.
fn dimension(num: u32, value: Value) -> Value {
    Value::Bytes(write(&[Field { num, value }]))
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
    int64s(tensor, TENSOR_INT64_DATA)
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
            edit_io_shape(graph, num, |shape| {
                if let Some(dim) = shape.iter_mut().find(|f| f.num == SHAPE_DIM) {
                    dim.value = dimension(DIM_PARAM, Value::Bytes(b"batch".to_vec()));
                    report.io += 1;
                }
                Ok(())
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

const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_FLOAT_DATA: u32 = 4;
const DIM_VALUE: u32 = 1;
/// ONNX `TensorProto.DataType.FLOAT`.
const FLOAT: u64 = 1;
/// The detection head's strides (YOLOv8 and later).
const STRIDES: [usize; 3] = [8, 16, 32];

/// The detection head's anchor points (cell centres, `[2, N]` as x row then y row) and the
/// stride of each, for an input of `height` × `width` (Ultralytics' `make_anchors`).
fn anchors(height: usize, width: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut xs, mut ys, mut strides) = (Vec::new(), Vec::new(), Vec::new());
    for s in STRIDES {
        for y in 0..height / s {
            for x in 0..width / s {
                xs.push(x as f32 + 0.5);
                ys.push(y as f32 + 0.5);
                strides.push(s as f32);
            }
        }
    }
    xs.extend(ys);
    (xs, strides)
}

fn int64s(fields: &[Field], num: u32) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.num == num) {
        match &f.value {
            Value::Varint(v) => out.push(*v as i64),
            Value::Bytes(packed) => {
                let mut pos = 0;
                while pos < packed.len() {
                    out.push(read_varint(packed, &mut pos)? as i64);
                }
            }
            _ => bail!("odd int64 field {num}"),
        }
    }
    Ok(out)
}

fn floats(tensor: &[Field]) -> Result<Vec<f32>> {
    if let Some(raw) = bytes(tensor, TENSOR_RAW_DATA).next() {
        ensure!(raw.len() % 4 == 0, "raw float data of {} bytes", raw.len());
        return Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect());
    }
    let mut out = Vec::new();
    for f in tensor.iter().filter(|f| f.num == TENSOR_FLOAT_DATA) {
        match &f.value {
            Value::Fixed32(v) => out.push(f32::from_bits(*v)),
            Value::Bytes(packed) => out.extend(
                packed
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
            ),
            _ => bail!("odd float_data"),
        }
    }
    Ok(out)
}

/// A float tensor's dims and data replaced (raw little-endian data, packed dims).
fn set_floats(tensor: &mut Vec<Field>, dims: &[i64], data: &[f32]) {
    tensor.retain(|f| {
        !matches!(
            f.num,
            TENSOR_DIMS | TENSOR_FLOAT_DATA | TENSOR_RAW_DATA | TENSOR_DATA_TYPE
        )
    });
    let mut packed = Vec::new();
    for d in dims {
        write_varint(&mut packed, *d as u64);
    }
    tensor.insert(
        0,
        Field {
            num: TENSOR_DIMS,
            value: Value::Bytes(packed),
        },
    );
    tensor.push(Field {
        num: TENSOR_DATA_TYPE,
        value: Value::Varint(FLOAT),
    });
    tensor.push(Field {
        num: TENSOR_RAW_DATA,
        value: Value::Bytes(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
    });
}

/// The geometry of a square model and the rectangle it becomes.
struct Geometry {
    side: usize,
    height: usize,
    width: usize,
}

impl Geometry {
    fn anchors_before(&self) -> i64 {
        STRIDES
            .iter()
            .map(|s| (self.side / s).pow(2))
            .sum::<usize>() as i64
    }

    fn anchors_after(&self) -> i64 {
        STRIDES
            .iter()
            .map(|s| (self.height / s) * (self.width / s))
            .sum::<usize>() as i64
    }

    /// A Reshape target of the square model for the rectangle: a grid's `(g, g)` becomes
    /// `(h, w)`, its cell count `g²` (or, in area attention, `g²/4` tokens per area, which is
    /// the next level's `g²`) becomes `h·w`, and the anchor count becomes the new one.
    /// Whether anything changed.
    fn reshape(&self, values: &mut [i64]) -> bool {
        let grids: Vec<(i64, i64, i64)> = STRIDES
            .iter()
            .map(|s| {
                (
                    (self.side / s) as i64,
                    (self.height / s) as i64,
                    (self.width / s) as i64,
                )
            })
            .collect();
        let mut changed = false;
        let mut i = 0;
        while i < values.len() {
            let v = values[i];
            if let Some(&(_, h, w)) = grids.iter().find(|(g, _, _)| *g == v)
                && values.get(i + 1) == Some(&v)
            {
                values[i] = h;
                values[i + 1] = w;
                changed = true;
                i += 2;
                continue;
            }
            if let Some(&(_, h, w)) = grids.iter().find(|(g, _, _)| g * g == v) {
                values[i] = h * w;
                changed = true;
            } else if v == self.anchors_before() {
                values[i] = self.anchors_after();
                changed = true;
            }
            i += 1;
        }
        changed
    }
}

/// What the rectangular rewrite changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RectReport {
    pub(crate) reshapes: usize,
    pub(crate) anchors: usize,
    pub(crate) io: usize,
}

/// Rewrites a square YOLO model (ONNX bytes, input `[1, 3, S, S]`) for a fixed input of
/// `height` × `width`: the constant Reshape targets of its area attention and its head (grid
/// sizes, token counts, the anchor count), the head's anchor points and strides, and the graph
/// input and output shapes. Every other operation is size-independent (convolutions, Resize by
/// scale). Refuses a model whose constants do not look like that (the anchors must be
/// exactly the square's).
pub(crate) fn rectangular(
    model: &[u8],
    height: usize,
    width: usize,
) -> Result<(Vec<u8>, RectReport)> {
    ensure!(
        height.is_multiple_of(32) && width.is_multiple_of(32) && height > 0 && width > 0,
        "the input must be a multiple of 32 on each side, not {width}x{height}"
    );
    let mut model = parse(model).context("not a protobuf")?;
    let mut report = RectReport::default();
    edit_each(&mut model, MODEL_GRAPH, |graph| {
        // The square side, from the graph input [1, 3, S, S].
        let mut side = None;
        edit_io_shape(graph, GRAPH_INPUT, |shape| {
            let dims: Vec<i64> = bytes(shape, SHAPE_DIM)
                .map(|d| Ok(int64s(&parse(d)?, DIM_VALUE)?.first().copied().unwrap_or(0)))
                .collect::<Result<_>>()?;
            if let [_, 3, h, w] = dims[..] {
                ensure!(h == w, "the model's input is {w}x{h}, not square");
                side = Some(h as usize);
            }
            Ok(())
        })?;
        let side = side.context("no [N, 3, S, S] graph input")?;
        let geo = Geometry {
            side,
            height,
            width,
        };
        let mut shapes = HashSet::new();
        for node in bytes(graph, GRAPH_NODE) {
            let node = parse(node)?;
            if string(&node, NODE_OP_TYPE).as_deref() == Some("Reshape")
                && let Some(shape) = bytes(&node, NODE_INPUT).nth(1)
            {
                shapes.insert(String::from_utf8_lossy(shape).into_owned());
            }
        }
        ensure!(
            !bytes(graph, GRAPH_NODE).any(|n| parse(n).is_ok_and(|n| {
                string(&n, NODE_OP_TYPE).as_deref() == Some("Constant")
                    && bytes(&n, NODE_OUTPUT).any(|o| shapes.contains(&*String::from_utf8_lossy(o)))
            })),
            "Reshape shapes made by Constant nodes: not handled"
        );
        let (old, new) = (anchors(side, side), anchors(height, width));
        let n = geo.anchors_after();
        edit_each(graph, GRAPH_INITIALIZER, |tensor| {
            let name = string(tensor, TENSOR_NAME).unwrap_or_default();
            if shapes.contains(&name) {
                let mut values = shape_values(tensor)?;
                if geo.reshape(&mut values) {
                    set_shape_values(tensor, &values);
                    report.reshapes += 1;
                }
                return Ok(());
            }
            let dims = int64s(tensor, TENSOR_DIMS)?;
            if dims.last() != Some(&geo.anchors_before()) {
                return Ok(());
            }
            let data = floats(tensor)?;
            let (dims, values) = if data == old.0 {
                (vec![1, 2, n], &new.0)
            } else if data == old.1 {
                (vec![1, n], &new.1)
            } else {
                bail!("{name}: a constant of {dims:?} that is neither the anchors nor the strides");
            };
            set_floats(tensor, &dims, values);
            report.anchors += 1;
            Ok(())
        })?;
        // The input [1, 3, S, S] becomes [1, 3, H, W]; the output [1, C, A] becomes [1, C, N].
        for (num, new) in [
            (GRAPH_INPUT, vec![(2, height as i64), (3, width as i64)]),
            (GRAPH_OUTPUT, vec![(2, n)]),
        ] {
            edit_io_shape(graph, num, |shape| {
                let dims = shape.iter_mut().filter(|f| f.num == SHAPE_DIM);
                for (k, dim) in dims.enumerate() {
                    if let Some((_, v)) = new.iter().find(|(at, _)| *at == k) {
                        dim.value = dimension(DIM_VALUE, Value::Varint(*v as u64));
                        report.io += 1;
                    }
                }
                Ok(())
            })?;
        }
        graph.retain(|f| f.num != GRAPH_VALUE_INFO);
        Ok(())
    })?;
    ensure!(
        report.anchors >= 2 && report.reshapes > 0 && report.io == 3,
        "not a YOLO model this rewrite knows: {report:?}"
    );
    Ok((write(&model), report))
}

/// `cargo xtask onnx-rectangular IN OUT WIDTHxHEIGHT`.
pub(crate) fn rectangular_file(input: &Path, output: &Path, size: &str) -> Result<()> {
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .context("the size is WIDTHxHEIGHT, e.g. 640x384")?;
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let (out, report) = rectangular(&bytes, h, w)?;
    std::fs::write(output, out).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "onnx: {} -> {} ({w}x{h}): {} Reshape shapes, {} anchor tensors, {} dims",
        input.display(),
        output.display(),
        report.reshapes,
        report.anchors,
        report.io
    );
    Ok(())
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
    fn reshape_targets_follow_the_rectangle() {
        let geo = Geometry {
            side: 640,
            height: 384,
            width: 640,
        };
        for (before, after) in [
            (vec![4, 400, 2, 96], vec![4, 240, 2, 96]),
            (vec![1, 40, 40, 64], vec![1, 24, 40, 64]),
            (vec![1, 400, 4, 96], vec![1, 240, 4, 96]),
            (vec![1, 20, 20, 128], vec![1, 12, 20, 128]),
            (vec![1, 4, 16, 8400], vec![1, 4, 16, 5040]),
            (vec![1, 4, 8400], vec![1, 4, 5040]),
        ] {
            let mut v = before.clone();
            assert!(geo.reshape(&mut v), "{before:?}");
            assert_eq!(v, after, "{before:?}");
        }
        let mut v = vec![1, 192, -1];
        assert!(!geo.reshape(&mut v));
        let (points, strides) = anchors(384, 640);
        assert_eq!((points.len(), strides.len()), (2 * 5040, 5040));
        assert_eq!((points[0], points[5040]), (0.5, 0.5));
        assert_eq!(strides[5039], 32.0);
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
