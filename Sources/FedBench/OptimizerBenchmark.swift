import FedCore
import FedOptim
import Foundation

/// Measures the optimizer step's throughput on a large buffer beside a STREAM-style triad
/// (`a[i] = b[i] + s·c[i]`) measured in the same run, so the ratio to the machine's memory
/// bandwidth is visible whatever the machine.
public struct OptimizerBenchmark {
    public var parameterCount: Int
    public var repeats: Int

    public init(parameterCount: Int, repeats: Int) {
        self.parameterCount = parameterCount
        self.repeats = repeats
    }

    /// Bytes a step must move per parameter: read the gradient, read and write the weight and
    /// every state slot (AdamW: 4 + 8 + 2·8 = 28).
    static func bytesPerParameter(_ state: OptimizerState) -> Int {
        let slots = state.transforms.reduce(0) { $0 + $1.names.count } + (state.slowWeights == nil ? 0 : 1)
        return 4 + 8 + 8 * slots
    }

    public func run(_ print: (String) -> Void) {
        let n = parameterCount
        print("FedSim optimizer benchmark: \(n) parameters, best of \(repeats) timed runs, single thread")
        let triad = triadBandwidth()
        print(String(format: "STREAM triad (float32, 12 B/element): %.2f GB/s", triad))
        print("")
        print(pad("optimizer", 22) + pad("ns/param", 10) + pad("B/param", 9) + pad("GB/s", 8) + "× triad")
        var rng = SeededRandom(seed: 1)
        let initial = (0..<n).map { _ in Float(rng.nextNormal()) }
        let gradientSource = (0..<n).map { _ in Float(rng.nextNormal() * 0.1) }
        var rows: [(String, OptimizerSpec)] = OptimizerKind.allCases.map { ($0.rawValue, OptimizerSpec($0)) }
        var noBias = OptimizerSpec(.adamw)
        noBias.decayMask = .noBias
        rows.insert(("adamw (no_bias mask)", noBias), at: 9)
        var chained = OptimizerSpec(.adamw)
        chained.clipNorm = 1e9  // forces the unfused chain path: shows what fusion buys
        rows.insert(("adamw (chain, clip)", chained), at: 10)
        let layout = ParameterLayout([("weight", [n - 1000]), ("bias", [1000])])
        for (label, spec) in rows {
            let optimizer = Optimizer(spec, layout: layout)
            var params = initial
            var gradients = gradientSource
            var state = optimizer.initialState(params: params)
            var best = Double.infinity
            optimizer.step(params: &params, gradients: &gradients, state: &state)  // warm-up: touches every page
            for _ in 0..<repeats {
                // The gradient buffer doubles as scratch; chained optimizers overwrite it,
                // which changes values but not the memory traffic being measured.
                let start = DispatchTime.now().uptimeNanoseconds
                optimizer.step(params: &params, gradients: &gradients, state: &state)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
                best = min(best, elapsed)
            }
            let nsPerParam = best / Double(n)
            let bytes = OptimizerBenchmark.bytesPerParameter(state)
            let gbps = Double(bytes) / nsPerParam
            print(
                pad(label, 22) + pad(String(format: "%.3f", nsPerParam), 10) + pad("\(bytes)", 9)
                    + pad(String(format: "%.2f", gbps), 8) + String(format: "%.2f", gbps / triad))
        }
    }

    /// Best-of-`repeats` triad bandwidth in GB/s over buffers as large as the parameter buffer.
    func triadBandwidth() -> Double {
        let n = parameterCount
        var a = [Float](repeating: 0, count: n)
        let b = [Float](repeating: 1, count: n)
        let c = [Float](repeating: 2, count: n)
        var best = Double.infinity
        a.withUnsafeMutableBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeBufferPointer { c in
                    for r in 0...repeats {
                        let s = Float(r) * 0.5 + 1
                        let start = DispatchTime.now().uptimeNanoseconds
                        Triad.run(a, b, c, s)
                        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
                        if r > 0 { best = min(best, elapsed) }
                    }
                }
            }
        }
        precondition(a[n / 2] == 1 + (Float(repeats) * 0.5 + 1) * 2, "triad result is wrong")
        return Double(12 * n) / best
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}

enum Triad {
    @inline(never)
    static func run(
        _ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
        _ c: UnsafeBufferPointer<Float>, _ s: Float
    ) {
        for i in 0..<a.count { a[i] = b[i] + s * c[i] }
    }
}
