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

/// A data set held in memory: features row-major (`count × featureCount` Floats) and targets.
public struct Dataset: Sendable, Equatable {
    public var features: [Float]
    public var featureCount: Int
    public var targets: Targets

    public init(features: [Float], featureCount: Int, targets: Targets) {
        precondition(featureCount > 0, "a data set needs at least one feature")
        precondition(features.count == featureCount * targets.count, "features and targets disagree in length")
        self.features = features
        self.featureCount = featureCount
        self.targets = targets
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
    public func subset(_ indices: [Int]) -> Dataset {
        var f = [Float]()
        f.reserveCapacity(indices.count * featureCount)
        for i in indices { f.append(contentsOf: features[(i * featureCount)..<((i + 1) * featureCount)]) }
        let t: Targets =
            switch targets {
            case .classes(let labels, let k): .classes(indices.map { labels[$0] }, classCount: k)
            case .values(let values): .values(indices.map { values[$0] })
            }
        return Dataset(features: f, featureCount: featureCount, targets: t)
    }

    /// Concatenates data sets with the same feature count and target kind.
    public static func concatenate(_ parts: [Dataset]) -> Dataset {
        precondition(!parts.isEmpty)
        let d = parts[0].featureCount
        precondition(parts.allSatisfy { $0.featureCount == d })
        let features = parts.flatMap(\.features)
        if parts[0].isClassification {
            let k = parts.map(\.classCount).max()!
            return Dataset(
                features: features, featureCount: d, targets: .classes(parts.flatMap { $0.labels! }, classCount: k))
        }
        return Dataset(
            features: features, featureCount: d,
            targets: .values(
                parts.flatMap { p -> [Float] in
                    if case .values(let v) = p.targets { return v }
                    preconditionFailure("cannot mix classification and regression data")
                }))
    }
}
