import CFedKernels
import FedCore
import XCTest

/// FedSim's own matrix product must give the same bits on every path (so on every CPU), and the
/// right numbers.
final class GemmKernelTests: XCTestCase {
    struct Shape {
        var m, n, k: Int
        var transposedA: Bool
        var accumulate: Bool
    }

    func random(_ count: Int, _ rng: inout SeededRandom) -> [Float] {
        (0..<count).map { _ in Float(rng.nextUniform() * 4 - 2) }
    }

    func product(path: Int32?, fused: Bool = false, _ s: Shape, _ a: [Float], _ b: [Float], _ c0: [Float]) -> [Float] {
        var c = c0
        let (rowStride, colStride) = s.transposedA ? (1, s.m) : (s.k, 1)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    if fused, let path {
                        fedsim_gemm_fused_path(
                            path, Int32(s.m), Int32(s.n), Int32(s.k), a.baseAddress, rowStride, colStride,
                            b.baseAddress, s.n, c.baseAddress, s.n, s.accumulate ? 1 : 0)
                    } else if fused {
                        fedsim_gemm_fused(
                            Int32(s.m), Int32(s.n), Int32(s.k), a.baseAddress, rowStride, colStride,
                            b.baseAddress, s.n, c.baseAddress, s.n, s.accumulate ? 1 : 0)
                    } else if let path {
                        fedsim_gemm_path(
                            path, Int32(s.m), Int32(s.n), Int32(s.k), a.baseAddress, rowStride, colStride,
                            b.baseAddress, s.n, c.baseAddress, s.n, s.accumulate ? 1 : 0)
                    } else {
                        fedsim_gemm(
                            Int32(s.m), Int32(s.n), Int32(s.k), a.baseAddress, rowStride, colStride,
                            b.baseAddress, s.n, c.baseAddress, s.n, s.accumulate ? 1 : 0)
                    }
                }
            }
        }
        return c
    }

    /// Shapes around the micro-tiles' edges (6 or 8 rows, then 4, 2, 1; 16 or 32 columns, then 8
    /// or 16, then the edge), B read in place (fewer than 12 rows) and packed, and the cache
    /// blocks (256 in k and n), both A layouts, with and without accumulation.
    var shapes: [Shape] {
        var result: [Shape] = []
        for (m, n, k) in [
            (1, 1, 1), (3, 15, 7), (4, 16, 1), (5, 17, 9), (8, 32, 64), (16, 10, 32), (33, 70, 5), (64, 64, 64),
            (6, 32, 1), (7, 33, 300), (13, 300, 260), (6, 48, 513), (19, 530, 40), (12, 196, 30), (31, 6, 70),
            (64, 100, 16),
        ] {
            for t in [false, true] {
                for acc in [false, true] { result.append(Shape(m: m, n: n, k: k, transposedA: t, accumulate: acc)) }
            }
        }
        return result
    }

    /// The contract as a scalar loop: each element starts at C₀ (or 0) and takes `step(sum, a, b)`
    /// for k = 0, 1, ... in order.
    func sequential(
        _ s: Shape, _ a: [Float], _ b: [Float], _ c0: [Float], step: (Float, Float, Float) -> Float
    ) -> [Float] {
        var result = [Float](repeating: 0, count: s.m * s.n)
        for i in 0..<s.m {
            for j in 0..<s.n {
                var sum: Float = s.accumulate ? c0[i * s.n + j] : 0
                for p in 0..<s.k { sum = step(sum, s.transposedA ? a[p * s.m + i] : a[i * s.k + p], b[p * s.n + j]) }
                result[i * s.n + j] = sum
            }
        }
        return result
    }

    /// Every element is `c + Σ a·b` summed in increasing k with a rounded multiply and a rounded
    /// add per term: the scalar loop below states that contract, and both paths meet it exactly.
    func testEveryPathGivesTheSameBitsAsTheSequentialSum() throws {
        var rng = SeededRandom(seed: 7)
        let avx = fedsim_cpu_has_avx() == 1
        if !avx { print("note: this CPU has no AVX; only the portable path is checked") }
        let avx512 = fedsim_cpu_has_avx512() == 1
        if !avx512 { print("note: this CPU has no AVX-512; that path is not checked") }
        for s in shapes {
            let a = random(s.m * s.k, &rng)
            let b = random(s.k * s.n, &rng)
            let c0 = random(s.m * s.n, &rng)
            let expected = sequential(s, a, b, c0) { sum, x, y in
                let term = x * y
                return sum + term
            }
            let bits = { (v: [Float]) in v.map(\.bitPattern) }
            XCTAssertEqual(bits(product(path: 0, s, a, b, c0)), bits(expected), "portable \(s)")
            if avx { XCTAssertEqual(bits(product(path: 1, s, a, b, c0)), bits(expected), "avx \(s)") }
            if avx512 { XCTAssertEqual(bits(product(path: 2, s, a, b, c0)), bits(expected), "avx512 \(s)") }
            XCTAssertEqual(bits(product(path: nil, s, a, b, c0)), bits(expected), "dispatched \(s)")
        }
    }

    /// The fused product: every element is `c` followed by one fused multiply-add per term in
    /// increasing k (`addingProduct`, rounded once), the same bits on every path — the portable
    /// one through libm's fmaf, AVX2 and AVX-512 through vfmadd.
    func testTheFusedProductGivesTheSameBitsOnEveryPath() throws {
        var rng = SeededRandom(seed: 9)
        let fma = fedsim_cpu_has_fma() == 1
        if !fma { print("note: this CPU has no FMA; only the portable fused path is checked") }
        let avx512 = fedsim_cpu_has_avx512() == 1
        var differsFromSeparate = false
        for s in shapes {
            let a = random(s.m * s.k, &rng)
            let b = random(s.k * s.n, &rng)
            let c0 = random(s.m * s.n, &rng)
            let expected = sequential(s, a, b, c0) { sum, x, y in sum.addingProduct(x, y) }
            let bits = { (v: [Float]) in v.map(\.bitPattern) }
            XCTAssertEqual(bits(product(path: 0, fused: true, s, a, b, c0)), bits(expected), "portable \(s)")
            if fma { XCTAssertEqual(bits(product(path: 1, fused: true, s, a, b, c0)), bits(expected), "avx2 \(s)") }
            if avx512 {
                XCTAssertEqual(bits(product(path: 2, fused: true, s, a, b, c0)), bits(expected), "avx512 \(s)")
            }
            XCTAssertEqual(bits(product(path: nil, fused: true, s, a, b, c0)), bits(expected), "dispatched \(s)")
            if bits(product(path: nil, s, a, b, c0)) != bits(expected) { differsFromSeparate = true }
        }
        XCTAssertTrue(differsFromSeparate, "the fused product rounds once per term, so it differs somewhere")
    }

    /// The product is right, not only repeatable: within float rounding of a Double reference.
    func testMatchesADoublePrecisionProduct() {
        var rng = SeededRandom(seed: 8)
        let s = Shape(m: 37, n: 53, k: 129, transposedA: false, accumulate: false)
        let a = random(s.m * s.k, &rng)
        let b = random(s.k * s.n, &rng)
        let c = product(path: nil, s, a, b, [Float](repeating: 0, count: s.m * s.n))
        for i in 0..<s.m {
            for j in 0..<s.n {
                var exact = 0.0
                var magnitude = 0.0
                for p in 0..<s.k {
                    exact += Double(a[i * s.k + p]) * Double(b[p * s.n + j])
                    magnitude += abs(Double(a[i * s.k + p]) * Double(b[p * s.n + j]))
                }
                XCTAssertEqual(Double(c[i * s.n + j]), exact, accuracy: 1e-6 * Double(s.k) * magnitude + 1e-30)
            }
        }
    }

    /// An empty product leaves C alone (or zeroes it when not accumulating with K = 0).
    func testDegenerateSizes() {
        let c = product(
            path: nil, Shape(m: 2, n: 3, k: 0, transposedA: false, accumulate: false), [], [],
            [Float](repeating: 5, count: 6))
        XCTAssertEqual(c, [Float](repeating: 0, count: 6))
        let kept = product(
            path: nil, Shape(m: 2, n: 3, k: 0, transposedA: false, accumulate: true), [], [],
            [Float](repeating: 5, count: 6))
        XCTAssertEqual(kept, [Float](repeating: 5, count: 6))
    }
}
