import FedCore
import FedData
import FedModels
import FedOptim
import Foundation
import XCTest

/// FedSim's layers against PyTorch (`Scripts/gen_layer_fixtures.py` wrote the fixture with
/// torch, float32, one thread): outputs, input gradients and parameter gradients of every
/// layer kind over several shapes, strides and paddings; and the conv presets' AdamW
/// trajectories on a fixed batch.
final class TorchLayerTests: XCTestCase {
    private var fixture: [String: Any] {
        get throws {
            let url = try XCTUnwrap(
                Bundle.module.url(forResource: "torch_layers", withExtension: "json", subdirectory: "Fixtures"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        }
    }

    /// A topology-style layer (`"relu"` or `{"layer": "conv2d", ...}`) as a `LayerSpec`.
    private func layer(_ json: Any) throws -> LayerSpec {
        if let name = json as? String {
            switch name {
            case "relu": return .relu
            case "batch_norm": return .batchNorm
            default: return .flatten
            }
        }
        let m = try XCTUnwrap(json as? [String: Any])
        let int = { (key: String, fallback: Int) in (m[key] as? Int) ?? fallback }
        let bias = (m["bias"] as? Bool) ?? true
        switch m["layer"] as? String {
        case "conv2d":
            return .conv2d(
                channels: int("channels", 0), kernel: int("kernel", 0), stride: int("stride", 1),
                padding: int("padding", 0), bias: bias)
        case "maxpool2d": return .maxPool2d(kernel: int("kernel", 0), stride: int("stride", int("kernel", 0)))
        case "avgpool2d": return .avgPool2d(kernel: int("kernel", 0), stride: int("stride", int("kernel", 0)))
        case "dense": return .dense(units: int("units", 0), bias: bias)
        case "group_norm": return .groupNorm(groups: int("groups", 0))
        case "batch_norm": return .batchNorm
        case "residual":
            return .residual(
                body: try (m["body"] as? [Any] ?? []).map(layer),
                shortcut: try (m["shortcut"] as? [Any] ?? []).map(layer))
        default:
            XCTFail("unknown layer \(m)")
            return .relu
        }
    }

    private func floats(_ any: Any?) throws -> [Float] {
        try XCTUnwrap(any as? [Double]).map { Float($0) }
    }

    private func assertClose(
        _ got: [Float], _ want: [Float], _ what: String, tolerance: Float = 1e-4, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let scale = max(want.map(abs).max() ?? 1, 1)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(
            worst, tolerance * scale, "\(what): largest difference \(worst)", file: file, line: line)
    }

    func testEveryLayerMatchesPyTorch() throws {
        let cases = try XCTUnwrap(try fixture["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 25)
        let ws = Workspace()
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            let input = try XCTUnwrap(c["input_shape"] as? [Int])
            let rows = try XCTUnwrap(c["rows"] as? Int)
            let layers = try XCTUnwrap(c["layers"] as? [Any]).map(layer)
            let network = try Network(input: input, layers: layers)
            let params = try floats(c["params"])
            XCTAssertEqual(params.count, network.parameterCount, "\(name): PyTorch's parameter count")
            if c["mode"] as? String == "eval" {
                let output = network.outputs(params: params, inputs: try floats(c["input"]), rows: rows, workspace: ws)
                assertClose(output, try floats(c["output"]), "\(name): output in evaluation mode")
                continue
            }
            let result = network.forwardAndBackward(
                params: params, inputs: try floats(c["input"]), rows: rows,
                outputGradient: try floats(c["output_grad"]),
                workspace: ws)
            assertClose(result.output, try floats(c["output"]), "\(name): output")
            assertClose(result.inputGradient, try floats(c["input_grad"]), "\(name): input gradient")
            assertClose(result.parameterGradient, try floats(c["param_grad"]), "\(name): parameter gradients")
            // A training pass moves batch norms' running statistics; nothing else changes.
            var after = params
            network.updateRunningStatistics(&after, from: ws)
            assertClose(after, try floats(c["params_after"]), "\(name): running statistics after the pass")
        }
    }

    /// A few AdamW steps of each preset on one batch follow PyTorch's losses and land on its
    /// weights, and the preset is the network the fixture built in PyTorch.
    func testPresetTrajectoriesMatchPyTorch() throws {
        let trajectories = try XCTUnwrap(try fixture["trajectories"] as? [[String: Any]])
        for t in trajectories {
            let name = try XCTUnwrap(t["preset"] as? String)
            let preset = try XCTUnwrap(NetworkPreset(rawValue: name))
            let layers = try XCTUnwrap(t["layers"] as? [Any]).map(layer)
            XCTAssertEqual(
                preset.layers(input: [1, 28, 28], classes: 10), layers, "\(name) is the network PyTorch trained")
            let network = try Network(preset: preset, input: [1, 28, 28], classes: 10)
            XCTAssertEqual(network.parameterCount, t["parameters"] as? Int)
            var lcg = LCG(state: UInt32(try XCTUnwrap(t["lcg_seed"] as? Int)))
            var params = [Float](repeating: 0, count: network.parameterCount)
            for entry in network.layout.entries {
                // Norms keep PyTorch's 1 and 0; convs and dense layers draw from the LCG.
                if entry.role == .normScale || entry.role == .normShift {
                    for i in entry.range { params[i] = entry.role == .normScale ? 1 : 0 }
                    continue
                }
                let layerName = entry.name.split(separator: ".").dropLast().joined(separator: ".")
                let weight = try XCTUnwrap(network.layout[layerName + ".weight"])
                let fanIn = weight.shape.dropFirst().reduce(1, *)
                let bound = Float(1 / Double(fanIn).squareRoot())
                for i in entry.range { params[i] = lcg.next() * bound }
            }
            let batch = try XCTUnwrap(t["batch"] as? Int)
            let pixels = (0..<(batch * 784)).map { _ in lcg.next() * 0.5 + 0.5 }
            let data = Dataset(
                features: pixels, shape: [1, 28, 28],
                targets: .classes((0..<batch).map { Int32($0 % 10) }, classCount: 10))
            var spec = OptimizerSpec(.adamw)
            spec.lr = 1e-3
            spec.weightDecay = 0.01
            let optimizer = Optimizer(spec, layout: network.layout)
            var state = optimizer.initialState(params: params)
            let ws = Workspace()
            var losses: [Double] = []
            let indices = Array(0..<batch)
            var gradient = [Float](repeating: 0, count: network.parameterCount)
            for _ in 0..<(try XCTUnwrap(t["steps"] as? Int)) {
                let loss = params.withUnsafeBufferPointer { p in
                    indices.withUnsafeBufferPointer { i in
                        gradient.withUnsafeMutableBufferPointer {
                            network.lossAndGradient(params: p, data: data, indices: i, gradient: $0, workspace: ws)
                        }
                    }
                }
                losses.append(loss)
                optimizer.step(params: &params, gradients: &gradient, state: &state)
            }
            let want = try XCTUnwrap(t["losses"] as? [Double])
            for (step, (a, b)) in zip(losses, want).enumerated() {
                XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(name): loss at step \(step)")
            }
            let stride = try XCTUnwrap(t["sample_stride"] as? Int)
            let sample = Swift.stride(from: 0, to: params.count, by: stride).map { params[$0] }
            // Adam's first steps move every weight by about lr whatever the gradient's size, so
            // rounding differences in tiny gradients can flip a few signs: compare at 2·lr.
            assertClose(sample, try floats(t["final_sample"]), "\(name): final weights", tolerance: 2e-3)
            let close = zip(sample, try floats(t["final_sample"])).filter { abs($0 - $1) < 1e-5 }.count
            XCTAssertGreaterThan(
                Double(close) / Double(sample.count), 0.95, "\(name): nearly all weights agree closely")
        }
    }
}

/// The fixture's generator: x ← 1664525·x + 1013904223 (mod 2³²), values (x >> 8)/2²⁴·2 − 1.
private struct LCG {
    var state: UInt32
    mutating func next() -> Float {
        state = 1_664_525 &* state &+ 1_013_904_223
        return Float(Double(state >> 8) / 16_777_216 * 2 - 1)
    }
}
