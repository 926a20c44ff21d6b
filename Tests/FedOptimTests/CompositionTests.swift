import FedCore
import XCTest

@testable import FedOptim

final class CompositionTests: XCTestCase {
    /// AdamW and Adam+L2 are the same transforms in a different order (the optax idea).
    func testAdamWAndAdamL2DifferOnlyInChainOrder() {
        let adamw = OptimizerSpec(.adamw).chain.map(\.label)
        let adamL2 = OptimizerSpec(.adamL2).chain.map(\.label)
        XCTAssertEqual(adamw, ["scale_by_adam", "add_decayed_weights", "scale_by_learning_rate"])
        XCTAssertEqual(adamL2, ["add_decayed_weights", "scale_by_adam", "scale_by_learning_rate"])
        XCTAssertEqual(Set(OptimizerSpec(.adamw).chain), Set(OptimizerSpec(.adamL2).chain))
    }

    /// A chain equals its transforms applied one by one by hand.
    func testChainEqualsTransformsAppliedByHand() {
        var spec = OptimizerSpec(.adamw)
        spec.clipNorm = 0.5
        let optimizer = Optimizer(spec, layout: .flat(4), fuse: false)
        var params: [Float] = [1, -2, 0.5, 3]
        var state = optimizer.initialState(params: params)
        let g: [Float] = [0.3, -0.1, 2, 0]
        var manual = params
        var transformStates = spec.chain.map { $0.initialState(count: 4) }
        var u = g
        manual.withUnsafeBufferPointer { w in
            u.withUnsafeMutableBufferPointer { u in
                let context = StepContext(step: 1, learningRate: spec.lr, params: w, decayMask: nil)
                for (i, t) in spec.chain.enumerated() { t.apply(u, state: &transformStates[i], context: context) }
            }
        }
        for i in 0..<4 { manual[i] += u[i] }
        optimizer.step(params: &params, gradients: g, state: &state)
        XCTAssertEqual(params, manual)
        XCTAssertEqual(state.transforms, transformStates)
    }

    /// With `decay_mask: no_bias`, biases behave exactly as with no weight decay.
    func testDecayMaskExemptsBiases() {
        let layout = ParameterLayout([("weight", [3]), ("bias", [2])])
        // "weight" with shape [3] would count as a vector; give it two dimensions.
        let layout2 = ParameterLayout([("weight", [1, 3]), ("bias", [2])])
        XCTAssertTrue(layout["bias"]!.isBias)
        XCTAssertFalse(layout2["weight"]!.isBias)
        for kind in [OptimizerKind.adamw, .adamL2, .sgd, .radam] {
            var masked = OptimizerSpec(kind)
            masked.weightDecay = 0.1
            masked.decayMask = .noBias
            var plain = masked
            plain.weightDecay = 0
            plain.decayMask = .all
            var full = plain
            full.weightDecay = 0.1
            let o1 = Optimizer(masked, layout: layout2)
            let o2 = Optimizer(plain, layout: layout2)
            let o3 = Optimizer(full, layout: layout2)
            var p1: [Float] = [1, 2, 3, 4, 5]
            var p2 = p1
            var p3 = p1
            var s1 = o1.initialState(params: p1)
            var s2 = o2.initialState(params: p2)
            var s3 = o3.initialState(params: p3)
            for t in 0..<10 {
                let g: [Float] = (0..<5).map { Float(($0 + t) % 3) - 1 }
                o1.step(params: &p1, gradients: g, state: &s1)
                o2.step(params: &p2, gradients: g, state: &s2)
                o3.step(params: &p3, gradients: g, state: &s3)
            }
            XCTAssertEqual(Array(p1[3...]), Array(p2[3...]), "\(kind): biases are not decayed")
            XCTAssertEqual(Array(p1[..<3]), Array(p3[..<3]), "\(kind): weights are decayed")
            XCTAssertNotEqual(Array(p1[..<3]), Array(p2[..<3]), "\(kind): decay changed the weights")
        }
    }

    /// State is a value: it survives a JSON round trip and continuing from it changes nothing.
    func testStateRoundTripsThroughCodable() throws {
        var spec = OptimizerSpec(.nadam)
        spec.lookahead = LookaheadSpec(k: 3, alpha: 0.5)
        let optimizer = Optimizer(spec, layout: .flat(3))
        var a: [Float] = [0.5, -1, 2]
        var state = optimizer.initialState(params: a)
        for t in 0..<4 { optimizer.step(params: &a, gradients: [Float(t), 1, -1], state: &state) }
        let decoded = try JSONDecoder().decode(OptimizerState.self, from: JSONEncoder().encode(state))
        XCTAssertEqual(decoded, state)
        var b = a
        var s2 = decoded
        for t in 0..<4 {
            optimizer.step(params: &a, gradients: [1, Float(t), 0], state: &state)
            optimizer.step(params: &b, gradients: [1, Float(t), 0], state: &s2)
        }
        XCTAssertEqual(a, b)
        XCTAssertEqual(state.step, 8)
    }
}
