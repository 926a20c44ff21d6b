/// What a data set's targets are: class labels (classification) or real values (regression).
public enum Targets: Sendable, Equatable {
    case classes([Int32], classCount: Int)
    case values([Float])

    public var count: Int {
        switch self {
        case .classes(let labels, _): labels.count
        case .values(let values): values.count
        }
    }
}

/// A data set: features row-major (`count × featureCount` Floats, the data set's own or mapped
/// from a file) and targets.
/// Each sample has a shape: `[featureCount]` for vectors, `[channels, height, width]` for
/// images (NCHW, so a sample's features are its channel planes one after another).
public struct Dataset: Sendable, Equatable {
    public var features: FeatureValues
    public private(set) var featureCount: Int
    /// One sample's shape; its product is `featureCount`.
    public private(set) var shape: [Int]
    public var targets: Targets

    public init(features: [Float], featureCount: Int, targets: Targets) {
        self.init(features: features, shape: [featureCount], targets: targets)
    }

    public init(features: [Float], shape: [Int], targets: Targets) {
        self.init(features: FeatureValues(features), shape: shape, targets: targets)
    }

    public init(features: FeatureValues, shape: [Int], targets: Targets) {
        let featureCount = shape.reduce(1, *)
        precondition(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "a data set needs at least one feature")
        precondition(features.count == featureCount * targets.count, "features and targets disagree in length")
        self.features = features
        self.featureCount = featureCount
        self.shape = shape
        self.targets = targets
    }

    /// The same samples seen with another sample shape of the same size (e.g. 64 features as 1×8×8).
    public func reshaped(_ shape: [Int]) -> Dataset? {
        guard shape.reduce(1, *) == featureCount, shape.allSatisfy({ $0 > 0 }) else { return nil }
        var copy = self
        copy.shape = shape
        return copy
    }

    /// The same data declaring `classCount` classes (at least as many as its labels use).
    public func withClassCount(_ classCount: Int) -> Dataset {
        guard case .classes(let labels, let k) = targets, classCount > k else { return self }
        var copy = self
        copy.targets = .classes(labels, classCount: classCount)
        return copy
    }

    /// Number of samples.
    public var count: Int { targets.count }

    /// Class labels, or nil for a regression data set.
    public var labels: [Int32]? {
        if case .classes(let labels, _) = targets { return labels }
        return nil
    }

    /// Number of classes (0 for regression).
    public var classCount: Int {
        if case .classes(_, let k) = targets { return k }
        return 0
    }

    public var isClassification: Bool { classCount > 0 }

    /// The samples at `indices`, in that order.
    /// The targets of `indices` with a single zero feature each: what splitting and
    /// partitioning read (counts and labels), without copying the features.
    public func targetsOnly(_ indices: [Int]) -> Dataset {
        let t: Targets =
            switch targets {
            case .classes(let labels, let k): .classes(indices.map { labels[$0] }, classCount: k)
            case .values(let values): .values(indices.map { values[$0] })
            }
        return Dataset(features: [Float](repeating: 0, count: indices.count), featureCount: 1, targets: t)
    }

    public func subset(_ indices: [Int]) -> Dataset {
        let d = featureCount
        var f = [Float]()
        f.reserveCapacity(indices.count * d)
        features.withUnsafeBufferPointer { all in
            for i in indices { f.append(contentsOf: UnsafeBufferPointer(rebasing: all[(i * d)..<((i + 1) * d)])) }
        }
        let t: Targets =
            switch targets {
            case .classes(let labels, let k): .classes(indices.map { labels[$0] }, classCount: k)
            case .values(let values): .values(indices.map { values[$0] })
            }
        return Dataset(features: f, shape: shape, targets: t)
    }

    /// Concatenates data sets with the same feature count and target kind.
    public static func concatenate(_ parts: [Dataset]) -> Dataset {
        precondition(!parts.isEmpty)
        let d = parts[0].shape
        precondition(parts.allSatisfy { $0.shape == d })
        var features = [Float]()
        features.reserveCapacity(parts.reduce(0) { $0 + $1.features.count })
        for part in parts { part.features.withUnsafeBufferPointer { features.append(contentsOf: $0) } }
        if parts[0].isClassification {
            let k = parts.map(\.classCount).max()!
            return Dataset(
                features: features, shape: d, targets: .classes(parts.flatMap { $0.labels! }, classCount: k))
        }
        return Dataset(
            features: features, shape: d,
            targets: .values(
                parts.flatMap { p -> [Float] in
                    if case .values(let v) = p.targets { return v }
                    preconditionFailure("cannot mix classification and regression data")
                }))
    }
}
