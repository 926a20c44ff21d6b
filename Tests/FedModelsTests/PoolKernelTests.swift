import CFedKernels
import FedCore
import XCTest

/// The 2×2 max-pool's documented rule on every path: windows read row by row, the first maximum
/// wins, NaN propagates (a later NaN wins, and nothing beats a NaN), and `argmax` is the winner's
/// offset in its plane. The vector paths must agree with that scalar rule exactly.
final class PoolKernelTests: XCTestCase {
    func testTheTwoByTwoMaxPoolPicksTheFirstMaximumOnEveryPath() {
        let avx2 = fedsim_cpu_has_fma() == 1
        var rng = SeededRandom(seed: 21)
        // Few distinct values, so windows tie often; −0 against +0 ties too (neither is greater).
        let values: [Float] = [-1, 0, -0.0, 1, 2, .nan, -.infinity]
        for outWidth in 1...21 {
            for outHeight in [1, 2, 3] {
                let (planes, height, width) = (
                    3, 2 * outHeight + outHeight % 2, 2 * outWidth + (outWidth % 3 == 0 ? 1 : 0)
                )
                let x = (0..<(planes * height * width)).map { _ in values[Int(rng.next() % UInt64(values.count))] }
                var expected: [Float] = []
                var expectedWhere: [Int32] = []
                for p in 0..<planes {
                    for oh in 0..<outHeight {
                        for ow in 0..<outWidth {
                            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map {
                                (2 * oh + $0.0) * width + 2 * ow + $0.1
                            }
                            var best = x[p * height * width + window[0]]
                            var at = window[0]
                            for offset in window.dropFirst() {
                                let v = x[p * height * width + offset]
                                if v > best || v.isNaN {
                                    best = v
                                    at = offset
                                }
                            }
                            expected.append(best)
                            expectedWhere.append(Int32(at))
                        }
                    }
                }
                func pool(path: Int32?) -> ([UInt32], [Int32]) {
                    var y = [Float](repeating: 7, count: planes * outHeight * outWidth)
                    var argmax = [Int32](repeating: -1, count: y.count)
                    if let path {
                        fedsim_maxpool_path(
                            path, Int32(planes), Int32(height), Int32(width), 2, 2, Int32(outHeight), Int32(outWidth),
                            x,
                            &y, &argmax)
                    } else {
                        fedsim_maxpool(
                            Int32(planes), Int32(height), Int32(width), 2, 2, Int32(outHeight), Int32(outWidth), x, &y,
                            &argmax)
                    }
                    return (y.map(\.bitPattern), argmax)
                }
                let want = (expected.map(\.bitPattern), expectedWhere)
                let shape = "\(planes)×\(height)×\(width) → \(outHeight)×\(outWidth)"
                for path: Int32? in [0, nil] + (avx2 ? [1] : []) {
                    let got = pool(path: path)
                    XCTAssertEqual(got.0, want.0, "values, path \(path.map(String.init) ?? "dispatched"), \(shape)")
                    XCTAssertEqual(got.1, want.1, "argmax, path \(path.map(String.init) ?? "dispatched"), \(shape)")
                }
            }
        }
    }
}
