import Foundation

extension DataLoader {
    /// Loads an MNIST-style pair of IDX files, plain or gzip-compressed: unsigned-byte images
    /// (magic 0x00000803, `count × rows × columns`, or 0x00000804 with channels first) and
    /// labels (magic 0x00000801). Pixels are scaled to [0, 1]; each sample keeps its image shape
    /// (`[channels, rows, columns]`). With `limit`, only the first `limit` samples are read.
    public static func idx(images: String, labels: String, limit: Int? = nil) throws -> Dataset {
        let imageFile = try IDXFile(path: images, dimensionChoices: [3, 4], limit: limit)
        let labelFile = try IDXFile(path: labels, dimensionChoices: [1], limit: limit)
        let count = imageFile.items
        guard labelFile.declaredItems == imageFile.declaredItems, labelFile.items == count else {
            throw DataError(
                file: labels,
                message: "has \(labelFile.declaredItems) labels but \(images) has \(imageFile.declaredItems) images")
        }
        let shape =
            imageFile.dimensions.count == 3
            ? [1] + imageFile.dimensions.dropFirst() : Array(imageFile.dimensions.dropFirst())
        let features = imageFile.payload.map { Float($0) / 255 }
        let classLabels = labelFile.payload.map { Int32($0) }
        let classCount = Int(classLabels.max() ?? 0) + 1
        return Dataset(
            features: features, shape: shape, targets: .classes(classLabels, classCount: classCount))
    }

    /// Where Debian's `dataset-fashion-mnist` package puts the four IDX files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST's official split: the first `trainCount` of its 60,000 training images and
    /// the first `testCount` of its 10,000 test images (28×28, one channel, pixels in [0, 1]).
    public static func fashionMNIST(
        directory: String = fashionMNISTDirectory, trainCount: Int = 60_000, testCount: Int = 10_000
    ) throws -> (train: Dataset, test: Dataset) {
        func file(_ name: String) throws -> String {
            let path = directory + "/" + name
            if FileManager.default.fileExists(atPath: path) { return path }
            if FileManager.default.fileExists(atPath: path + ".gz") { return path + ".gz" }
            let hint =
                directory == fashionMNISTDirectory
                ? "Fashion-MNIST is not installed: run `sudo apt-get install dataset-fashion-mnist` "
                    + "(Scripts/install-deps.sh does)"
                : "data.path must be a directory holding Fashion-MNIST's four IDX files"
            throw DataError(file: path + ".gz", message: "no such file. \(hint)")
        }
        let train = try idx(
            images: try file("train-images-idx3-ubyte"), labels: try file("train-labels-idx1-ubyte"), limit: trainCount)
        let test = try idx(
            images: try file("t10k-images-idx3-ubyte"), labels: try file("t10k-labels-idx1-ubyte"), limit: testCount)
        guard train.count == trainCount, test.count == testCount else {
            throw DataError(
                file: directory,
                message: "holds \(train.count) training and \(test.count) test images; asked for \(trainCount) and "
                    + "\(testCount)")
        }
        // Both halves count all ten classes, even when a small test set misses one.
        let classes = max(train.classCount, test.classCount)
        return (train.withClassCount(classes), test.withClassCount(classes))
    }
}

/// One IDX file of unsigned bytes, its header checked against what the file holds. Read
/// through zlib, so `.gz` files work as they come.
struct IDXFile {
    let dimensions: [Int]
    /// Items the header declares, and the items read (fewer under a limit).
    let declaredItems: Int
    let items: Int
    let payload: [UInt8]

    /// The largest payload FedSim reads from one file (1 GiB).
    static let maxBytes = 1 << 30

    /// The magic number's third byte is the element type (0x08 = unsigned byte), the fourth the
    /// number of dimensions.
    init(path: String, dimensionChoices: [Int], limit: Int?) throws {
        let reader = try GzipReader(path: path)
        func fail(_ message: String) -> DataError { DataError(file: path, message: message) }
        let magic = try reader.readAll(4, orFail: { fail("too short for an IDX file (\($0) bytes)") })
        guard magic[0] == 0, magic[1] == 0, magic[2] == 0x08, dimensionChoices.contains(Int(magic[3])) else {
            let found = magic.map { String($0, radix: 16) }.joined(separator: " ")
            let wanted = dimensionChoices.map { "0 0 8 \($0)" }.joined(separator: " or ")
            throw fail(
                "bad magic number \(found), expected \(wanted) (unsigned-byte IDX with "
                    + "\(dimensionChoices.map(String.init).joined(separator: " or ")) dimensions)")
        }
        let header = try reader.readAll(
            4 * Int(magic[3]), orFail: { fail("truncated header: \(4 + $0) bytes, need \(4 + 4 * Int(magic[3]))") })
        let dimensions = (0..<Int(magic[3])).map { d in header[(4 * d)..<(4 * d + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard dimensions[0] > 0 else { throw fail("contains no items") }
        if dimensions.dropFirst().contains(0) { throw fail("has an empty dimension: \(dimensions)") }
        // Each product checked: a header of 2³²−1 sizes once wrapped around to a negative length
        // (libFuzzer's find).
        var itemBytes = 1
        var overflow = false
        for d in dimensions.dropFirst() {
            let (product, o) = itemBytes.multipliedReportingOverflow(by: d)
            overflow = overflow || o || product > Self.maxBytes
            itemBytes = overflow ? Self.maxBytes + 1 : product
        }
        let items = min(dimensions[0], limit ?? dimensions[0])
        let (total, totalOverflow) = itemBytes.multipliedReportingOverflow(by: items)
        guard !overflow, !totalOverflow, itemBytes <= Self.maxBytes, total <= Self.maxBytes, total >= 0 else {
            throw fail("dimensions \(dimensions) are too large (FedSim reads at most \(Self.maxBytes) bytes)")
        }
        let shape = dimensions.map(String.init).joined(separator: "×")
        payload = try reader.readAll(total) { got in
            fail("truncated: header says \(shape) needs \(total) bytes of pixels, the file has \(got)")
        }
        if items == dimensions[0], !(try reader.atEnd()) {
            throw fail("has trailing bytes after the \(shape) the header declares")
        }
        self.dimensions = dimensions
        self.declaredItems = dimensions[0]
        self.items = items
    }
}
