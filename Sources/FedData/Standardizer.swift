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
    public init(fitting data: Dataset) { self.init(fitting: [DataView(whole: data)]) }

    /// The same fit over the views' rows one after another, as if they were concatenated (the
    /// same sums in the same order), without the concatenated copy.
    public init(fitting views: [DataView]) {
        let d = views.first?.featureCount ?? 0
        let n = views.reduce(0) { $0 + $1.count }
        var sum = [Double](repeating: 0, count: d)
        for view in views {
            view.base.features.withUnsafeBufferPointer { f in
                for i in view.rows { for j in 0..<d { sum[j] += Double(f[i * d + j]) } }
            }
        }
        let mean = sum.map { n > 0 ? $0 / Double(n) : 0 }
        var squares = [Double](repeating: 0, count: d)
        for view in views {
            view.base.features.withUnsafeBufferPointer { f in
                for i in view.rows {
                    for j in 0..<d {
                        let deviation = Double(f[i * d + j]) - mean[j]
                        squares[j] += deviation * deviation
                    }
                }
            }
        }
        let std = squares.map { n > 0 ? ($0 / Double(n)).squareRoot() : 0 }
        self.init(mean: mean.map { Float($0) }, scale: std.map { $0 > 0 ? Float($0) : 1 })
    }

    /// Fits one mean and population standard deviation per image channel (over every pixel of
    /// that channel in every sample; sums in Double), as `transforms.Normalize` uses them. A
    /// sample that is a vector counts as one channel.
    public init(fittingChannelsOf data: Dataset) { self.init(fittingChannelsOf: [DataView(whole: data)]) }

    /// The same fit over the views' rows one after another, without the concatenated copy.
    public init(fittingChannelsOf views: [DataView]) {
        let d = views.first?.featureCount ?? 0
        let shape = views.first?.shape ?? []
        let count = views.reduce(0) { $0 + $1.count }
        let channels = shape.count == 3 ? shape[0] : 1
        let plane = d / channels
        var sum = [Double](repeating: 0, count: channels)
        for view in views {
            view.base.features.withUnsafeBufferPointer { f in
                for i in view.rows { for j in 0..<d { sum[j / plane] += Double(f[i * d + j]) } }
            }
        }
        let values = Double(max(count * plane, 1))
        let mean = sum.map { $0 / values }
        var squares = [Double](repeating: 0, count: channels)
        for view in views {
            view.base.features.withUnsafeBufferPointer { f in
                for i in view.rows {
                    for j in 0..<d {
                        let deviation = Double(f[i * d + j]) - mean[j / plane]
                        squares[j / plane] += deviation * deviation
                    }
                }
            }
        }
        let std = squares.map { ($0 / values).squareRoot() }
        self.init(
            mean: (0..<d).map { Float(mean[$0 / plane]) },
            scale: (0..<d).map { std[$0 / plane] > 0 ? Float(std[$0 / plane]) : 1 })
    }

    /// Standardizes `data`'s features in place; `data` must have the fitted feature count.
    public func apply(to data: inout Dataset) {
        let d = mean.count
        precondition(data.featureCount == d, "standardizer fitted on \(d) features, data has \(data.featureCount)")
        let n = data.count
        data.features.withUnsafeMutableBufferPointer { f in
            for i in 0..<n { for j in 0..<d { f[i * d + j] = (f[i * d + j] - mean[j]) / scale[j] } }
        }
    }
}
