import FedData
import XCTest

/// `.npy` arrays as NumPy writes them: Float32 features mapped in place, Float64 converted,
/// labels of any integer or float type, and one error naming the file for every malformed one.
final class NpyLoaderTests: TempDirectoryTestCase {
    /// A `.npy` file: the magic, `version`, the header padded with spaces to a multiple of 64
    /// bytes (as NumPy pads it) and ended by a newline, then `payload`.
    private func npy(
        descr: String, shape: String, payload: [UInt8], version: UInt8 = 1, fortran: Bool = false,
        shapeKey: String = "shape"
    ) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), '\(shapeKey)': \(shape), }"
        let prefix = version == 1 ? 10 : 12
        header += String(repeating: " ", count: (64 - (prefix + header.utf8.count + 1) % 64) % 64)
        header += "\n"
        let n = header.utf8.count
        let length: [UInt8] =
            version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + Array(header.utf8) + payload
    }

    private func f4(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }
    private func f8(_ values: [Double]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }
    private func i8(_ values: [Int64]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    }

    func testFloat32FeaturesAreMappedAndReadAsWritten() throws {
        let values: [Float] = (0..<24).map { Float($0) * 0.25 - 2 }  // 2 images of 2×2×3
        let x = try write("x.npy", bytes: npy(descr: "<f4", shape: "(2, 2, 2, 3)", payload: f4(values)))
        let y = try write("y.npy", bytes: npy(descr: "<i8", shape: "(2,)", payload: i8([3, 0])))
        let data = try DataLoader.npy(features: x, targets: y, task: .classification)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.shape, [2, 2, 3])
        XCTAssertEqual(Array(data.features), values)
        XCTAssertEqual(data.labels, [3, 0])
        XCTAssertEqual(data.classCount, 4)
        let file = try XCTUnwrap(data.features.mappedFile, "float32 features are read in place")
        let start = data.features.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
        XCTAssertEqual(start - file.bytes.baseAddress!, 128, "the values are the file's bytes after its header")
    }

    /// Shapes `(n, d)`, `(n, h, w)` and `(n,)`; labels of every integer size, signed or not,
    /// Float64 features, format version 2, and float labels that are whole numbers.
    func testEveryShapeAndNumberTypeNumPyWrites() throws {
        let y = try write("y.npy", bytes: npy(descr: "|u1", shape: "(3,)", payload: [1, 0, 2]))
        let x2 = try write("x2.npy", bytes: npy(descr: "<f4", shape: "(3, 2)", payload: f4([1, 2, 3, 4, 5, 6])))
        XCTAssertEqual(try DataLoader.npy(features: x2, targets: y, task: .classification).shape, [2])
        let x3 = try write(
            "x3.npy", bytes: npy(descr: "<f4", shape: "(3, 1, 2)", payload: f4([1, 2, 3, 4, 5, 6]), version: 2))
        XCTAssertEqual(try DataLoader.npy(features: x3, targets: y, task: .classification).shape, [1, 1, 2])
        let x1 = try write("x1.npy", bytes: npy(descr: "<f4", shape: "(3,)", payload: f4([7, 8, 9])))
        XCTAssertEqual(try DataLoader.npy(features: x1, targets: y, task: .classification).shape, [1])
        let x8 = try write("x8.npy", bytes: npy(descr: "<f8", shape: "(3, 1)", payload: f8([0.1, -2, 1e30])))
        let doubles = try DataLoader.npy(features: x8, targets: y, task: .classification)
        XCTAssertNil(doubles.features.mappedFile, "float64 features are converted")
        XCTAssertEqual(Array(doubles.features), [Float(0.1), -2, Float(1e30)])
        let labelFiles: [(String, [UInt8])] = [
            ("<i2", [1, 0, 0, 0, 2, 0]), ("<i4", [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]), ("<u8", i8([1, 0, 2])),
            ("<f4", f4([1, 0, 2])), ("<f8", f8([1, 0, 2])),
        ]
        for (descr, payload) in labelFiles {
            let labels = try write("labels.npy", bytes: npy(descr: descr, shape: "(3, 1)", payload: payload))
            XCTAssertEqual(try DataLoader.npy(features: x2, targets: labels, task: .classification).labels, [1, 0, 2])
        }
        let values = try write("v.npy", bytes: npy(descr: "<f4", shape: "(3,)", payload: f4([0.5, -1, 2])))
        XCTAssertEqual(
            try DataLoader.npy(features: x2, targets: values, task: .regression).targets, .values([0.5, -1, 2]))
    }

    func testMalformedArraysAreOneErrorNamingTheFile() throws {
        let y = try write("y.npy", bytes: npy(descr: "<i8", shape: "(2,)", payload: i8([1, 0])))
        let good = npy(descr: "<f4", shape: "(2, 2)", payload: f4([1, 2, 3, 4]))
        let cases: [(String, [UInt8], String)] = [
            ("not numpy", Array("label,a\n1,2\n".utf8), "not a NumPy .npy file"),
            ("empty", [], "is empty"),
            ("truncated", Array(good.dropLast(3)), "needs exactly"),
            ("longer", good + [0, 0, 0, 0], "needs exactly"),
            ("cut header", Array(good.prefix(40)), "ends inside its header"),
            ("fortran", npy(descr: "<f4", shape: "(2, 2)", payload: f4([1, 2, 3, 4]), fortran: true), "Fortran order"),
            (
                "big-endian", npy(descr: ">f4", shape: "(2, 2)", payload: f4([1, 2, 3, 4])),
                "little-endian integers and floats"
            ),
            (
                "strings", npy(descr: "<U1", shape: "(2, 2)", payload: [UInt8](repeating: 0, count: 16)),
                "integers and floats"
            ),
            ("ints", npy(descr: "<i4", shape: "(2, 2)", payload: [UInt8](repeating: 0, count: 16)), "'<f4' (float32"),
            (
                "no shape", npy(descr: "<f4", shape: "(2, 2)", payload: f4([1, 2, 3, 4]), shapeKey: "shope"),
                "no 'shape'"
            ),
            ("scalar", npy(descr: "<f4", shape: "()", payload: f4([1])), "features are (n, d)"),
            ("no samples", npy(descr: "<f4", shape: "(0, 2)", payload: []), "holds no features"),
            ("huge", npy(descr: "<f4", shape: "(4294967296, 4294967296)", payload: []), "too large"),
            ("version", Array(good.prefix(6)) + [4] + Array(good.dropFirst(7)), "version 4"),
            ("nan", npy(descr: "<f4", shape: "(2, 2)", payload: f4([1, 2, .nan, 4])), "feature 0 of sample 1 is nan"),
        ]
        for (name, bytes, fragment) in cases {
            let x = try write("\(name).npy", bytes: bytes)
            assertDataError(
                try DataLoader.npy(features: x, targets: y, task: .classification), file: x, line: nil,
                contains: fragment)
        }
        let x = try write("x.npy", bytes: good)
        let labelCases: [(String, [UInt8], String)] = [
            ("three", npy(descr: "<i8", shape: "(3,)", payload: i8([1, 0, 1])), "has 2 samples, so expected (2,)"),
            ("matrix", npy(descr: "<i8", shape: "(2, 2)", payload: i8([1, 0, 1, 0])), "expected (2,)"),
            ("negative", npy(descr: "<i8", shape: "(2,)", payload: i8([1, -1])), "target 1: label -1"),
            ("fraction", npy(descr: "<f4", shape: "(2,)", payload: f4([1, 0.5])), "target 1: label 0.5"),
            (
                "complex", npy(descr: "<c8", shape: "(2,)", payload: [UInt8](repeating: 0, count: 16)),
                "integers and floats"
            ),
        ]
        for (name, bytes, fragment) in labelCases {
            let labels = try write("\(name)-labels.npy", bytes: bytes)
            assertDataError(
                try DataLoader.npy(features: x, targets: labels, task: .classification), file: labels, line: nil,
                contains: fragment)
        }
        assertDataError(
            try DataLoader.npy(features: directory + "/absent.npy", targets: y, task: .classification),
            file: directory + "/absent.npy", line: nil, contains: "cannot open")
        assertDataError(
            try DataLoader.npy(features: directory, targets: y, task: .classification), file: directory, line: nil,
            contains: "not a regular file")
    }

    /// Writing to mapped features (standardizing them) copies them first: the file is never written.
    func testWritingMappedFeaturesCopiesThem() throws {
        let bytes = npy(descr: "<f4", shape: "(2, 2)", payload: f4([1, 2, 3, 4]))
        let x = try write("x.npy", bytes: bytes)
        let y = try write("y.npy", bytes: npy(descr: "<i8", shape: "(2,)", payload: i8([1, 0])))
        var data = try DataLoader.npy(features: x, targets: y, task: .classification)
        let mapped = data
        data.features[1] = 20
        XCTAssertNil(data.features.mappedFile)
        XCTAssertEqual(Array(data.features), [1, 20, 3, 4])
        XCTAssertEqual(Array(mapped.features), [1, 2, 3, 4])
        Standardizer(fitting: mapped).apply(to: &data)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: x)), Data(bytes), "the file is unchanged")
    }
}

/// A shard is a `DataView`, which holds its data set inline: mapped storage must not make it
/// wider than `[Float]`, or a million shards cost 24 MB more (measured: 655 → 680 MB at 10⁶).
final class FeatureValuesLayoutTests: XCTestCase {
    func testFeatureValuesAreOneReferenceWide() {
        XCTAssertEqual(MemoryLayout<FeatureValues>.size, MemoryLayout<[Float]>.size)
    }
}
