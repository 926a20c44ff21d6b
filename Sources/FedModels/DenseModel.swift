import CFedKernels
import FedCore
import FedData
import Foundation

/// The models FedSim trains, by the name a topology uses.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// Linear regression, loss `(1/2B)·Σ(ŷ − y)²` (the ½ makes the gradient `(ŷ − y)·x/B`).
    case linear
    /// Binary logistic regression, loss mean binary cross-entropy on labels 0/1.
    case logistic
    /// Multinomial (softmax) regression, loss mean cross-entropy.
    case softmax
    /// A multilayer perceptron with ReLU hidden layers and a softmax output.
    case mlp
}

/// How the last layer's outputs become a loss.
public enum OutputHead: Sendable, Equatable {
    case squared, binaryLogistic, softmax
}

/// Loss and quality of a model on a data set. Classification fills `accuracy`; regression
/// fills `rmse` and `r2`.
public struct Metrics: Sendable, Equatable, Codable {
    public var loss: Double
    public var accuracy: Double?
    public var rmse: Double?
    public var r2: Double?
    public var count: Int
}

/// A feed-forward network of dense layers on one contiguous parameter buffer. Linear, logistic
/// and softmax regression are its one-layer cases. Weights are `[out, in]` row-major (PyTorch's
/// `nn.Linear` layout); products go through FedSim's own `fedsim_gemm`, which gives the same
/// bits on every CPU (see `Sources/CFedKernels`).
public struct DenseModel: Sendable, Equatable {
    public let kind: ModelKind
    /// Units per layer, input first: `[in, hidden..., out]`.
    public let sizes: [Int]
    public let bias: Bool
    public let head: OutputHead
    public let layout: ParameterLayout

    /// - Parameters:
    ///   - inputs: features per sample; `classes`: number of classes (ignored for `linear`,
    ///     must be 2 for `logistic`); `hidden`: hidden layer widths (`mlp` only).
    public init(kind: ModelKind, inputs: Int, classes: Int, hidden: [Int] = [], bias: Bool = true) {
        precondition(inputs > 0 && hidden.allSatisfy { $0 > 0 })
        self.kind = kind
        self.bias = bias
        switch kind {
        case .linear:
            sizes = [inputs, 1]
            head = .squared
        case .logistic:
            sizes = [inputs, 1]
            head = .binaryLogistic
        case .softmax:
            sizes = [inputs, classes]
            head = .softmax
        case .mlp:
            sizes = [inputs] + hidden + [classes]
            head = .softmax
        }
        var layout = ParameterLayout()
        for l in 1..<sizes.count {
            layout.append(name: "layer\(l - 1).weight", shape: [sizes[l], sizes[l - 1]])
            if bias { layout.append(name: "layer\(l - 1).bias", shape: [sizes[l]]) }
        }
        self.layout = layout
    }

    /// Names the numeric kernels. Part of every run fingerprint, so processes whose kernels
    /// could round differently never join one run; bump it when a kernel's arithmetic changes.
    public static let numericsVersion = "fedsim_gemm 1: sums in increasing k, rounded multiply then add, no FMA"

    public var parameterCount: Int { layout.count }
    var layerCount: Int { sizes.count - 1 }

    func weightOffset(_ l: Int) -> Int { layout.entries[bias ? 2 * l : l].offset }
    func biasOffset(_ l: Int) -> Int? { bias ? layout.entries[2 * l + 1].offset : nil }

    /// PyTorch's `nn.Linear` initialization: weights and biases uniform in ±1/√fan_in.
    public func initialParameters(rng: inout SeededRandom) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        for l in 0..<layerCount {
            let bound = 1 / Double(sizes[l]).squareRoot()
            let w = weightOffset(l)
            for i in w..<(w + sizes[l] * sizes[l + 1]) { p[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
            if let b = biasOffset(l) {
                for i in b..<(b + sizes[l + 1]) { p[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
            }
        }
        return p
    }

    /// Mean loss over the samples `indices` of `data`, writing its gradient into `gradient`.
    @discardableResult
    public func lossAndGradient(
        params: UnsafeBufferPointer<Float>, data: Dataset, indices: UnsafeBufferPointer<Int>,
        gradient: UnsafeMutableBufferPointer<Float>, workspace: Workspace
    ) -> Double {
        precondition(params.count == parameterCount && gradient.count == parameterCount)
        let rows = indices.count
        workspace.prepare(model: self, rows: rows)
        gather(data, indices, into: workspace)
        forward(params, rows: rows, workspace)
        let loss = headLossAndDelta(data, indices, rows: rows, workspace: workspace, wantDelta: true)
        backward(params, gradient, rows: rows, workspace)
        return loss
    }

    /// Loss and accuracy (classification) or RMSE and R² (regression) over a whole data set,
    /// evaluated in chunks.
    public func evaluate(
        params: UnsafeBufferPointer<Float>, data: Dataset, workspace: Workspace, chunk: Int = 512
    ) -> Metrics {
        let n = data.count
        guard n > 0 else { return Metrics(loss: .nan, accuracy: nil, rmse: nil, r2: nil, count: 0) }
        var lossSum = 0.0
        var correct = 0
        var squaredError = 0.0
        var start = 0
        var indices = [Int](repeating: 0, count: min(chunk, n))
        while start < n {
            let rows = min(chunk, n - start)
            for r in 0..<rows { indices[r] = start + r }
            indices.withUnsafeBufferPointer { all in
                let idx = UnsafeBufferPointer(rebasing: all[0..<rows])
                workspace.prepare(model: self, rows: rows)
                gather(data, idx, into: workspace)
                forward(params, rows: rows, workspace)
                lossSum +=
                    headLossAndDelta(data, idx, rows: rows, workspace: workspace, wantDelta: false) * Double(rows)
                let out = workspace.activations[layerCount]
                let k = sizes[layerCount]
                switch data.targets {
                case .classes(let labels, _):
                    for r in 0..<rows {
                        let predicted: Int
                        if head == .binaryLogistic {
                            predicted = out[r] >= 0 ? 1 : 0
                        } else {
                            var best = 0
                            for c in 1..<k where out[r * k + c] > out[r * k + best] { best = c }
                            predicted = best
                        }
                        if predicted == Int(labels[idx[r]]) { correct += 1 }
                    }
                case .values(let values):
                    for r in 0..<rows {
                        let e = Double(out[r]) - Double(values[idx[r]])
                        squaredError += e * e
                    }
                }
            }
            start += rows
        }
        let loss = lossSum / Double(n)
        switch data.targets {
        case .classes:
            return Metrics(loss: loss, accuracy: Double(correct) / Double(n), rmse: nil, r2: nil, count: n)
        case .values(let values):
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
            let total = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
            return Metrics(
                loss: loss, accuracy: nil, rmse: (squaredError / Double(n)).squareRoot(),
                r2: total > 0 ? 1 - squaredError / total : nil, count: n)
        }
    }

    // MARK: - Forward and backward

    private func gather(_ data: Dataset, _ indices: UnsafeBufferPointer<Int>, into ws: Workspace) {
        let d = sizes[0]
        precondition(data.featureCount == d, "data has \(data.featureCount) features, the model expects \(d)")
        data.features.withUnsafeBufferPointer { f in
            let x = ws.activations[0]
            let n = data.count
            for (r, i) in indices.enumerated() {
                precondition(i >= 0 && i < n, "sample index \(i) is outside the data set's \(n) samples")
                (x + r * d).update(from: f.baseAddress! + i * d, count: d)
            }
        }
    }

    private func forward(_ params: UnsafeBufferPointer<Float>, rows: Int, _ ws: Workspace) {
        let p = params.baseAddress!
        for l in 0..<layerCount {
            let inputs = sizes[l]
            let outputs = sizes[l + 1]
            let a = ws.activations[l]
            let z = ws.activations[l + 1]
            if let b = biasOffset(l) {
                for r in 0..<rows { (z + r * outputs).update(from: p + b, count: outputs) }
            }
            // Z = A·Wᵀ (+ bias already in Z). Either way below, every element is the bias plus
            // Σ_i W[o,i]·A[r,i] in increasing i — the same bits; the smaller transpose wins.
            let w = p + weightOffset(l)
            let scratch = ws.transposed
            if rows * (inputs + outputs) < inputs * outputs {
                // Zᵀ = W·Aᵀ: transpose the (small) batch instead of the (large) weights.
                let at = scratch
                let zt = scratch + rows * inputs
                fedsim_transpose(Int32(rows), Int32(inputs), a, inputs, at, rows)
                fedsim_transpose(Int32(rows), Int32(outputs), z, outputs, zt, rows)
                fedsim_gemm(Int32(outputs), Int32(rows), Int32(inputs), w, inputs, 1, at, rows, zt, rows, bias ? 1 : 0)
                fedsim_transpose(Int32(outputs), Int32(rows), zt, rows, z, outputs)
            } else {
                fedsim_transpose(Int32(outputs), Int32(inputs), w, inputs, scratch, outputs)
                fedsim_gemm(
                    Int32(rows), Int32(outputs), Int32(inputs), a, inputs, 1, scratch, outputs, z, outputs, bias ? 1 : 0
                )
            }
            if l < layerCount - 1 {
                for i in 0..<(rows * outputs) { z[i] = max(z[i], 0) }
            }
        }
    }

    /// Mean loss of the last layer's outputs; with `wantDelta`, also dLoss/dZ into `deltas[L]`.
    private func headLossAndDelta(
        _ data: Dataset, _ indices: UnsafeBufferPointer<Int>, rows: Int,
        workspace ws: Workspace, wantDelta: Bool
    ) -> Double {
        let out = ws.activations[layerCount]
        let delta = ws.deltas[layerCount]
        let k = sizes[layerCount]
        let scale = 1 / Float(rows)
        var loss = 0.0
        switch (head, data.targets) {
        case (.squared, .values(let values)):
            for r in 0..<rows {
                let e = out[r] - values[indices[r]]
                loss += 0.5 * Double(e) * Double(e)
                if wantDelta { delta[r] = e * scale }
            }
        case (.binaryLogistic, .classes(let labels, _)):
            for r in 0..<rows {
                let z = Double(out[r])
                let y = Double(labels[indices[r]])
                loss += max(z, 0) - z * y + log1p(exp(-abs(z)))
                if wantDelta { delta[r] = Float(1 / (1 + exp(-z)) - y) * scale }
            }
        case (.softmax, .classes(let labels, _)):
            for r in 0..<rows {
                let row = out + r * k
                var m = row[0]
                for c in 1..<k { m = max(m, row[c]) }
                var sum = 0.0
                for c in 0..<k { sum += exp(Double(row[c] - m)) }
                let y = Int(labels[indices[r]])
                loss += log(sum) + Double(m) - Double(row[y])
                if wantDelta {
                    let d = delta + r * k
                    for c in 0..<k { d[c] = Float(exp(Double(row[c] - m)) / sum) * scale }
                    d[y] -= scale
                }
            }
        default:
            preconditionFailure("model head \(head) does not fit these targets")
        }
        return loss / Double(rows)
    }

    private func backward(
        _ params: UnsafeBufferPointer<Float>, _ gradient: UnsafeMutableBufferPointer<Float>,
        rows: Int, _ ws: Workspace
    ) {
        let p = params.baseAddress!
        let g = gradient.baseAddress!
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let inputs = sizes[l]
            let outputs = sizes[l + 1]
            let dz = ws.deltas[l + 1]
            let a = ws.activations[l]
            // dW = dZᵀ·A
            fedsim_gemm(
                Int32(outputs), Int32(inputs), Int32(rows), dz, 1, outputs, a, inputs, g + weightOffset(l), inputs, 0)
            if let b = biasOffset(l) {
                let db = g + b
                for o in 0..<outputs { db[o] = 0 }
                for r in 0..<rows {
                    let row = dz + r * outputs
                    for o in 0..<outputs { db[o] += row[o] }
                }
            }
            if l > 0 {
                // dA = dZ·W, then through the ReLU: dZ_prev = dA ⊙ [A > 0]
                let da = ws.deltas[l]
                fedsim_gemm(
                    Int32(rows), Int32(inputs), Int32(outputs), dz, outputs, 1, p + weightOffset(l), inputs, da, inputs,
                    0)
                for i in 0..<(rows * inputs) where a[i] <= 0 { da[i] = 0 }
            }
        }
    }
}

/// Scratch memory for one model's forward and backward passes, reused across batches so a
/// training step allocates nothing once warmed up. Owned by one trainer; not shared.
public final class Workspace {
    /// `activations[0]` is the gathered input batch; `activations[l]` layer l's output.
    fileprivate var activations: [UnsafeMutablePointer<Float>] = []
    fileprivate var deltas: [UnsafeMutablePointer<Float>] = []
    /// Scratch for the forward product: one layer's weights transposed to `[in, out]`, or the
    /// batch and the layer's output transposed.
    fileprivate var transposed = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var capacities: [Int] = []
    private var transposedCapacity = 0

    public init() {}

    fileprivate func prepare(model: DenseModel, rows: Int) {
        let needed = model.sizes.map { $0 * max(rows, 1) }
        var largestLayer = 0
        for l in 1..<model.sizes.count {
            let weights: Int = model.sizes[l] * model.sizes[l - 1]
            let batch: Int = max(rows, 1) * (model.sizes[l] + model.sizes[l - 1])
            largestLayer = max(largestLayer, weights, batch)
        }
        if needed.count == capacities.count && zip(needed, capacities).allSatisfy({ $0 <= $1 })
            && largestLayer <= transposedCapacity
        {
            return
        }
        release()
        capacities = needed
        activations = needed.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        deltas = needed.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        transposed = .allocate(capacity: largestLayer)
        transposedCapacity = largestLayer
    }

    private func release() {
        activations.forEach { $0.deallocate() }
        deltas.forEach { $0.deallocate() }
        transposed.deallocate()
        transposed = .allocate(capacity: 0)
        transposedCapacity = 0
        activations = []
        deltas = []
        capacities = []
    }

    deinit { release() }
}
