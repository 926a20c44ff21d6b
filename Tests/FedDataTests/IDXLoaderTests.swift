import FedData
import XCTest

final class IDXLoaderTests: TempDirectoryTestCase {
    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private func imageFile(count: UInt32, rows: UInt32, columns: UInt32, pixels: [UInt8]) -> [UInt8] {
        [0, 0, 8, 3] + bigEndian(count) + bigEndian(rows) + bigEndian(columns) + pixels
    }

    private func labelFile(_ labels: [UInt8]) -> [UInt8] {
        [0, 0, 8, 1] + bigEndian(UInt32(labels.count)) + labels
    }

    func testRoundTripOfTinyHandBuiltFiles() throws {
        let pixels: [UInt8] = [0, 255, 51, 102, 255, 0, 0, 0, 0, 0, 0, 0]  // 2 images of 2×3
        let images = try write("images.idx", bytes: imageFile(count: 2, rows: 2, columns: 3, pixels: pixels))
        let labels = try write("labels.idx", bytes: labelFile([7, 2]))
        let data = try DataLoader.idx(images: images, labels: labels)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.featureCount, 6)
        XCTAssertEqual(data.labels, [7, 2])
        XCTAssertEqual(data.classCount, 8)
        XCTAssertEqual(Array(data.features), pixels.map { Float($0) / 255 })
        XCTAssertEqual(data.features[2], 0.2, accuracy: 1e-7)
    }

    /// The `.gz` files as downloaded (and as Debian's dataset packages install them) read as they
    /// are, with the image shape kept; a limit reads only the first samples.
    func testGzipFilesAndLimits() throws {
        let pixels: [UInt8] = (0..<18).map { UInt8($0 * 10) }  // 3 images of 2×3
        let images = try write("images.idx", bytes: imageFile(count: 3, rows: 2, columns: 3, pixels: pixels))
        let labels = try write("labels.idx", bytes: labelFile([4, 1, 9]))
        for file in [images, labels] {
            let gzip = Process()
            gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
            gzip.arguments = ["-k", "-n", file]
            try gzip.run()
            gzip.waitUntilExit()
            XCTAssertEqual(gzip.terminationStatus, 0)
        }
        let data = try DataLoader.idx(images: images + ".gz", labels: labels + ".gz")
        XCTAssertEqual(data, try DataLoader.idx(images: images, labels: labels))
        XCTAssertEqual(data.shape, [1, 2, 3])
        XCTAssertEqual(data.labels, [4, 1, 9])
        let first = try DataLoader.idx(images: images + ".gz", labels: labels + ".gz", limit: 2)
        XCTAssertEqual(first.count, 2)
        XCTAssertEqual(Array(first.features), Array(data.features[0..<12]))
        // A gzip member cut short is reported as truncated, not read as fewer images.
        let whole = try XCTUnwrap(FileManager.default.contents(atPath: images + ".gz"))
        let cut = try write("cut.idx.gz", bytes: Array(whole.prefix(whole.count - 12)))
        XCTAssertThrowsError(try DataLoader.idx(images: cut, labels: labels)) { error in
            XCTAssertTrue("\(error)".contains(cut), "\(error)")
        }
    }

    func testMalformedFiles() throws {
        let goodLabels = try write("labels.idx", bytes: labelFile([1, 2]))
        let goodImages = try write("images.idx", bytes: imageFile(count: 2, rows: 1, columns: 2, pixels: [1, 2, 3, 4]))

        let gzip = try write("images.gz", bytes: [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF])
        assertDataError(
            try DataLoader.idx(images: gzip, labels: goodLabels), file: gzip, line: nil, contains: "corrupt gzip data")

        let truncated = try write("trunc.idx", bytes: imageFile(count: 2, rows: 1, columns: 2, pixels: [1, 2, 3]))
        assertDataError(
            try DataLoader.idx(images: truncated, labels: goodLabels), file: truncated, line: nil, contains: "truncated"
        )

        let trailing = try write("trail.idx", bytes: imageFile(count: 2, rows: 1, columns: 2, pixels: [1, 2, 3, 4, 5]))
        assertDataError(
            try DataLoader.idx(images: trailing, labels: goodLabels), file: trailing, line: nil,
            contains: "trailing bytes")

        let swapped = goodLabels  // a label file where images are expected
        assertDataError(
            try DataLoader.idx(images: swapped, labels: goodLabels), file: swapped, line: nil,
            contains: "bad magic number")

        let shortHeader = try write("short.idx", bytes: [0, 0, 8, 3, 0, 0])
        assertDataError(
            try DataLoader.idx(images: shortHeader, labels: goodLabels), file: shortHeader, line: nil,
            contains: "truncated header")

        let tiny = try write("tiny.idx", bytes: [0, 0])
        assertDataError(
            try DataLoader.idx(images: tiny, labels: goodLabels), file: tiny, line: nil, contains: "too short")

        let huge = try write("huge.idx", bytes: imageFile(count: .max, rows: .max, columns: .max, pixels: []))
        assertDataError(
            try DataLoader.idx(images: huge, labels: goodLabels), file: huge, line: nil, contains: "too large")

        // libFuzzer's find: rows × columns of 2³²−1 each wrapped around to a negative length (a trap).
        let wrap = try write("wrap.idx", bytes: [0, 0, 8, 3, 0, 0, 0, 1] + [UInt8](repeating: 0xFF, count: 8))
        assertDataError(
            try DataLoader.idx(images: wrap, labels: goodLabels), file: wrap, line: nil, contains: "too large")

        let zeroRows = try write("zero.idx", bytes: imageFile(count: 2, rows: 0, columns: 2, pixels: []))
        assertDataError(
            try DataLoader.idx(images: zeroRows, labels: goodLabels), file: zeroRows, line: nil,
            contains: "empty dimension")

        let threeLabels = try write("three.idx", bytes: labelFile([1, 2, 3]))
        assertDataError(
            try DataLoader.idx(images: goodImages, labels: threeLabels), file: threeLabels, line: nil,
            contains: "has 3 labels but \(goodImages) has 2 images")
    }
}
