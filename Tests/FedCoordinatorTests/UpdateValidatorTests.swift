import FedCoordinator
import FedOptim
import FedProtocol
import XCTest

final class UpdateValidatorTests: XCTestCase {
    func update(_ delta: [Float], samples: Int = 3, loss: Double = 0.5, state: OptimizerState? = nil) -> ClientUpdate {
        ClientUpdate(round: 1, clientID: 0, sampleCount: samples, delta: delta, trainLoss: loss, steps: 1, state: state)
    }

    var adamState: OptimizerState {
        OptimizerState(step: 2, transforms: [TransformState(names: ["m", "v"], count: 3)])
    }

    func testAcceptsAFiniteUpdate() {
        XCTAssertNil(UpdateValidator.check(update([1, -2, 0]), parameterCount: 3, expectsState: false))
        XCTAssertNil(
            UpdateValidator.check(update([1, -2, 0], state: adamState), parameterCount: 3, expectsState: true))
    }

    func testRejectsEachProblemWithItsReason() {
        var negative = adamState
        negative.transforms[0].storage[4] = -1  // v[1]
        var nanState = adamState
        nanState.transforms[0].storage[0] = .nan
        let cases: [(ClientUpdate, Bool, UpdateRejection)] = [
            (update([1, 2]), false, .wrongSize(what: "delta", got: 2, expected: 3)),
            (update([1, .nan, 0]), false, .nonFinite(what: "delta", index: 1)),
            (update([.infinity, 0, 0]), false, .nonFinite(what: "delta", index: 0)),
            (update([1, 2, 3], samples: 0), false, .noSamples),
            (update([1, 2, 3], loss: .nan), false, .nonFinite(what: "training loss", index: 0)),
            (update([1, 2, 3]), true, .stateMissing),
            (update([1, 2, 3], state: adamState), false, .stateUnexpected),
            (update([1, 2, 3], state: nanState), true, .nonFinite(what: "optimizer state", index: 0)),
            (update([1, 2, 3], state: negative), true, .negativeSecondMoment(index: 1)),
        ]
        for (u, expectsState, expected) in cases {
            XCTAssertEqual(UpdateValidator.check(u, parameterCount: 3, expectsState: expectsState), expected)
        }
        // A client claiming more samples than its shard holds (2³² − 1 was accepted once).
        XCTAssertEqual(
            UpdateValidator.check(
                update([1, 2, 3], samples: 4_294_967_295), parameterCount: 3, expectsState: false,
                expectedSamples: 3),
            .wrongSampleCount(got: 4_294_967_295, expected: 3))
        XCTAssertNil(
            UpdateValidator.check(update([1, 2, 3]), parameterCount: 3, expectsState: false, expectedSamples: 3))
        XCTAssertEqual(UpdateRejection.nonFinite(what: "delta", index: 1).counterName, "non_finite")
    }
}
