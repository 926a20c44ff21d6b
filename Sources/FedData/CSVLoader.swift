extension DataLoader {
    /// Loads a comma-separated file: one sample per line, one target column, all other columns
    /// features. The first line is a header if any of its fields is not a number. The target is
    /// the column named `labelColumn` (which needs a header) or else the first column. Blank
    /// lines are skipped; quoting is not supported (the files are numeric).
    public static func csv(path: String, labelColumn: String? = nil, task: DataTask) throws -> Dataset {
        var parser = CSVParser(file: path, labelColumn: labelColumn, task: task)
        try TextParsing.forEachLine(try TextParsing.readFile(path)) { number, line in
            try parser.consume(line: line, number: number)
        }
        return try parser.finish()
    }
}

/// Line-by-line CSV state: the column layout (fixed by the first line) and the growing data.
private struct CSVParser {
    let file: String
    let labelColumn: String?
    let task: DataTask

    private var columnNames: [String]?  // nil until the first line; empty when there is no header
    private var columnCount = 0  // fixed by the first line
    private var labelIndex = 0
    private var features: [Float] = []
    private var targets = TargetAccumulator()

    init(file: String, labelColumn: String?, task: DataTask) {
        self.file = file
        self.labelColumn = labelColumn
        self.task = task
    }

    mutating func consume(line: ArraySlice<UInt8>, number: Int) throws {
        guard !TextParsing.trimmed(line).isEmpty else { return }
        let fields = TextParsing.fields(line, separator: UInt8(ascii: ","))
        if columnNames == nil {
            try startLayout(fields, number: number)
            if columnNames?.isEmpty == false { return }  // the header line holds no data
        }
        try consumeRow(fields, number: number)
    }

    /// Decides from the first line whether there is a header, and which column is the target.
    private mutating func startLayout(_ fields: [ArraySlice<UInt8>], number: Int) throws {
        let isHeader = fields.contains { TextParsing.number($0) == nil }
        let names = isHeader ? fields.map(Self.headerName) : []
        columnNames = names
        columnCount = fields.count
        guard fields.count >= 2 else {
            throw DataError(
                file: file, line: number,
                message: "found \(fields.count) column; need a target column and at least one feature column")
        }
        guard let labelColumn else { return }
        guard isHeader else {
            throw DataError(
                file: file, line: number,
                message: "label column \"\(labelColumn)\" requested but the file has no header line")
        }
        guard let index = names.firstIndex(of: labelColumn) else {
            let shown = names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", …" : "")
            throw DataError(
                file: file, line: number, message: "unknown label column \"\(labelColumn)\"; columns are: \(shown)")
        }
        labelIndex = index
    }

    private static func headerName(_ field: ArraySlice<UInt8>) -> String {
        var name = TextParsing.string(TextParsing.trimmed(field))
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
        return name
    }

    private mutating func consumeRow(_ fields: [ArraySlice<UInt8>], number: Int) throws {
        guard fields.count == columnCount else {
            throw DataError(
                file: file, line: number, message: "row has \(fields.count) values, expected \(columnCount)")
        }
        for (column, field) in fields.enumerated() {
            guard let value = TextParsing.number(field) else {
                throw DataError(
                    file: file, line: number,
                    message: "\(describe(column: column)): \(TextParsing.quoted(field)) is not a number")
            }
            do {
                if column == labelIndex {
                    try targets.append(value, task: task)
                } else {
                    features.append(try TextParsing.finiteFloat(value).get())
                }
            } catch let error as MessageError {
                throw DataError(file: file, line: number, message: "\(describe(column: column)): \(error.message)")
            }
        }
    }

    /// "column 3" or, with a header, `column 3 ("age")`; 1-based like spreadsheet users count.
    private func describe(column: Int) -> String {
        if let names = columnNames, column < names.count {
            return "column \(column + 1) (\"\(names[column])\")"
        }
        return "column \(column + 1)"
    }

    func finish() throws -> Dataset {
        guard targets.count > 0 else {
            throw DataError(file: file, message: columnNames == nil ? "file is empty" : "no data rows after the header")
        }
        return Dataset(features: features, featureCount: columnCount - 1, targets: targets.targets(task))
    }
}

/// Collects targets row by row, validating each against the task.
struct TargetAccumulator {
    private(set) var labels: [Int32] = []
    private(set) var values: [Float] = []

    var count: Int { Swift.max(labels.count, values.count) }

    /// Appends `value`, or throws a `MessageError` if it is not a valid target for `task`.
    mutating func append(_ value: Double, task: DataTask) throws {
        switch task {
        case .classification:
            guard let label = TextParsing.classLabel(value) else {
                throw MessageError("label \(TextParsing.format(value)) is not valid: \(ClassLabels.labelHint)")
            }
            labels.append(label)
        case .regression:
            values.append(try TextParsing.finiteFloat(value).get())
        }
    }

    func targets(_ task: DataTask) -> Targets {
        switch task {
        case .classification: .classes(labels, classCount: Int(labels.max() ?? -1) + 1)
        case .regression: .values(values)
        }
    }
}

extension TextParsing {
    /// A number as users wrote it: `3` rather than `3.0` for integral values.
    static func format(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
