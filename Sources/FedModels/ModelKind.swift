/// The models a topology names by `model.kind`.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// Linear regression, loss `(1/2B)·Σ(ŷ − y)²` (the ½ makes the gradient `(ŷ − y)·x/B`).
    case linear
    /// Binary logistic regression, loss mean binary cross-entropy on labels 0/1.
    case logistic
    /// Multinomial (softmax) regression, loss mean cross-entropy.
    case softmax
    /// A multilayer perceptron with ReLU hidden layers and a softmax output.
    case mlp
    /// A named convolutional network (`model.preset`), see `NetworkPreset`.
    case cnn
    /// A network spelled out layer by layer (`model.layers`).
    case sequential
}

/// How the last layer's outputs become a loss.
public enum OutputHead: Sendable, Equatable {
    case squared, binaryLogistic, softmax
}

/// Loss and quality of a model on a data set. Classification fills `accuracy`; regression
/// fills `rmse` and `r2`.
public struct Metrics: Sendable, Equatable, Codable {
    public var loss: Double
    public var accuracy: Double?
    public var rmse: Double?
    public var r2: Double?
    public var count: Int
}
