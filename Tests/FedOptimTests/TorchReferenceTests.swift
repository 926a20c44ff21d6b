import FedConfig
import FedCore
import FedTopology
import Foundation
import XCTest

@testable import FedOptim

/// One reference trajectory from `Scripts/gen_optimizer_fixtures.py` (torch.optim, float32).
struct TorchCase {
    var name: String
    var specJSON: String
    var initial: [Float]
    var gradients: [[Float]]
    var trajectory: [[Float]]

    static func loadAll() throws -> (torchVersion: String, cases: [TorchCase]) {
        let url = try XCTUnwrap(
            Bundle.module.url(forResource: "torch_optimizers", withExtension: "json", subdirectory: "Fixtures"))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        func floats(_ x: Any?) throws -> [Float] { try XCTUnwrap(x as? [Double]).map(Float.init) }
        return (
            root["torch_version"] as? String ?? "?",
            try cases.map { c in
                let spec = try JSONSerialization.data(withJSONObject: try XCTUnwrap(c["spec"]), options: [.sortedKeys])
                return TorchCase(
                    name: try XCTUnwrap(c["name"] as? String),
                    specJSON: String(decoding: spec, as: UTF8.self),
                    initial: try floats(c["initial"]),
                    gradients: try XCTUnwrap(c["gradients"] as? [Any]).map(floats),
                    trajectory: try XCTUnwrap(c["trajectory"] as? [Any]).map(floats))
            }
        )
    }
}

final class TorchReferenceTests: XCTestCase {
    /// Every optimizer, schedule, clipping and Lookahead case matches torch.optim within
    /// `1e-5 + 1e-5·|ref|` at every step — through the chain and through the fused kernels.
    func testEveryOptimizerMatchesTorch() throws {
        let (version, cases) = try TorchCase.loadAll()
        XCTAssertGreaterThanOrEqual(cases.count, 40, "fixtures from torch \(version)")
        var covered = Set<OptimizerKind>()
        for c in cases {
            let spec = try OptimizerSpec.parse(ConfigMap.parse(c.specJSON))
            covered.insert(spec.name)
            for fuse in [true, false] {
                let optimizer = Optimizer(spec, layout: .flat(c.initial.count), fuse: fuse)
                var params = c.initial
                var state = optimizer.initialState(params: params)
                var worst: (step: Int, index: Int, got: Float, want: Float)?
                for (t, g) in c.gradients.enumerated() {
                    optimizer.step(params: &params, gradients: g, state: &state)
                    for (i, (got, want)) in zip(params, c.trajectory[t]).enumerated()
                    where !(abs(got - want) <= 1e-5 + 1e-5 * abs(want)) {
                        worst = worst ?? (t + 1, i, got, want)
                    }
                }
                if let worst {
                    XCTFail(
                        "\(c.name) (fused: \(fuse)): step \(worst.step), w[\(worst.index)] = \(worst.got), torch "
                            + "\(worst.want)"
                    )
                }
            }
        }
        XCTAssertEqual(covered, Set(OptimizerKind.allCases), "every optimizer has a torch reference")
    }

    /// The fused Adam/AdamW/Adam+L2 kernels compute exactly what the transform chain computes.
    func testFusedKernelsEqualTheChainBitForBit() throws {
        var rng = SeededRandom(seed: 7)
        let layout = ParameterLayout([("w", [40, 3]), ("bias", [3])])
        for (kind, mask) in [
            (OptimizerKind.adam, DecayMaskPolicy.all), (.adamL2, .all), (.adamw, .all), (.adamL2, .noBias),
            (.adamw, .noBias),
        ] {
            var spec = OptimizerSpec(kind)
            spec.lr = 0.01
            spec.weightDecay = kind == .adam ? 0 : 0.1
            spec.decayMask = mask
            let fused = Optimizer(spec, layout: layout)
            let chained = Optimizer(spec, layout: layout, fuse: false)
            XCTAssertNotNil(fused.fusedAdam, "\(kind) should take the fused path")
            var p1 = (0..<layout.count).map { _ in Float(rng.nextNormal()) }
            var p2 = p1
            var s1 = fused.initialState(params: p1)
            var s2 = chained.initialState(params: p2)
            for _ in 0..<50 {
                let g = (0..<layout.count).map { _ in Float(rng.nextNormal()) }
                fused.step(params: &p1, gradients: g, state: &s1)
                chained.step(params: &p2, gradients: g, state: &s2)
            }
            XCTAssertEqual(p1.map(\.bitPattern), p2.map(\.bitPattern), "\(kind) \(mask)")
            XCTAssertEqual(s1, s2, "\(kind) \(mask) state")
        }
    }
}
