/// Some rows of a data set, by index, without copying them: a client's shard is the rows of the
/// one pooled data set its partition gave it. Every shard of a run shares the same `base` (Swift
/// arrays are copy-on-write, a mapped file is shared, and nothing writes to a prepared run's
/// data), so a million clients cost their indices — 8 bytes a sample — and not a second copy
/// of the features.
public struct DataView: Sendable, Equatable {
    /// The data set the rows are taken from.
    public let base: Dataset
    /// Indices into `base`, in the view's order.
    public let rows: [Int]

    public init(_ base: Dataset, rows: [Int]) {
        precondition(rows.allSatisfy { (0..<base.count).contains($0) }, "a view's rows must be rows of its data set")
        self.base = base
        self.rows = rows
    }

    /// All of `data`, in its order.
    public init(whole data: Dataset) { self.init(data, rows: Array(0..<data.count)) }

    public var count: Int { rows.count }
    public var featureCount: Int { base.featureCount }
    public var shape: [Int] { base.shape }
    public var classCount: Int { base.classCount }
    public var isClassification: Bool { base.isClassification }

    /// The view's class labels in its order, or nil for regression.
    public var labels: [Int32]? { base.labels.map { labels in rows.map { labels[$0] } } }

    /// The view's targets in its order.
    public var targets: Targets {
        switch base.targets {
        case .classes(let labels, let k): .classes(rows.map { labels[$0] }, classCount: k)
        case .values(let values): .values(rows.map { values[$0] })
        }
    }

    /// The targets of the view with a zero feature each (what splitting and partitioning read).
    public func targetsOnly() -> Dataset { base.targetsOnly(rows) }

    /// The rows at `positions` of this view (positions count from 0 within the view).
    public func view(_ positions: [Int]) -> DataView { DataView(base, rows: positions.map { rows[$0] }) }

    /// The view's rows copied into a data set of their own, in the view's order.
    public func materialized() -> Dataset { base.subset(rows) }

    /// Sample `i` of the view: its `featureCount` features.
    public func features(of i: Int) -> Slice<FeatureValues> {
        let d = base.featureCount
        return base.features[(rows[i] * d)..<((rows[i] + 1) * d)]
    }
}
