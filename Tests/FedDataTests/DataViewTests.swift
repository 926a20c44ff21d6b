import FedCore
import FedData
import XCTest

/// A client's shard as rows of one pooled data set: what it reads equals the copy it replaces.
final class DataViewTests: XCTestCase {
    func data(_ count: Int = 60, shape: [Int] = [2, 2, 3]) -> Dataset {
        var rng = SeededRandom(seed: 11)
        let d = shape.reduce(1, *)
        let features = (0..<(count * d)).map { _ in Float(rng.nextNormal() * 3 + 1) }
        let labels = (0..<count).map { Int32($0 % 4) }
        return Dataset(features: features, shape: shape, targets: .classes(labels, classCount: 4))
    }

    func testAViewReadsTheRowsItNamesInItsOrder() {
        let base = data()
        let rows = [41, 3, 3, 17, 0, 59]
        let view = DataView(base, rows: rows)
        XCTAssertEqual(view.count, 6)
        XCTAssertEqual(view.shape, [2, 2, 3])
        XCTAssertEqual(view.materialized(), base.subset(rows))
        XCTAssertEqual(view.labels, rows.map { Int32($0 % 4) })
        XCTAssertEqual(view.targets, base.subset(rows).targets)
        XCTAssertEqual(Array(view.features(of: 3)), Array(base.features[(17 * 12)..<(18 * 12)]))
        XCTAssertEqual(view.view([5, 0]).rows, [59, 41], "positions count within the view")
        XCTAssertEqual(DataView(whole: base).materialized(), base)
        XCTAssertEqual(view.targetsOnly().labels, view.labels)
    }

    /// Views share their data set's storage: a thousand shards of one data set are one copy.
    func testViewsShareTheirDataSetsStorage() {
        let base = data(1000)
        let views = (0..<1000).map { DataView(base, rows: [$0]) }
        let address = base.features.withUnsafeBufferPointer { $0.baseAddress }
        XCTAssertTrue(views.allSatisfy { $0.base.features.withUnsafeBufferPointer { $0.baseAddress } == address })
    }

    /// Fitting on views is fitting on their concatenated copy, to the bit (the same sums in the
    /// same order), per feature and per channel.
    func testAStandardizerFittedOnViewsEqualsOneFittedOnTheirConcatenation() {
        let base = data()
        let views = [
            DataView(base, rows: [5, 9, 1, 44]), DataView(base, rows: []), DataView(base, rows: [30, 2, 58]),
        ]
        let copy = Dataset.concatenate(views.map { $0.materialized() })
        XCTAssertEqual(Standardizer(fitting: views), Standardizer(fitting: copy))
        XCTAssertEqual(Standardizer(fittingChannelsOf: views), Standardizer(fittingChannelsOf: copy))
        XCTAssertNotEqual(Standardizer(fitting: views), Standardizer(fitting: base), "only the views' rows count")
    }
}
