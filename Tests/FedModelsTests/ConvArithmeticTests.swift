import CFedKernels
import FedCore
import FedModels
import XCTest

/// A conv layer's documented arithmetic, bit for bit: the order of every sum and where each
/// multiply-add is fused. PyTorch's fixtures prove the numbers within float tolerance; this
/// proves the exact contract the cross-machine hashes rest on, against plain scalar loops.
final class ConvArithmeticTests: XCTestCase {
    struct Conv {
        var c, h, w, out, k, stride, padding: Int
        var bias: Bool
        var oh: Int { (h + 2 * padding - k) / stride + 1 }
        var ow: Int { (w + 2 * padding - k) / stride + 1 }
        var plane: Int { oh * ow }
        var patch: Int { c * k * k }
        /// The input pixel kernel tap (kh, kw) sees at output (oh, ow), or nil in the padding.
        func pixel(_ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int) -> (Int, Int)? {
            let (ih, iw) = (oh * stride - padding + kh, ow * stride - padding + kw)
            return ih >= 0 && ih < h && iw >= 0 && iw < w ? (ih, iw) : nil
        }
    }

    func check(_ s: Conv, rows: Int, seed: UInt64) throws {
        let network = try Network(
            input: [s.c, s.h, s.w],
            layers: [.conv2d(channels: s.out, kernel: s.k, stride: s.stride, padding: s.padding, bias: s.bias)])
        var rng = SeededRandom(seed: seed)
        let params = (0..<network.parameterCount).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let x = (0..<(rows * s.c * s.h * s.w)).map { _ in Float(rng.nextNormal()) }
        let dy = (0..<(rows * s.out * s.plane)).map { _ in Float(rng.nextNormal()) }
        let got = network.forwardAndBackward(
            params: params, inputs: x, rows: rows, outputGradient: dy, workspace: Workspace())
        let weight = try XCTUnwrap(network.layout["0.weight"]).offset
        let bias = network.layout["0.bias"]?.offset
        XCTAssertEqual(bias != nil, s.bias)
        func input(_ b: Int, _ c: Int, _ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int) -> Float {
            guard let (ih, iw) = s.pixel(oh, ow, kh, kw) else { return 0 }
            return x[((b * s.c + c) * s.h + ih) * s.w + iw]
        }
        func w(_ o: Int, _ c: Int, _ kh: Int, _ kw: Int) -> Float {
            params[weight + ((o * s.c + c) * s.k + kh) * s.k + kw]
        }
        func grad(_ b: Int, _ o: Int, _ pix: Int) -> Float { dy[(b * s.out + o) * s.plane + pix] }

        // Forward: the bias (or 0), then one fused multiply-add per tap in (c, kh, kw) order,
        // taps in the padding included (they add w·0).
        var y: [Float] = []
        for b in 0..<rows {
            for o in 0..<s.out {
                for oh in 0..<s.oh {
                    for ow in 0..<s.ow {
                        var sum: Float = bias.map { params[$0 + o] } ?? 0
                        for c in 0..<s.c {
                            for kh in 0..<s.k {
                                for kw in 0..<s.k {
                                    sum = sum.addingProduct(w(o, c, kh, kw), input(b, c, oh, ow, kh, kw))
                                }
                            }
                        }
                        y.append(sum)
                    }
                }
            }
        }
        let bits = { (v: [Float]) in v.map(\.bitPattern) }
        XCTAssertEqual(bits(got.output), bits(y), "forward \(s)")

        // Weight gradient: fused multiply-adds over samples, then pixels, in order.
        var dw = [Float](repeating: 0, count: s.out * s.patch)
        for o in 0..<s.out {
            for c in 0..<s.c {
                for kh in 0..<s.k {
                    for kw in 0..<s.k {
                        var sum: Float = 0
                        for b in 0..<rows {
                            for oh in 0..<s.oh {
                                for ow in 0..<s.ow {
                                    sum = sum.addingProduct(input(b, c, oh, ow, kh, kw), grad(b, o, oh * s.ow + ow))
                                }
                            }
                        }
                        dw[((o * s.c + c) * s.k + kh) * s.k + kw] = sum
                    }
                }
            }
        }
        XCTAssertEqual(bits(Array(got.parameterGradient[weight..<(weight + dw.count)])), bits(dw), "dW \(s)")

        // Bias gradient: eight lanes (pixel mod 8, samples in order), then a fixed tree.
        if let bias {
            var db: [Float] = []
            for o in 0..<s.out {
                var lanes = [Float](repeating: 0, count: 8)
                for b in 0..<rows { for pix in 0..<s.plane { lanes[pix % 8] += grad(b, o, pix) } }
                let l = lanes
                db.append(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])))
            }
            XCTAssertEqual(bits(Array(got.parameterGradient[bias..<(bias + s.out)])), bits(db), "db \(s)")
        }

        // Input gradient: each patch value is Σ_o fused W·dY in channel order; then every pixel
        // adds up the patch values that came from it, taps in (c, kh, kw) order.
        var dx = [Float](repeating: 0, count: rows * s.c * s.h * s.w)
        for b in 0..<rows {
            for c in 0..<s.c {
                for kh in 0..<s.k {
                    for kw in 0..<s.k {
                        for oh in 0..<s.oh {
                            for ow in 0..<s.ow {
                                var value: Float = 0
                                for o in 0..<s.out {
                                    value = value.addingProduct(w(o, c, kh, kw), grad(b, o, oh * s.ow + ow))
                                }
                                guard let (ih, iw) = s.pixel(oh, ow, kh, kw) else { continue }
                                dx[((b * s.c + c) * s.h + ih) * s.w + iw] += value
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(bits(got.inputGradient), bits(dx), "dX \(s)")
    }

    /// The stride-1 conv without patches (`fedsim_conv_direct`, `fedsim_conv_weight_grad_direct`)
    /// on each of its paths — portable (libm's fmaf), AVX2 and AVX-512 — equals the documented sums:
    /// forward, the bias (or +0), then one fused multiply-add per tap in (c, kh, kw) order, padding
    /// taps included; dW, one per term over samples, then pixels. The shapes run every
    /// channel tile (8, 6, 4, 2, 1) and lines of 1 to 33 pixels, so slots of 16 and 8 pixels end
    /// full, short and alone; 784 pixels make dW's sums cross blocks of 256.
    func testTheConvWithoutPatchesGivesTheDocumentedSumsOnEveryPath() {
        let fma = fedsim_cpu_has_fma() == 1
        let avx512 = fedsim_cpu_has_avx512() == 1
        let shapes = [
            Conv(c: 1, h: 28, w: 28, out: 6, k: 5, stride: 1, padding: 2, bias: true),  // LeNet-5 conv1
            Conv(c: 6, h: 14, w: 14, out: 16, k: 5, stride: 1, padding: 0, bias: true),  // LeNet-5 conv2
            Conv(c: 3, h: 5, w: 17, out: 15, k: 3, stride: 1, padding: 1, bias: false),
            Conv(c: 2, h: 4, w: 33, out: 7, k: 1, stride: 1, padding: 0, bias: true),
            Conv(c: 1, h: 2, w: 1, out: 3, k: 5, stride: 1, padding: 2, bias: true),
            Conv(c: 2, h: 6, w: 9, out: 11, k: 2, stride: 1, padding: 1, bias: false),
            Conv(c: 4, h: 3, w: 24, out: 9, k: 3, stride: 1, padding: 0, bias: true),
            Conv(c: 2, h: 5, w: 6, out: 35, k: 3, stride: 1, padding: 1, bias: true),  // dW: 2 and 1 vectors
        ]
        var rng = SeededRandom(seed: 11)
        for s in shapes {
            let rows = 2
            let w = (0..<(s.out * s.patch)).map { _ in Float(rng.nextUniform() * 2 - 1) }
            let bias = s.bias ? (0..<s.out).map { _ in Float(rng.nextUniform() * 2 - 1) } : nil
            let x = (0..<(rows * s.c * s.h * s.w)).map { _ in Float(rng.nextNormal()) }
            var expected: [Float] = []
            for b in 0..<rows {
                for o in 0..<s.out {
                    for oh in 0..<s.oh {
                        for ow in 0..<s.ow {
                            var sum: Float = bias?[o] ?? 0
                            for c in 0..<s.c {
                                for kh in 0..<s.k {
                                    for kw in 0..<s.k {
                                        let pixel = s.pixel(oh, ow, kh, kw).map {
                                            x[((b * s.c + c) * s.h + $0) * s.w + $1]
                                        }
                                        sum = sum.addingProduct(w[((o * s.c + c) * s.k + kh) * s.k + kw], pixel ?? 0)
                                    }
                                }
                            }
                            expected.append(sum)
                        }
                    }
                }
            }
            func direct(path: Int32) -> [Float] {
                var y = [Float](repeating: .nan, count: rows * s.out * s.plane)
                let scratchCount = fedsim_conv_direct_scratch(
                    Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out))
                // Garbage in the scratch must not matter: the function zeroes what it reads.
                var scratch = [Float](repeating: .nan, count: Int(scratchCount))
                let bias = bias ?? []
                bias.withUnsafeBufferPointer { b in
                    fedsim_conv_direct_path(
                        path, Int32(rows), Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding),
                        Int32(s.out), w, s.bias ? b.baseAddress : nil, x, &y, &scratch)
                }
                return y
            }
            let bits = { (v: [Float]) in v.map(\.bitPattern) }
            XCTAssertEqual(bits(direct(path: 0)), bits(expected), "portable \(s)")
            if fma { XCTAssertEqual(bits(direct(path: 1)), bits(expected), "avx2 \(s)") }
            if avx512 { XCTAssertEqual(bits(direct(path: 2)), bits(expected), "avx512 \(s)") }

            // The weight gradient: from +0, one fused multiply-add per term, samples then pixels.
            let dy = (0..<(rows * s.out * s.plane)).map { _ in Float(rng.nextNormal()) }
            var expectedDW = [Float](repeating: 0, count: s.out * s.patch)
            for o in 0..<s.out {
                for c in 0..<s.c {
                    for kh in 0..<s.k {
                        for kw in 0..<s.k {
                            var sum: Float = 0
                            for b in 0..<rows {
                                for oh in 0..<s.oh {
                                    for ow in 0..<s.ow {
                                        let pixel = s.pixel(oh, ow, kh, kw).map {
                                            x[((b * s.c + c) * s.h + $0) * s.w + $1]
                                        }
                                        sum = sum.addingProduct(
                                            pixel ?? 0, dy[(b * s.out + o) * s.plane + oh * s.ow + ow])
                                    }
                                }
                            }
                            expectedDW[((o * s.c + c) * s.k + kh) * s.k + kw] = sum
                        }
                    }
                }
            }
            func weightGradient(path: Int32) -> [Float] {
                var dw = [Float](repeating: .nan, count: s.out * s.patch)
                let scratchCount = fedsim_conv_direct_scratch(
                    Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out))
                var scratch = [Float](repeating: .nan, count: Int(scratchCount))
                fedsim_conv_weight_grad_direct_path(
                    path, Int32(rows), Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out),
                    x,
                    dy, &dw, &scratch)
                return dw
            }
            XCTAssertEqual(bits(weightGradient(path: 0)), bits(expectedDW), "dW portable \(s)")
            if fma { XCTAssertEqual(bits(weightGradient(path: 1)), bits(expectedDW), "dW avx2 \(s)") }
            if avx512 { XCTAssertEqual(bits(weightGradient(path: 2)), bits(expectedDW), "dW avx512 \(s)") }
        }
    }

    func testForwardAndGradientsFollowTheDocumentedOrderBitForBit() throws {
        // Stride 2 with padding on a non-square image; a 5×5 kernel padded by 2 without bias (the
        // presets' shape); enough channels (13 outputs, 2·3·3 = 18 patch values) that the product
        // packs its operand and runs every row tile.
        try check(Conv(c: 2, h: 7, w: 6, out: 13, k: 3, stride: 2, padding: 1, bias: true), rows: 3, seed: 1)
        try check(Conv(c: 1, h: 9, w: 9, out: 2, k: 5, stride: 1, padding: 2, bias: false), rows: 2, seed: 2)
        try check(Conv(c: 3, h: 5, w: 5, out: 4, k: 1, stride: 2, padding: 0, bias: true), rows: 4, seed: 3)
        // "Same" convs (stride 1, as wide out as in), which copy and add whole runs of lines: a
        // 3×3 on a non-square image, and a 5×5 on an image narrower than the kernel's reach.
        try check(Conv(c: 2, h: 6, w: 5, out: 3, k: 3, stride: 1, padding: 1, bias: true), rows: 2, seed: 4)
        try check(Conv(c: 1, h: 2, w: 1, out: 2, k: 5, stride: 1, padding: 2, bias: true), rows: 2, seed: 5)
        // No padding, stride 1 (LeNet-5's second conv): the line-by-line path.
        try check(Conv(c: 2, h: 7, w: 7, out: 3, k: 3, stride: 1, padding: 0, bias: true), rows: 2, seed: 6)
    }
}
