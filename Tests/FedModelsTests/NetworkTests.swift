import FedCore
import FedData
import FedModels
import FedOptim
import XCTest

final class NetworkTests: XCTestCase {
    /// A classification data set of random images (normal pixels, labels cycling through the classes).
    private func images(_ n: Int, shape: [Int], classes: Int, rng: inout SeededRandom) -> Dataset {
        let count = shape.reduce(1, *)
        let x = (0..<(n * count)).map { _ in Float(rng.nextNormal()) }
        return Dataset(
            features: x, shape: shape, targets: .classes((0..<n).map { Int32($0 % classes) }, classCount: classes))
    }

    private func lossAndGradient(
        _ model: Network, _ params: [Float], _ data: Dataset, _ ws: Workspace
    ) -> (
        Double, [Float]
    ) {
        var gradient = [Float](repeating: .nan, count: model.parameterCount)
        let indices = Array(0..<data.count)
        let loss = params.withUnsafeBufferPointer { p in
            indices.withUnsafeBufferPointer { i in
                gradient.withUnsafeMutableBufferPointer {
                    model.lossAndGradient(params: p, data: data, indices: i, gradient: $0, workspace: ws)
                }
            }
        }
        return (loss, gradient)
    }

    /// Every parameter's analytic gradient agrees with a central finite difference, through conv
    /// layers with stride and padding, both poolings, ReLU, flatten and dense layers.
    func testLayerGradientsMatchFiniteDifferences() throws {
        let networks: [(String, [Int], [LayerSpec])] = [
            (
                "conv stride 2 pad 1, maxpool, dense", [2, 7, 7],
                [
                    .conv2d(channels: 3, kernel: 3, stride: 2, padding: 1), .relu, .maxPool2d(kernel: 2, stride: 2),
                    .flatten, .dense(units: 3),
                ]
            ),
            (
                "two convs, overlapping avgpool, no bias", [1, 6, 6],
                [
                    .conv2d(channels: 2, kernel: 2, bias: false), .relu, .avgPool2d(kernel: 2, stride: 1),
                    .conv2d(channels: 3, kernel: 3, padding: 2), .relu, .flatten, .dense(units: 4), .relu,
                    .dense(units: 3),
                ]
            ),
            (
                // No ReLU here: after a norm, many of its inputs sit within a finite difference's
                // step of the kink. PyTorch's fixture checks this network with its ReLUs.
                "group norm, residual blocks with and without a projection", [2, 6, 6],
                [
                    .conv2d(channels: 4, kernel: 3, padding: 1, bias: false), .groupNorm(groups: 2),
                    .residual(
                        body: [.conv2d(channels: 4, kernel: 3, padding: 1), .groupNorm(groups: 4)], shortcut: []),
                    .residual(
                        body: [.conv2d(channels: 6, kernel: 3, stride: 2, padding: 1)],
                        shortcut: [.conv2d(channels: 6, kernel: 1, stride: 2), .groupNorm(groups: 3)]),
                    .flatten, .groupNorm(groups: 1), .dense(units: 3),
                ]
            ),
            (
                "kernel 5 on 5×5, overlapping maxpool", [3, 5, 5],
                [
                    .conv2d(channels: 4, kernel: 3, padding: 1), .maxPool2d(kernel: 3, stride: 1),
                    .conv2d(
                        channels: 2, kernel: 3), .flatten, .dense(units: 3),
                ]
            ),
        ]
        var rng = SeededRandom(seed: 23)
        for (name, input, layers) in networks {
            let model = try Network(input: input, layers: layers, classes: 3)
            let data = images(5, shape: input, classes: 3, rng: &rng)
            var params = model.initialParameters(rng: &rng)
            let ws = Workspace()
            let (_, gradient) = lossAndGradient(model, params, data, ws)
            XCTAssertFalse(gradient.contains { $0.isNaN }, "\(name): every gradient entry is written")
            for i in 0..<model.parameterCount {
                let h: Float = 2e-4
                let saved = params[i]
                params[i] = saved + h
                let up = lossAndGradient(model, params, data, ws).0
                params[i] = saved - h
                let down = lossAndGradient(model, params, data, ws).0
                params[i] = saved
                let numeric = (up - down) / (2 * Double(h))
                XCTAssertEqual(
                    Double(gradient[i]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                    "\(name): parameter \(i) (\(model.layout.entries.first { $0.range.contains(i) }!.name))")
            }
        }
    }

    /// The presets have the published parameter counts and PyTorch's `nn.Sequential` names.
    func testPresetsHaveThePublishedSizes() throws {
        let fedavg = try Network(preset: .fedavgCNN, input: [1, 28, 28], classes: 10)
        XCTAssertEqual(fedavg.parameterCount, 1_663_370)
        XCTAssertEqual(
            fedavg.layout.entries.map(\.name),
            ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias"])
        XCTAssertEqual(
            fedavg.layout.entries.map(\.shape),
            [[32, 1, 5, 5], [32], [64, 32, 5, 5], [64], [512, 3136], [512], [10, 512], [10]])
        XCTAssertEqual(try Network(preset: .lenet5, input: [1, 28, 28], classes: 10).parameterCount, 61_706)
        let resnet = try Network(preset: .resnet8GN, input: [1, 28, 28], classes: 10)
        XCTAssertEqual(resnet.parameterCount, 77_754)
        XCTAssertEqual(resnet.layout.entries.filter { $0.role == .normScale }.count, 9, "9 group norms")
        XCTAssertTrue(
            resnet.layout.entries.contains { $0.name == "7.shortcut.1.weight" }, "\(resnet.layout.entries.map(\.name))")
        XCTAssertEqual(try Network(preset: .resnet8GN, input: [3, 32, 32], classes: 10).parameterCount, 78_042)
        // On 32×32×3 (CIFAR-10) the same presets adapt.
        XCTAssertEqual(try Network(preset: .fedavgCNN, input: [3, 32, 32], classes: 10).parameterCount, 2_156_490)
    }

    /// PyTorch's default initialization: every weight and bias within ±1/√fan_in, fan_in = C·k·k.
    func testInitializationIsPyTorchsBounds() throws {
        let model = try Network(preset: .lenet5, input: [1, 28, 28], classes: 10)
        var rng = SeededRandom(seed: 3)
        let p = model.initialParameters(rng: &rng)
        let fanIn = ["0": 25, "3": 150, "7": 400, "9": 120, "11": 84]
        for entry in model.layout.entries {
            let layer = String(entry.name.prefix { $0 != "." })
            let bound = 1 / Float(fanIn[layer]!).squareRoot()
            let values = p[entry.range]
            XCTAssertLessThanOrEqual(values.map(abs).max()!, bound, entry.name)
            XCTAssertGreaterThan(values.map(abs).max()!, bound * 0.8, "\(entry.name) fills its range")
        }
    }

    /// Layers that do not fit are one line naming the layer.
    func testShapeErrorsNameTheLayer() {
        func message(_ input: [Int], _ layers: [LayerSpec], classes: Int = 10) -> String {
            do {
                _ = try Network(input: input, layers: layers, classes: classes)
                return "no error"
            } catch { return error.message }
        }
        XCTAssertEqual(
            message([1, 8, 8], [.conv2d(channels: 4, kernel: 9), .flatten, .dense(units: 10)]),
            "layer 0 (conv2d): kernel 9 is larger than the input's height 8 (input 1×8×8)")
        XCTAssertEqual(
            message([1, 8, 8], [.conv2d(channels: 4, kernel: 3), .dense(units: 10)]),
            "layer 1 (dense): needs a vector input, got 4×6×6; put a flatten layer before it")
        XCTAssertEqual(
            message([64], [.conv2d(channels: 4, kernel: 3)]),
            "layer 0 (conv2d): needs an image input (channels×height×width), got 64")
        XCTAssertEqual(
            message([1, 8, 8], [.flatten, .dense(units: 7)]),
            "the network ends in 7 outputs, but the data has 10 classes: end with a dense layer of 10 units")
        XCTAssertEqual(
            message(
                [1, 4, 4],
                [.maxPool2d(kernel: 2, stride: 2), .maxPool2d(kernel: 2, stride: 2), .maxPool2d(kernel: 2, stride: 2)]),
            "layer 2 (maxpool2d): kernel 2 is larger than the input's height 1 (input 1×1×1)")
        XCTAssertTrue(
            message([1, 1000, 1000], [.conv2d(channels: 100_000, kernel: 1)]).contains("grows past what FedSim holds"))
        XCTAssertEqual(
            message([4, 8, 8], [.groupNorm(groups: 3)]), "layer 0 (group_norm): 4 channels do not split into 3 groups")
        XCTAssertEqual(
            message([4, 8, 8], [.residual(body: [.conv2d(channels: 8, kernel: 3, padding: 1)], shortcut: [])]),
            "layer 0 (residual): the body gives 8×8×8 but the identity shortcut passes 4×8×8; give the block a "
                + "shortcut that matches (e.g. a 1×1 conv2d with the body's stride)")
        XCTAssertEqual(
            message([4, 8, 8], [.flatten, .residual(body: [.conv2d(channels: 8, kernel: 3)], shortcut: [])]),
            "layer 1 (residual) body: layer 0 (conv2d): needs an image input (channels×height×width), got 256")
    }

    /// Training is the same bits on every run and evaluation in any chunk size gives the same accuracy.
    func testAConvNetLearnsDeterministically() throws {
        var rng = SeededRandom(seed: 9)
        let model = try Network(
            input: [1, 6, 6],
            layers: [
                .conv2d(channels: 4, kernel: 3, padding: 1), .relu, .maxPool2d(kernel: 2, stride: 2), .flatten,
                .dense(units: 2),
            ],
            classes: 2)
        // Class 1 has a bright top half; class 0 a bright bottom half.
        var x: [Float] = []
        var y: [Int32] = []
        for i in 0..<64 {
            let top = i % 2 == 1
            for r in 0..<6 { for _ in 0..<6 { x.append(((r < 3) == top ? 1 : 0) + 0.3 * Float(rng.nextNormal())) } }
            y.append(top ? 1 : 0)
        }
        let data = Dataset(features: x, shape: [1, 6, 6], targets: .classes(y, classCount: 2))
        func train() -> [Float] {
            var r = SeededRandom(seed: 4)
            var p = model.initialParameters(rng: &r)
            let ws = Workspace()
            for _ in 0..<30 {
                let (_, g) = lossAndGradient(model, p, data, ws)
                for i in p.indices { p[i] -= 0.5 * g[i] }
            }
            return p
        }
        let p = train()
        XCTAssertEqual(p, train())
        let ws = Workspace()
        let whole = p.withUnsafeBufferPointer { model.evaluate(params: $0, data: data, workspace: ws) }
        let chunked = p.withUnsafeBufferPointer { model.evaluate(params: $0, data: data, workspace: ws, chunk: 5) }
        XCTAssertGreaterThan(whole.accuracy!, 0.95)
        XCTAssertEqual(whole.accuracy, chunked.accuracy)
        XCTAssertEqual(whole.loss, chunked.loss, accuracy: 1e-6)
    }

    /// Group norms start at PyTorch's scale 1 and shift 0, and `no_bias_or_norm` exempts them and
    /// the biases from decay while every conv and dense weight decays.
    func testNormParametersStartAtOneAndZeroAndEscapeTheDecayMask() throws {
        let model = try Network(preset: .resnet8GN, input: [1, 28, 28], classes: 10)
        var rng = SeededRandom(seed: 1)
        let p = model.initialParameters(rng: &rng)
        for entry in model.layout.entries where entry.role == .normScale { XCTAssertEqual(Set(p[entry.range]), [1]) }
        for entry in model.layout.entries where entry.role == .normShift { XCTAssertEqual(Set(p[entry.range]), [0]) }
        var spec = OptimizerSpec(.adamw)
        spec.decayMask = .noBiasOrNorm
        spec.lr = 0.1
        spec.weightDecay = 0.5
        let optimizer = Optimizer(spec, layout: model.layout)
        var params = p
        var state = optimizer.initialState(params: params)
        optimizer.step(params: &params, gradients: [Float](repeating: 0, count: p.count), state: &state)
        for entry in model.layout.entries {
            let moved = zip(params[entry.range], p[entry.range]).contains { $0 != $1 }
            XCTAssertEqual(moved, entry.role == .weight, "\(entry.name) (\(entry.role)) decays: \(moved)")
        }
    }

    /// Dropout: in training each value is zeroed with probability p and the rest scaled by
    /// 1/(1 − p), the same mask for the same seed and another for another seed; the identity
    /// without a seed (evaluation).
    func testDropoutMasksComeFromTheSeedAndScaleTheRest() throws {
        let identity = try Network(input: [400], layers: [.dropout(probability: 0.3)])
        XCTAssertTrue(identity.isStochastic)
        XCTAssertFalse(try Network(input: [4], layers: [.dropout(probability: 0), .dense(units: 2)]).isStochastic)
        var rng = SeededRandom(seed: 2)
        let x = (0..<400).map { _ in Float(rng.nextNormal()) }
        let ws = Workspace()
        let plain = identity.forwardAndBackward(
            params: [], inputs: x, rows: 1, outputGradient: [Float](repeating: 1, count: 400), workspace: ws)
        XCTAssertEqual(plain.output, x, "without a seed dropout is the identity")
        XCTAssertEqual(plain.inputGradient, [Float](repeating: 1, count: 400))
        // Through a dense layer to a loss: the weight gradient of class 1's row is
        // (softmax₁ − 0) · dropout(x), so it is zero exactly where a value was dropped, and
        // elsewhere x scaled by the same factor.
        let net = try Network(input: [400], layers: [.dropout(probability: 0.3), .dense(units: 2, bias: false)])
        let data = Dataset(features: x, featureCount: 400, targets: .classes([0], classCount: 2))
        func gradient(_ seed: UInt64) -> [Float] {
            let params = [Float](repeating: 0, count: net.parameterCount)
            var g = [Float](repeating: 0, count: net.parameterCount)
            params.withUnsafeBufferPointer { p in
                [0].withUnsafeBufferPointer { i in
                    g.withUnsafeMutableBufferPointer {
                        _ = net.lossAndGradient(
                            params: p, data: data, indices: i, gradient: $0, workspace: ws,
                            randomness: SeededRandom(seed: seed))
                    }
                }
            }
            return Array(g[400..<800])
        }
        let a = gradient(7)
        XCTAssertEqual(a, gradient(7), "the same seed draws the same mask")
        XCTAssertNotEqual(a, gradient(8), "another seed draws another mask")
        let dropped = a.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / 400, 0.3, accuracy: 0.08, "about p of the values are dropped")
        // softmax of two zero logits is ½, so a kept value's gradient is ½ · x / (1 − p).
        for (g, v) in zip(a, x) where g != 0 { XCTAssertEqual(g, 0.5 * v / 0.7, accuracy: 1e-5) }
    }
}
