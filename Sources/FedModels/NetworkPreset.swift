/// Conv nets a topology names with `model: {kind: cnn, preset: NAME}`. Each adapts to the data's
/// image shape (channels, height, width) and class count.
public enum NetworkPreset: String, Sendable, CaseIterable, Codable {
    /// McMahan et al. 2017 ("Communication-Efficient Learning of Deep Networks from
    /// Decentralized Data"): conv 5×5·32 → ReLU → max-pool 2 → conv 5×5·64 → ReLU → max-pool 2 →
    /// dense 512 → ReLU → dense classes. 'Same' padding, so 28×28×1 input gives 1,663,370 parameters.
    case fedavgCNN = "fedavg-cnn"
    /// LeCun et al. 1998 in its common PyTorch form: conv 5×5·6 (padding 2) → ReLU → max-pool 2 →
    /// conv 5×5·16 → ReLU → max-pool 2 → dense 120 → ReLU → dense 84 → ReLU → dense classes
    /// (61,706 parameters on 28×28×1 input).
    case lenet5
    /// A ResNet-8 with GroupNorm (2 groups), as federated studies use in place of BatchNorm
    /// (Hsieh et al. 2020): conv 3×3·16 → GN → ReLU, then three basic blocks of 16, 32 and 64
    /// channels (the last two with stride 2 and a 1×1 conv + GN shortcut), global average pool,
    /// dense classes. Convs before a norm have no bias, as in torchvision's ResNets.
    case resnet8GN = "resnet8-gn"

    /// The preset's layers for images of shape `input` (`[C, H, W]`) and `classes` classes.
    public func layers(input: [Int], classes: Int) -> [LayerSpec] {
        switch self {
        case .fedavgCNN:
            [
                .conv2d(channels: 32, kernel: 5, padding: 2), .relu, .maxPool2d(kernel: 2, stride: 2),
                .conv2d(channels: 64, kernel: 5, padding: 2), .relu, .maxPool2d(kernel: 2, stride: 2),
                .flatten, .dense(units: 512), .relu, .dense(units: classes),
            ]
        case .lenet5:
            [
                .conv2d(channels: 6, kernel: 5, padding: 2), .relu, .maxPool2d(kernel: 2, stride: 2),
                .conv2d(channels: 16, kernel: 5), .relu, .maxPool2d(kernel: 2, stride: 2),
                .flatten, .dense(units: 120), .relu, .dense(units: 84), .relu, .dense(units: classes),
            ]
        case .resnet8GN:
            Self.resnet8GN(input: input, classes: classes)
        }
    }

    private static func resnet8GN(input: [Int], classes: Int) -> [LayerSpec] {
        func conv(_ channels: Int, _ kernel: Int, stride: Int = 1) -> LayerSpec {
            .conv2d(channels: channels, kernel: kernel, stride: stride, padding: kernel / 2, bias: false)
        }
        func block(_ channels: Int, stride: Int, project: Bool) -> [LayerSpec] {
            let body: [LayerSpec] = [
                conv(channels, 3, stride: stride), .groupNorm(groups: 2), .relu, conv(channels, 3),
                .groupNorm(groups: 2),
            ]
            return [
                .residual(
                    body: body, shortcut: project ? [conv(channels, 1, stride: stride), .groupNorm(groups: 2)] : []),
                .relu,
            ]
        }
        // Two stride-2 blocks: 28 → 14 → 7, 32 → 16 → 8; the pool then covers what is left.
        let side = input.count == 3 ? ((min(input[1], input[2]) - 1) / 2) / 2 + 1 : 1
        return [conv(16, 3), .groupNorm(groups: 2), .relu]
            + block(16, stride: 1, project: false) + block(32, stride: 2, project: true)
            + block(64, stride: 2, project: true)
            + [.avgPool2d(kernel: side, stride: side), .flatten, .dense(units: classes)]
    }
}

extension Network {
    /// The preset's network for samples of shape `input` (`[C, H, W]`).
    public init(preset: NetworkPreset, input: [Int], classes: Int) throws(ModelShapeError) {
        try self.init(kind: .cnn, input: input, layers: preset.layers(input: input, classes: classes), classes: classes)
    }
}
