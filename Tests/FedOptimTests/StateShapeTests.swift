import FedCore
import FedOptim
import XCTest

/// The public step checks every length: a state is only stepped by an optimizer it fits.
final class StateShapeTests: XCTestCase {
    let layout = ParameterLayout([("weight", [4]), ("bias", [2])])

    func testAStateFitsOnlyTheOptimizerAndLayoutItWasMadeFor() {
        let adamw = Optimizer(OptimizerSpec(.adamw), layout: layout)
        let fresh = adamw.initialState(params: [Float](repeating: 0, count: 6))
        XCTAssertTrue(adamw.fits(fresh))
        XCTAssertFalse(Optimizer(OptimizerSpec(.sgd), layout: layout).fits(fresh), "another chain")
        XCTAssertFalse(Optimizer(OptimizerSpec(.amsgrad), layout: layout).fits(fresh), "another slot set")
        let bigger = Optimizer(OptimizerSpec(.adamw), layout: ParameterLayout([("weight", [5]), ("bias", [2])]))
        XCTAssertFalse(bigger.fits(fresh), "another layout")
        var truncated = fresh
        truncated.transforms[0].storage.removeLast()
        XCTAssertFalse(adamw.fits(truncated))
        var w = [Float](repeating: 1, count: 6)
        var g = [Float](repeating: 0.5, count: 6)
        var state = fresh
        adamw.step(params: &w, gradients: &g, state: &state)
        XCTAssertEqual(state.step, 1)
        XCTAssertTrue(adamw.fits(state))
    }
}
