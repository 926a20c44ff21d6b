import Foundation

extension DataLoader {
    /// Loads NumPy `.npy` arrays (format versions 1–3, C order): `features` of shape `(n, d)`,
    /// `(n, h, w)` (one-channel images) or `(n, c, h, w)`, and `targets` of shape `(n,)` or
    /// `(n, 1)` — integer or float labels for classification, float values for regression.
    ///
    /// Little-endian Float32 features (`<f4`) are **memory-mapped**, not read: they stay in the
    /// page cache, shared by every process that maps the file, and a client process touches only
    /// its own clients' rows. Float64 features (`<f8`, NumPy's default) are converted into memory.
    /// Every feature must be finite; labels follow the CSV loader's rules.
    public static func npy(features: String, targets: String, task: DataTask) throws -> Dataset {
        let x = try NpyArray(path: features)
        let y = try NpyArray(path: targets)
        guard x.shape.count >= 1, x.shape.count <= 4 else {
            throw DataError(
                file: features, message: "has shape \(x.shapeText); features are (n, d), (n, h, w) or (n, c, h, w)")
        }
        let n = x.shape[0]
        let sampleShape: [Int] =
            switch x.shape.count {
            case 1: [1]
            case 2: [x.shape[1]]
            case 3: [1, x.shape[1], x.shape[2]]
            default: Array(x.shape.dropFirst())
            }
        guard n > 0, sampleShape.allSatisfy({ $0 > 0 }) else {
            throw DataError(file: features, message: "has shape \(x.shapeText); it holds no features")
        }
        guard y.shape == [n] || y.shape == [n, 1] else {
            throw DataError(
                file: targets, message: "has shape \(y.shapeText); \(features) has \(n) samples, so expected (\(n),)")
        }
        let values: FeatureValues
        switch x.descr {
        case "<f4":
            // NumPy pads headers to 64 bytes, so the values are aligned; an odd writer's are copied.
            values =
                x.dataOffset % 4 == 0
                ? FeatureValues(mapping: x.file, offset: x.dataOffset, count: x.elements)
                : FeatureValues(x.floats())
        case "<f8": values = FeatureValues(x.floats())
        default:
            throw DataError(
                file: features,
                message: "holds '\(x.descr)' values; features must be '<f4' (float32, mapped) or '<f8' (float64)")
        }
        if let bad = values.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
            let d = sampleShape.reduce(1, *)
            throw DataError(
                file: features,
                message: "feature \(bad % d) of sample \(bad / d) is \(values[bad]), not a finite number")
        }
        var accumulator = TargetAccumulator()
        for i in 0..<n {
            do { try accumulator.append(y.number(i), task: task) } catch let error as MessageError {
                throw DataError(file: targets, message: "target \(i): \(error.message)")
            }
        }
        return Dataset(features: values, shape: sampleShape, targets: accumulator.targets(task))
    }
}

/// One `.npy` file, mapped: its header parsed and checked against the file's length.
/// The format: `\x93NUMPY`, a major and minor version, the header's length (u16 in version 1,
/// u32 in 2 and 3), a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }`,
/// then the values in C order.
struct NpyArray {
    let file: MappedFile
    let descr: String
    let shape: [Int]
    let dataOffset: Int
    let elements: Int
    private let itemSize: Int

    init(path: String) throws {
        file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ message: String) -> DataError { DataError(file: path, message: message) }
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("is not a NumPy .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("ends inside its header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default: throw fail("is .npy format version \(major); FedSim reads versions 1 to 3")
        }
        guard headerLength <= bytes.count - headerStart, headerLength <= 1 << 20 else {
            throw fail("ends inside its header (\(headerLength) bytes declared)")
        }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = Self.field("descr", in: header).flatMap(Self.quoted) else {
            throw fail("header has no 'descr' string: \(header.prefix(120))")
        }
        guard let order = Self.field("fortran_order", in: header) else {
            throw fail("header has no 'fortran_order': \(header.prefix(120))")
        }
        guard order == "False" else { throw fail("is in Fortran order; save it in C order (np.ascontiguousarray)") }
        guard let shapeText = Self.field("shape", in: header), let shape = Self.tuple(shapeText) else {
            throw fail("header has no 'shape' tuple of sizes: \(header.prefix(120))")
        }
        let sizes: [String: Int] = ["1": 1, "2": 2, "4": 4, "8": 8]
        let kind = descr.dropFirst().first ?? " "
        guard descr.count >= 3, "<|".contains(descr.first!), "iuf".contains(kind),
            let size = sizes[String(descr.dropFirst(2))], kind != "f" || size >= 4
        else {
            throw fail(
                "holds '\(descr)' values; FedSim reads little-endian integers and floats ('<f4', '<f8', '<i8', …)")
        }
        var elements = 1
        for s in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: s)
            guard !overflow, product <= 1 << 40 else { throw fail("shape \(shapeText) is too large") }
            elements = product
        }
        let expected = headerStart + headerLength + elements * size
        guard bytes.count == expected else {
            throw fail(
                "has \(bytes.count) bytes; its header (shape \(shapeText), '\(descr)') needs exactly \(expected)")
        }
        self.descr = descr
        self.shape = shape
        self.dataOffset = headerStart + headerLength
        self.elements = elements
        self.itemSize = size
    }

    var shapeText: String { "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")") }

    /// Element `i` as a Double (exact for every integer FedSim accepts as a label).
    func number(_ i: Int) -> Double {
        let at = dataOffset + i * itemSize
        let raw = (0..<itemSize).reduce(UInt64(0)) { $0 | UInt64(file.bytes[at + $1]) << (8 * UInt64($1)) }
        switch (descr.dropFirst().first, itemSize) {
        case ("f", 4): return Double(Float(bitPattern: UInt32(raw)))
        case ("f", _): return Double(bitPattern: raw)
        case ("u", _): return Double(raw)
        default:
            let shift = UInt64(64 - 8 * itemSize)
            return Double(Int64(bitPattern: raw << shift) >> Int64(shift))  // sign-extended
        }
    }

    /// Every element as a Float (a float64 is rounded to nearest).
    func floats() -> [Float] { (0..<elements).map { Float(number($0)) } }

    /// The text after `'key':` up to the next top-level comma (a tuple keeps its commas).
    static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var value = ""
        for ch in header[range.upperBound...] {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if (ch == "," && depth == 0) || ch == "}" { break }
            value.append(ch)
            if depth < 0 { return nil }
        }
        return value.trimmingCharacters(in: .whitespaces)
    }

    static func quoted(_ text: String) -> String? {
        guard text.count >= 2, let q = text.first, q == "'" || q == "\"", text.last == q else { return nil }
        return String(text.dropFirst().dropLast())
    }

    /// `(3, 4)`, `(3,)` or `()` as sizes; nil for anything else.
    static func tuple(_ text: String) -> [Int]? {
        guard text.first == "(", text.last == ")" else { return nil }
        let inner = text.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var sizes: [Int] = []
        for item in inner where !item.isEmpty {
            guard let n = Int(item), n >= 0 else { return nil }
            sizes.append(n)
        }
        return sizes
    }
}
