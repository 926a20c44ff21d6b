import CFedKernels
import FedCore
import FedData
import Foundation
import Synchronization

/// A feed-forward network of layers on one contiguous parameter buffer: the one model type the
/// engine, the codec and the optimizers see. Linear, logistic and softmax regression and the MLP
/// are its all-dense cases; conv nets are lists of `LayerSpec`s. Weights use PyTorch's layouts
/// (`nn.Linear` `[out, in]`, `nn.Conv2d` `[out, in, kh, kw]`) and initialization, so they can be
/// exchanged with PyTorch. Products go through FedSim's own `fedsim_gemm` (all-dense networks) and
/// `fedsim_gemm_fused` (networks with a conv layer), which give the same bits on every CPU (see
/// `Sources/CFedKernels` and `fusedProducts`).
public struct Network: Sendable, Equatable {
    public let kind: ModelKind
    /// One sample's shape: `[D]` or `[C, H, W]`.
    public let inputShape: [Int]
    public let layers: [LayerSpec]
    public let head: OutputHead
    public let layout: ParameterLayout
    /// Each layer with its shapes and the offsets of its parameters.
    private(set) var plan: [PlannedLayer]

    struct PlannedLayer: Sendable, Equatable {
        let spec: LayerSpec
        let input: [Int]
        let output: [Int]
        let weight: Int?
        let bias: Int?
        /// A residual block's body and (when not the identity) shortcut, and where their
        /// parameters start in this network's buffer.
        var children: [Network] = []
        var childOffsets: [Int] = []
        var inputCount: Int { input.reduce(1, *) }
        var outputCount: Int { output.reduce(1, *) }
    }

    /// Names the numeric kernels this network runs. Part of every run fingerprint, so processes
    /// whose kernels could round differently never join one run; bump it when a kernel's
    /// arithmetic changes. All-dense networks keep the arithmetic their pinned hashes were made
    /// with; networks with a conv layer use the fused product (one rounding per multiply-add),
    /// which is twice the arithmetic per cycle on CPUs with FMA and the same bits on every CPU.
    public var numericsVersion: String { fusedProducts ? Self.convNetNumerics : Self.denseNumerics }
    static let denseNumerics = "fedsim_gemm 1: sums in increasing k, rounded multiply then add, no FMA"
    static let convNetNumerics =
        "conv nets 2: fedsim_gemm_fused for every product (dense, and conv per sample), sums in increasing k "
        + "with one fused multiply-add per term"

    /// Whether every product (dense and conv layers alike) is the fused one: in networks with a
    /// conv layer, yes; the all-dense networks keep `fedsim_gemm`, whose results their pinned
    /// hashes hold. Set for the whole network, residual blocks included.
    private(set) var fusedProducts = false

    private mutating func setFusedProducts(_ fused: Bool) {
        fusedProducts = fused
        for i in plan.indices {
            for c in plan[i].children.indices { plan[i].children[c].setFusedProducts(fused) }
        }
    }

    /// Whether a conv layer runs anywhere in this network (residual blocks included).
    var hasConv: Bool {
        plan.contains { layer in
            if case .conv2d = layer.spec { return true }
            return layer.children.contains { $0.hasConv }
        }
    }

    /// The all-dense models `linear`, `logistic`, `softmax` and `mlp`.
    /// - Parameters:
    ///   - inputs: features per sample; `classes`: number of classes (ignored for `linear`,
    ///     must be 2 for `logistic`); `hidden`: hidden layer widths (`mlp` only).
    public init(kind: ModelKind, inputs: Int, classes: Int, hidden: [Int] = [], bias: Bool = true) {
        precondition(inputs > 0 && hidden.allSatisfy { $0 > 0 })
        let layers: [LayerSpec]
        let head: OutputHead
        switch kind {
        case .linear:
            (layers, head) = ([.dense(units: 1, bias: bias)], .squared)
        case .logistic:
            (layers, head) = ([.dense(units: 1, bias: bias)], .binaryLogistic)
        case .softmax:
            (layers, head) = ([.dense(units: classes, bias: bias)], .softmax)
        case .mlp:
            layers = hidden.flatMap { [.dense(units: $0, bias: bias), .relu] } + [.dense(units: classes, bias: bias)]
            head = .softmax
        case .cnn, .sequential:
            preconditionFailure("\(kind) networks are built from layers: use init(input:layers:classes:)")
        }
        // The dense models name their parameters `layer<k>.weight`, k counting dense layers only.
        var denseIndex = 0
        try! self.init(kind: kind, input: [inputs], layers: layers, head: head) { spec, _ in
            guard case .dense = spec else { return "" }
            defer { denseIndex += 1 }
            return "layer\(denseIndex)"
        }
    }

    /// A classifier built from `layers` on inputs of shape `input`; the last layer must give
    /// `classes` outputs. Parameters are named as in `nn.Sequential` (`0.weight`, `0.bias`, ...).
    public init(
        kind: ModelKind = .sequential, input: [Int], layers: [LayerSpec], classes: Int
    )
        throws(ModelShapeError)
    {
        try self.init(kind: kind, input: input, layers: layers, head: .softmax) { _, index in "\(index)" }
        guard plan.last?.output == [classes] else {
            let got = plan.last.map { describe($0.output) } ?? describe(input)
            throw ModelShapeError(
                layer: layers.isEmpty ? nil : layers.count - 1,
                "the network ends in \(got) outputs, but the data has \(classes) classes: "
                    + "end with a dense layer of \(classes) units")
        }
    }

    /// A network of `layers` with any output shape (a piece of a network, e.g. to check layers
    /// against PyTorch with `forwardAndBackward`); as a classifier its head is softmax.
    public init(kind: ModelKind = .sequential, input: [Int], layers: [LayerSpec]) throws(ModelShapeError) {
        try self.init(kind: kind, input: input, layers: layers, head: .softmax) { _, index in "\(index)" }
    }

    private init(
        kind: ModelKind, input: [Int], layers: [LayerSpec], head: OutputHead,
        name: (LayerSpec, Int) -> String
    ) throws(ModelShapeError) {
        guard !input.isEmpty, input.allSatisfy({ $0 > 0 }) else {
            throw ModelShapeError(layer: nil, "the input shape \(describe(input)) has an empty dimension")
        }
        guard !layers.isEmpty else { throw ModelShapeError(layer: nil, "the network has no layers") }
        self.kind = kind
        self.inputShape = input
        self.layers = layers
        self.head = head
        var layout = ParameterLayout()
        var plan: [PlannedLayer] = []
        var shape = input
        for (index, spec) in layers.enumerated() {
            if case .residual(let body, let shortcut) = spec {
                let block = try Self.planResidual(
                    body: body, shortcut: shortcut, input: shape, index: index, prefix: name(spec, index),
                    layout: &layout)
                plan.append(block)
                shape = block.output
                continue
            }
            let output = try spec.outputShape(for: shape, index: index)
            let added: Int? =
                switch spec {
                case .dense(let units, let bias): Self.product([units, shape[0]]).map { $0 + (bias ? units : 0) }
                case .conv2d(let channels, let kernel, _, _, let bias):
                    Self.product([channels, shape[0], kernel, kernel]).map { $0 + (bias ? channels : 0) }
                default: 0
                }
            guard let added, let outputs = Self.product(output), outputs <= Self.maxActivationsPerSample,
                layout.count + added <= Self.maxParameters
            else {
                throw ModelShapeError(
                    layer: index,
                    "layer \(index) (\(spec.kindName)): the network grows past what FedSim holds "
                        + "(\(Self.maxParameters) parameters, \(Self.maxActivationsPerSample) values per sample "
                        + "in one layer's output); output \(describe(output))")
            }
            var weight: Int?
            var bias: Int?
            let prefix = name(spec, index)
            switch spec {
            case .dense(let units, let hasBias):
                weight = layout.count
                layout.append(name: "\(prefix).weight", shape: [units, shape[0]])
                if hasBias {
                    bias = layout.count
                    layout.append(name: "\(prefix).bias", shape: [units])
                }
            case .conv2d(let channels, let kernel, _, _, let hasBias):
                weight = layout.count
                layout.append(name: "\(prefix).weight", shape: [channels, shape[0], kernel, kernel])
                if hasBias {
                    bias = layout.count
                    layout.append(name: "\(prefix).bias", shape: [channels])
                }
            case .groupNorm, .batchNorm:
                weight = layout.count
                layout.append(name: "\(prefix).weight", shape: [shape[0]], role: .normScale)
                bias = layout.count
                layout.append(name: "\(prefix).bias", shape: [shape[0]], role: .normShift)
                if case .batchNorm = spec {
                    layout.append(name: "\(prefix).running_mean", shape: [shape[0]], role: .normStatistic)
                    layout.append(name: "\(prefix).running_var", shape: [shape[0]], role: .normStatistic)
                }
            case .maxPool2d, .avgPool2d, .relu, .flatten, .dropout, .residual:
                break
            }
            plan.append(PlannedLayer(spec: spec, input: shape, output: output, weight: weight, bias: bias))
            shape = output
        }
        self.layout = layout
        self.plan = plan
        setFusedProducts(hasConv)
        let perSample = Workspace.floats(for: self, rows: 1)
        guard perSample <= Self.maxScratchPerSample else {
            throw ModelShapeError(
                layer: nil,
                "the network needs \(perSample * 4 / 1_048_576) MB of scratch memory per sample; FedSim allows "
                    + "\(Self.maxScratchPerSample * 4 / 1_048_576) MB: use smaller images or fewer channels")
        }
    }

    /// Plans a residual block: its body and shortcut as networks of their own, whose parameters
    /// follow each other in `layout` under `<prefix>.body.` and `<prefix>.shortcut.`.
    private static func planResidual(
        body: [LayerSpec], shortcut: [LayerSpec], input: [Int], index: Int, prefix: String,
        layout: inout ParameterLayout
    ) throws(ModelShapeError) -> PlannedLayer {
        func part(_ name: String, _ layers: [LayerSpec]) throws(ModelShapeError) -> Network {
            do {
                return try Network(kind: .sequential, input: input, layers: layers)
            } catch {
                throw ModelShapeError(layer: index, "layer \(index) (residual) \(name): \(error.message)")
            }
        }
        let bodyNet = try part("body", body)
        let shortcutNet = shortcut.isEmpty ? nil : try part("shortcut", shortcut)
        let output = bodyNet.plan.last!.output
        let other = shortcutNet?.plan.last!.output ?? input
        guard output == other else {
            throw ModelShapeError(
                layer: index,
                "layer \(index) (residual): the body gives \(describe(output)) but the "
                    + (shortcutNet == nil
                        ? "identity shortcut passes \(describe(other)); give the block a shortcut that matches "
                            + "(e.g. a 1×1 conv2d with the body's stride)"
                        : "shortcut gives \(describe(other))"))
        }
        var children = [bodyNet]
        var offsets: [Int] = []
        for (net, name) in [(bodyNet, "body"), (shortcutNet, "shortcut")] {
            guard let net else { continue }
            guard layout.count + net.parameterCount <= maxParameters else {
                throw ModelShapeError(
                    layer: index, "layer \(index) (residual): the network grows past \(maxParameters) parameters")
            }
            offsets.append(layout.count)
            for entry in net.layout.entries {
                layout.append(name: "\(prefix).\(name).\(entry.name)", shape: entry.shape, role: entry.role)
            }
            if name == "shortcut" { children.append(net) }
        }
        var block = PlannedLayer(
            spec: .residual(body: body, shortcut: shortcut), input: input, output: output, weight: nil, bias: nil)
        block.children = children
        block.childOffsets = offsets
        return block
    }

    /// The most parameters a network may have: what one wire message carries (2²⁷, 512 MB).
    public static let maxParameters = 1 << 27
    /// The most values one layer may output per sample.
    public static let maxActivationsPerSample = 1 << 24
    /// The most floats one sample's forward and backward pass may need (1 GB).
    public static let maxScratchPerSample = 1 << 28

    /// The product of `dims`, or nil on overflow.
    static func product(_ dims: [Int]) -> Int? {
        var total = 1
        for d in dims {
            let (p, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = p
        }
        return total
    }

    public var parameterCount: Int { layout.count }
    /// Features per sample the network reads.
    public var inputCount: Int { inputShape.reduce(1, *) }
    public var outputCount: Int { plan.last!.outputCount }

    /// PyTorch's default initialization for `nn.Linear` and `nn.Conv2d` (kaiming-uniform with
    /// a = √5, bias uniform ±1/√fan_in): both come to uniform in ±1/√fan_in, fan_in = in·kh·kw.
    /// Layer by layer, weights before biases.
    public func initialParameters(rng: inout SeededRandom) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        for layer in plan {
            for (child, offset) in zip(layer.children, layer.childOffsets) {
                p.replaceSubrange(offset..<(offset + child.parameterCount), with: child.initialParameters(rng: &rng))
            }
            guard let w = layer.weight else { continue }
            let fanIn: Int
            let outputs: Int
            switch layer.spec {
            case .dense(let units, _): (fanIn, outputs) = (layer.inputCount, units)
            case .conv2d(let channels, let kernel, _, _, _):
                (fanIn, outputs) = (layer.input[0] * kernel * kernel, channels)
            case .groupNorm:
                // PyTorch's: scale 1, shift 0 (no random numbers drawn).
                for i in w..<(w + layer.input[0]) { p[i] = 1 }
                continue
            case .batchNorm:
                // Scale 1, shift 0, running mean 0, running variance 1.
                let c = layer.input[0]
                for i in w..<(w + c) { p[i] = 1 }
                for i in (w + 3 * c)..<(w + 4 * c) { p[i] = 1 }
                continue
            default: continue
            }
            let bound = 1 / Double(fanIn).squareRoot()
            for i in w..<(w + fanIn * outputs) { p[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
            if let b = layer.bias {
                for i in b..<(b + outputs) { p[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
            }
        }
        return p
    }

    /// Whether the network has batch norms, whose running statistics training updates.
    /// Where each batch norm's parameters lie — weight, bias, running mean and running variance,
    /// appended one after another, so one contiguous range of 4 × channels per layer, nested
    /// blocks included. What FedBN (`model.batch_norm: local`) keeps on each client.
    public var batchNormRanges: [Range<Int>] {
        let entries = layout.entries
        return entries.indices.compactMap { i in
            guard entries[i].role == .normStatistic, entries[i].name.hasSuffix(".running_mean"), i >= 2,
                i + 1 < entries.count
            else { return nil }
            return entries[i - 2].offset..<entries[i + 1].range.upperBound
        }
    }

    public var hasRunningStatistics: Bool {
        plan.contains { layer in
            if case .batchNorm = layer.spec { return true }
            return layer.children.contains(where: \.hasRunningStatistics)
        }
    }

    /// Moves every batch norm's running mean and variance in `params` 0.1 of the way to the
    /// statistics of the batch the last `lossAndGradient` saw in `workspace` (PyTorch's momentum
    /// 0.1, unbiased variance). Call after the optimizer step; the optimizer leaves them alone.
    public func updateRunningStatistics(_ params: inout [Float], from workspace: Workspace) {
        params.withUnsafeMutableBufferPointer { updateRunningStatistics($0.baseAddress!, from: workspace) }
    }

    private func updateRunningStatistics(_ p: UnsafeMutablePointer<Float>, from ws: Workspace) {
        for (index, layer) in plan.enumerated() {
            for (c, (child, offset)) in zip(layer.children, layer.childOffsets).enumerated() {
                child.updateRunningStatistics(p + offset, from: ws.children[index][c])
            }
            guard case .batchNorm = layer.spec else { continue }
            let c = layer.input[0]
            let stats = ws.stats[index]!
            let mean = p + layer.weight! + 2 * c
            let variance = mean + c
            for i in 0..<c {
                mean[i] = 0.9 * mean[i] + 0.1 * stats[i]
                variance[i] = 0.9 * variance[i] + 0.1 * stats[2 * c + i]
            }
        }
    }

    /// Whether the network draws random numbers in training (it has a dropout layer).
    public var isStochastic: Bool {
        plan.contains { layer in
            if case .dropout(let p) = layer.spec { return p > 0 }
            return layer.children.contains(where: \.isStochastic)
        }
    }

    /// Mean loss over the samples `indices` of `data`, writing its gradient into `gradient`.
    /// - Parameter randomness: the training step's seed, which draws the dropout masks; nil
    ///   runs dropout layers as the identity (as in evaluation).
    @discardableResult
    public func lossAndGradient(
        params: UnsafeBufferPointer<Float>, data: Dataset, indices: UnsafeBufferPointer<Int>,
        gradient: UnsafeMutableBufferPointer<Float>, workspace: Workspace, randomness: SeededRandom? = nil
    ) -> Double {
        precondition(params.count == parameterCount && gradient.count == parameterCount)
        let rows = indices.count
        workspace.prepare(for: self, rows: rows)
        gather(data, indices, into: workspace)
        forward(params, rows: rows, workspace, randomness: randomness, training: true)
        let loss = headLossAndDelta(data, indices, rows: rows, workspace: workspace, wantDelta: true)
        backward(params, gradient, rows: rows, workspace)
        return loss
    }

    /// One forward pass over `rows` samples, then the vector–Jacobian products with
    /// `outputGradient`: what PyTorch's autograd gives for `(net(x) * g).sum().backward()` —
    /// the outputs, dLoss/dInput and dLoss/dParameters. For checking layers against PyTorch
    /// and for exchanging networks with it; training goes through `lossAndGradient`.
    public func forwardAndBackward(
        params: [Float], inputs: [Float], rows: Int, outputGradient: [Float], workspace: Workspace
    ) -> (output: [Float], inputGradient: [Float], parameterGradient: [Float]) {
        precondition(params.count == parameterCount && rows > 0)
        precondition(inputs.count == rows * inputCount && outputGradient.count == rows * outputCount)
        workspace.prepare(for: self, rows: rows)
        inputs.withUnsafeBufferPointer { workspace.activations[0].update(from: $0.baseAddress!, count: $0.count) }
        var gradient = [Float](repeating: 0, count: parameterCount)
        let output = params.withUnsafeBufferPointer { p -> [Float] in
            forward(p, rows: rows, workspace, training: true)
            let out = Array(UnsafeBufferPointer(start: workspace.activations[plan.count], count: rows * outputCount))
            outputGradient.withUnsafeBufferPointer {
                workspace.deltas[plan.count].update(from: $0.baseAddress!, count: $0.count)
            }
            gradient.withUnsafeMutableBufferPointer { backward(p, $0, rows: rows, workspace, inputGradient: true) }
            return out
        }
        return (output, Array(UnsafeBufferPointer(start: workspace.deltas[0], count: rows * inputCount)), gradient)
    }

    /// The outputs for `rows` samples in evaluation mode (dropout off, batch norms on their
    /// running statistics), as PyTorch's `net.eval()(x)`.
    public func outputs(params: [Float], inputs: [Float], rows: Int, workspace: Workspace) -> [Float] {
        precondition(params.count == parameterCount && rows > 0 && inputs.count == rows * inputCount)
        workspace.prepare(for: self, rows: rows)
        inputs.withUnsafeBufferPointer { workspace.activations[0].update(from: $0.baseAddress!, count: $0.count) }
        params.withUnsafeBufferPointer { forward($0, rows: rows, workspace) }
        return Array(UnsafeBufferPointer(start: workspace.activations[plan.count], count: rows * outputCount))
    }

    /// Samples per evaluation chunk: 512, fewer (a multiple of 32 where it can be, which the
    /// products run fastest on) where a chunk's scratch would pass 64 MB.
    public var evaluationChunk: Int {
        let perRow = Workspace.floats(for: self, rows: 1)
        let fits = (1 << 24) / max(perRow, 1)
        return max(1, min(512, fits >= 32 ? fits / 32 * 32 : fits))
    }

    /// Loss and accuracy (classification) or RMSE and R² (regression) over a whole data set,
    /// evaluated in chunks of `chunk` samples (`evaluationChunk` by default).
    public func evaluate(
        params: UnsafeBufferPointer<Float>, data: Dataset, workspace: Workspace, chunk: Int? = nil
    ) -> Metrics {
        evaluate(params: Array(params), data: data, workspaces: [workspace], chunk: chunk)
    }

    /// The same, with the chunks spread over one thread per workspace. The chunks' sums are
    /// combined in chunk order, so the metrics are the same bits at any number of workspaces.
    public func evaluate(params: [Float], data: Dataset, workspaces: [Workspace], chunk: Int? = nil) -> Metrics {
        evaluate(params: params, data: data, rows: nil, workspaces: workspaces, chunk: chunk)
    }

    /// The same over a view's rows (a client's shard), without copying them out.
    public func evaluate(params: [Float], view: DataView, workspaces: [Workspace], chunk: Int? = nil) -> Metrics {
        evaluate(params: params, data: view.base, rows: view.rows, workspaces: workspaces, chunk: chunk)
    }

    /// Evaluates `rows` of `data` in that order (all of it, in order, when nil).
    private func evaluate(
        params: [Float], data: Dataset, rows: [Int]?, workspaces: [Workspace], chunk: Int?
    ) -> Metrics {
        precondition(!workspaces.isEmpty && params.count == parameterCount)
        let chunk = max(1, chunk ?? evaluationChunk)
        let n = rows?.count ?? data.count
        guard n > 0 else { return Metrics(loss: .nan, accuracy: nil, rmse: nil, r2: nil, count: 0) }
        let chunks = (n + chunk - 1) / chunk
        let results = Mutex([ChunkResult?](repeating: nil, count: chunks))
        let shared = WorkerWorkspaces(all: workspaces)
        ParallelWork.run(workers: workspaces.count, items: chunks) { worker, c in
            let start = c * chunk
            let count = min(chunk, n - start)
            let indices = rows.map { Array($0[start..<(start + count)]) } ?? Array(start..<(start + count))
            let result = evaluateChunk(params, data, indices: indices, shared.all[worker])
            results.withLock { $0[c] = result }
        }
        var lossSum = 0.0
        var correct = 0
        var squaredError = 0.0
        for result in results.withLock({ $0 }) {
            lossSum += result!.loss * Double(result!.rows)
            correct += result!.correct
            for e in result!.squaredErrors { squaredError += e }
        }
        let loss = lossSum / Double(n)
        switch data.targets {
        case .classes:
            return Metrics(loss: loss, accuracy: Double(correct) / Double(n), rmse: nil, r2: nil, count: n)
        case .values(let all):
            let values = rows.map { $0.map { all[$0] } } ?? all
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
            let total = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
            return Metrics(
                loss: loss, accuracy: nil, rmse: (squaredError / Double(n)).squareRoot(),
                r2: total > 0 ? 1 - squaredError / total : nil, count: n)
        }
    }

    /// One evaluation chunk's mean loss, correct predictions and squared errors (regression).
    private struct ChunkResult: Sendable {
        var rows: Int
        var loss: Double
        var correct = 0
        var squaredErrors: [Double] = []
    }

    private func evaluateChunk(
        _ params: [Float], _ data: Dataset, indices: [Int], _ workspace: Workspace
    ) -> ChunkResult {
        let rows = indices.count
        let k = outputCount
        return params.withUnsafeBufferPointer { p in
            indices.withUnsafeBufferPointer { idx in
                workspace.prepare(for: self, rows: rows)
                gather(data, idx, into: workspace)
                forward(p, rows: rows, workspace)
                var result = ChunkResult(
                    rows: rows, loss: headLossAndDelta(data, idx, rows: rows, workspace: workspace, wantDelta: false))
                let out = workspace.activations[plan.count]
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
                        if predicted == Int(labels[idx[r]]) { result.correct += 1 }
                    }
                case .values(let values):
                    result.squaredErrors = (0..<rows).map { r in
                        let e = Double(out[r]) - Double(values[idx[r]])
                        return e * e
                    }
                }
                return result
            }
        }
    }

    // MARK: - Forward and backward

    private func gather(_ data: Dataset, _ indices: UnsafeBufferPointer<Int>, into ws: Workspace) {
        let d = inputCount
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

    /// - Parameter training: batch norms use (and record) the batch's statistics, not the running ones.
    private func forward(
        _ params: UnsafeBufferPointer<Float>, rows: Int, _ ws: Workspace, randomness: SeededRandom? = nil,
        training: Bool = false
    ) {
        let p = params.baseAddress!
        for (index, layer) in plan.enumerated() {
            let x = ws.activations[index]
            let y = ws.activations[index + 1]
            switch layer.spec {
            case .dense:
                LayerKernels.denseForward(layer, p, rows: rows, x: x, y: y, scratch: ws.scratch, fused: fusedProducts)
            case .conv2d:
                LayerKernels.convForward(
                    layer, p, rows: rows, x: x, y: y, scratch: ws.scratch)
            case .maxPool2d:
                LayerKernels.maxPoolForward(layer, rows: rows, x: x, y: y, argmax: ws.argmax[index]!)
            case .avgPool2d:
                LayerKernels.avgPoolForward(layer, rows: rows, x: x, y: y)
            case .relu:
                fedsim_relu(rows * layer.outputCount, x, y)
            case .flatten:
                y.update(from: x, count: rows * layer.outputCount)
            case .dropout(let probability):
                // The mask (0 or 1/(1 − p) per value) stays in the workspace for the backward pass.
                let count = rows * layer.outputCount
                let mask = ws.stats[index]!
                if var rng = randomness?.derive(UInt64(index)), probability > 0 {
                    let keep = Float(1 / (1 - probability))
                    for i in 0..<count { mask[i] = rng.nextUniform() < probability ? 0 : keep }
                } else {
                    for i in 0..<count { mask[i] = 1 }
                }
                for i in 0..<count { y[i] = x[i] * mask[i] }
            case .batchNorm:
                let c = layer.input[0]
                let plane = layer.input.dropFirst().reduce(1, *)
                let w = p + layer.weight!
                if training {
                    let stats = ws.stats[index]!
                    fedsim_batch_norm_train(
                        Int32(rows), Int32(c), Int32(plane), 1e-5, x, w, w + c, y, stats, stats + c, stats + 2 * c)
                } else {
                    fedsim_batch_norm_eval(
                        Int32(rows), Int32(c), Int32(plane), 1e-5, x, w, w + c, w + 2 * c, w + 3 * c, y)
                }
            case .groupNorm(let groups):
                let plane = layer.input.dropFirst().reduce(1, *)
                let stats = ws.stats[index]!
                fedsim_group_norm(
                    Int32(rows), Int32(layer.input[0]), Int32(plane), Int32(groups), 1e-5, x, p + layer.weight!,
                    p + layer.bias!, y, stats, stats + rows * groups)
            case .residual:
                // y = body(x) + shortcut(x), each sub-network in a workspace of its own.
                let count = rows * layer.outputCount
                for (c, (child, offset)) in zip(layer.children, layer.childOffsets).enumerated() {
                    let cws = ws.children[index][c]
                    cws.activations[0].update(from: x, count: rows * layer.inputCount)
                    child.forward(
                        UnsafeBufferPointer(start: p + offset, count: child.parameterCount), rows: rows, cws,
                        randomness: randomness?.derive(UInt64(index), UInt64(c) + 1), training: training)
                    let out = cws.activations[child.plan.count]
                    if c == 0 { y.update(from: out, count: count) } else { for i in 0..<count { y[i] = y[i] + out[i] } }
                }
                if layer.children.count == 1 { for i in 0..<count { y[i] = y[i] + x[i] } }
            }
        }
    }

    /// Mean loss of the last layer's outputs; with `wantDelta`, also dLoss/dOutput into the
    /// last delta buffer.
    private func headLossAndDelta(
        _ data: Dataset, _ indices: UnsafeBufferPointer<Int>, rows: Int,
        workspace ws: Workspace, wantDelta: Bool
    ) -> Double {
        let out = ws.activations[plan.count]
        let delta = ws.deltas[plan.count]
        let k = outputCount
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
        rows: Int, _ ws: Workspace, inputGradient: Bool = false
    ) {
        let p = params.baseAddress!
        let g = gradient.baseAddress!
        for index in stride(from: plan.count - 1, through: 0, by: -1) {
            let layer = plan[index]
            let x = ws.activations[index]
            let y = ws.activations[index + 1]
            let dy = ws.deltas[index + 1]
            // Training never uses the first layer's input gradient: skip it.
            let dx: UnsafeMutablePointer<Float>? = index > 0 || inputGradient ? ws.deltas[index] : nil
            switch layer.spec {
            case .dense:
                LayerKernels.denseBackward(layer, p, g, rows: rows, x: x, dy: dy, dx: dx, fused: fusedProducts)
            case .conv2d:
                LayerKernels.convBackward(
                    layer, p, g, rows: rows, x: x, dy: dy, dx: dx, scratch: ws.scratch)
            case .maxPool2d:
                if let dx { LayerKernels.maxPoolBackward(layer, rows: rows, dy: dy, argmax: ws.argmax[index]!, dx: dx) }
            case .avgPool2d:
                if let dx { LayerKernels.avgPoolBackward(layer, rows: rows, dy: dy, dx: dx) }
            case .relu:
                // Through the ReLU: dx = dy ⊙ [y > 0].
                if let dx { fedsim_relu_backward(rows * layer.outputCount, y, dy, dx) }
            case .flatten:
                dx?.update(from: dy, count: rows * layer.outputCount)
            case .dropout:
                let mask = ws.stats[index]!
                if let dx { for i in 0..<(rows * layer.outputCount) { dx[i] = dy[i] * mask[i] } }
            case .batchNorm:
                let c = layer.input[0]
                let plane = layer.input.dropFirst().reduce(1, *)
                let stats = ws.stats[index]!
                let w = layer.weight!
                fedsim_batch_norm_backward(
                    Int32(rows), Int32(c), Int32(plane), x, p + w, stats, stats + c, dy, dx, g + w, g + w + c)
                for i in (w + 2 * c)..<(w + 4 * c) { g[i] = 0 }  // the running statistics get no gradient
            case .groupNorm(let groups):
                let plane = layer.input.dropFirst().reduce(1, *)
                let stats = ws.stats[index]!
                fedsim_group_norm_backward(
                    Int32(rows), Int32(layer.input[0]), Int32(plane), Int32(groups), x, p + layer.weight!, stats,
                    stats + rows * groups, dy, dx, g + layer.weight!, g + layer.bias!)
            case .residual:
                // Both branches see dy; dx is the sum of what they send back (identity: dy itself).
                let count = rows * layer.inputCount
                for (c, (child, offset)) in zip(layer.children, layer.childOffsets).enumerated() {
                    let cws = ws.children[index][c]
                    cws.deltas[child.plan.count].update(from: dy, count: rows * layer.outputCount)
                    child.backward(
                        UnsafeBufferPointer(start: p + offset, count: child.parameterCount),
                        UnsafeMutableBufferPointer(start: g + offset, count: child.parameterCount), rows: rows, cws,
                        inputGradient: dx != nil)
                    guard let dx else { continue }
                    let back = cws.deltas[0]
                    if c == 0 {
                        dx.update(from: back, count: count)
                    } else {
                        for i in 0..<count { dx[i] = dx[i] + back[i] }
                    }
                }
                if let dx, layer.children.count == 1 { for i in 0..<count { dx[i] = dx[i] + dy[i] } }
            }
        }
    }
}

/// The workspaces of a parallel evaluation. Safe to share across its threads because worker w
/// only ever touches `all[w]` (`ParallelWork` gives each worker its own index), and the caller
/// does not use them until every worker has returned.
private struct WorkerWorkspaces: @unchecked Sendable {
    let all: [Workspace]
}
