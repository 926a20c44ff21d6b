import CFedKernels

/// Forward and backward passes of the layers with arithmetic, on raw batch buffers. Every sum
/// runs in a fixed order (through `fedsim_gemm`, `fedsim_gemm_fused` or C loops of fixed order),
/// so results are the same bits on every CPU and at every thread count.
enum LayerKernels {
    // MARK: Dense

    /// C = A·B (+ C): `fedsim_gemm_fused` where `fused`, else `fedsim_gemm` (see `Network.fusedProducts`).
    @inline(__always)
    static func gemm(
        _ fused: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ aRow: Int, _ aCol: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool
    ) {
        if fused {
            fedsim_gemm_fused(Int32(m), Int32(n), Int32(k), a, aRow, aCol, b, ldb, c, ldc, accumulate ? 1 : 0)
        } else {
            fedsim_gemm(Int32(m), Int32(n), Int32(k), a, aRow, aCol, b, ldb, c, ldc, accumulate ? 1 : 0)
        }
    }

    /// Y = X·Wᵀ + b. Either way below, every element is the bias plus Σ_i W[o,i]·X[r,i] in
    /// increasing i — the same bits; the smaller transpose wins.
    static func denseForward(
        _ layer: Network.PlannedLayer, _ p: UnsafePointer<Float>, rows: Int,
        x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        fused: Bool
    ) {
        let inputs = layer.inputCount
        let outputs = layer.outputCount
        let hasBias = layer.bias != nil
        if let b = layer.bias {
            repeatRow(p + b, count: outputs, rows: rows, into: y)
        }
        let w = p + layer.weight!
        if rows * (inputs + outputs) < inputs * outputs {
            // Yᵀ = W·Xᵀ: transpose the (small) batch instead of the (large) weights.
            let xt = scratch
            let yt = scratch + rows * inputs
            fedsim_transpose(Int32(rows), Int32(inputs), x, inputs, xt, rows)
            fedsim_transpose(Int32(rows), Int32(outputs), y, outputs, yt, rows)
            gemm(fused, outputs, rows, inputs, w, inputs, 1, xt, rows, yt, rows, accumulate: hasBias)
            fedsim_transpose(Int32(outputs), Int32(rows), yt, rows, y, outputs)
        } else {
            fedsim_transpose(Int32(outputs), Int32(inputs), w, inputs, scratch, outputs)
            gemm(fused, rows, outputs, inputs, x, inputs, 1, scratch, outputs, y, outputs, accumulate: hasBias)
        }
    }

    /// dW = dYᵀ·X, db = Σ_rows dY, dX = dY·W.
    static func denseBackward(
        _ layer: Network.PlannedLayer, _ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, rows: Int,
        x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        fused: Bool
    ) {
        let inputs = layer.inputCount
        let outputs = layer.outputCount
        let w = layer.weight!
        gemm(fused, outputs, inputs, rows, dy, 1, outputs, x, inputs, g + w, inputs, accumulate: false)
        if let b = layer.bias { columnSums(dy, rows: rows, columns: outputs, into: g + b) }
        if let dx { gemm(fused, rows, inputs, outputs, dy, outputs, 1, p + w, inputs, dx, inputs, accumulate: false) }
    }

    // MARK: Conv2d

    /// Geometry of a conv layer: the patch length C·k·k and the output plane OH·OW.
    private struct ConvShape {
        let c, h, w, k, stride, padding, out, oh, ow: Int
        var patch: Int { c * k * k }
        var plane: Int { oh * ow }
        var image: Int { c * h * w }
        init(_ layer: Network.PlannedLayer) {
            guard case .conv2d(let channels, let kernel, let stride, let padding, _) = layer.spec else {
                preconditionFailure("not a conv layer")
            }
            (c, h, w) = (layer.input[0], layer.input[1], layer.input[2])
            (k, self.stride, self.padding, out) = (kernel, stride, padding, channels)
            (oh, ow) = (layer.output[1], layer.output[2])
        }
        /// One image's patches as columns: [C·k·k, OH·OW].
        func im2col(_ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>) {
            fedsim_im2col_planes(
                Int32(c), Int32(h), Int32(w), Int32(k), Int32(stride), Int32(padding), Int32(oh), Int32(ow), x, cols)
        }
        /// Adds one image's patches back to its pixels; may overwrite the patches' padding entries.
        func col2im(_ cols: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
            fedsim_col2im_planes(
                Int32(c), Int32(h), Int32(w), Int32(k), Int32(stride), Int32(padding), Int32(oh), Int32(ow), cols, dx)
        }
    }

    /// Fills `rows` rows of `count` floats with copies of `row` (a bias before the product adds
    /// to it). The copied region doubles each time, so 25,000 rows take 15 copies instead of one
    /// call per row.
    static func repeatRow(_ row: UnsafePointer<Float>, count: Int, rows: Int, into y: UnsafeMutablePointer<Float>) {
        guard rows > 0, count > 0 else { return }
        y.update(from: row, count: count)
        var filled = 1
        while filled < rows {
            let n = min(filled, rows - filled)
            (y + filled * count).update(from: y, count: n * count)
            filled += n
        }
    }

    /// Scratch floats a conv layer needs: one sample's patches (forward and backward), the
    /// transposed weight gradient and one sample's output gradient in pixel-major order. One
    /// sample at a time keeps the patches in L2 (627 KB for fedavg-cnn's second conv, where the
    /// batch's would be 20 MB): the backward pass computes them again rather than reading them
    /// back from memory. A stride-1 conv's padded-image kernels need their own layout
    /// (`fedsim_conv_direct_scratch`: the padded image, then the transposed output gradient and
    /// weight gradient); the scratch holds the larger of the two.
    static func convScratch(_ layer: Network.PlannedLayer) -> Int {
        let s = ConvShape(layer)
        let direct = fedsim_conv_direct_scratch(
            Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out))
        return max(s.patch * s.plane + s.patch * s.out + s.plane * s.out, direct)
    }

    /// Per sample: its patches as columns (im2col), then Y [O, OH·OW] = b + W · patches, each
    /// element the bias followed by a fused multiply-add per (c, kh, kw) in order. Y comes out in
    /// NCHW order, and the product's columns are the output pixels, so every vector is full even
    /// when the layer has few channels (LeNet-5's 6). A stride-1 conv computes the same sums from a
    /// padded copy of each image instead (`fedsim_conv_direct`), writing no patches.
    static func convForward(
        _ layer: Network.PlannedLayer, _ p: UnsafePointer<Float>, rows: Int,
        x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let s = ConvShape(layer)
        let w = p + layer.weight!
        if s.stride == 1 {
            fedsim_conv_direct(
                Int32(rows), Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out), w,
                layer.bias.map { p + $0 }, x, y, scratch)
            return
        }
        let patches = scratch
        for r in 0..<rows {
            let out = y + r * s.out * s.plane
            s.im2col(x + r * s.image, patches)
            if let b = layer.bias {
                for o in 0..<s.out { (out + o * s.plane).update(repeating: p[b + o], count: s.plane) }
            }
            fedsim_gemm_fused(
                Int32(s.out), Int32(s.plane), Int32(s.patch), w, s.patch, 1, patches, s.plane, out, s.plane,
                layer.bias != nil ? 1 : 0)
        }
    }

    /// db = Σ dY (`fedsim_plane_sums`); per sample in order, its patches again, then dWᵀ +=
    /// patches · dY_bᵀ (so each weight sums its terms over samples, then pixels, in order) and
    /// dPatches = Wᵀ · dY_b over the patches, then col2im. A stride-1 conv sums the same dW terms
    /// in the same order from padded images (`fedsim_conv_weight_grad_direct`), writing no patches.
    static func convBackward(
        _ layer: Network.PlannedLayer, _ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, rows: Int,
        x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let s = ConvShape(layer)
        let w = p + layer.weight!
        let patches = scratch
        let dwt = patches + s.patch * s.plane
        let dyt = dwt + s.patch * s.out
        if let b = layer.bias { fedsim_plane_sums(Int32(rows), Int32(s.out), Int32(s.plane), dy, g + b) }
        if s.stride == 1 {
            // The weight gradient from padded images, without patches; then dX per sample.
            fedsim_conv_weight_grad_direct(
                Int32(rows), Int32(s.c), Int32(s.h), Int32(s.w), Int32(s.k), Int32(s.padding), Int32(s.out), x, dy,
                g + layer.weight!, scratch)
            guard let dx else { return }
            for r in 0..<rows {
                fedsim_gemm_fused(
                    Int32(s.patch), Int32(s.plane), Int32(s.out), w, 1, s.patch, dy + r * s.out * s.plane, s.plane,
                    patches, s.plane, 0)
                s.col2im(patches, dx + r * s.image)
            }
            return
        }
        if rows == 0 { (g + layer.weight!).update(repeating: 0, count: s.patch * s.out) }
        for r in 0..<rows {
            let gradient = dy + r * s.out * s.plane
            s.im2col(x + r * s.image, patches)
            fedsim_transpose(Int32(s.out), Int32(s.plane), gradient, s.plane, dyt, s.out)
            fedsim_gemm_fused(
                Int32(s.patch), Int32(s.out), Int32(s.plane), patches, s.plane, 1, dyt, s.out, dwt, s.out, r > 0 ? 1 : 0
            )
            if let dx {
                fedsim_gemm_fused(
                    Int32(s.patch), Int32(s.plane), Int32(s.out), w, 1, s.patch, gradient, s.plane, patches, s.plane, 0)
                s.col2im(patches, dx + r * s.image)
            }
        }
        if rows > 0 { fedsim_transpose(Int32(s.patch), Int32(s.out), dwt, s.out, g + layer.weight!, s.patch) }
    }

    // MARK: Pooling

    private static func pool(_ layer: Network.PlannedLayer) -> (kernel: Int32, stride: Int32) {
        switch layer.spec {
        case .maxPool2d(let k, let s), .avgPool2d(let k, let s): (Int32(k), Int32(s))
        default: preconditionFailure("not a pooling layer")
        }
    }

    static func maxPoolForward(
        _ layer: Network.PlannedLayer, rows: Int, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>,
        argmax: UnsafeMutablePointer<Int32>
    ) {
        let (k, s) = pool(layer)
        fedsim_maxpool(
            Int32(rows * layer.input[0]), Int32(layer.input[1]), Int32(layer.input[2]), k, s, Int32(layer.output[1]),
            Int32(layer.output[2]), x, y, argmax)
    }

    static func maxPoolBackward(
        _ layer: Network.PlannedLayer, rows: Int, dy: UnsafeMutablePointer<Float>,
        argmax: UnsafeMutablePointer<Int32>, dx: UnsafeMutablePointer<Float>
    ) {
        fedsim_maxpool_backward(
            Int32(rows * layer.input[0]), Int32(layer.input[1]), Int32(layer.input[2]), Int32(layer.output[1]),
            Int32(layer.output[2]), dy, argmax, dx)
    }

    static func avgPoolForward(
        _ layer: Network.PlannedLayer, rows: Int, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    ) {
        let (k, s) = pool(layer)
        fedsim_avgpool(
            Int32(rows * layer.input[0]), Int32(layer.input[1]), Int32(layer.input[2]), k, s, Int32(layer.output[1]),
            Int32(layer.output[2]), x, y)
    }

    static func avgPoolBackward(
        _ layer: Network.PlannedLayer, rows: Int, dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    ) {
        let (k, s) = pool(layer)
        fedsim_avgpool_backward(
            Int32(rows * layer.input[0]), Int32(layer.input[1]), Int32(layer.input[2]), k, s, Int32(layer.output[1]),
            Int32(layer.output[2]), dy, dx)
    }

    // MARK: Helpers

    /// out[c] = Σ_r m[r, c], rows in increasing order.
    static func columnSums(
        _ m: UnsafeMutablePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>
    ) {
        // One column at a time into a local sum: the same adds in the same order (rows in
        // increasing order) as summing row by row into `out`, without storing and reloading
        // `out` after every add (it may alias `m`, so the compiler could not keep it in a register).
        for c in 0..<columns {
            var sum: Float = 0
            var at = m + c
            for _ in 0..<rows {
                sum += at.pointee
                at += columns
            }
            out[c] = sum
        }
    }
}
