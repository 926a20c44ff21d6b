import FedCore
import FedData
import FedModels
import XCTest

final class DenseModelTests: XCTestCase {
    private func data(kind: ModelKind, n: Int, d: Int, classes: Int, rng: inout SeededRandom) -> Dataset {
        let x = (0..<(n * d)).map { _ in Float(rng.nextNormal()) }
        switch kind {
        case .linear:
            return Dataset(features: x, featureCount: d, targets: .values((0..<n).map { _ in Float(rng.nextNormal()) }))
        case .logistic:
            return Dataset(
                features: x, featureCount: d, targets: .classes((0..<n).map { Int32($0 % 2) }, classCount: 2))
        default:
            return Dataset(
                features: x, featureCount: d,
                targets: .classes((0..<n).map { Int32($0 % classes) }, classCount: classes))
        }
    }

    /// Analytic gradients agree with central finite differences (computed in Double from the
    /// Float loss at a step large enough to beat Float rounding).
    func testGradientsMatchFiniteDifferences() {
        var rng = SeededRandom(seed: 11)
        let cases: [(ModelKind, [Int], Bool)] = [
            (.linear, [], true), (.linear, [], false), (.logistic, [], true),
            (.softmax, [], true), (.mlp, [7, 5], true), (.mlp, [6], false),
        ]
        for (kind, hidden, bias) in cases {
            let model = Network(kind: kind, inputs: 4, classes: 3, hidden: hidden, bias: bias)
            let ds = data(kind: kind, n: 9, d: 4, classes: 3, rng: &rng)
            var params = model.initialParameters(rng: &rng)
            let ws = Workspace()
            let indices = Array(0..<9)
            var gradient = [Float](repeating: 0, count: model.parameterCount)
            let loss: ([Float]) -> Double = { p in
                var scratch = [Float](repeating: 0, count: p.count)
                return p.withUnsafeBufferPointer { pp in
                    indices.withUnsafeBufferPointer { ii in
                        scratch.withUnsafeMutableBufferPointer {
                            model.lossAndGradient(params: pp, data: ds, indices: ii, gradient: $0, workspace: ws)
                        }
                    }
                }
            }
            params.withUnsafeBufferPointer { pp in
                indices.withUnsafeBufferPointer { ii in
                    gradient.withUnsafeMutableBufferPointer {
                        _ = model.lossAndGradient(params: pp, data: ds, indices: ii, gradient: $0, workspace: ws)
                    }
                }
            }
            for i in 0..<model.parameterCount {
                let h: Float = 1e-3
                let saved = params[i]
                params[i] = saved + h
                let up = loss(params)
                params[i] = saved - h
                let down = loss(params)
                params[i] = saved
                let numeric = (up - down) / (2 * Double(h))
                XCTAssertEqual(
                    Double(gradient[i]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                    "\(kind) \(hidden) bias=\(bias): parameter \(i) "
                        + "(\(model.layout.entries.first { $0.range.contains(i) }!.name))"
                )
            }
        }
    }

    func testLayoutAndInitialization() {
        let model = Network(kind: .mlp, inputs: 64, classes: 10, hidden: [32])
        XCTAssertEqual(
            model.layout.entries.map(\.name), ["layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias"])
        XCTAssertEqual(model.parameterCount, 64 * 32 + 32 + 32 * 10 + 10)
        var r1 = SeededRandom(seed: 5)
        var r2 = SeededRandom(seed: 5)
        let p = model.initialParameters(rng: &r1)
        XCTAssertEqual(p, model.initialParameters(rng: &r2))
        XCTAssertTrue(p[0..<(64 * 32)].allSatisfy { abs($0) <= 1 / 8 }, "±1/√64")
        XCTAssertEqual(Network(kind: .linear, inputs: 3, classes: 0, bias: false).parameterCount, 3)
    }

    /// Metrics by hand: a linear model that predicts exactly has RMSE 0 and R² 1; a softmax
    /// model's accuracy counts argmax hits.
    func testMetrics() {
        let model = Network(kind: .linear, inputs: 2, classes: 0, bias: true)
        let x: [Float] = [1, 2, 3, 4, -1, 0.5]
        let w: [Float] = [2, -1, 0.5]  // weight [1,2], bias [1]
        let y: [Float] = (0..<3).map { 2 * x[2 * $0] - x[2 * $0 + 1] + 0.5 }
        let ds = Dataset(features: x, featureCount: 2, targets: .values(y))
        let m = w.withUnsafeBufferPointer { model.evaluate(params: $0, data: ds, workspace: Workspace()) }
        XCTAssertEqual(m.rmse!, 0, accuracy: 1e-6)
        XCTAssertEqual(m.r2!, 1, accuracy: 1e-6)
        XCTAssertEqual(m.loss, 0, accuracy: 1e-9)
        let off = [Float](arrayLiteral: 2, -1, 1.5)  // every prediction 1 too high: loss ½, RMSE 1
        let m2 = off.withUnsafeBufferPointer { model.evaluate(params: $0, data: ds, workspace: Workspace(), chunk: 2) }
        XCTAssertEqual(m2.loss, 0.5, accuracy: 1e-6)
        XCTAssertEqual(m2.rmse!, 1, accuracy: 1e-6)

        let soft = Network(kind: .softmax, inputs: 2, classes: 3, bias: false)
        // class c's score is feature c (third class scores 0)
        let ws: [Float] = [1, 0, 0, 1, 0, 0]
        let cls = Dataset(
            features: [5, 1, 1, 5, -3, -3, 2, 1], featureCount: 2, targets: .classes([0, 1, 2, 1], classCount: 3))
        let mc = ws.withUnsafeBufferPointer { soft.evaluate(params: $0, data: cls, workspace: Workspace()) }
        XCTAssertEqual(mc.accuracy, 0.75)
        XCTAssertNil(mc.rmse)
    }
}
