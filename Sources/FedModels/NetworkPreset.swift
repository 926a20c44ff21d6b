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

    public func layers(classes: Int) -> [LayerSpec] {
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
        }
    }
}

extension Network {
    /// The preset's network for samples of shape `input` (`[C, H, W]`).
    public init(preset: NetworkPreset, input: [Int], classes: Int) throws(ModelShapeError) {
        try self.init(kind: .cnn, input: input, layers: preset.layers(classes: classes), classes: classes)
    }
}
