extension DataLoader {
    /// Loads an svmlight/LIBSVM file: `label index:value index:value ...` per line, indices
    /// 1-based and strictly ascending, missing indices meaning 0, `#` starting a comment.
    /// The feature count is `featureCount` if given (a larger index is an error), else the largest
    /// index seen. Classification labels must be integers; labels in {-1, +1} (the binary
    /// convention of many LIBSVM sets) become {0, 1}, otherwise labels must be ≥ 0.
    public static func libsvm(path: String, featureCount: Int? = nil, task: DataTask) throws -> Dataset {
        if let featureCount, featureCount < 1 {
            throw DataError(file: path, message: "featureCount must be at least 1, got \(featureCount)")
        }
        let rows = try SparseRows(file: path, bytes: TextParsing.readFile(path), featureLimit: featureCount, task: task)
        return try rows.dataset(featureCount: featureCount ?? rows.maxIndex)
    }
}

/// A parsed LIBSVM file before densifying, so a directory of files can agree on one width first.
struct SparseRows {
    /// The largest feature index read (as many features as a topology's `features` allows).
    static let maxFeatureIndex = 1_000_000
    let file: String
    let task: DataTask
    private(set) var maxIndex = 0
    private var rawLabels: [Double] = []
    private var labelLines: [Int] = []
    private var rowStarts: [Int] = [0]
    private var indices: [Int] = []  // 1-based, as in the file
    private var values: [Float] = []

    var count: Int { rawLabels.count }

    init(file: String, bytes: [UInt8], featureLimit: Int?, task: DataTask) throws {
        self.file = file
        self.task = task
        try TextParsing.forEachLine(bytes) { number, line in
            try parseLine(line, number: number, featureLimit: featureLimit)
        }
        guard count > 0 else { throw DataError(file: file, message: "no data rows") }
    }

    private mutating func parseLine(_ line: ArraySlice<UInt8>, number: Int, featureLimit: Int?) throws {
        let content = line.firstIndex(of: UInt8(ascii: "#")).map { line[..<$0] } ?? line
        let tokens = TextParsing.tokens(content)
        guard let labelToken = tokens.first else { return }
        func fail(_ message: String) -> DataError { DataError(file: file, line: number, message: message) }

        guard let label = TextParsing.number(labelToken) else {
            throw fail("label \(TextParsing.quoted(labelToken)) is not a number")
        }
        try checkLabel(label).mapError { fail($0.message) }.get()
        var previous = 0
        for token in tokens.dropFirst() {
            guard let colon = token.firstIndex(of: UInt8(ascii: ":")) else {
                throw fail("expected index:value, found \(TextParsing.quoted(token))")
            }
            let indexText = TextParsing.string(token[..<colon])
            if indexText == "qid" { continue }  // ranking query ids carry no feature
            guard let index = Int(indexText) else {
                throw fail("feature index \(TextParsing.quoted(token[..<colon])) is not an integer")
            }
            guard index >= 1 else { throw fail("feature index \(index) is not allowed: indices start at 1") }
            guard index > previous else {
                throw fail("feature index \(index) follows \(previous): indices must be strictly ascending")
            }
            if let featureLimit, index > featureLimit {
                throw fail("feature index \(index) exceeds the feature count \(featureLimit)")
            }
            // Rows are stored dense: one huge index would allocate gigabytes (a fuzzer's find).
            guard index <= Self.maxFeatureIndex else {
                throw fail("feature index \(index) is beyond the \(Self.maxFeatureIndex) features FedSim holds")
            }
            let valueBytes = token[token.index(after: colon)...]
            guard let raw = TextParsing.number(valueBytes) else {
                throw fail("feature \(index): \(TextParsing.quoted(valueBytes)) is not a number")
            }
            let value = try TextParsing.finiteFloat(raw).mapError { fail("feature \(index): \($0.message)") }.get()
            indices.append(index)
            values.append(value)
            previous = index
        }
        maxIndex = max(maxIndex, previous)
        rawLabels.append(label)
        labelLines.append(number)
        rowStarts.append(indices.count)
    }

    /// Per-line label checks; the sign convention is decided once the whole file is read.
    private func checkLabel(_ label: Double) -> Result<Void, MessageError> {
        switch task {
        case .regression:
            return TextParsing.finiteFloat(label).map { _ in () }
        case .classification:
            guard label.isFinite, label == label.rounded(), label <= Double(ClassLabels.maxLabel) else {
                return .failure(
                    MessageError("label \(TextParsing.format(label)) is not valid: \(ClassLabels.labelHint)"))
            }
            return .success(())
        }
    }

    /// Class labels with {-1, +1} mapped to {0, 1}; any other negative label is an error.
    private func classLabels() throws -> [Int32] {
        let minusOne = rawLabels.firstIndex(of: -1)
        if let bad = rawLabels.firstIndex(where: { $0 < 0 && $0 != -1 }) {
            throw DataError(
                file: file, line: labelLines[bad],
                message:
                    "label \(TextParsing.format(rawLabels[bad])) is negative: \(ClassLabels.labelHint) (or exactly "
                    + "-1/+1)"
            )
        }
        guard let minusOne else { return rawLabels.map { Int32($0) } }
        if let other = rawLabels.firstIndex(where: { $0 != -1 && $0 != 1 }) {
            throw DataError(
                file: file, line: labelLines[minusOne],
                message:
                    "label -1 is only allowed when all labels are -1 or +1, but line \(labelLines[other]) has label "
                    + "\(TextParsing.format(rawLabels[other]))"
            )
        }
        return rawLabels.map { $0 == 1 ? 1 : 0 }
    }

    func targets() throws -> Targets {
        switch task {
        case .classification:
            let labels = try classLabels()
            return .classes(labels, classCount: Int(labels.max() ?? -1) + 1)
        case .regression:
            return .values(rawLabels.map { Float($0) })
        }
    }

    /// The rows as a dense data set `featureCount` wide (at least `maxIndex`).
    func dataset(featureCount: Int) throws -> Dataset {
        guard featureCount >= 1 else { throw DataError(file: file, message: "no features: every row has only a label") }
        precondition(featureCount >= maxIndex, "caller must pass a width covering every index")
        var features = [Float](
            repeating: 0, count: try checkedDenseSize(rows: count, columns: featureCount, file: file))
        for row in 0..<count {
            for k in rowStarts[row]..<rowStarts[row + 1] {
                features[row * featureCount + indices[k] - 1] = values[k]
            }
        }
        return Dataset(features: features, featureCount: featureCount, targets: try targets())
    }
}
