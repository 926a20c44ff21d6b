/// One layer of a `Network`, as a topology spells it. Shapes are per sample: `[C, H, W]` for
/// images (NCHW, PyTorch's order) and `[D]` for vectors.
public enum LayerSpec: Sendable, Equatable {
    /// `nn.Linear(in, units)`: weight `[units, in]`, then bias `[units]`. Needs a vector input.
    case dense(units: Int, bias: Bool = true)
    /// `nn.Conv2d(C, channels, kernel, stride, padding)`: weight `[channels, C, kernel, kernel]`,
    /// then bias `[channels]`. Cross-correlation, zero padding, as PyTorch.
    case conv2d(channels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true)
    /// `nn.MaxPool2d(kernel, stride)`: no padding, the first maximum of a window wins.
    case maxPool2d(kernel: Int, stride: Int)
    /// `nn.AvgPool2d(kernel, stride)`: no padding.
    case avgPool2d(kernel: Int, stride: Int)
    case relu
    /// `nn.Flatten()`: `[C, H, W]` becomes `[C·H·W]` in NCHW order.
    case flatten
    /// `nn.Dropout(p)`: in training, each value is zeroed with probability `p` and the rest
    /// scaled by 1/(1 − p); in evaluation, the identity. The masks come from the seed of the
    /// step (client, round and step, all from the topology's seed), not from PyTorch's generator.
    case dropout(probability: Double)
    /// `nn.BatchNorm2d(C)` (`1d` on vectors; eps 1e-5, momentum 0.1): in training, each channel
    /// normalized over the batch, and the running mean and (unbiased) variance move 0.1 of the
    /// way to the batch's; in evaluation, normalized with the running statistics. Parameters:
    /// weight `[C]` (ones), bias `[C]` (zeros), then running mean `[C]` (zeros) and running
    /// variance `[C]` (ones), which are never trained or decayed and are averaged across
    /// clients like weights (their deltas go to the server with the rest).
    case batchNorm
    /// `nn.GroupNorm(groups, C)` (eps 1e-5): weight `[C]` (ones), then bias `[C]` (zeros).
    case groupNorm(groups: Int)
    /// `body(x) + shortcut(x)`, the shortcut the identity when empty (a ResNet block without its
    /// final ReLU). Parameters: the body's (`i.body.…`), then the shortcut's (`i.shortcut.…`).
    indirect case residual(body: [LayerSpec], shortcut: [LayerSpec])

    /// The name a topology uses for the layer kind.
    public var kindName: String {
        switch self {
        case .dense: "dense"
        case .conv2d: "conv2d"
        case .maxPool2d: "maxpool2d"
        case .avgPool2d: "avgpool2d"
        case .relu: "relu"
        case .flatten: "flatten"
        case .dropout: "dropout"
        case .groupNorm: "group_norm"
        case .batchNorm: "batch_norm"
        case .residual: "residual"
        }
    }
}

/// A network whose layers do not fit together, or a layer with an impossible setting. The
/// message names the layer (by its index in `model.layers`, 0-based) so a user can find it.
public struct ModelShapeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Index of the layer in the list, or nil for a problem with the whole network.
    public var layer: Int?
    public var message: String

    public init(layer: Int?, _ message: String) {
        self.layer = layer
        self.message = message
    }

    public var description: String { message }
}

/// A shape as a user reads it: `1×28×28`.
func describe(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }

extension LayerSpec {
    /// The output shape for `input`, or the reason this layer cannot take it.
    func outputShape(for input: [Int], index: Int) throws(ModelShapeError) -> [Int] {
        func fail(_ message: String) -> ModelShapeError {
            ModelShapeError(layer: index, "layer \(index) (\(kindName)): \(message)")
        }
        func image() throws(ModelShapeError) -> (c: Int, h: Int, w: Int) {
            guard input.count == 3 else {
                throw fail("needs an image input (channels×height×width), got \(describe(input))")
            }
            return (input[0], input[1], input[2])
        }
        func window(
            _ size: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ axis: String
        ) throws(ModelShapeError)
            -> Int
        {
            guard kernel >= 1 else { throw fail("kernel must be at least 1, got \(kernel)") }
            guard stride >= 1 else { throw fail("stride must be at least 1, got \(stride)") }
            guard padding >= 0 else { throw fail("padding must be at least 0, got \(padding)") }
            let padded = size + 2 * padding
            guard kernel <= padded else {
                throw fail(
                    "kernel \(kernel) is larger than the input's \(axis) \(size)"
                        + (padding > 0 ? " plus padding (\(padded))" : "") + " (input \(describe(input)))")
            }
            return (padded - kernel) / stride + 1
        }
        switch self {
        case .dense(let units, _):
            guard units >= 1 else { throw fail("units must be at least 1, got \(units)") }
            guard input.count == 1 else {
                throw fail("needs a vector input, got \(describe(input)); put a flatten layer before it")
            }
            return [units]
        case .conv2d(let channels, let kernel, let stride, let padding, _):
            guard channels >= 1 else { throw fail("channels must be at least 1, got \(channels)") }
            let (_, h, w) = try image()
            return [
                channels, try window(h, kernel, stride, padding, "height"),
                try window(w, kernel, stride, padding, "width"),
            ]
        case .maxPool2d(let kernel, let stride), .avgPool2d(let kernel, let stride):
            let (c, h, w) = try image()
            return [c, try window(h, kernel, stride, 0, "height"), try window(w, kernel, stride, 0, "width")]
        case .relu:
            return input
        case .dropout(let p):
            guard p >= 0, p < 1 else { throw fail("probability must be in [0, 1), got \(p)") }
            return input
        case .flatten:
            return [input.reduce(1, *)]
        case .groupNorm(let groups):
            guard input.count == 3 || input.count == 1 else {
                throw fail("needs channels×height×width or channels, got \(describe(input))")
            }
            guard groups >= 1, input[0] % groups == 0 else {
                throw fail("\(input[0]) channels do not split into \(groups) groups")
            }
            return input
        case .batchNorm:
            guard input.count == 3 || input.count == 1 else {
                throw fail("needs channels×height×width or channels, got \(describe(input))")
            }
            return input
        case .residual:
            preconditionFailure("a residual block's shape comes from its sub-networks (Network.init)")
        }
    }
}
