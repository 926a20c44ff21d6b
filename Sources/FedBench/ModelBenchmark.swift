import FedCore
import FedData
import FedModels
import Foundation

/// Forward and backward passes of the conv presets on one batch of 28×28×1 images, timed on
/// one thread: the figure `Scripts/bench-cnn.sh` sets beside PyTorch's on the same shapes.
public struct ModelBenchmark {
    public var presets: [NetworkPreset]
    public var batch: Int
    public var repeats: Int

    public init(presets: [NetworkPreset], batch: Int, repeats: Int) {
        self.presets = presets
        self.batch = batch
        self.repeats = repeats
    }

    /// One result: samples per second (the median of the repeats) and the batch time.
    public struct Result: Sendable {
        public var preset: NetworkPreset
        public var samplesPerSecond: Double
        public var millisecondsPerBatch: Double
    }

    public func run(_ print: (String) -> Void) throws -> [Result] {
        print(
            "FedSim model benchmark: forward+backward, batch \(batch), 1×28×28 input, median of \(repeats), one thread")
        var results: [Result] = []
        for preset in presets {
            let network = try Network(preset: preset, input: [1, 28, 28], classes: 10)
            var rng = SeededRandom(seed: 7)
            let params = network.initialParameters(rng: &rng)
            let data = Dataset(
                features: (0..<(batch * 784)).map { _ in Float(rng.nextUniform()) }, shape: [1, 28, 28],
                targets: .classes((0..<batch).map { Int32($0 % 10) }, classCount: 10))
            var gradient = [Float](repeating: 0, count: network.parameterCount)
            let indices = Array(0..<batch)
            let workspace = Workspace()
            func step() {
                params.withUnsafeBufferPointer { p in
                    indices.withUnsafeBufferPointer { i in
                        gradient.withUnsafeMutableBufferPointer {
                            _ = network.lossAndGradient(
                                params: p, data: data, indices: i, gradient: $0, workspace: workspace)
                        }
                    }
                }
            }
            step()  // warm up: the workspace allocates once
            var perBatch: [Double] = []
            for _ in 0..<repeats {
                // Each repeat runs for at least 0.3 s.
                var iterations = 0
                let start = DispatchTime.now().uptimeNanoseconds
                var elapsed: UInt64 = 0
                repeat {
                    step()
                    iterations += 1
                    elapsed = DispatchTime.now().uptimeNanoseconds - start
                } while elapsed < 300_000_000
                perBatch.append(Double(elapsed) / 1e9 / Double(iterations))
            }
            let median = perBatch.sorted()[perBatch.count / 2]
            let result = Result(
                preset: preset, samplesPerSecond: Double(batch) / median, millisecondsPerBatch: median * 1e3)
            print(
                String(
                    format: "%-12@ %9.0f samples/s  %8.2f ms/batch  (%d parameters)", preset.rawValue as NSString,
                    result.samplesPerSecond, result.millisecondsPerBatch, network.parameterCount))
            results.append(result)
        }
        return results
    }
}
