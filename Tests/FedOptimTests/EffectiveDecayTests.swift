import FedCore
import FedOptim
import Foundation
import XCTest

/// `Optimizer.effectiveDecay`, by hand: AdamW removes η·λ of every weight per step; Adam+L2's
/// coupled decay is divided by Adam's denominator, η·λ/(√v̂ + ε), so the same λ decays weights
/// with a small gradient history far more.
final class EffectiveDecayTests: XCTestCase {
    func testAdamWDecaysEtaLambdaAndAdamL2DividesByTheDenominator() throws {
        var adamw = OptimizerSpec(.adamw)
        adamw.lr = 0.01
        adamw.weightDecay = 0.1
        let layout = ParameterLayout.flat(3)
        let w = Optimizer(adamw, layout: layout)
        var state = w.initialState(params: [1, 1, 1])
        XCTAssertNil(w.effectiveDecay(state: state), "no step yet")
        var params: [Float] = [1, 1, 1]
        w.step(params: &params, gradients: [0.1, 1, 10], state: &state)
        XCTAssertEqual(try XCTUnwrap(w.effectiveDecay(state: state)), 1e-3, accuracy: 1e-15)

        var l2 = adamw
        l2.name = .adamL2
        let c = Optimizer(l2, layout: layout)
        var cs = c.initialState(params: [1, 1, 1])
        params = [1, 1, 1]
        c.step(params: &params, gradients: [0.1, 1, 10], state: &cs)
        // After one step v̂ = (g + λw)², so each parameter's value is ηλ/(|g + λw| + ε):
        // g + λw = 0.2, 1.1, 10.1; the median is the middle one.
        let expected = 0.01 * 0.1 / (Double(Float(1.1) * Float(1.1)).squareRoot() + 1e-8)
        XCTAssertEqual(try XCTUnwrap(c.effectiveDecay(state: cs)), expected, accuracy: expected * 1e-5)

        var sgd = OptimizerSpec(.sgd)
        sgd.lr = 0.5
        XCTAssertNil(Optimizer(sgd, layout: layout).effectiveDecay(state: state), "λ = 0: no decay")
        var independent = adamw
        independent.decayConvention = .independent
        XCTAssertEqual(Optimizer(independent, layout: layout).effectiveDecay(state: state), 0.1)
    }

    /// The median skips the parameters the mask exempts (biases under `no_bias`).
    func testTheMedianIsOverTheDecayedParametersOnly() throws {
        var l2 = OptimizerSpec(.adamL2)
        l2.lr = 0.01
        l2.weightDecay = 0.1
        l2.decayMask = .noBias
        let layout = ParameterLayout([(name: "w", shape: [1, 2]), (name: "b", shape: [1])])
        let o = Optimizer(l2, layout: layout)
        var state = o.initialState(params: [0, 0, 0])
        var params: [Float] = [0, 0, 0]
        // Weights at 0, so g + λw = g: the two weights see g = 1 and 3, the bias g = 1000.
        o.step(params: &params, gradients: [1, 3, 1000], state: &state)
        let expected = (0.001 / (1 + 1e-8) + 0.001 / (3 + 1e-8)) / 2
        XCTAssertEqual(try XCTUnwrap(o.effectiveDecay(state: state)), expected, accuracy: 1e-9)
    }
}
