import FedCore

/// Splits `data` into train and test sets after a seeded shuffle; the first `round(n·f)` shuffled
/// samples are the test set. For classification the split is stratified: each class contributes
/// `round(n_c·f)` samples (at least one, and leaving at least one for training, when the class has
/// two or more samples and 0 < f < 1), so the test set covers every class even under heavy imbalance.
public func trainTestSplit(
    _ data: Dataset, testFraction: Double, rng: inout SeededRandom
) -> (train: Dataset, test: Dataset) {
    let (train, test) = trainTestSplitIndices(data, testFraction: testFraction, rng: &rng)
    return (data.subset(train), data.subset(test))
}

/// The indices `trainTestSplit` would put in each part, in the same order: for building the
/// parts (and the clients' shards) straight from one data set, without a copy in between.
public func trainTestSplitIndices(
    _ data: Dataset, testFraction: Double, rng: inout SeededRandom
) -> (train: [Int], test: [Int]) {
    precondition((0...1).contains(testFraction), "testFraction must be in 0...1, got \(testFraction)")
    var order = Array(0..<data.count)
    rng.shuffle(&order)
    var train = [Int]()
    var test = [Int]()
    if let labels = data.labels {
        var quota = stratifiedTestQuota(labels: labels, testFraction: testFraction)
        for i in order {
            let label = Int(labels[i])
            if quota[label, default: 0] > 0 {
                quota[label, default: 0] -= 1
                test.append(i)
            } else {
                train.append(i)
            }
        }
    } else {
        let testCount = Int((Double(data.count) * testFraction).rounded())
        test = Array(order.prefix(testCount))
        train = Array(order.dropFirst(testCount))
    }
    return (train, test)
}

/// Test samples per class: `round(n_c·f)`, kept within 1...n_c−1 for classes that can be split.
private func stratifiedTestQuota(labels: [Int32], testFraction: Double) -> [Int: Int] {
    var counts = [Int: Int]()
    for label in labels { counts[Int(label), default: 0] += 1 }
    return counts.mapValues { n in
        var quota = Int((Double(n) * testFraction).rounded())
        if n >= 2, testFraction > 0, testFraction < 1 { quota = min(max(quota, 1), n - 1) }
        return quota
    }
}
