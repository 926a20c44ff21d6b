/// Maps named, shaped parameter tensors onto ranges of one contiguous `Float` buffer.
///
/// A model keeps all its parameters in one buffer so an optimizer step is a single pass over
/// memory and a delta goes on the wire as one block of bytes.
public struct ParameterLayout: Codable, Sendable, Equatable {
    /// What a tensor is to the network, for decay masks.
    public enum Role: String, Codable, Sendable {
        case weight, bias
        /// A normalization layer's scale (`weight`) or shift (`bias`).
        case normScale, normShift
        /// A batch norm's running mean or variance: updated by the forward pass, never by an
        /// optimizer (no gradient, no decay).
        case normStatistic
    }

    public struct Entry: Codable, Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let role: Role
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
        /// Biases (and other vectors) are conventionally not weight-decayed.
        public var isBias: Bool { role != .weight || name.hasSuffix("bias") || shape.count <= 1 }
    }

    public private(set) var entries: [Entry] = []
    public private(set) var count = 0

    public init() {}

    public init(_ tensors: [(name: String, shape: [Int])]) {
        for t in tensors { append(name: t.name, shape: t.shape) }
    }

    /// A layout with one flat vector, for raw parameter streams (e.g. optimizer replay).
    public static func flat(_ count: Int, name: String = "w") -> ParameterLayout {
        ParameterLayout([(name, [count])])
    }

    /// Appends a tensor; its role defaults to `bias` for a name ending in "bias" or a vector.
    public mutating func append(name: String, shape: [Int], role: Role? = nil) {
        precondition(shape.allSatisfy { $0 > 0 }, "parameter \(name) has an empty dimension")
        let role = role ?? (name.hasSuffix("bias") || shape.count <= 1 ? .bias : .weight)
        let entry = Entry(name: name, shape: shape, offset: count, role: role)
        entries.append(entry)
        count += entry.count
    }

    public subscript(name: String) -> Entry? { entries.first { $0.name == name } }
}
