import FedData
import XCTest

final class LibSVMLoaderTests: TempDirectoryTestCase {
    func testParsesSparseRowsCommentsAndMapsPlusMinusOne() throws {
        let path = try write("a.svm", "# header comment\n+1 1:0.5 3:2 # trailing\n-1 2:-1\n\n-1 qid:4 1:1 3:1\n")
        let data = try DataLoader.libsvm(path: path, task: .classification)
        XCTAssertEqual(data.featureCount, 3)
        XCTAssertEqual(data.labels, [1, 0, 0])
        XCTAssertEqual(data.classCount, 2)
        XCTAssertEqual(data.features, [0.5, 0, 2, 0, -1, 0, 1, 0, 1])
    }

    func testExplicitFeatureCountWidensAndLimits() throws {
        let path = try write("b.svm", "2 1:1\n0 2:1\n")
        let wide = try DataLoader.libsvm(path: path, featureCount: 4, task: .classification)
        XCTAssertEqual(wide.featureCount, 4)
        XCTAssertEqual(wide.labels, [2, 0])
        XCTAssertEqual(wide.classCount, 3)
        assertDataError(
            try DataLoader.libsvm(path: path, featureCount: 1, task: .classification), file: path, line: 2,
            contains: "feature index 2 exceeds the feature count 1")
    }

    /// libFuzzer's find: one line with a feature index near 10⁹ allocated a 3.5 GB dense row.
    func testAHugeFeatureIndexIsRefusedBeforeAllocating() throws {
        let path = try write("huge.svm", "1188 888888882:15\n")
        assertDataError(
            try DataLoader.libsvm(path: path, task: .classification), file: path, line: 1,
            contains: "feature index 888888882 is beyond the 1000000 features FedSim holds")
    }

    func testRegressionTargets() throws {
        let path = try write("r.svm", "1.5 1:2\n-0.25 2:3\n")
        let data = try DataLoader.libsvm(path: path, task: .regression)
        XCTAssertEqual(data.targets, .values([1.5, -0.25]))
    }

    func testMalformedLinesNameFileAndLine() throws {
        let cases: [(String, Int, String)] = [
            ("1 1:1\n0 3:1 2:1\n", 2, "feature index 2 follows 3"),
            ("1 1:1\n0 0:1\n", 2, "indices start at 1"),
            ("1 1:1\n0 1:1\n1 x:1\n", 3, "feature index \"x\" is not an integer"),
            ("1 1:1\n0 5\n", 2, "expected index:value"),
            ("1 1:1\n0 1:zz\n", 2, "feature 1: \"zz\" is not a number"),
            ("1 1:inf\n", 1, "not finite"),
            ("one 1:1\n", 1, "label \"one\" is not a number"),
            ("1 1:1\n0.5 1:1\n", 2, "label 0.5"),
            ("1 1:1\n-2 1:1\n", 2, "label -2 is negative"),
            ("0 1:1\n-1 1:1\n", 2, "label -1 is only allowed when all labels are -1 or +1, but line 1 has label 0"),
        ]
        for (index, (text, line, fragment)) in cases.enumerated() {
            let path = try write("bad\(index).svm", text)
            assertDataError(
                try DataLoader.libsvm(path: path, task: .classification), file: path, line: line, contains: fragment)
        }
        let empty = try write("empty.svm", "# only a comment\n")
        assertDataError(
            try DataLoader.libsvm(path: empty, task: .classification), file: empty, line: nil, contains: "no data rows")
        let noFeatures = try write("nofeat.svm", "1\n0\n")
        assertDataError(
            try DataLoader.libsvm(path: noFeatures, task: .classification), file: noFeatures, line: nil,
            contains: "no features")
        let nanLabel = try write("nan.svm", "nan 1:1\n")
        assertDataError(
            try DataLoader.libsvm(path: nanLabel, task: .regression), file: nanLabel, line: 1, contains: "not finite")
    }
}
