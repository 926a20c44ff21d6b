/// Per-feature standardization `(x - mean) / scale`, fitted on training data and then applied
/// unchanged to test and client data, so no statistics leak from held-out samples. Codable so
/// a run can store it beside the model.
public struct Standardizer: Sendable, Codable, Equatable {
    public var mean: [Float]
    /// Population standard deviation per feature; 1 for a constant feature (so it maps to 0
    /// instead of dividing by zero).
    public var scale: [Float]

    public init(mean: [Float], scale: [Float]) {
        precondition(mean.count == scale.count, "mean and scale must have one entry per feature")
        self.mean = mean
        self.scale = scale
    }

    /// Fits mean and population standard deviation of every feature of `data` (sums in Double).
    public init(fitting data: Dataset) {
        let d = data.featureCount
        let n = data.count
        var sum = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { sum[j] += Double(data.features[i * d + j]) } }
        let mean = sum.map { n > 0 ? $0 / Double(n) : 0 }
        var squares = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d {
                let deviation = Double(data.features[i * d + j]) - mean[j]
                squares[j] += deviation * deviation
            }
        }
        let std = squares.map { n > 0 ? ($0 / Double(n)).squareRoot() : 0 }
        self.init(mean: mean.map { Float($0) }, scale: std.map { $0 > 0 ? Float($0) : 1 })
    }

    /// Standardizes `data`'s features in place; `data` must have the fitted feature count.
    public func apply(to data: inout Dataset) {
        let d = mean.count
        precondition(data.featureCount == d, "standardizer fitted on \(d) features, data has \(data.featureCount)")
        for i in 0..<data.count {
            for j in 0..<d { data.features[i * d + j] = (data.features[i * d + j] - mean[j]) / scale[j] }
        }
    }
}
