import FedOptim
import FedProtocol
import FedStrategy
import Foundation
import XCTest

/// The *aggregate* policy's bookkeeping, against values worked by hand: a restarted first moment
/// is bias-corrected from its own start, and moments of clients that took different numbers of
/// steps are averaged as bias-corrected estimates.
final class MomentAggregationTests: XCTestCase {
    let spec: OptimizerSpec = {
        var s = OptimizerSpec(.adam)
        s.lr = 0.1
        s.weightDecay = 0
        return s
    }()

    func update(_ id: Int, samples: Int, m: Float, v: Float, step: Int) -> ClientUpdate {
        let optimizer = Optimizer(spec, layout: .flat(1))
        var s = optimizer.initialState(params: [0])
        s.transforms[0].setSlot("m", [m])
        s.transforms[0].setSlot("v", [v])
        s.transforms[0].scalars[0] = Double(step)  // m has run as long as v
        s.step = step
        return ClientUpdate(
            round: 1, clientID: id, sampleCount: samples, delta: [0], trainLoss: 0, steps: step, state: s)
    }

    /// `moments: second` after 10 steps: m restarts at 0, so the first step after the
    /// restart must divide by 1 − β₁¹ = 0.1, not by 1 − β₁¹¹ (≈ 0.686), which would damp the
    /// first local step to 0.1/0.686 ≈ 15 % of its size.
    func testRestartedFirstMomentIsBiasCorrectedFromItsOwnStart() throws {
        let updates = [
            update(0, samples: 1, m: 0.3, v: 0.02, step: 10), update(1, samples: 1, m: 0.5, v: 0.04, step: 10),
        ]
        let chain = Optimizer(spec, layout: .flat(1)).chain
        var state = try XCTUnwrap(
            Aggregation.averageStates(updates, StateAggregation(moments: .second), chain: chain))
        XCTAssertEqual(state.buffer(named: "m"), [0])
        XCTAssertEqual(state.buffer(named: "v")!, [0.03], accuracy: 1e-9)
        XCTAssertEqual(state.transforms[0].scalars, [0], "m's own step count restarts with m")
        XCTAssertEqual(state.step, 10, "v's count (and the schedule's) goes on")

        var w: [Float] = [1]
        Optimizer(spec, layout: .flat(1)).step(params: &w, gradients: [1], state: &state)
        // By hand: m₁ = 0.1·1, m̂ = 0.1/(1 − 0.9) = 1; v₁₁ = 0.999·0.03 + 0.001·1 = 0.03097,
        // v̂ = v₁₁/(1 − 0.999¹¹); w = 1 − 0.1·m̂/(√v̂ + 1e-8).
        let vHat = (0.999 * 0.03 + 0.001) / (1 - pow(0.999, 11))
        let expected = 1 - 0.1 * 1 / (vHat.squareRoot() + 1e-8)
        XCTAssertEqual(Double(w[0]), expected, accuracy: 1e-6)
        XCTAssertEqual(state.transforms[0].scalars, [1])
        XCTAssertEqual(state.step, 11)
    }

    /// Client A took 2 steps, client B 4 (their shards differ). Averaging raw v would mix an
    /// estimate divided by 1 − β₂² with one divided by 1 − β₂⁴; the averaged bias-corrected
    /// estimates, stored back for the common count 4, are what one client holding them would have.
    func testMomentsOfClientsWithDifferentStepCountsAreAveragedBiasCorrected() throws {
        let updates = [
            update(0, samples: 1, m: 0.2, v: 0.02, step: 2), update(1, samples: 3, m: 0.4, v: 0.04, step: 4),
        ]
        let chain = Optimizer(spec, layout: .flat(1)).chain
        let both = try XCTUnwrap(Aggregation.averageStates(updates, chain: chain))
        let b1 = 0.9
        let b2 = 0.999
        let vHat = (1 * (0.02 / (1 - pow(b2, 2))) + 3 * (0.04 / (1 - pow(b2, 4)))) / 4
        let mHat = (1 * (0.2 / (1 - pow(b1, 2))) + 3 * (0.4 / (1 - pow(b1, 4)))) / 4
        XCTAssertEqual(Double(both.buffer(named: "v")![0]), vHat * (1 - pow(b2, 4)), accuracy: 1e-9)
        XCTAssertEqual(Double(both.buffer(named: "m")![0]), mHat * (1 - pow(b1, 4)), accuracy: 1e-7)
        XCTAssertEqual(both.step, 4)
        XCTAssertEqual(both.transforms[0].scalars, [4])
        // The raw mean would be v = 0.035; the corrected one is ≈ 0.0399.
        XCTAssertGreaterThan(both.buffer(named: "v")![0], 0.039)

        let second = try XCTUnwrap(
            Aggregation.averageStates(updates, StateAggregation(moments: .second), chain: chain))
        XCTAssertEqual(Double(second.buffer(named: "v")![0]), vHat * (1 - pow(b2, 4)), accuracy: 1e-9)
        XCTAssertEqual(second.buffer(named: "m"), [0])
    }

    /// With equal step counts every factor is exactly 1: the result is the plain weighted mean,
    /// bit for bit, as before the bias-corrected averaging existed.
    func testEqualStepCountsGiveThePlainMeanBitForBit() throws {
        let updates = [
            update(0, samples: 1, m: 0.2, v: 0.02, step: 7), update(1, samples: 2, m: 0.7, v: 0.05, step: 7),
        ]
        let chain = Optimizer(spec, layout: .flat(1)).chain
        let corrected = try XCTUnwrap(Aggregation.averageStates(updates, chain: chain))
        XCTAssertEqual(corrected.buffer(named: "m"), [Float((1 * Double(Float(0.2)) + 2 * Double(Float(0.7))) / 3)])
        XCTAssertEqual(corrected.buffer(named: "v"), [Float((1 * Double(Float(0.02)) + 2 * Double(Float(0.05))) / 3)])
    }

    /// A state whose m-step count is hostile (negative, huge, NaN) never traps and never
    /// produces a non-finite step: the count is read as the nearest plausible one.
    func testImplausibleFirstMomentCountsAreClamped() {
        let optimizer = Optimizer(spec, layout: .flat(1))
        for bad in [-5.0, 1e300, .nan, .infinity, 3.7] {
            var state = optimizer.initialState(params: [0])
            state.step = 3
            state.transforms[0].scalars[0] = bad
            var w: [Float] = [1]
            optimizer.step(params: &w, gradients: [0.5], state: &state)
            XCTAssertTrue(w[0].isFinite, "\(bad)")
            XCTAssertTrue((1...4).contains(state.transforms[0].scalars[0]), "\(bad): \(state.transforms[0].scalars)")
        }
    }
}

private func XCTAssertEqual(
    _ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
