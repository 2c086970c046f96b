//! Tiny ONNX models written byte by byte (protobuf's wire format): the pieces the tests that
//! need a malformed or odd model build theirs from.

pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn field_bytes(out: &mut Vec<u8>, num: u64, bytes: &[u8]) {
    varint(out, num << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn field_varint(out: &mut Vec<u8>, num: u64, v: u64) {
    varint(out, num << 3);
    varint(out, v);
}

/// ValueInfoProto: a float tensor `name` of `dims`.
pub(crate) fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        field_varint(&mut dim, 1, d); // dim_value
        field_bytes(&mut shape, 1, &dim);
    }
    let mut tensor_type = Vec::new();
    field_varint(&mut tensor_type, 1, 1); // elem_type FLOAT
    field_bytes(&mut tensor_type, 2, &shape);
    let mut ty = Vec::new();
    field_bytes(&mut ty, 1, &tensor_type);
    let mut vi = Vec::new();
    field_bytes(&mut vi, 1, name.as_bytes());
    field_bytes(&mut vi, 2, &ty);
    vi
}

/// A model whose graph is one `op` node from `inputs` to `y`: graph input `x` declaring
/// `input`, output `y` declaring `output`, and `initializers` (TensorProtos) in the graph.
pub(crate) fn one_node_model(
    op: &str,
    inputs: &[&str],
    initializers: &[&[u8]],
    input: &[u64],
    output: &[u64],
) -> Vec<u8> {
    let mut node = Vec::new();
    for name in inputs {
        field_bytes(&mut node, 1, name.as_bytes());
    }
    field_bytes(&mut node, 2, b"y");
    field_bytes(&mut node, 4, op.as_bytes());
    let mut graph = Vec::new();
    field_bytes(&mut graph, 1, &node);
    field_bytes(&mut graph, 2, b"g");
    for t in initializers {
        field_bytes(&mut graph, 5, t);
    }
    field_bytes(&mut graph, 11, &value_info("x", input));
    field_bytes(&mut graph, 12, &value_info("y", output));
    let mut opset = Vec::new();
    field_varint(&mut opset, 2, 13);
    let mut model = Vec::new();
    field_varint(&mut model, 1, 8); // ir_version
    field_bytes(&mut model, 7, &graph);
    field_bytes(&mut model, 8, &opset);
    model
}
