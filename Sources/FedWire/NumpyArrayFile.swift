/// NumPy's `.npy` format, version 1.0, for the arrays `fedsim export` hands to clients written in
/// Python: the magic `\x93NUMPY`, version 1 0, a u16 header length, a Python-literal header
/// (`{'descr': '<f4', 'fortran_order': False, 'shape': (n, 64), }`) padded with spaces to a
/// multiple of 64 bytes and ended by a newline, then the values in C order, little-endian.
public enum NumpyArrayFile {
    /// The bytes of a `.npy` file holding `values` (Float32, `<f4`) with `shape`.
    public static func float32(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count)
        var w = ByteWriter()
        w.bytes(header(descr: "<f4", shape: shape))
        for v in values { w.u32(v.bitPattern) }
        return w.data
    }

    /// The bytes of a `.npy` file holding `values` as little-endian Int64 (`<i8`), one dimension.
    public static func int64(_ values: [Int64]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(header(descr: "<i8", shape: [values.count]))
        for v in values { w.u64(UInt64(bitPattern: v)) }
        return w.data
    }

    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        let total = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var w = ByteWriter()
        w.bytes([0x93] + Array("NUMPY".utf8) + [1, 0])
        w.u16(UInt16(text.utf8.count))
        w.bytes(Array(text.utf8))
        return w.data
    }
}
