/// A data set's features, row-major: Floats of its own, or Float32 values read in place from a
/// memory-mapped file (`MappedFile`, e.g. a `.npy` array). Reading is the same either way;
/// writing a mapped one (standardizing it) first copies it into Floats of its own.
public struct FeatureValues: Sendable, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral {
    enum Storage: Sendable {
        case owned([Float])
        case mapped(MappedRange)
    }

    /// `count` little-endian Float32 values at byte `offset` (a multiple of 4) of `file`. A class,
    /// so that `Storage` is one reference wide as `[Float]` is: every `DataView` holds its
    /// data set inline, and a million views would otherwise carry 24 bytes more each.
    final class MappedRange: Sendable {
        let file: MappedFile
        let offset: Int
        let count: Int
        init(file: MappedFile, offset: Int, count: Int) {
            self.file = file
            self.offset = offset
            self.count = count
        }
    }

    private(set) var storage: Storage

    public init(_ values: [Float]) { storage = .owned(values) }

    public init(arrayLiteral values: Float...) { storage = .owned(values) }

    /// `count` values at byte `offset` of `file`, read in place.
    public init(mapping file: MappedFile, offset: Int, count: Int) {
        precondition(offset >= 0 && offset % 4 == 0, "mapped Float32 values must be 4-byte aligned")
        precondition(count >= 0 && offset + 4 * count <= file.bytes.count, "mapped values past the end of the file")
        storage = .mapped(MappedRange(file: file, offset: offset, count: count))
    }

    /// The file the values are read from, nil when they are the data set's own.
    public var mappedFile: MappedFile? {
        if case .mapped(let range) = storage { return range.file }
        return nil
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .owned(let values): values.count
        case .mapped(let range): range.count
        }
    }

    public subscript(position: Int) -> Float {
        get {
            switch storage {
            case .owned(let values): return values[position]
            case .mapped(let range):
                precondition(position >= 0 && position < range.count, "feature index out of range")
                return range.file.bytes.load(fromByteOffset: range.offset + 4 * position, as: Float.self)
            }
        }
        set {
            ensureOwned()
            guard case .owned(var values) = storage else { return }
            storage = .owned([])  // keeps `values` uniquely referenced, so the write does not copy it
            values[position] = newValue
            storage = .owned(values)
        }
    }

    /// The values as one buffer (for a mapped file, the mapping itself: no copy).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let values): return try values.withUnsafeBufferPointer(body)
        case .mapped(let range):
            let start = (range.file.bytes.baseAddress! + range.offset).assumingMemoryBound(to: Float.self)
            return try body(UnsafeBufferPointer(start: start, count: range.count))
        }
    }

    /// The values as one writable buffer; a mapped file's are copied into Floats of their own first.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        ensureOwned()
        guard case .owned(var values) = storage else { preconditionFailure("unreachable") }
        storage = .owned([])
        defer { storage = .owned(values) }
        return try values.withUnsafeMutableBufferPointer(body)
    }

    private mutating func ensureOwned() {
        if case .mapped = storage { storage = .owned(withUnsafeBufferPointer { Array($0) }) }
    }
}

extension FeatureValues: Equatable {
    /// Equal values in the same order, wherever they are held.
    public static func == (lhs: FeatureValues, rhs: FeatureValues) -> Bool {
        lhs.count == rhs.count
            && lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}
