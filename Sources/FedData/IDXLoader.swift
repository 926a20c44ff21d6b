extension DataLoader {
    /// Loads an MNIST-style pair of IDX files: unsigned-byte images (magic 0x00000803,
    /// `count × rows × columns`) and labels (magic 0x00000801). Pixels are scaled to [0, 1].
    /// Files must be uncompressed; the `.gz` files as downloaded are refused with a hint.
    public static func idx(images: String, labels: String) throws -> Dataset {
        let imageFile = try IDXFile(path: images, expectedDimensions: 3)
        let labelFile = try IDXFile(path: labels, expectedDimensions: 1)
        let count = imageFile.dimensions[0]
        guard labelFile.dimensions[0] == count else {
            throw DataError(
                file: labels, message: "has \(labelFile.dimensions[0]) labels but \(images) has \(count) images")
        }
        let featureCount = imageFile.dimensions[1] * imageFile.dimensions[2]
        let features = imageFile.payload.map { Float($0) / 255 }
        let classLabels = labelFile.payload.map { Int32($0) }
        let classCount = Int(classLabels.max() ?? 0) + 1
        return Dataset(
            features: features, featureCount: featureCount, targets: .classes(classLabels, classCount: classCount))
    }
}

/// One IDX file of unsigned bytes, with its header checked against the file length.
struct IDXFile {
    let dimensions: [Int]
    let payload: ArraySlice<UInt8>

    /// The magic number's third byte is the element type (0x08 = unsigned byte), the fourth the
    /// number of dimensions.
    init(path: String, expectedDimensions: Int) throws {
        let bytes = try TextParsing.readFile(path)
        func fail(_ message: String) -> DataError { DataError(file: path, message: message) }
        if bytes.starts(with: [0x1F, 0x8B]) { throw fail("gzip-compressed: gunzip it first") }
        let expectedMagic: [UInt8] = [0, 0, 0x08, UInt8(expectedDimensions)]
        guard bytes.count >= 4 else { throw fail("too short for an IDX file (\(bytes.count) bytes)") }
        guard bytes.starts(with: expectedMagic) else {
            let found = bytes.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            let wanted = expectedMagic.map { String($0, radix: 16) }.joined(separator: " ")
            throw fail(
                "bad magic number \(found), expected \(wanted) (unsigned-byte IDX with \(expectedDimensions) "
                    + "dimension\(expectedDimensions == 1 ? "" : "s"))"
            )
        }
        let headerLength = 4 + 4 * expectedDimensions
        guard bytes.count >= headerLength else {
            throw fail("truncated header: \(bytes.count) bytes, need \(headerLength)")
        }
        dimensions = (0..<expectedDimensions).map { Self.bigEndianUInt32(bytes, at: 4 + 4 * $0) }
        guard dimensions[0] > 0 else { throw fail("contains no items") }
        if dimensions.dropFirst().contains(0) { throw fail("has an empty dimension: \(dimensions)") }
        var elementCount = 1
        for d in dimensions {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("dimensions \(dimensions) are too large") }
            elementCount = product
        }
        let expectedLength = headerLength + elementCount
        guard bytes.count == expectedLength else {
            let shape = dimensions.map(String.init).joined(separator: "×")
            let problem = bytes.count < expectedLength ? "truncated" : "has trailing bytes"
            throw fail("\(problem): header says \(shape) needs \(expectedLength) bytes, file has \(bytes.count)")
        }
        payload = bytes[headerLength...]
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> Int {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
    }
}
