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
