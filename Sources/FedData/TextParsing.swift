import Foundation

/// Reading files and parsing numbers from raw bytes, shared by the text loaders. Working on bytes
/// (not `String` lines) keeps large CSV files fast and makes line numbers exact.
enum TextParsing {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    /// The whole file, or a `DataError` saying why it could not be read.
    static func readFile(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, message: "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError(file: path, message: "is a directory, expected a file") }
        // read(2) in 1 MB steps: no whole-file buffer handed over by Foundation (whose
        // `contents(atPath:)` leaked 4 KB per empty file under AddressSanitizer's leak check).
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(file: path, message: "cannot read file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        // A step as big as the file (plus one byte to see its end), at most 1 MB.
        var chunk = [UInt8](repeating: 0, count: min(size + 1, 1 << 20))
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError(file: path, message: "cannot read file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// Calls `body` with each line (1-based number, content without `\r\n`/`\n`). A UTF-8 byte
    /// order mark (as spreadsheet exports write) is skipped, so it cannot turn data into a header.
    static func forEachLine(_ bytes: [UInt8], _ body: (Int, ArraySlice<UInt8>) throws -> Void) rethrows {
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var lineNumber = 1
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: newline) ?? bytes.count
            var line = bytes[start..<end]
            if line.last == carriageReturn { line = line.dropLast() }
            try body(lineNumber, line)
            start = end + 1
            lineNumber += 1
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// `bytes` without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }),
            let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }

    /// The fields of `line` separated by `separator` (not trimmed).
    static func fields(_ line: ArraySlice<UInt8>, separator: UInt8) -> [ArraySlice<UInt8>] {
        line.split(separator: separator, omittingEmptySubsequences: false)
    }

    /// Whitespace-separated tokens of `line`.
    static func tokens(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(whereSeparator: isBlank)
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// A field's text for an error message, shortened so one bad cell cannot flood the terminal.
    static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
        let text = string(bytes)
        return text.count > 40 ? "\"\(text.prefix(40))…\"" : "\"\(text)\""
    }

    /// The number in `bytes` (surrounding blanks allowed), or nil if it is not a number at all.
    /// NaN and infinities parse; callers reject them with a message that says so.
    static func number(_ bytes: ArraySlice<UInt8>) -> Double? {
        let core = trimmed(bytes)
        guard !core.isEmpty else { return nil }
        if let simple = simpleDecimal(core) { return simple }
        // Short fields fit Swift's small-string storage, so this allocates nothing.
        return Double(string(core))
    }

    private static let powersOfTen: [Double] = (0...15).map { pow(10, Double($0)) }

    /// Fast path for plain decimals (`-12.5`, `255`): at most 15 digits and no exponent, so the
    /// digits form an exact integer and one division by an exact power of ten rounds correctly
    /// (Clinger's fast path) — the same value `Double(String)` gives, several times faster.
    private static func simpleDecimal(_ bytes: ArraySlice<UInt8>) -> Double? {
        var index = bytes.startIndex
        var negative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var fractionDigits = 0
        var seenPoint = false
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                mantissa = mantissa * 10 + Int64(byte - UInt8(ascii: "0"))
                digits += 1
                if seenPoint { fractionDigits += 1 }
                if digits > 15 { return nil }
            } else {
                return nil
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        let magnitude = Double(mantissa) / powersOfTen[fractionDigits]
        return negative ? -magnitude : magnitude
    }

    /// `value` as a finite Float, or a message explaining why it is not one.
    static func finiteFloat(_ value: Double) -> Result<Float, MessageError> {
        guard value.isFinite else { return .failure(MessageError("value \(value) is not finite")) }
        let f = Float(value)
        guard f.isFinite else { return .failure(MessageError("value \(value) is outside the range of Float")) }
        return .success(f)
    }

    /// `value` as a class label, if it is a non-negative integer no larger than `ClassLabels.maxLabel`.
    static func classLabel(_ value: Double) -> Int32? {
        guard value.isFinite, value == value.rounded(), value >= 0, value <= Double(ClassLabels.maxLabel) else {
            return nil
        }
        return Int32(value)
    }
}

/// A message without a location yet; the caller adds file and line.
struct MessageError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

enum ClassLabels {
    /// Largest class label accepted (10,000 classes). The model's output layer is sized by the
    /// largest label, so one stray value (an ID, a regression target loaded as classification)
    /// would silently build a huge classifier; it is refused, with its file and line, instead.
    static let maxLabel: Int32 = 9_999

    static let labelHint = "classification labels must be integers in 0...\(maxLabel)"
}

/// Dense matrices are allocated as `rows × columns` Floats; refuse sizes that overflow or are
/// absurd, with a message, rather than trapping or exhausting memory.
func checkedDenseSize(rows: Int, columns: Int, file: String) throws -> Int {
    let (size, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard !overflow, size <= 1 << 28 else {
        throw DataError(file: file, message: "\(rows) × \(columns) values is too large to hold in memory")
    }
    return size
}
